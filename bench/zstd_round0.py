#!/usr/bin/env python3
"""zstd compression of RAM pages: round 0 of a 1 GiB guest, none against
zstd levels 1 and 3, over a 1 Gbit/s-like link (max-bandwidth 125M) and
unlimited loopback, in one run.

usage: bench/zstd_round0.py [--build build] [--mem 1G] [--ws 1000M]
                            [--levels 1,3] [--links 125M,0] [--json FILE]

Two guests: memtouch (prefill=1: one word written in each page of its
working set, so pages compress very well) and verify (every word of every
page of its working set written with an address-derived pattern, which
zstd hardly compresses: "incompressible" here). Each touches 100 pages/s
afterwards, so round 0 measures the data path.

Each migration: destination `vmm --incoming`, source booting the guest;
once it reports, the parameters are set on the monitor and `migrate`
starts. Figures from the source's --stats-json: round 0's duration and
bytes on the wire, the migration's total time, the migration thread's CPU
(cpu_time_us) and, with zstd, its compression CPU and ratio. Measures and
prints; never fails because the machine is slow.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

GUESTS = {
    "compressible": ("memtouch.elf", ["rate=100", "prefill=1", "report=1"], "memtouch: t="),
    "incompressible": ("verify.elf", ["rate=100", "duration=3600", "report=1"], "verify: t="),
}


def wait_serial(path, text, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            bl.die("source ended before %r" % text)
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    bl.die("no %r within %g s" % (text, timeout))


def migrate_once(vmm, build, mem, ws, tmp, kind, params):
    guest, args, ready = GUESTS[kind]
    port = bl.free_port()
    f = {k: os.path.join(tmp, k) for k in
         ("src.json", "src.sock", "dst.sock", "src.serial", "src.err", "dst.err")}
    for k in ("src.json", "src.serial"):
        if os.path.exists(f[k]):
            os.unlink(f[k])
    dst = bl.Background([vmm, "--incoming", "tcp:127.0.0.1:%d" % port, "--serial", "none",
                         "--monitor", "unix:" + f["dst.sock"]], f["dst.err"])
    src = bl.Background([vmm, "--mem", mem, "--serial", "file:" + f["src.serial"],
                         "--monitor", "unix:" + f["src.sock"], "--stats-json", f["src.json"],
                         os.path.join(build, "guests", guest), "--", "ws=" + ws] + args,
                        f["src.err"])
    try:
        dst.wait_for("waiting for a migration")
        wait_serial(f["src.serial"], ready, src.proc, 180)
        for name, value in params:
            reply = bl.monitor(f["src.sock"], "migrate_set_parameter %s %s" % (name, value))
            if "ok" not in reply.split():
                bl.die("%s %s refused: %s" % (name, value, reply))
        reply = bl.monitor(f["src.sock"], "migrate tcp:127.0.0.1:%d" % port)
        if "ok" not in reply.split():
            bl.die("migrate refused: %s" % reply)
        if src.stop(timeout=600) != 0:
            bl.die("source failed:\n%s%s" % (src.err(), dst.err()))
        dst.wait_for("the guest runs here", timeout=30)
        bl.monitor(f["dst.sock"], "quit")
    finally:
        src.stop(timeout=1)
        dst.stop()
    with open(f["src.json"]) as fh:
        return json.load(fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--ws", default="1000M")
    ap.add_argument("--levels", default="1,3")
    ap.add_argument("--links", default="125M,0")
    ap.add_argument("--json")
    a = ap.parse_args()
    vmm = os.path.join(a.build, "vmm")
    methods = [("none", None)] + [("zstd-%s" % lv, lv) for lv in a.levels.split(",")]
    rows = []
    load = bl.LoadMeter()
    print("zstd_round0: %s" % json.dumps(bl.machine()))
    with tempfile.TemporaryDirectory(prefix="vmm-zstd-") as tmp:
        for kind in GUESTS:
            for link in a.links.split(","):
                for label, level in methods:
                    params = [("max-bandwidth", link), ("max-iterations", "1")]
                    if level:
                        params += [("multifd-compression", "zstd"), ("multifd-zstd-level", level)]
                    st = migrate_once(vmm, a.build, a.mem, a.ws, tmp, kind, params)
                    r0 = st["rounds"][0]
                    c = st.get("compression") or {}
                    row = {"data": kind, "link": link if link != "0" else "unlimited",
                           "method": label, "round0_ms": r0["duration_us"] / 1000.0,
                           "round0_mib": r0["bytes"] / 2**20,
                           "total_ms": st["total_us"] / 1000.0,
                           "bytes_mib": st["bytes_total"] / 2**20,
                           "cpu_ms": st["cpu_time_us"] / 1000.0,
                           "zstd_cpu_ms": c.get("cpu_us", 0) / 1000.0,
                           "ratio": c.get("ratio"),
                           "raw_batches": c.get("raw_batches")}
                    rows.append(row)
                    print(bl.kv_line("zstd_round0", list(row.items())))
                    sys.stdout.flush()
    machine = load.report("zstd_round0")
    print()
    print("| data | link | method | round 0 ms | round 0 MiB | total ms | MiB on the wire "
          "| thread CPU ms | of which zstd ms | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| %s | %s | %s | %.0f | %.1f | %.0f | %.1f | %.0f | %.0f | %s |" % (
            r["data"], r["link"], r["method"], r["round0_ms"], r["round0_mib"], r["total_ms"],
            r["bytes_mib"], r["cpu_ms"], r["zstd_cpu_ms"],
            "%.2f" % r["ratio"] if r["ratio"] else "-"))
    bl.write_json(a.json, {"rows": rows, "machine": machine})


if __name__ == "__main__":
    main()
