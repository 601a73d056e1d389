#!/usr/bin/env python3
"""Migration sweep: a 512 MiB guest running memtouch at several dirty rates
migrates between two local vmm processes; one line per run, a key=value
summary line, and a Markdown table (--markdown) for bench/RESULTS.md.

usage: bench/migrate_sweep.py [--build build] [--repeat N] [--markdown] [--json FILE]

Each run: destination `vmm --incoming`, source `vmm --mem 512M --migrate-to
... --migrate-after 3s GUEST`, statistics from the source's --stats-json.
The Markdown table shows the median run of each workload (by total time)
and the downtime range over all runs.
"""
import argparse
import json
import os
import statistics
import socket
import subprocess
import sys
import tempfile
import time

# (label, guest, guest args). ws=256M so the working set is half of RAM.
CASES = [
    ("idle", "idle.elf", "duration=0"),
    ("1K pages/s", "memtouch.elf", "rate=1000 ws=256M report=0"),
    ("10K pages/s", "memtouch.elf", "rate=10000 ws=256M report=0"),
    ("50K pages/s", "memtouch.elf", "rate=50000 ws=256M report=0"),
    ("max", "memtouch.elf", "rate=0 ws=256M report=0"),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_case(build, guest, args, tmp, mem="512M", after="3s"):
    vmm = os.path.join(build, "vmm")
    port = free_port()
    dst_json = os.path.join(tmp, "dst.json")
    src_json = os.path.join(tmp, "src.json")
    for f in (dst_json, src_json):
        if os.path.exists(f):
            os.unlink(f)
    dst = subprocess.Popen([vmm, "--incoming", f"tcp:127.0.0.1:{port}",
                            "--serial", "none", "--monitor", f"unix:{tmp}/dst.sock",
                            "--stats-json", dst_json],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    src = subprocess.run([vmm, "--mem", mem, "--serial", "none",
                          "--migrate-to", f"tcp:127.0.0.1:{port}", "--migrate-after", after,
                          "--stats-json", src_json,
                          os.path.join(build, "guests", guest), "--"] + args.split(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    # The guest runs forever on the destination: stop it once it runs.
    try:
        subprocess.run(["socat", "-t", "5", "-", f"UNIX-CONNECT:{tmp}/dst.sock"],
                       input=b"quit\n", stdout=subprocess.DEVNULL, timeout=10)
    finally:
        try:
            dst.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dst.kill()
            dst.wait()
    if src.returncode != 0:
        sys.stderr.write(src.stderr.decode(errors="replace"))
        raise SystemExit(f"source failed with {src.returncode}")
    with open(src_json) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="write every run's source statistics here")
    opt = ap.parse_args()
    rows = []
    raw = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, guest, args in CASES:
            for i in range(opt.repeat):
                s = run_case(opt.build, guest, args, tmp)
                raw.append(dict(case=label, guest=guest, args=args, stats=s))
                row = dict(case=label, run=i, rounds=s["round_count"], stop=s["stop_reason"],
                           total_ms=s["total_us"] / 1000, downtime_ms=s["downtime_us"] / 1000,
                           pause_ms=s["downtime_pause_us"] / 1000,
                           last_ram_ms=s["downtime_last_ram_us"] / 1000,
                           state_ms=s["downtime_state_us"] / 1000,
                           resume_ms=s["downtime_resume_us"] / 1000,
                           sent_mib=s["bytes_total"] / 2**20, status=s["status"],
                           last_pages=s["rounds"][-1]["pages_sent"] if s["rounds"] else 0)
                rows.append(row)
                print(f"{label:12s} run {i}: {row['status']}, {row['rounds']} rounds, "
                      f"stop {row['stop']}, total {row['total_ms']:.0f} ms, "
                      f"downtime {row['downtime_ms']:.1f} ms (last {row['last_pages']} pages "
                      f"{row['last_ram_ms']:.1f} ms, resume {row['resume_ms']:.1f} ms), "
                      f"sent {row['sent_mib']:.1f} MiB", flush=True)
                print("bench=migrate case=%s run=%d rounds=%d stop=%s total_ms=%.1f "
                      "downtime_ms=%.2f last_pages=%d sent_mib=%.1f" % (
                          label.replace(" ", "_"), i, row["rounds"], row["stop"],
                          row["total_ms"], row["downtime_ms"], row["last_pages"],
                          row["sent_mib"]), flush=True)
    if opt.json:
        with open(opt.json, "w") as f:
            json.dump(raw, f, indent=1)
    if opt.markdown:
        print()
        print("| workload | rounds | stop reason | total time | downtime (median, min-max) "
              "| of which last pages / resume | pages in the last round | sent |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, _, _ in CASES:
            runs = sorted((r for r in rows if r["case"] == label), key=lambda r: r["total_ms"])
            m = runs[len(runs) // 2]
            dts = [r["downtime_ms"] for r in runs]
            print(f"| {label} | {m['rounds']} | {m['stop']} | {m['total_ms']:.0f} ms | "
                  f"{statistics.median(dts):.1f} ms ({min(dts):.1f}-{max(dts):.1f}) | "
                  f"{m['last_ram_ms']:.1f} / {m['resume_ms']:.1f} ms | {m['last_pages']} | "
                  f"{m['sent_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
