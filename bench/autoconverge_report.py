#!/usr/bin/env python3
"""auto-converge and dirty-limit side by side (issue 9, target 1): for a
lab result directory (bench/experiments/autoconverge.toml, dirty-limit.toml),
one row per run and one per point (medians): the capability (none,
auto-converge, dirty-limit), outcome, total time, downtime, rounds, the
throttle at the end (the highest `cpu-throttle-percentage` query-migrate
showed: QEMU's field, which vmm fills in the same way; vmm's own
`cpu_throttle_final_pct` where its statistics are there), with
dirty-limit the per-vCPU limit in force (`vcpu-dirty-limit`, MB/s), each
vCPU's highest throttle (vmm: `vcpu_throttle_pct` in its sampled
statistics) and the time throttled (vmm: each vCPU's `vcpu_throttled_us`,
ms; QEMU: the highest `dirty-limit-throttle-time-per-round` query-migrate
showed, us, its only per-round figure), and the guest's own memtouch rate
before, during and after the migration.

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


def capability(caps):
    """The lever a run used: none, auto-converge, dirty-limit (or the
    names of every capability on, joined)."""
    on = sorted(k for k, v in caps.items() if v)
    return "+".join(on) if on else "none"


def _samples_vmm(record):
    return [s["vmm"] for s in record.get("samples") or [] if isinstance(s.get("vmm"), dict)]


def dirty_limit_figures(record):
    """With dirty-limit on: the limit in force (MB/s), each vCPU's highest
    throttle (%, vmm) and time throttled (vmm: ms per vCPU; QEMU: the
    highest throttle time per dirty ring round it reported, us). None
    where the system does not say."""
    out = {"vcpu_limit_mbps": None, "vcpu_throttle_pct": None,
           "throttled": None}
    if not (record["point"].get("capabilities") or {}).get("dirty-limit"):
        return out
    params = (record.get("qmp") or {}).get("parameters") or {}
    out["vcpu_limit_mbps"] = params.get("vcpu-dirty-limit",
                                        record["point"]["params"].get("vcpu-dirty-limit"))
    seen = [v.get("vcpu_throttle_pct") or [] for v in _samples_vmm(record)]
    if any(seen):
        n = max(len(v) for v in seen)
        out["vcpu_throttle_pct"] = " ".join(
            "%d=%d" % (i, max(v[i] for v in seen if len(v) > i)) for i in range(n))
    stats = (record.get("vmm_stats") or {}).get("src") or {}
    if stats.get("vcpu_throttled_us"):
        out["throttled"] = " ".join("%d=%dms" % (i, us // 1000) for i, us in
                                    enumerate(stats["vcpu_throttled_us"]))
        return out
    final = (record.get("qmp") or {}).get("src_migrate") or {}
    qemu = [s.get("dirty-limit-throttle-time-per-round")
            for s in (record.get("samples") or []) + [final]]
    qemu = [v for v in qemu if v is not None]
    if qemu:
        out["throttled"] = "%dus/round" % max(qemu)
    return out


def row(record):
    s = lab_report.summarize(record)
    caps = record["point"].get("capabilities") or {}
    rates = s.get("guest_rate_pps") or {}
    system = record["point"]["system"]
    params = record["point"].get("params") or {}
    return dict({"system": system, "capability": capability(caps),
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
            "guest_pps_after": rates.get("after")}, **dirty_limit_figures(record))


def cell(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


COLS = ("system", "capability", "round_end", "outcome", "stop_reason", "total_ms",
        "downtime_ms", "rounds", "final_throttle_pct", "vcpu_limit_mbps",
        "vcpu_throttle_pct", "throttled", "guest_pps_before", "guest_pps_during",
        "guest_pps_after")
NUMERIC = ("total_ms", "downtime_ms", "rounds", "final_throttle_pct",
           "vcpu_limit_mbps", "guest_pps_before", "guest_pps_during",
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
        groups.setdefault((r["system"], r["capability"], r["round_end"]), []).append(r)
    out = []
    for (system, cap, round_end), rs in groups.items():
        m = {"system": system, "capability": cap, "round_end": round_end,
             "outcome": ", ".join(sorted({r["outcome"] for r in rs})),
             "stop_reason": ", ".join(sorted({str(r["stop_reason"]) for r in rs}))}
        for c in NUMERIC:
            v = [r[c] for r in rs if r[c] is not None]
            m[c] = float(statistics.median(v)) if v else None
        # per-vCPU text: each run's, side by side
        for c in ("vcpu_throttle_pct", "throttled"):
            v = [r[c] for r in rs if r[c] is not None]
            m[c] = "; ".join(v) if v else None
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
