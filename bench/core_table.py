#!/usr/bin/env python3
"""Prints the VMM-core results (boot.json, memtouch.json, portio.json in
DIR, as bench/run-core.sh writes them) as the Markdown tables of
bench/RESULTS.md. A missing file is skipped with a note."""
import json
import os
import sys


def load(d, name):
    path = os.path.join(d, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("(no %s: %s)\n" % (path, e))
        return None


def f2(x, digits=1):
    return "-" if x is None else "%.*f" % (digits, x)


def mmm(s, digits=1):
    """median [min-max] of a benchlib summary."""
    if not s or not s.get("n"):
        return "-"
    return "%s [%s-%s]" % (f2(s["median"], digits), f2(s["min"], digits),
                           f2(s["max"], digits))


def load_note(j):
    b, a, ld = j["machine_before"], j["machine_after"], j.get("load", {})
    return ("%s; %s CPUs; load average %s before, %s after; CPU busy %s%%, "
            "of which not ours %s%% (busiest others: %s)" % (
                b["time"], b["cpus"], b["loadavg"][0], a["loadavg"][0],
                f2(ld.get("busy_pct")), f2(ld.get("other_pct")),
                ", ".join(ld.get("busiest_others", [])) or "none"))


def order(keys):
    """vmm before qemu, then by vCPU count."""
    return sorted(keys, key=lambda k: (not k.startswith("vmm"), k))


def boot_table(j):
    print("Boot, %d runs per row; ms from spawn, median [min-max]; %s.\n"
          % (j["runs_per_config"], load_note(j)))
    print("| target | vCPUs | spawn -> first ring-3 insn | spawn -> first "
          "output byte | spawn -> exit | traced, median (min): exec -> "
          "CREATE_VM / CREATE_VCPU / first KVM_RUN |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key in order(j["summary"]):
        s = j["summary"][key]
        target, cpus = key.rsplit("-", 1)
        # Without a shared TSC only the estimate from the first byte exists.
        ring3 = mmm(s["ring3_ms"]) if s["tsc_mode"] == "host" else \
            mmm(s["ring3_est_ms"]) + " (est.)"
        st = j.get("trace", {}).get(key)
        st_txt = "-" if not st else " / ".join(
            "%s (%s)" % (f2(st[k]["median"]), f2(st[k]["min"]))
            for k in ("create_vm_ms", "create_vcpu_ms", "first_run_ms"))
        print("| %s | %s | %s | %s | %s | %s |" % (
            target, cpus, ring3, mmm(s["first_byte_ms"]),
            mmm(s["exit_ms"]), st_txt))
    print()


def memtouch_table(j):
    print("memtouch, %s s, ws=%s, --mem %s, %d vCPU; %s.\n" % (
        j["duration_s"], j["ws"], j["mem"], j["cpus"], load_note(j)))
    print("| pattern | requested pages/s | achieved pages/s | error % | "
          "per-second reports min-max | runs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in j["results"]:
        req = r["requested"] or "0 (max)"
        err = f2(r["error_pct"]["median"], 2) if r["requested"] else "-"
        print("| %s | %s | %.1f | %s | %s-%s | %d |" % (
            r["pattern"], req, r["achieved"]["median"], err,
            r["per_second_min"], r["per_second_max"], r["achieved"]["n"]))
    print()


def portio_table(j):
    n = len(next(iter(j["runs"].values())))
    print("portio, count=%d, %d runs per row, median [min-max]; %s.\n" % (
        j["count"], n, load_note(j)))
    print("| target | ns per exit (outb - nop) | ns per nop-loop iteration |")
    print("| --- | --- | --- |")
    for t in order(j["summary"]):
        s = j["summary"][t]
        print("| %s | %s | %s |" % (t, mmm(s["ns_per_exit"], 0),
                                    mmm(s["loop_ns"], 0)))
    print()


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "bench-core")
    for name, fn in (("boot.json", boot_table), ("memtouch.json", memtouch_table),
                     ("portio.json", portio_table)):
        j = load(d, name)
        if j:
            fn(j)


if __name__ == "__main__":
    main()
