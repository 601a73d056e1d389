#!/usr/bin/env python3
"""Validates `bench/lab replay` against real migrations, and vmm's own
forecast against a sweep (bench/RESULTS.md, "Replay against reality").

For each workload: boot a memtouch guest, record a dirty trace of it
(`record-dirty`), then migrate that same guest for real over loopback (at
full speed, then at max-bandwidth 100M); replay the trace under vmm's
rules with the link given three ways (the run's own bandwidths per phase,
one bandwidth for every round, a calibration on other guests) and
compare. Then the forecast's error, the tables and the figures:

    python3 bench/replay_validate.py [--out bench/results/replay] [--build build]
        [--repetitions 3] [--sweep bench/results/convergence-1rep-first] [--report-only]

--report-only redoes the tables and figures from DIR's saved runs and
traces. Needs KVM (unless --report-only) and Debian's python3-matplotlib.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
try:
    import matplotlib  # noqa: F401  (the figures need it)
except ModuleNotFoundError:
    # Debian's python3-matplotlib lives in /usr/bin/python3's path; a
    # python3 earlier on PATH (pyenv, a venv) does not see it.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import dirty_trace  # noqa: E402
import forecast_error  # noqa: E402
import lab_replay  # noqa: E402

MEM = "512M"
RECORD_S = 4
INTERVAL = "20ms"
# name: memtouch arguments
WORKLOADS = {
    "seq-1k": "rate=1000 ws=128M pattern=seq",
    "seq-10k": "rate=10000 ws=128M pattern=seq",
    "seq-30k": "rate=30000 ws=128M pattern=seq",
    "random-10k": "rate=10000 ws=128M pattern=random",
    "random-30k-ws64M": "rate=30000 ws=64M pattern=random",
}
LINKS = {"loopback": 0, "100MiBps": 100 * 2**20}   # max-bandwidth, bytes/s
# the link calibration: the working set written once (prefill), then quiet
QUIET = "rate=1 ws=128M pattern=seq"
# ... and the stop-and-copy's: a small working set rewritten as fast as the
# guest can, so that the last round has thousands of pages to time
HOT = "rate=0 ws=16M pattern=random"


def _wait_file(path, text, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            benchlib.die("vmm ended before %r appeared in %s" % (text, path))
        time.sleep(0.05)
    benchlib.die("%r did not appear in %s within %g s" % (text, path, timeout))


def migrate_once(build, tmp, name, guest, guest_args, max_bw, trace=None, before=None,
                 dst_opts=()):
    """Boots guest, records a trace into trace (if given), migrates it to a
    fresh destination over loopback (started with dst_opts too); the
    source's statistics. before, if given, is called with the monitor's
    socket once max-bandwidth is set, just before the migration starts;
    what it returns is the statistics' "before" key."""
    sock = os.path.join(tmp, name + ".mon")
    log = os.path.join(tmp, name + ".serial")
    stats = os.path.join(tmp, name + ".stats.json")
    src = benchlib.Background(benchlib.vmm_cmd(
        guest, guest_args, mem=MEM, build=build,
        opts=["--monitor", "unix:" + sock, "--serial", "file:" + log,
              "--stats-json", stats, "-q"]), os.path.join(tmp, name + ".src.err"))
    dst = None
    try:
        _wait_file(log, "memtouch: t=" if guest == "memtouch" else "idle", 30, src.proc)
        if trace:
            r = benchlib.monitor(sock, "record-dirty %s %d %s" % (trace, RECORD_S, INTERVAL),
                                 timeout=RECORD_S + 30)
            if "recorded" not in r:
                benchlib.die("record-dirty: " + r)
        port = benchlib.free_port()
        dst = benchlib.Background([os.path.join(build, "vmm"), "--incoming",
                                   "tcp:127.0.0.1:%d" % port, "--serial", "none"] +
                                  list(dst_opts),
                                  os.path.join(tmp, name + ".dst.err"))
        dst.wait_for("waiting for a migration", 10)
        seen = None
        for line in ("migrate_set_parameter max-bandwidth %d" % max_bw,
                     "migrate tcp:127.0.0.1:%d" % port):
            if line.startswith("migrate ") and before:
                seen = before(sock)
            r = benchlib.monitor(sock, line)
            if not r.rstrip().endswith("ok"):
                benchlib.die("%s: %s" % (line, r))
        if src.proc.wait(timeout=120) != 0:
            benchlib.die("the source ended with %s:\n%s" % (src.proc.returncode, src.err()))
        with open(stats) as f:
            st = json.load(f)
        if before:
            st["before"] = seen
        return st
    finally:
        for p in (src, dst):
            if p and p.proc.poll() is None:
                p.proc.terminate()
                p.stop(5)


def _bw(rounds):
    us = sum(x["duration_us"] for x in rounds)
    return sum(x["bytes"] for x in rounds) * 1e6 / us if us else None


def zero_rate(stats):
    """Zero pages per second round 0 got through on an idle guest."""
    r0 = stats["rounds"][0]
    return stats["zero_pages_total"] * 1e6 / r0["duration_us"]


def overhead_ms(stats):
    """Downtime that is not page data: pausing, the state, resuming."""
    return (stats["downtime_pause_us"] + stats["downtime_state_us"] +
            stats["downtime_resume_us"]) / 1e3


def run_all(out, build, reps):
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    os.makedirs(os.path.join(out, "traces"), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        idle = migrate_once(build, tmp, "idle", "idle", "", 0)
        calib = {"zero_rate_pps": zero_rate(idle), "device_state": idle["device_state_bytes"],
                 "overhead_ms": overhead_ms(idle), "idle_stats": idle, "links": {}}
        print("replay: idle %s guest: %.0f zero pages/s in round 0, %d bytes of device "
              "state, %.2f ms of downtime beside the pages" % (
                  MEM, calib["zero_rate_pps"], calib["device_state"], calib["overhead_ms"]))
        for link, bw in LINKS.items():
            st = migrate_once(build, tmp, "quiet-" + link, "memtouch", QUIET, bw)
            r0 = st["rounds"][0]
            # round 0's data pages alone: its time less the zero pages' scan
            data_us = r0["duration_us"] - r0["zero_pages"] * 1e6 / calib["zero_rate_pps"]
            data0 = (r0["pages_sent"] - r0["zero_pages"]) * (lab_replay.PAGE + lab_replay.ENTRY) * 1e6 / data_us
            hot = migrate_once(build, tmp, "hot-" + link, "memtouch", HOT, bw)
            _, stop, _ = bandwidths({"stats": hot, "max_bandwidth": bw})
            calib["links"][link] = {"stop": stop, "data0": data0, "quiet_stats": st,
                                    "hot_stats": hot}
            print("replay: %s: round 0 moves a quiet guest's data at %.0f MiB/s, the "
                  "stop-and-copy of a hot one (%d pages) runs at %.0f MiB/s" % (
                      link, data0 / 2**20, hot["rounds"][-1]["pages_sent"], stop / 2**20))
        benchlib.write_json(os.path.join(out, "calibration.json"), calib)
        # repetition outermost: each workload's runs lie minutes apart
        for rep in range(1, reps + 1):
            for wl, args in WORKLOADS.items():
                for link, bw in LINKS.items():
                    name = "%s-%s-r%d" % (wl, link, rep)
                    trace = os.path.join(out, "traces", name + ".trace")
                    st = migrate_once(build, tmp, name, "memtouch", args, bw, trace)
                    benchlib.write_json(os.path.join(out, "runs", name + ".json"), {
                        "workload": wl, "guest_args": args, "mem": MEM, "link": link,
                        "repetition": rep, "max_bandwidth": bw,
                        "trace": os.path.basename(trace),
                        "record": {"seconds": RECORD_S, "interval": INTERVAL},
                        "loadavg": os.getloadavg(), "stats": st})
                    print("replay: %s: %d rounds, %.0f ms, downtime %.1f ms, %s" % (
                        name, st["round_count"], st["total_us"] / 1e3,
                        st["downtime_us"] / 1e3, st["stop_reason"]))


VARIANTS = {
    "calibrated": "a prediction: the link calibrated once, on other guests: round 0's "
                  "data pages at the rate a quiet guest's round 0 achieved, the "
                  "stop-and-copy at the rate a hot guest's did, pre-copy rounds at "
                  "max-bandwidth or else that; zero pages at the idle guest's rate",
    "one": "one bandwidth, the plain model: every round, the stop-and-copy too, at "
           "the bandwidth the real run's pre-copy measured after round 0 (or its "
           "max-bandwidth when it had no such round); zero pages scanned at the idle "
           "guest's rate",
    "phases": "three bandwidths from the real run: round 0 as long as it took, later "
              "pre-copy rounds as above, the stop-and-copy at its own (unthrottled) "
              "bandwidth",
}


def _vmm_params(st, calib, extra):
    # zero pages: memory content, which a trace does not see; the real
    # round 0 counted them (bench/lab replay can guess: zero-pages=auto)
    p = lab_replay.parse_params("vmm", [
        "device-state=%d" % calib["device_state"], "setup-ms=%g" % (st["setup_us"] / 1e3),
        "downtime-overhead-ms=%g" % calib["overhead_ms"],
        "zero-pages=%d" % st["rounds"][0]["zero_pages"]] + extra)
    sp = st["params"]
    p.update({"max-iterations": sp["max_iterations"], "downtime-limit": sp["downtime_limit_ms"],
              "min-dirty-pages": sp["min_dirty_pages"],
              "no-progress-rounds": sp["no_progress_rounds"],
              "max-sent-factor": sp["max_sent_factor"], "stall-action": sp["stall_action"],
              # runs recorded before the rule existed had none
              "shrink-factor": sp.get("shrink_factor", 0)})
    return p


def bandwidths(rec):
    """(pre-copy after round 0, stop-and-copy, round 0's data pages) in
    bytes/s, as the real run measured them."""
    r = rec["stats"]["rounds"]
    stop = _bw(r[-1:])
    pre = _bw(r[1:-1]) or rec["max_bandwidth"] or stop
    data0 = (r[0]["pages_sent"] - r[0]["zero_pages"]) * (lab_replay.PAGE + lab_replay.ENTRY)
    return pre, stop, data0 * 1e6 / r[0]["duration_us"]


def replay_run(out, rec, calib):
    """{variant: (replay, bandwidth)} for one real run, and its trace."""
    st = rec["stats"]
    trace = dirty_trace.read_trace(os.path.join(out, "traces", rec["trace"]))
    pre, stop, data0 = bandwidths(rec)
    res = {"one": (lab_replay.replay(trace, "vmm", pre, _vmm_params(
        st, calib, ["zero-rate=%g" % calib["zero_rate_pps"]])), pre)}
    cal = calib["links"][rec["link"]]
    cpre = rec["max_bandwidth"] or cal["stop"]
    res["calibrated"] = (lab_replay.replay(trace, "vmm", cpre, _vmm_params(
        st, calib, ["round0-bandwidth=%g" % cal["data0"], "stop-bandwidth=%g" % cal["stop"],
                    "zero-rate=%g" % calib["zero_rate_pps"]])), cpre)
    # round 0 as long as it took: its data pages at the rate that makes it so
    res["phases"] = (lab_replay.replay(trace, "vmm", pre, _vmm_params(
        st, calib, ["round0-bandwidth=%g" % data0, "stop-bandwidth=%g" % stop])), pre)
    return res, trace, pre


def pct(pred, real):
    return forecast_error.pct(pred, real)


def report(out, sweeps):
    with open(os.path.join(out, "calibration.json")) as f:
        calib = json.load(f)
    calib.setdefault("overhead_ms", overhead_ms(calib["idle_stats"]))
    rows = []
    runs_dir = os.path.join(out, "runs")
    for fn in sorted(os.listdir(runs_dir)):
        with open(os.path.join(runs_dir, fn)) as f:
            rec = json.load(f)
        variants, trace, bw = replay_run(out, rec, calib)
        st = rec["stats"]
        others = {}
        for pol in ("xen", "qemu"):
            p = lab_replay.parse_params(pol, [
                "device-state=%d" % calib["device_state"],
                "zero-pages=%d" % st["rounds"][0]["zero_pages"],
                "zero-rate=%g" % calib["zero_rate_pps"],
                "downtime-overhead-ms=%g" % calib["overhead_ms"]])
            others[pol] = lab_replay.replay(trace, pol, bw, p)
        rows.append({"name": fn[:-5], "rec": rec, "variants": variants, "others": others,
                     "real": {"rounds": st["round_count"], "total_ms": st["total_us"] / 1e3,
                              "downtime_ms": st["downtime_us"] / 1e3,
                              "bytes": st["bytes_total"], "stop": st["stop_reason"],
                              "per_round": [x["dirty_pages"] for x in st["rounds"]]},
                     "forecast": st["forecast"]})
    text = replay_table(rows, calib)
    fc_runs = forecast_error.load(sweeps) + [(r["name"], r["rec"]["stats"]) for r in rows]
    fc_rows = forecast_error.errors(fc_runs)
    text += "\n## vmm's forecast against the real outcome\n\n"
    text += "Over %s and the runs above.\n\n" % ", ".join(sweeps)
    text += forecast_error.table(fc_rows)
    with open(os.path.join(out, "replay.md"), "w") as f:
        f.write(text)
    print(text, end="")
    import replay_plot
    for f in replay_plot.plot_all(out, rows, fc_rows):
        print(f)


def replay_table(rows, calib):
    out = ["## Replay against reality", "",
           "%s guest, loopback at full speed and at max-bandwidth 100 MiB/s. Every replay: "
           "%d bytes of device state, %.2f ms of downtime beside the pages (both measured "
           "on an idle guest), as many zero pages in round 0 as the real run found there "
           "(memory content, which a trace does not hold), vmm's parameters as the real "
           "run's. Zero pages are scanned at %.0f pages/s (the idle guest's round 0) "
           "where the variant does not fix round 0's length."
           % (MEM, calib["device_state"], calib["overhead_ms"], calib["zero_rate_pps"]), ""]
    loads = [r["rec"]["loadavg"][0] for r in rows if r["rec"].get("loadavg")]
    if loads:
        out += ["Load average (1 min) when each run was written: %.1f to %.1f on %d CPUs "
                "(other sessions' tests share this machine)." % (
                    min(loads), max(loads), os.cpu_count()), ""]
    for v, text in VARIANTS.items():
        out += variant_table(rows, v, text)
    out.append("The same traces under the other stop rules (one bandwidth, as above):")
    out.append("")
    out.append("| run | vmm: rounds, total ms, downtime ms | Xen: rounds, total ms, downtime ms "
               "| QEMU: rounds, total ms, downtime ms |")
    out.append("| --- | --- | --- | --- |")
    for r in rows:
        cells = []
        for x in (r["variants"]["one"][0], r["others"]["xen"], r["others"]["qemu"]):
            cells.append("%d, %.0f, %s (%s)" % (
                x["rounds"], x["total_ms"], "%.1f" % x["downtime_ms"]
                if x["downtime_ms"] is not None else "-", x["stop_reason"]))
        out.append("| %s | %s |" % (r["name"], " | ".join(cells)))
    return "\n".join(out) + "\n"


def mean_errors(rows, v):
    errs = {"rounds": [], "total_ms": [], "downtime_ms": [], "bytes": []}
    for r in rows:
        rp = r["variants"][v][0]
        for k in errs:
            if rp[k] is not None:
                errs[k].append(abs(pct(rp[k], r["real"][k])))
    return {k: sum(x) / len(x) if x else float("nan") for k, x in errs.items()}


def variant_table(rows, v, text):
    out = ["### Variant \"%s\": %s" % (v, text), "",
           "| run | pre-copy MiB/s (round 0's data, stop-copy) | rounds real / replay | total ms real / replay (err %) "
           "| downtime ms real / replay (err %) | MiB real / replay (err %) "
           "| pages per round real / replay | stop real / replay |",
           "| --- | ---: | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        re_, (rp, bw) = r["real"], r["variants"][v]
        per = [x["pages_sent"] for x in rp["rounds_detail"]]
        dt = rp["downtime_ms"] or 0
        _, stop, data0 = bandwidths(r["rec"])
        out.append("| %s | %.0f (%.0f, %.0f) | %d / %d | %.0f / %.0f (%+.0f) "
                   "| %.1f / %.1f (%+.0f) | %.1f / %.1f (%+.0f) | %s / %s | %s / %s%s |" % (
                       r["name"], bw / 2**20, data0 / 2**20, stop / 2**20,
                       re_["rounds"], rp["rounds"],
                       re_["total_ms"], rp["total_ms"], pct(rp["total_ms"], re_["total_ms"]),
                       re_["downtime_ms"], dt, pct(dt, re_["downtime_ms"]),
                       re_["bytes"] / 2**20, rp["bytes"] / 2**20, pct(rp["bytes"], re_["bytes"]),
                       _short(re_["per_round"]), _short(per), re_["stop"], rp["stop_reason"],
                       " (trace looped %dx)" % rp["trace_loops"] if rp["trace_loops"] else ""))
    e = mean_errors(rows, v)
    out += ["", "Mean absolute error over %d runs: rounds %.1f %%, total time %.1f %%, "
            "downtime %.1f %%, bytes %.1f %%." % (
                len(rows), e["rounds"], e["total_ms"], e["downtime_ms"], e["bytes"]), ""]
    return out


def _short(v):
    return " ".join(str(x) for x in v[:6]) + (" ..." if len(v) > 6 else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("bench", "results", "replay"))
    ap.add_argument("--build", default="build")
    ap.add_argument("--sweep", action="append",
                    help="lab result dirs for the forecast error "
                    "(default bench/results/convergence-1rep-first)")
    ap.add_argument("--repetitions", type=int, default=3,
                    help="runs of each workload and link (default 3)")
    ap.add_argument("--report-only", action="store_true")
    opt = ap.parse_args()
    if not opt.report_only:
        run_all(opt.out, opt.build, opt.repetitions)
    report(opt.out, opt.sweep or [os.path.join("bench", "results", "convergence-1rep-first")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
