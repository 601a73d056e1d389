#!/usr/bin/env python3
"""memtouch: achieved versus requested dirty rate under build/vmm.

Each case boots memtouch (ws=256M, --mem 512M, 1 vCPU, 5 s) and reads the
guest's own count: `memtouch: done ... pages=P` (pages touched within the
duration, TSC-timed by the guest); achieved = P / duration. The guest's
per-second report lines are printed too. Rate 0 means "as fast as possible": no error is computed.
No migration runs: this is the guest's rate control alone, without dirty
logging.
"""
import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DEFAULT_CASES = "1000,10000,50000,100000,0,random:10000"
DONE_RE = re.compile(r"memtouch: done cpus=\d+ pages=(\d+) t=[\d.]+s rate=(\d+)")
TICK_RE = re.compile(r"memtouch: t=([\d.]+)s cpu=\d+ pages=\d+ rate=(\d+)")


def parse_cases(text):
    """'1000,random:10000' -> [('seq', 1000), ('random', 10000)]"""
    cases = []
    for word in text.split(","):
        pattern, _, rate = word.rpartition(":")
        try:
            cases.append((pattern or "seq", int(rate)))
        except ValueError:
            bl.die("bad case %r: want RATE or PATTERN:RATE" % word)
        if pattern not in ("", "seq", "random", "hotcold") or int(rate) < 0:
            bl.die("bad case %r: pattern seq|random|hotcold, rate >= 0" % word)
    return cases


def run_case(pattern, rate, a):
    args = "rate=%d ws=%s duration=%g pattern=%s" % (rate, a.ws, a.duration, pattern)
    cmd = bl.vmm_cmd("memtouch", args, cpus=1, mem=a.mem)
    r = bl.run_timed(cmd, timeout=a.duration + 60)
    m = DONE_RE.search(r.out)
    if r.status != 0 or not m:
        bl.die("memtouch %s failed (status %s):\n%s%s" % (args, r.status,
                                                         r.out[-2000:], r.err))
    ticks = [(float(t), int(v)) for t, v in TICK_RE.findall(r.out)]
    # The guest's own rate= is truncated to an integer; pages is exact.
    pages = int(m.group(1))
    achieved = pages / a.duration
    err = (achieved - rate) * 100.0 / rate if rate else None
    return {"cmd": cmd, "pattern": pattern, "requested": rate,
            "pages": pages, "achieved": achieved, "guest_rate": int(m.group(2)),
            "error_pct": err, "per_second": ticks, "wall_ms": r.ms(r.exit_ns)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=DEFAULT_CASES,
                    help="RATE or PATTERN:RATE, comma-separated (default %(default)s)")
    ap.add_argument("--reps", type=int, default=1, help="runs per case")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds")
    ap.add_argument("--ws", default="256M")
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--json", help="write all runs and summaries here")
    a = ap.parse_args()
    if a.reps < 1 or a.duration <= 0:
        bl.die("--reps must be at least 1 and --duration above 0")
    bl.check_tools(False)
    before = bl.machine()
    meter = bl.LoadMeter()
    results = []
    for pattern, rate in parse_cases(a.cases):
        reps = []
        for i in range(a.reps):
            res = run_case(pattern, rate, a)
            reps.append(res)
            for t, v in res["per_second"]:
                print("memtouch pattern=%s requested=%d rep=%d t=%.2fs rate=%d"
                      % (pattern, rate, i + 1, t, v))
        ach = bl.summary([r["achieved"] for r in reps])
        err = bl.summary([r["error_pct"] for r in reps])
        secs = [v for r in reps for _, v in r["per_second"]]
        row = {"pattern": pattern, "requested": rate, "reps": reps,
               "achieved": ach, "error_pct": err,
               "per_second_min": min(secs) if secs else None,
               "per_second_max": max(secs) if secs else None}
        results.append(row)
        print(bl.kv_line("memtouch:", [
            ("pattern", pattern), ("requested", rate if rate else "max"),
            ("reps", a.reps), ("achieved", ach["median"]),
            ("error_pct", err["median"]),
            ("achieved_min", ach["min"]), ("achieved_max", ach["max"]),
            ("per_second_min", row["per_second_min"]),
            ("per_second_max", row["per_second_max"])]))
    load = meter.report("memtouch")
    bl.write_json(a.json, {"bench": "memtouch", "duration_s": a.duration,
                           "ws": a.ws, "mem": a.mem, "cpus": 1,
                           "machine_before": before, "machine_after": bl.machine(),
                           "load": load,
                           "results": results})


if __name__ == "__main__":
    main()
