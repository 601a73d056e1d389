#!/usr/bin/env python3
"""Port-I/O exit round trip, under build/vmm and under QEMU (qboot).

Runs build/guests/portio.elf: count `outb` to port 0x80 in a tight ring-0
loop, then the same loop with a nop instead, both timed by the guest's TSC;
it prints `portio: count=N ns_per_exit=X loop_ns=Y` (X = the difference
per iteration, Y = the nop loop per iteration). On a PVM host ring 0 is
emulated, so X includes the emulation of the outb and Y is the emulated
loop; on VMX/SVM hardware both would be the bare figures.
"""
import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

LINE_RE = re.compile(r"portio: count=(\d+) ns_per_exit=(-?[\d.]+) loop_ns=([\d.]+)")


def target_cmd(target, count):
    args = "count=%d" % count
    if target == "vmm":
        return bl.vmm_cmd("portio", args)
    return bl.qemu_cmd("portio", args)


def measure(target, count):
    r = bl.run_timed(target_cmd(target, count), timeout=300)
    m = LINE_RE.search(r.out)
    if bl.guest_exit_code(r, target == "qemu") != 0 or not m:
        bl.die("%s portio failed (status %s):\n%s%s" % (target, r.status,
                                                       r.out, r.err))
    return {"ns_per_exit": float(m.group(2)), "loop_ns": float(m.group(3)),
            "wall_ms": r.ms(r.exit_ns)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", help="write all runs and summaries here")
    a = ap.parse_args()
    if a.count < 1 or a.runs < 1:
        bl.die("--count and --runs must be at least 1")
    targets = ["vmm"]
    why = bl.check_tools(not a.no_qemu)
    if not a.no_qemu:
        if why:
            print("portio: no QEMU comparison: " + why)
        else:
            targets.append("qemu")
    before = bl.machine()
    meter = bl.LoadMeter()
    runs = {t: [] for t in targets}
    for i in range(a.runs):
        for t in targets:
            res = measure(t, a.count)
            runs[t].append(res)
            print(bl.kv_line("portio %s run=%d" % (t, i + 1),
                             [("count", a.count), ("ns_per_exit", res["ns_per_exit"]),
                              ("loop_ns", res["loop_ns"]), ("wall_ms", res["wall_ms"])]))
    summaries = {}
    for t in targets:
        s = {k: bl.summary([r[k] for r in runs[t]]) for k in ("ns_per_exit", "loop_ns")}
        summaries[t] = s
        print(bl.kv_line("portio:", [
            ("target", t), ("count", a.count), ("runs", a.runs),
            ("ns_per_exit_median", s["ns_per_exit"]["median"]),
            ("ns_per_exit_min", s["ns_per_exit"]["min"]),
            ("ns_per_exit_max", s["ns_per_exit"]["max"]),
            ("loop_ns_median", s["loop_ns"]["median"])]))
    load = meter.report("portio")
    bl.write_json(a.json, {"bench": "portio", "count": a.count,
                           "machine_before": before, "machine_after": bl.machine(),
                           "load": load,
                           "commands": {t: target_cmd(t, a.count) for t in targets},
                           "runs": runs, "summary": summaries})


if __name__ == "__main__":
    main()
