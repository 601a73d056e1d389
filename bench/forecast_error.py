"""The engine's forecast (vmm's statistics, "forecast": made after round 0)
against what the migration then did, over a set of runs.

Statistics written since the forecast learnt saturation and the rate of
page data hold its bytes too ("forecast": {"bytes": ...}); those are read
as they are. Older ones (the delivered results) hold rounds, total time
and downtime but not bytes: forecast() below is the old migrate/forecast.c
again, fed from the same statistics, and gives them (it reproduces the
recorded rounds and total time, which errors() checks and reports as
`port_match`).

    python3 bench/forecast_error.py [--old-model | --upfront] DIR...
        (lab result dirs or runs/*.json; --old-model: the port for every
        run, to see what the old model would have said about new runs;
        --upfront: the forecast made before anything was sent, which
        bench/forecast_sweep.py --upfront keeps beside each run)
"""
import glob
import json
import math
import os
import sys

import lab_replay

PAGE = 4096


def _vmm_params(stats):
    sp = stats["params"]
    return {"max-iterations": sp["max_iterations"], "downtime-limit": sp["downtime_limit_ms"],
            "min-dirty-pages": sp["min_dirty_pages"],
            "no-progress-rounds": sp["no_progress_rounds"],
            "max-sent-factor": sp["max_sent_factor"], "stall-action": sp["stall_action"]}


def forecast(stats):
    """The old migrate/forecast.c's model from a source's statistics: a dict
    with rounds, total_us, downtime_ms, bytes; None without round 1. Its
    inputs were round 0's bandwidth and dirty rate, as recorded there."""
    r = stats["rounds"]
    f = stats.get("forecast")
    if not f or len(r) < 2 or not r[0]["bandwidth_bps"]:
        return None
    p = _vmm_params(stats)
    p["device-state"] = stats["device_state_bytes"]
    bw, rate = r[0]["bandwidth_bps"], r[0]["dirty_rate_pps"]
    ram = stats["ram_total"]
    ram_pages = ram // PAGE
    page_bytes = PAGE + 8
    # what the source had sent and spent when round 0's log was read
    sent = r[0]["bytes"] + stats["bytes_total"] - sum(x["bytes"] for x in r) \
        - stats["device_state_bytes"]
    total = r[0]["start_us"] + r[0]["duration_us"] + r[0].get("log_read_us", 0)
    pages = float(r[1]["dirty_pages"])
    st = {"lowest": 0, "since_low": 0, "bytes": sent, "ram": ram}
    dirty = r[1]["dirty_pages"]
    k = 0
    while True:
        reason, action = lab_replay._vmm_rule(p, st, k, dirty, bw)
        if reason:
            break
        t = pages * page_bytes / bw
        total += t * 1e6
        st["bytes"] += pages * page_bytes
        pages = min(rate * t, ram_pages)
        dirty = int(pages)
        k += 1
    down_ms = (dirty * page_bytes + stats["device_state_bytes"]) / bw * 1e3
    return {"rounds": k + 2, "total_us": total + down_ms * 1e3, "downtime_ms": down_ms,
            "bytes": st["bytes"] + dirty * page_bytes + stats["device_state_bytes"],
            "cancelled": action == "cancel"}


def load(paths):
    """(name, source statistics) of every vmm run under paths."""
    out = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "runs", "*.json"))) \
            if os.path.isdir(p) else [p]
        for f in files:
            with open(f) as fh:
                rec = json.load(fh)
            st = (rec.get("vmm_stats") or {}).get("src") if "vmm_stats" in rec \
                else rec.get("stats")
            if st and st.get("status") == "completed" and st.get("forecast"):
                if (rec.get("upfront") or {}).get("rounds") is not None:
                    st = dict(st, upfront=rec["upfront"])
                out.append((os.path.splitext(os.path.basename(f))[0], st))
    return out


def errors(runs, old_model=False, upfront=False):
    """One row per run: forecast and real total time, bytes, rounds."""
    rows = []
    for name, st in runs:
        rec = st["forecast"]
        if upfront:
            rec = st.get("upfront")
            if not rec:
                continue
            fc = dict(rec, port=False)
        elif "bytes" in rec and not old_model:   # the engine's own, whole
            fc = dict(rec, port=False)
        else:
            fc = forecast(st)
            if fc is None:
                continue
            fc["port"] = True
            if "bytes" in rec:   # a new run seen through the old model
                rec = fc
        rows.append({
            "name": name, "stop_reason": st["stop_reason"],
            "real_rounds": st["round_count"], "fc_rounds": rec["rounds"],
            "real_total_ms": st["total_us"] / 1e3, "fc_total_ms": rec["total_us"] / 1e3,
            "real_bytes": st["bytes_total"], "fc_bytes": fc["bytes"],
            "real_downtime_ms": st["downtime_us"] / 1e3, "fc_downtime_ms": rec["downtime_ms"],
            "ported": not upfront and "bytes" not in st["forecast"],
            "port_match": not upfront and "bytes" not in st["forecast"] and
            fc["rounds"] == rec["rounds"] and
            abs(fc["total_us"] - rec["total_us"]) <= max(2000, 0.01 * rec["total_us"]),
        })
    return rows


def pct(pred, real):
    return (pred - real) * 100.0 / real if real else math.nan


def mape(rows, key):
    v = [abs(pct(r["fc_" + key], r["real_" + key])) for r in rows]
    return sum(v) / len(v) if v else math.nan


def classes(rows):
    """The runs split by what the forecast had to guess."""
    two = [r for r in rows if r["real_rounds"] == 2]
    more = [r for r in rows if r["real_rounds"] > 2 and r["stop_reason"] == "converged"]
    stall = [r for r in rows if r["stop_reason"] not in ("converged", "min-dirty-pages")]
    return [("all", rows),
            ("2 rounds (the forecast knows the last round's pages)", two),
            ("converged after more rounds", more),
            ("stopped by a stall rule (no-progress, max-sent-factor, max-iterations)", stall)]


def table(rows, old_model=False):
    out = ["| run | rounds real / forecast | total ms real / forecast (err %) "
           "| MiB real / forecast (err %) | stop reason |",
           "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append("| %s | %d / %d | %.0f / %.0f (%+.0f) | %.1f / %.1f (%+.0f) | %s |" % (
            r["name"], r["real_rounds"], r["fc_rounds"], r["real_total_ms"], r["fc_total_ms"],
            pct(r["fc_total_ms"], r["real_total_ms"]), r["real_bytes"] / 2**20,
            r["fc_bytes"] / 2**20, pct(r["fc_bytes"], r["real_bytes"]), r["stop_reason"]))
    out.append("")
    out.append("| runs | how many | MAPE total time | MAPE bytes |")
    out.append("| --- | ---: | ---: | ---: |")
    for label, sel in classes(rows):
        out.append("| %s | %d | %.1f %% | %.1f %% |" % (
            label, len(sel), mape(sel, "total_ms"), mape(sel, "bytes")))
    out.append("")
    ported = sum(r["ported"] for r in rows)
    out.append("MAPE over %d runs: total time %.1f %%, bytes %.1f %%%s." % (
        len(rows), mape(rows, "total_ms"), mape(rows, "bytes"),
        " (the old model, ported, on every run)" if old_model else ""))
    if ported:
        out.append("")
        out.append("%d runs predate the forecast's bytes: the port of the old forecast.c "
                   "reproduces the recorded forecast in %d of them." % (
                       ported, sum(r["port_match"] for r in rows)))
    return "\n".join(out) + "\n"


USAGE = "usage: forecast_error.py [--old-model | --upfront] DIR..."


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(USAGE + "\n\n" + __doc__.strip())
        return 0
    old = "--old-model" in argv
    up = "--upfront" in argv
    argv = [a for a in argv if a not in ("--old-model", "--upfront")]
    bad = [a for a in argv if a.startswith("-")]
    missing = [a for a in argv if not a.startswith("-") and not os.path.exists(a)]
    if not argv or (old and up) or bad or missing:
        print(USAGE, file=sys.stderr)
        for a in bad:
            print("forecast_error.py: unknown option %s" % a, file=sys.stderr)
        for a in missing:
            print("forecast_error.py: %s: no such file or directory" % a, file=sys.stderr)
        return 2
    print(table(errors(load(argv), old, up), old), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
