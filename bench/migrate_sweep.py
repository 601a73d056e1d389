#!/usr/bin/env python3
"""Migration sweep: a 512 MiB guest running memtouch at several dirty rates
migrates between two local vmm processes; one line per run, a key=value
summary line, and a Markdown table (--markdown) for bench/RESULTS.md.

usage: bench/migrate_sweep.py [--build build] [--repeat N] [--cases LIST]
                              [--markdown] [--json FILE]

Each run: destination `vmm --incoming`, source `vmm --mem 512M --migrate-to
... --migrate-after 3s GUEST`, statistics from the source's --stats-json.
The Markdown table shows the median run of each workload (by total time)
and the downtime range over all runs.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

# (key, label, guest, guest args). ws=256M so the working set is half of RAM.
CASES = [
    ("idle", "idle", "idle", "duration=0"),
    ("1k", "1K pages/s", "memtouch", "rate=1000 ws=256M report=0"),
    ("10k", "10K pages/s", "memtouch", "rate=10000 ws=256M report=0"),
    ("50k", "50K pages/s", "memtouch", "rate=50000 ws=256M report=0"),
    ("max", "max", "memtouch", "rate=0 ws=256M report=0"),
]
MEM = "512M"
AFTER = "3s"


def run_case(build, guest, args, tmp):
    """One migration; the source's statistics (its --stats-json)."""
    port = bl.free_port()
    dst_json = os.path.join(tmp, "dst.json")
    src_json = os.path.join(tmp, "src.json")
    sock = os.path.join(tmp, "dst.sock")
    for f in (dst_json, src_json):
        if os.path.exists(f):
            os.unlink(f)
    dst = bl.Background([os.path.join(build, "vmm"), "--incoming",
                         "tcp:127.0.0.1:%d" % port, "--serial", "none",
                         "--monitor", "unix:" + sock, "--stats-json", dst_json],
                        os.path.join(tmp, "dst.err"))
    try:
        dst.wait_for("waiting for a migration")
        src = bl.run_timed(bl.vmm_cmd(guest, args, mem=MEM, build=build, opts=[
            "--serial", "none", "--migrate-to", "tcp:127.0.0.1:%d" % port,
            "--migrate-after", AFTER, "--stats-json", src_json]), timeout=300)
        if src.status == 0:
            # The guest runs forever on the destination: stop it there.
            dst.wait_for("the guest runs here")
            bl.monitor(sock, "quit")
    finally:
        dst.stop()
    if src.status != 0:
        bl.die("source failed with status %s:\n%s%s" % (src.status, src.err,
                                                         dst.err()))
    with open(src_json) as f:
        return json.load(f)


def row_of(label, i, s):
    return dict(case=label, run=i, rounds=s["round_count"], stop=s["stop_reason"],
                total_ms=s["total_us"] / 1000, downtime_ms=s["downtime_us"] / 1000,
                pause_ms=s["downtime_pause_us"] / 1000,
                last_ram_ms=s["downtime_last_ram_us"] / 1000,
                state_ms=s["downtime_state_us"] / 1000,
                resume_ms=s["downtime_resume_us"] / 1000,
                sent_mib=s["bytes_total"] / 2**20, status=s["status"],
                last_pages=s["rounds"][-1]["pages_sent"] if s["rounds"] else 0)


def print_row(row):
    print(f"{row['case']:12s} run {row['run']}: {row['status']}, {row['rounds']} rounds, "
          f"stop {row['stop']}, total {row['total_ms']:.0f} ms, "
          f"downtime {row['downtime_ms']:.1f} ms (last {row['last_pages']} pages "
          f"{row['last_ram_ms']:.1f} ms, resume {row['resume_ms']:.1f} ms), "
          f"sent {row['sent_mib']:.1f} MiB", flush=True)
    print(bl.kv_line("bench=migrate", [
        ("case", row["case"].replace(" ", "_")), ("run", row["run"]),
        ("rounds", row["rounds"]), ("stop", row["stop"]),
        ("total_ms", "%.1f" % row["total_ms"]),
        ("downtime_ms", "%.2f" % row["downtime_ms"]),
        ("last_pages", row["last_pages"]),
        ("sent_mib", "%.1f" % row["sent_mib"])]), flush=True)


def print_markdown(cases, rows):
    print()
    print("| workload | rounds | stop reason | total time | downtime (median, min-max) "
          "| of which last pages / resume | pages in the last round | sent |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, label, _, _ in cases:
        runs = sorted((r for r in rows if r["case"] == label), key=lambda r: r["total_ms"])
        m = runs[len(runs) // 2]
        dts = [r["downtime_ms"] for r in runs]
        print(f"| {label} | {m['rounds']} | {m['stop']} | {m['total_ms']:.0f} ms | "
              f"{statistics.median(dts):.1f} ms ({min(dts):.1f}-{max(dts):.1f}) | "
              f"{m['last_ram_ms']:.1f} / {m['resume_ms']:.1f} ms | {m['last_pages']} | "
              f"{m['sent_mib']:.0f} MiB |")


def pick_cases(text):
    keys = [c[0] for c in CASES]
    want = text.split(",")
    for k in want:
        if k not in keys:
            bl.die("unknown case %r: choose from %s" % (k, ",".join(keys)))
    return [c for c in CASES if c[0] in want]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default=",".join(c[0] for c in CASES),
                    help="comma-separated, from %(default)s")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="write every run's source statistics here")
    opt = ap.parse_args()
    if opt.repeat < 1:
        bl.die("--repeat must be at least 1")
    cases = pick_cases(opt.cases)
    if not os.path.exists(os.path.join(opt.build, "vmm")):
        bl.die("%s/vmm missing: run make first" % opt.build)
    before = bl.machine()
    meter = bl.LoadMeter()
    rows = []
    raw = []
    with tempfile.TemporaryDirectory() as tmp:
        for _, label, guest, args in cases:
            for i in range(opt.repeat):
                s = run_case(opt.build, guest, args, tmp)
                raw.append(dict(case=label, guest=guest, args=args, stats=s))
                rows.append(row_of(label, i, s))
                print_row(rows[-1])
    load = meter.report("migrate")
    bl.write_json(opt.json, {"bench": "migrate", "mem": MEM, "migrate_after": AFTER,
                             "machine_before": before, "machine_after": bl.machine(),
                             "load": load, "runs": raw})
    if opt.markdown:
        print_markdown(cases, rows)


if __name__ == "__main__":
    main()
