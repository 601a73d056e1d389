"""The engine's forecast (vmm's statistics, "forecast": made after round 0)
against what the migration then did, over a set of runs.

The statistics hold the forecast's rounds, total time and downtime but not
its bytes; forecast() below is migrate/forecast.c again, fed from the
same statistics, and gives them (it reproduces the recorded rounds and
total time, which errors() checks and reports as `port_match`).

    python3 bench/forecast_error.py DIR...   (lab result dirs or runs/*.json)
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
    """migrate/forecast.c's model from a source's statistics: a dict with
    rounds, total_us, downtime_ms, bytes; None without round 1."""
    r = stats["rounds"]
    f = stats.get("forecast")
    if not f or len(r) < 2 or not f["bandwidth_bps"]:
        return None
    p = _vmm_params(stats)
    p["device-state"] = stats["device_state_bytes"]
    bw, rate = f["bandwidth_bps"], f["dirty_rate_pps"]
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
                out.append((os.path.splitext(os.path.basename(f))[0], st))
    return out


def errors(runs):
    """One row per run: forecast and real total time, bytes, rounds."""
    rows = []
    for name, st in runs:
        fc = forecast(st)
        if fc is None:
            continue
        rec = st["forecast"]
        rows.append({
            "name": name, "stop_reason": st["stop_reason"],
            "real_rounds": st["round_count"], "fc_rounds": rec["rounds"],
            "real_total_ms": st["total_us"] / 1e3, "fc_total_ms": rec["total_us"] / 1e3,
            "real_bytes": st["bytes_total"], "fc_bytes": fc["bytes"],
            "real_downtime_ms": st["downtime_us"] / 1e3, "fc_downtime_ms": rec["downtime_ms"],
            "port_match": fc["rounds"] == rec["rounds"] and
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


def table(rows):
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
    out.append("MAPE over %d runs: total time %.1f %%, bytes %.1f %%; the port of "
               "forecast.c reproduces the recorded forecast in %d of them." % (
                   len(rows), mape(rows, "total_ms"), mape(rows, "bytes"),
                   sum(r["port_match"] for r in rows)))
    return "\n".join(out) + "\n"


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    print(table(errors(load(argv))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
