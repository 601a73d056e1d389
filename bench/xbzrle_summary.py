#!/usr/bin/env python3
"""One line per run of a bench/lab result directory with the XBZRLE
counters of both systems: vmm's from its statistics (xbzrle_cache),
QEMU's from the last query-migrate sample that has xbzrle-cache.

    python3 bench/xbzrle_summary.py bench/results/xbzrle/dt300
"""
import glob
import json
import os
import sys


def xbzrle_of(run, name):
    if name.startswith("vmm"):
        src = (run.get("vmm_stats") or {}).get("src")
        x = src.get("xbzrle_cache") if isinstance(src, dict) else None
        if not x:
            return "-"
        return ("deltas %d (%d bytes), hits %d, misses %d, overflows %d, "
                "not cached %d, saved %.1f MiB" % (
                    x["pages"], x["bytes"], x["hits"], x["cache_miss"],
                    x["overflow"], x.get("not_cached", 0), x["bytes_saved"] / 2**20))
    samples = [s for s in run.get("samples", []) if "xbzrle-cache" in s]
    if not samples:
        return "-"
    x = samples[-1]["xbzrle-cache"]
    return "deltas %d (%d bytes), misses %d, overflows %d" % (
        x["pages"], x["bytes"], x["cache-miss"], x["overflow"])


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    print("system | point | outcome | total ms | rounds | sent MiB | guest pages/s during | xbzrle")
    for f in sorted(glob.glob(os.path.join(argv[1], "runs", "*.json"))):
        run = json.load(open(f))
        name = os.path.basename(f)
        s = run["summary"]
        during = (s.get("guest_rate_pps") or {}).get("during")
        print(" | ".join(str(v) for v in (
            name.split("_")[0], name.split("_", 1)[1].rsplit(".", 1)[0],
            run["outcome"], s.get("total_ms") and round(s["total_ms"]), s.get("rounds"),
            round((s.get("bytes") or 0) / 2**20, 1), during and round(during),
            xbzrle_of(run, name))))


if __name__ == "__main__":
    main(sys.argv)
