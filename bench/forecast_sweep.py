#!/usr/bin/env python3
"""Real migrations to measure vmm's own forecast (the one made after round 0)
against what then happened: memtouch at 1k, 10k and 30k pages/s, sequential
and random over a 128 MiB working set, 512 MiB of RAM, over loopback at full
speed and at max-bandwidth 100 MiB/s, 2 repetitions (24 runs, a few minutes
here). Each run's source statistics go to DIR/runs/NAME.json; then

    python3 bench/forecast_error.py DIR

gives the error table (bench/RESULTS.md, "vmm's forecast against the real
outcome").

    python3 bench/forecast_sweep.py [--out bench/results/forecast] [--build build]
        [--repetitions 2] [--fast] [--upfront] [--dest-prealloc]

--fast: the guest at 60k pages/s and as fast as it can instead (the
harder cases, where more than one pre-copy round runs).

--upfront: also the forecast made before anything is sent (the monitor's
`forecast 2 BANDWIDTH ROUND0_BANDWIDTH`, just before `migrate`), kept in
each run's JSON as "upfront" (`python3 bench/forecast_error.py --upfront
DIR` scores it). Its rates are what a user would give, on both links:
BANDWIDTH the link's own rate, iperf3's over the loopback (one stream,
3 s); ROUND0_BANDWIDTH round 0's, which fills the destination's fresh
RAM, several times slower here: the median rate of page data of
CALIBRATIONS first migrations of the sweep over the loopback (their
statistics' forecast bandwidth), made as the runs are made (a `forecast`
first, then `migrate`). Where max-bandwidth is set the forecast caps the
rounds by it, and the stop-and-copy, which is never throttled, runs at
the link's rate. Made as the runs are, because on a host that returns
freed memory to its own host (virtio-balloon free page reporting, about
2 s after the free) a destination whose RAM comes from memory freed
just before fills it several times faster than one that waited: a
calibration that migrates at once measured round 0 several times faster
than the runs, which all wait the forecast's 2 s.

--dest-prealloc: every destination (calibrations too) started with
`--mem 512M --mem-prealloc`, its RAM allocated before it listens, so that
round 0 no longer depends on whether the host has taken back the memory
the run before freed.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import datapath_round0  # noqa: E402  (its iperf3: the loopback's own rate)
import replay_validate  # noqa: E402  (its migrate_once: 512 MiB, loopback)

WORKLOADS = {"%s-%dk" % (pat, k): "rate=%d ws=128M pattern=%s" % (k * 1000, pat)
             for pat in ("seq", "random") for k in (1, 10, 30)}
FAST = {"%s-%s" % (pat, k): "rate=%d ws=128M pattern=%s" % (r, pat)
        for pat in ("seq", "random") for k, r in (("60k", 60000), ("max", 0))}
LINKS = {"loopback": 0, "100MiBps": 100 * 2**20}   # max-bandwidth, bytes/s
UPFRONT_S = 2
CALIBRATIONS = 3
UPFRONT_RE = re.compile(r"forecast: (\d+) rounds, ([\d.]+) s total, ([\d.]+) ms downtime, "
                        r"([\d.]+) MiB, stop reason (\S+)")


def upfront(bandwidth, round0=0):
    """A before= hook for migrate_once: the monitor's forecast, parsed."""
    def ask(sock):
        r = benchlib.monitor(sock, "forecast %d %d %d" % (UPFRONT_S, bandwidth, round0),
                             timeout=UPFRONT_S + 30)
        m = UPFRONT_RE.search(r)
        if not m:
            benchlib.die("forecast: " + r)
        return {"rounds": int(m.group(1)), "total_us": float(m.group(2)) * 1e6,
                "downtime_ms": float(m.group(3)), "bytes": float(m.group(4)) * 2**20,
                "stop_reason": m.group(5), "bandwidth_bps": bandwidth,
                "round0_bps": round0, "text": r}
    return ask


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--out", default="bench/results/forecast")
    ap.add_argument("--build", default="build")
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--upfront", action="store_true")
    ap.add_argument("--dest-prealloc", action="store_true")
    a = ap.parse_args()
    dst_opts = ["--mem", replay_validate.MEM, "--mem-prealloc"] if a.dest_prealloc else []
    os.makedirs(os.path.join(a.out, "runs"), exist_ok=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or None
    with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
        loop_bw, link_bw, cal_bw = None, None, []
        if a.upfront:
            link_bw = int(datapath_round0.iperf3())
            print("forecast: loopback link at %.0f MiB/s (iperf3)" % (link_bw / 2**20),
                  flush=True)
            for i in range(CALIBRATIONS):
                cal = replay_validate.migrate_once(a.build, tmp, "calibration%d" % i,
                                                   "memtouch", "rate=1000 ws=128M", 0,
                                                   before=upfront(2**30), dst_opts=dst_opts)
                cal_bw.append(int(cal["forecast"]["bandwidth_bps"]))
            loop_bw = int(statistics.median(cal_bw))
            print("forecast: round 0's page data at %.0f MiB/s (median of %s)" % (
                loop_bw / 2**20, ", ".join("%.0f" % (b / 2**20) for b in cal_bw)), flush=True)
        # repetition outermost: a workload's runs lie minutes apart
        for rep in range(1, a.repetitions + 1):
            for wl, args in (FAST if a.fast else WORKLOADS).items():
                for link, bw in LINKS.items():
                    name = "%s-%s-r%d" % (wl, link, rep)
                    hook = upfront(link_bw, loop_bw) if a.upfront else None
                    st = replay_validate.migrate_once(a.build, tmp, name, "memtouch", args, bw,
                                                      before=hook, dst_opts=dst_opts)
                    rec = {"workload": wl, "guest_args": args, "mem": replay_validate.MEM,
                           "link": link, "repetition": rep, "max_bandwidth": bw,
                           "git_revision": rev, "machine": benchlib.machine(),
                           "loadavg": os.getloadavg(), "stats": st,
                           "dest_prealloc": a.dest_prealloc}
                    if a.upfront:
                        rec["upfront"] = st.pop("before")
                        rec["calibration_bps"] = cal_bw
                        rec["iperf3_bps"] = link_bw
                    benchlib.write_json(os.path.join(a.out, "runs", name + ".json"), rec)
                    fc = rec.get("upfront") or st.get("forecast") or {}
                    print("forecast: %s: %d rounds (forecast %s), %.0f ms (%s), %s" % (
                        name, st["round_count"], fc.get("rounds"), st["total_us"] / 1e3,
                        "%.0f" % (fc["total_us"] / 1e3) if fc else "-", st["stop_reason"]),
                        flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
