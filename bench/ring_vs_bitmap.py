#!/usr/bin/env python3
"""Dirty ring against dirty bitmap (issue 9): the same memtouch workloads
migrated once with each, in the same run, between two local vmm processes.

usage: bench/ring_vs_bitmap.py [--build B] [--mems 256M,1G]
                               [--cases seq:10000,seq:50000,seq:0,random:10000,...]
                               [--ring 4096] [--bandwidth 128M] [--json FILE]

Each case boots memtouch over half of RAM (1 vCPU, prefill on) with a
monitor and host-stamped serial output, lets it run 3 s, then migrates it
over loopback with max-bandwidth BANDWIDTH (so that the guest runs under
dirty tracking for seconds, not milliseconds), downtime-limit 30 ms and
max-iterations 4 (so that it runs pre-copy rounds, not one). The
source runs the bitmap (manual protect) or --dirty-ring RING; the
destination is the same either way.

Per run: rounds, downtime, total time; the dirty-log read per pre-copy
round (bitmap: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG; ring: the walks
and KVM_RESET_DIRTY_RINGS of every harvest in the round), mean and max;
ring-full exits and the vCPU's wait; and the guest's slowdown: the rate
memtouch reports over its 1 s intervals that end before the migration
starts, against those that lie wholly inside it (host timestamps on the
serial lines place them).
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

WARMUP_S = 3.0
REPORT_RE = re.compile(r"^\[(\d+\.\d+)\] memtouch: t=([\d.]+)s cpu=0 pages=\d+ rate=(\d+)")


def parse_cases(text):
    cases = []
    for word in text.split(","):
        pattern, _, rate = word.rpartition(":")
        if pattern not in ("seq", "random") or not rate.isdigit():
            bl.die("bad case %r: want seq:RATE or random:RATE (0 = as fast as it can)" % word)
        cases.append((pattern, int(rate)))
    return cases


def half(mem):
    n, unit = int(mem[:-1]), mem[-1].upper()
    return "%d%s" % (n // 2, unit) if n % 2 == 0 else "%dM" % (n * 512)


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            bl.die("%s never appeared" % path)
        time.sleep(0.05)


def guest_rates(serial, start_s, end_s):
    """memtouch's 1 s rates that end before start_s, and those wholly in
    [start_s, end_s] (host wall clock, seconds)."""
    before, during = [], []
    with open(serial, errors="replace") as f:
        lines = [m for m in (REPORT_RE.match(x) for x in f) if m]
    # The first interval holds the start-up: not a baseline.
    for m in lines[1:]:
        stamp, rate = float(m.group(1)), int(m.group(3))
        if stamp <= start_s:
            before.append(rate)
        elif stamp - 1.0 >= start_s and stamp <= end_s:
            during.append(rate)
    return before, during


def one(opt, tmp, mem, pattern, rate, ring):
    port = bl.free_port()
    names = ("src.json", "src.sock", "dst.sock", "src.serial")
    src_json, ssock, dsock, serial = (os.path.join(tmp, n) for n in names)
    for f in (src_json, ssock, dsock, serial):
        if os.path.exists(f):
            os.unlink(f)
    vmm = os.path.join(opt.build, "vmm")
    dst = bl.Background([vmm, "--incoming", "tcp:127.0.0.1:%d" % port, "--serial", "none",
                         "--monitor", "unix:" + dsock], os.path.join(tmp, "dst.err"))
    src = None
    args = "rate=%d ws=%s pattern=%s report=1 prefill=1" % (rate, half(mem), pattern)
    opts = ["--serial", "file:%s,timestamps" % serial, "--monitor", "unix:" + ssock,
            "--stats-json", src_json]
    if ring:
        opts += ["--dirty-ring", str(ring)]
    try:
        dst.wait_for("waiting for a migration")
        src = bl.Background(bl.vmm_cmd("memtouch", args, mem=mem, build=opt.build, opts=opts),
                            os.path.join(tmp, "src.err"))
        wait_file(ssock, 10)
        time.sleep(WARMUP_S)
        for p in ("max-bandwidth %s" % opt.bandwidth, "max-iterations 4", "downtime-limit 30ms"):
            reply = bl.monitor(ssock, "migrate_set_parameter " + p)
            if not reply.rstrip().endswith("ok"):
                bl.die("migrate_set_parameter %s: %s" % (p, reply))
        if not bl.monitor(ssock, "migrate tcp:127.0.0.1:%d" % port).rstrip().endswith("ok"):
            bl.die("migrate refused:\n" + src.err())
        wait_file(src_json, 300)
        dst.wait_for("the guest runs here", 30)
        bl.monitor(dsock, "quit")
    finally:
        if src:
            src.stop()
        dst.stop()
    with open(src_json) as f:
        s = json.load(f)
    if s["status"] != "completed":
        bl.die("migration %s: %s" % (s["status"], s["error"]))
    start = s["start_time_unix_us"] / 1e6
    before, during = guest_rates(serial, start, start + s["total_us"] / 1e6)
    pre = s["rounds"][:-1]
    reads = [r["log_read_us"] for r in pre]
    g0, g1 = statistics.mean(before) if before else None, \
        statistics.mean(during) if during else None
    return {
        "mem": mem, "pattern": pattern, "rate": rate, "mode": s["dirty_log_mode"],
        "ring": ring, "rounds": s["round_count"], "total_ms": s["total_us"] / 1e3,
        "downtime_ms": s["downtime_us"] / 1e3,
        "read_ms_mean": statistics.mean(reads) / 1e3, "read_ms_max": max(reads) / 1e3,
        "read_get_ms": statistics.mean(r["log_get_us"] for r in pre) / 1e3,
        "read_clear_ms": statistics.mean(r["log_clear_us"] for r in pre) / 1e3,
        "dirty_pages_mean": statistics.mean(r["dirty_pages"] for r in s["rounds"][1:]),
        "ring_full_exits": sum(r["ring_full_exits"] for r in s["rounds"]),
        "ring_wait_ms": sum(r["ring_wait_us"] for r in s["rounds"]) / 1e3,
        "guest_before": g0, "guest_during": g1,
        "slowdown_pct": (1 - g1 / g0) * 100 if g0 and g1 is not None else None,
        "intervals_during": len(during), "stats": s,
    }


def fmt(x, digits=1):
    return "-" if x is None else ("%.*f" % (digits, x))


def markdown(runs):
    print("| RAM | pattern | rate | log | rounds | read/round ms (max) | get + clear ms "
          "| ring-full exits | vCPU wait ms | guest before | during | slowdown | total ms "
          "| downtime ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        print("| %s | %s | %s | %s | %d | %s (%s) | %s + %s | %d | %s | %s | %s | %s%% | %s | %s |" % (
            r["mem"], r["pattern"], r["rate"] or "max", r["mode"], r["rounds"],
            fmt(r["read_ms_mean"], 2), fmt(r["read_ms_max"], 2), fmt(r["read_get_ms"], 2),
            fmt(r["read_clear_ms"], 2), r["ring_full_exits"], fmt(r["ring_wait_ms"]),
            fmt(r["guest_before"], 0), fmt(r["guest_during"], 0), fmt(r["slowdown_pct"]),
            fmt(r["total_ms"], 0), fmt(r["downtime_ms"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--mems", default="256M,1G")
    ap.add_argument("--cases", default="seq:10000,seq:50000,seq:0,random:10000,random:0")
    ap.add_argument("--ring", type=int, default=4096, help="entries per vCPU")
    ap.add_argument("--bandwidth", default="128M", help="max-bandwidth, bytes/s")
    ap.add_argument("--json", help="every run's figures and statistics")
    opt = ap.parse_args()
    meter = bl.LoadMeter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="ring-bench.") as tmp:
        for mem in opt.mems.split(","):
            for pattern, rate in parse_cases(opt.cases):
                for ring in (0, opt.ring):
                    r = one(opt, tmp, mem, pattern, rate, ring)
                    runs.append(r)
                    print(bl.kv_line("bench=ring_vs_bitmap", [
                        (k, r[k]) for k in ("mem", "pattern", "rate", "mode", "rounds",
                                            "read_ms_mean", "read_ms_max",
                                            "ring_full_exits", "ring_wait_ms",
                                            "guest_before", "guest_during",
                                            "slowdown_pct", "total_ms", "downtime_ms")]),
                          flush=True)
    load = meter.report("ring_vs_bitmap")
    markdown(runs)
    bl.write_json(opt.json, {"machine": bl.machine(), "load": load, "ring": opt.ring,
                             "bandwidth": opt.bandwidth, "runs": runs})


if __name__ == "__main__":
    main()
