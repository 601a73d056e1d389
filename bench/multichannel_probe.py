#!/usr/bin/env python3
"""Several channels (multifd) measured beside iperf3 in one run: what
bench/multichannel_probe.c moves with N connections against what iperf3
carries over the same loopback, one stream and N streams.

usage: bench/multichannel_probe.py [--probe build/multichannel_probe]
                                   [--channels 1,2,4] [--repeat 3] [--mib 1024]
                                   [--port 27461] [--seconds 3]
                                   [--receiver fresh|prefaulted|both] [--json FILE]

Build the probe first (the line is in bench/multichannel_probe.c):

    cc -O2 -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE -pthread \\
       bench/multichannel_probe.c build/libvmm.a -lisal -o build/multichannel_probe

Each repetition, for each N in turn: iperf3 -P 1, iperf3 -P N (N > 1),
then the probe with N channels: its receiver reading into fresh memory
(never touched: a new destination's guest RAM), and with --receiver both
then again into memory touched before the clock starts (probe -f: a
destination that populated its RAM first). iperf3's server listens on 127.0.0.1:PORT
and the probe's receiver on PORT+1; both are started and ended by this
script, by their PID. The ratio divides the probe's rate by the iperf3
-P 1 run just before it: issue 8's target 1 is anchored on one-stream
iperf3, so that is the denominator even when the probe uses N streams.

Prints each run, /proc/loadavg before and after, and a Markdown table:
medians and ranges over the repetitions, CPU per GiB on each side, both
sides' CPU over the wall time (how many of the machine's cores they kept
busy), and iperf3 -P 1's own CPU per GiB (its -J figures: the kernel's
TCP cost alone, beside the probe's). Measures and prints; never fails because the machine is slow.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


REPORTED = "/sys/module/page_reporting/parameters/reported_kib"


def reported_mib():
    """Free memory this guest kernel has handed back to its hypervisor so
    far (free page reporting), MiB; None where there is none. Memory handed
    back is faulted in again by the hypervisor on its next first touch."""
    try:
        with open(REPORTED) as f:
            return int(f.read()) / 1024
    except (OSError, ValueError):
        return None


def iperf3(port, streams, seconds):
    """Loopback TCP throughput, bytes/s over all streams, and the CPU
    seconds per GiB of its client (sender) and server (receiver), as
    iperf3 -J says; the server is this script's child, ended by its PID."""
    srv = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                                str(seconds), "-P", str(streams), "-J"],
                               capture_output=True, text=True)
            data = json.loads(r.stdout or "{}")
            if "error" not in data and "end" in data:
                got = data["end"]["sum_received"]
                cpu = data["end"]["cpu_utilization_percent"]
                per_gib = got["seconds"] / 100 / (got["bytes"] / 2**30)
                return (got["bits_per_second"] / 8, cpu["host_total"] * per_gib,
                        cpu["remote_total"] * per_gib)
            time.sleep(0.05)  # the server was not listening yet
        bl.die("iperf3 never ran: %s" % (r.stdout + r.stderr))
    finally:
        try:
            srv.wait(timeout=2)  # -1: it ends after its one client
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    return None


def probe(path, channels, mib, port, prefaulted):
    """One probe run: its key=value line as a dict of floats."""
    r = subprocess.run([path, "-n", str(channels), "-m", str(mib), "-p", str(port)] +
                       (["-f"] if prefaulted else []),
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        bl.die("probe failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
    fields = r.stdout.split()
    if not fields or fields[0] != "multichannel_probe":
        bl.die("probe printed %r" % r.stdout)
    return {k: float(v) for k, v in (f.split("=", 1) for f in fields[1:])}


def span(values, fmt):
    """median [min-max] of values, each formatted with fmt."""
    return "%s [%s-%s]" % (fmt % statistics.median(values), fmt % min(values),
                           fmt % max(values))


def table(rows, channels, modes, mib):
    gib = mib / 1024.0
    print("\n| N | receiver memory | probe GB/s | iperf3 -P 1 GB/s | ratio to iperf3 -P 1 "
          "| iperf3 -P N GB/s | sender CPU s/GiB (sys) | receiver CPU s/GiB (sys) | cores busy "
          "| iperf3 -P 1 CPU s/GiB sender / receiver |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, mode in ((n, m) for n in channels for m in modes):
        mine = [r for r in rows if r["channels"] == n and r["receiver"] == mode]
        print("| %d | %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s | %.2f / %.2f |" % (
            n, mode, span([r["GBps"] for r in mine], "%.2f"),
            span([r["iperf3_p1_GBps"] for r in mine], "%.2f"),
            span([r["ratio_p1"] for r in mine], "%.2f"),
            span([r["iperf3_pn_GBps"] for r in mine], "%.2f"),
            span([r["sender_cpu_s"] / gib for r in mine], "%.2f"),
            "%.2f" % statistics.median(r["sender_sys_s"] / gib for r in mine),
            span([r["receiver_cpu_s"] / gib for r in mine], "%.2f"),
            "%.2f" % statistics.median(r["receiver_sys_s"] / gib for r in mine),
            span([(r["sender_cpu_s"] + r["receiver_cpu_s"]) / (r["wall_ms"] / 1e3)
                  for r in mine], "%.2f"),
            statistics.median(r["iperf3_p1_sender_cpu_s_GiB"] for r in mine),
            statistics.median(r["iperf3_p1_receiver_cpu_s_GiB"] for r in mine)))


def report(r, p1, pn):
    """The line of one probe run."""
    print("rep %d N=%d %s: probe %.2f GB/s in %.0f ms, iperf3 -P 1 %.2f GB/s, -P %d "
          "%.2f GB/s, ratio to -P 1 %.2f; CPU sender %.3f s (sys %.3f), receiver "
          "%.3f s (sys %.3f, %d minor faults); free memory reported to the hypervisor "
          "since the previous probe %s MiB; load %s" % (
              r["rep"], r["channels"], r["receiver"], r["GBps"], r["wall_ms"], p1 / 1e9,
              r["channels"], pn / 1e9, r["ratio_p1"], r["sender_cpu_s"], r["sender_sys_s"],
              r["receiver_cpu_s"], r["receiver_sys_s"], r["receiver_minflt"],
              bl.fmt(r["reported_MiB"], 0), loadavg()), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", default=os.path.join("build", "multichannel_probe"))
    ap.add_argument("--channels", default="1,2,4")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--port", type=int, default=27461,
                    help="iperf3's port; the probe's receiver takes the next one")
    ap.add_argument("--seconds", type=int, default=3, help="each iperf3 run")
    ap.add_argument("--receiver", choices=("fresh", "prefaulted", "both"), default="fresh")
    ap.add_argument("--json")
    a = ap.parse_args()
    channels = [int(x) for x in a.channels.split(",")]
    modes = ("fresh", "prefaulted") if a.receiver == "both" else (a.receiver,)
    if not os.access(a.probe, os.X_OK):
        bl.die("%s missing: build it with the line in bench/multichannel_probe.c" % a.probe)
    if not shutil.which("iperf3"):
        bl.die("iperf3 is not installed")
    thp = {}
    for k in ("enabled", "defrag"):
        with open("/sys/kernel/mm/transparent_hugepage/" + k) as f:
            thp[k] = f.read().strip()
    start = {"time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
             "loadavg": loadavg()}
    print("multichannel_probe: start %s, /proc/loadavg %s, THP enabled %s, defrag %s" % (
        start["time"], start["loadavg"], thp["enabled"], thp["defrag"]), flush=True)
    rows = []
    meter = bl.LoadMeter()
    rep0 = reported_mib()
    for rep in range(a.repeat):
        for n in channels:
            p1, p1_snd, p1_rcv = iperf3(a.port, 1, a.seconds)
            pn = p1 if n == 1 else iperf3(a.port, n, a.seconds)[0]
            for mode in modes:
                r = probe(a.probe, n, a.mib, a.port + 1, mode == "prefaulted")
                rep1 = reported_mib()
                r.update(rep=rep, channels=n, receiver=mode, iperf3_p1_GBps=p1 / 1e9,
                         iperf3_pn_GBps=pn / 1e9, ratio_p1=r["GBps"] * 1e9 / p1,
                         iperf3_p1_sender_cpu_s_GiB=p1_snd,
                         iperf3_p1_receiver_cpu_s_GiB=p1_rcv,
                         reported_MiB=None if rep0 is None else rep1 - rep0)
                rep0 = rep1
                rows.append(r)
                report(r, p1, pn)
    end = {"time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "loadavg": loadavg()}
    print("multichannel_probe: end %s, /proc/loadavg %s" % (end["time"], end["loadavg"]))
    end["machine"] = meter.report("multichannel_probe")
    table(rows, channels, modes, a.mib)
    if a.json:
        bl.write_json(a.json, {"machine": bl.machine(), "thp": thp, "start": start,
                               "end": end, "rows": rows})


if __name__ == "__main__":
    main()
