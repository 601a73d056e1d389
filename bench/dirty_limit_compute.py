#!/usr/bin/env python3
"""Issue 9, target 2: does dirty-limit leave a computing vCPU alone?

usage: bench/dirty_limit_compute.py [--build build] [--runs 2] [--json FILE]

A 2-vCPU memtouch guest, writers=1: vCPU 0 rewrites 8 MiB at 20000
pages/s, vCPU 1 computes without writing and reports its loop rate every
0.5 s. It migrates over max-bandwidth 8M (2048 pages/s) with the dirty
ring, once with dirty-limit (vcpu-dirty-limit 1 MB/s, period 200 ms) and
once with auto-converge (initial 90 %), the stall rule stop-copy. For
each: vCPU 1's median loop rate before the migration and while a
throttle held (the reports after the source's statistics say throttling
began, until the end), their ratio, and vCPU 0's page rate likewise.
Measures and prints; never fails because the machine is slow.
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

LINE = re.compile(r"memtouch: t=(\d+\.\d+)s cpu=(\d) (pages|loops)=\d+ rate=(\d+)")
PARAMS = ["max-bandwidth 8M", "downtime-limit 0", "min-dirty-pages 256",
          "no-progress-rounds 6", "stall-action stop-copy", "vcpu-dirty-limit 1",
          "x-vcpu-dirty-limit-period 200", "cpu-throttle-initial 90"]


def rates(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if m:
                out.append((float(m.group(1)), int(m.group(2)), int(m.group(4))))
    return out


def one(build, cap, tmp):
    port = bl.free_port()
    ssock, serial = os.path.join(tmp, "src.sock"), os.path.join(tmp, "src.serial")
    sjson = os.path.join(tmp, "src.json")
    for f in (ssock, serial, sjson):
        if os.path.exists(f):
            os.unlink(f)
    vmm = os.path.join(build, "vmm")
    dst = bl.Background([vmm, "--incoming", "tcp:127.0.0.1:%d" % port, "--serial", "none"],
                        os.path.join(tmp, "dst.err"))
    src = bl.Background([vmm, "--mem", "64M", "--cpus", "2", "--dirty-ring", "65536",
                         "--serial", "file:" + serial, "--monitor", "unix:" + ssock,
                         "--stats-json", sjson, os.path.join(build, "guests", "memtouch.elf"),
                         "--", "writers=1", "ws=8M", "rate=20000", "report=0.5"],
                        os.path.join(tmp, "src.err"))
    try:
        dst.wait_for("waiting for a migration")
        deadline = time.monotonic() + 20
        while len([r for r in (rates(serial) if os.path.exists(serial) else [])
                   if r[1] == 1]) < 6:
            if time.monotonic() > deadline:
                bl.die("the guest did not report")
            time.sleep(0.2)
        for p in PARAMS:
            bl.monitor(ssock, "migrate_set_parameter " + p)
        reply = bl.monitor(ssock, "migrate_set_capability %s on" % cap)
        if "ok" not in reply.split():
            bl.die("%s refused: %s" % (cap, reply))
        t0 = max(r[0] for r in rates(serial))
        bl.monitor(ssock, "migrate tcp:127.0.0.1:%d" % port)
        src.proc.wait(timeout=180)
    finally:
        src.stop()
        dst.stop()
    with open(sjson) as f:
        st = json.load(f)
    # The first round whose vCPUs slept throttled: from its start on.
    start_us = next((r["start_us"] for r in st["rounds"] if any(r["vcpu_throttled_us"])), None)
    rs = rates(serial)
    t_start = t0 + (start_us or 0) / 1e6 + 0.5
    res = {"capability": cap, "status": st["status"], "rounds": st["round_count"],
           "total_ms": st["total_us"] / 1e3, "downtime_ms": st["downtime_us"] / 1e3,
           "vcpu_throttled_us": st["vcpu_throttled_us"]}
    for cpu in (0, 1):
        before = [r[2] for r in rs if r[1] == cpu and r[0] <= t0]
        during = [r[2] for r in rs if r[1] == cpu and r[0] > t_start]
        res["cpu%d_before" % cpu] = statistics.median(before) if before else None
        res["cpu%d_during" % cpu] = statistics.median(during) if during else None
        res["cpu%d_ratio" % cpu] = (res["cpu%d_during" % cpu] / res["cpu%d_before" % cpu]
                                    if before and during else None)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    meter = bl.LoadMeter()
    with tempfile.TemporaryDirectory(prefix="dlimit-") as tmp:
        for run in range(a.runs):
            for cap in ("dirty-limit", "auto-converge"):
                r = one(a.build, cap, tmp)
                r["run"] = run
                rows.append(r)
                print(json.dumps(r), flush=True)
    meter.report("dirty_limit_compute")
    print("\n| capability | run | vCPU 1 loops/s before | while throttled | kept | "
          "vCPU 0 pages/s before | while throttled | vCPU throttled s (0, 1) | total ms | downtime ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for r in rows:
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %.0f | %.1f |" % (
            r["capability"], r["run"], r["cpu1_before"], r["cpu1_during"],
            "%.1f%%" % (100 * r["cpu1_ratio"]) if r["cpu1_ratio"] else "-",
            r["cpu0_before"], r["cpu0_during"],
            ", ".join("%.2f" % (x / 1e6) for x in r["vcpu_throttled_us"]),
            r["total_ms"], r["downtime_ms"]))
    if a.json:
        bl.write_json(a.json, {"bench": "dirty_limit_compute", "rows": rows,
                               "machine": bl.machine()})


if __name__ == "__main__":
    main()
