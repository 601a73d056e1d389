#!/usr/bin/env python3
"""auto-converge side by side (issue 9, target 1): for a lab result
directory (bench/experiments/autoconverge.toml), one row per run and one
per point (medians): outcome, total time, downtime, rounds, the throttle
at the end (the highest `cpu-throttle-percentage` query-migrate showed:
QEMU's field, which vmm fills in the same way; vmm's own
`cpu_throttle_final_pct` where its statistics are there) and the guest's
own memtouch rate before, during and after the migration.

    python3 bench/autoconverge_report.py bench/results/autoconverge [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab_report  # noqa: E402


def final_throttle(record):
    """The throttle in force at the end of the pre-copy: vmm's record, else
    the highest value the sampled query-migrate showed (it only rises)."""
    stats = (record.get("vmm_stats") or {}).get("src")
    if stats and "cpu_throttle_final_pct" in stats:
        return stats["cpu_throttle_final_pct"]
    seen = [s.get("cpu-throttle-percentage", 0) for s in record.get("samples") or []]
    final = (record.get("qmp") or {}).get("src_migrate") or {}
    seen.append(final.get("cpu-throttle-percentage", 0))
    return max(seen) if seen else None


def row(record):
    s = lab_report.summarize(record)
    caps = record["point"].get("capabilities") or {}
    rates = s.get("guest_rate_pps") or {}
    system = record["point"]["system"]
    params = record["point"].get("params") or {}
    return {"system": system,
            "auto_converge": bool(caps.get("auto-converge")),
            # vmm's own parameter; QEMU always reads again where it fits
            "round_end": params.get("round-end", "pass") if system == "vmm" else "-",
            "repetition": record.get("repetition"),
            "outcome": s["status"], "stop_reason": s["stop_reason"],
            "total_ms": s["total_ms"], "downtime_ms": s["downtime_ms"],
            "rounds": s["rounds"], "bytes": s["bytes"],
            "final_throttle_pct": final_throttle(record),
            "guest_pps_before": rates.get("before"),
            "guest_pps_during": rates.get("during"),
            "guest_pps_after": rates.get("after")}


def cell(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


COLS = ("system", "auto_converge", "round_end", "outcome", "stop_reason", "total_ms", "downtime_ms",
        "rounds", "final_throttle_pct", "guest_pps_before", "guest_pps_during",
        "guest_pps_after")


def markdown(rows):
    out = ["| " + " | ".join(COLS) + " |", "| " + " | ".join(["---"] * len(COLS)) + " |"]
    for r in rows:
        out.append("| " + " | ".join(cell(r[c], 1 if c == "downtime_ms" else 0)
                                     for c in COLS) + " |")
    return "\n".join(out)


def medians(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["system"], r["auto_converge"], r["round_end"]), []).append(r)
    out = []
    for (system, ac, round_end), rs in groups.items():
        m = {"system": system, "auto_converge": ac, "round_end": round_end,
             "outcome": ", ".join(sorted({r["outcome"] for r in rs})),
             "stop_reason": ", ".join(sorted({str(r["stop_reason"]) for r in rs}))}
        for c in COLS[5:]:
            v = [r[c] for r in rs if r[c] is not None]
            m[c] = float(statistics.median(v)) if v else None
        out.append(m)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--json", help="write the rows as JSON here")
    a = ap.parse_args()
    rows = [row(r) for r in lab_report.load_runs(a.dir)]
    print("Per run:\n\n" + markdown(rows) + "\n")
    print("Medians per system and capability:\n\n" + markdown(medians(rows)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
