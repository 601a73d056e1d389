#!/usr/bin/env python3
"""Issue 8's cost benchmarks: what a migration costs as guest RAM grows,
for an idle guest and for a dirtying one. Every run migrates between two
local vmm processes over loopback; figures come from the source's and the
destination's --stats-json and /proc/PID/status.

usage: bench/migrate_cost.py idle     [--build B] [--runs N] [--mem 4G]
       bench/migrate_cost.py downtime [--build B] [--runs N] [--mem 512M] [--rate 10000]
       bench/migrate_cost.py growth   [--build B] [--runs N] [--sizes 256M,1G,...]
       (each also takes --json FILE: every run's statistics)

idle:     an idle guest (`idle duration=0`); total time, round 0, pages
          skipped unread, the source's and destination's RSS after.
downtime: memtouch at RATE pages/s over half of RAM, default parameters;
          downtime and its parts (pause, last pages, state, END->READY,
          READY->RESUMED), median over the runs.
growth:   memtouch at 10000 pages/s over half of RAM at each size; round 0
          time, the dirty-log get and clear after it (and the pages they
          found), the stop-and-copy, and
          each side's resident memory beyond the guest RAM it holds
          (VmRSS minus the Rss of the guest RAM mapping, after the
          migration: the source in postmigrate, the destination running).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

AFTER = "2s"
PARTS = ("pause", "last_ram", "state", "ready", "resumed")


def mib(text):
    """'512M' / '4G' -> MiB."""
    n, unit = int(text[:-1]), text[-1].upper()
    return n * {"M": 1, "G": 1024}[unit]


def mem_kib(pid):
    """(VmRSS, Rss of the largest mapping: the guest RAM), KiB."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    best_size, best_rss, size = 0, 0, 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                size = hi - lo
            elif first == "Rss:" and size > best_size:
                best_size, best_rss = size, int(line.split()[1])
    return rss, best_rss


def wait_file(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            bl.die("%s never appeared" % path)
        time.sleep(0.05)


def migrate(build, mem, guest, args, tmp, after=AFTER, params=()):
    """One migration; the source's statistics and both sides' memory.
    params: NAME=VALUE migration parameters, set on the source's monitor
    within the --migrate-after delay."""
    port = bl.free_port()
    src_json = os.path.join(tmp, "src.json")
    dsock, ssock = os.path.join(tmp, "dst.sock"), os.path.join(tmp, "src.sock")
    for f in (src_json, dsock, ssock):
        if os.path.exists(f):
            os.unlink(f)
    vmm = os.path.join(build, "vmm")
    dst = bl.Background([vmm, "--incoming", "tcp:127.0.0.1:%d" % port, "--serial", "none",
                         "--monitor", "unix:" + dsock], os.path.join(tmp, "dst.err"))
    src = None
    try:
        dst.wait_for("waiting for a migration")
        # --qmp keeps the source after the migration (postmigrate), so its
        # memory can be read; the monitor quits it.
        src = bl.Background(bl.vmm_cmd(guest, args, mem=mem, build=build, opts=[
            "--serial", "none", "--monitor", "unix:" + ssock,
            "--qmp", "unix:" + os.path.join(tmp, "src.qmp"),
            "--migrate-to", "tcp:127.0.0.1:%d" % port, "--migrate-after", after,
            "--stats-json", src_json]), os.path.join(tmp, "src.err"))
        if params:
            wait_file(ssock, 10)
        for p in params:
            reply = bl.monitor(ssock, "migrate_set_parameter " + p.replace("=", " ", 1))
            if "ok" not in reply.split():
                bl.die("parameter %s refused: %s" % (p, reply))
        wait_file(src_json, 300)
        dst.wait_for("the guest runs here")
        time.sleep(0.2)
        src_mem, dst_mem = mem_kib(src.proc.pid), mem_kib(dst.proc.pid)
        bl.monitor(ssock, "quit")
        bl.monitor(dsock, "quit")
    finally:
        if src:
            src.stop()
        dst.stop()
    with open(src_json) as f:
        s = json.load(f)
    if s["status"] != "completed":
        bl.die("migration %s: %s\n%s" % (s["status"], s["error"], dst.err()))
    return dict(stats=s, src_rss_kib=src_mem[0], src_ram_rss_kib=src_mem[1],
                dst_rss_kib=dst_mem[0], dst_ram_rss_kib=dst_mem[1])


def med(runs, f):
    return statistics.median(f(r) for r in runs)


def rng(runs, f, fmt="%.1f"):
    v = sorted(f(r) for r in runs)
    return (fmt + " [" + fmt + "-" + fmt + "]") % (statistics.median(v), v[0], v[-1])


def cmd_idle(opt, tmp):
    runs = []
    for i in range(opt.runs):
        r = migrate(opt.build, opt.mem, "idle", "duration=0", tmp)
        s = r["stats"]
        runs.append(r)
        print(bl.kv_line("bench=idle", [
            ("mem", opt.mem), ("run", i), ("total_ms", "%.1f" % (s["total_us"] / 1e3)),
            ("round0_ms", "%.1f" % (s["rounds"][0]["duration_us"] / 1e3)),
            ("downtime_ms", "%.2f" % (s["downtime_us"] / 1e3)),
            ("unread", s.get("pages_skipped_unread", "-")),
            ("src_rss_mib", r["src_rss_kib"] // 1024), ("dst_rss_mib", r["dst_rss_kib"] // 1024)]),
            flush=True)
    print("| RAM | total ms | round 0 ms | downtime ms | pages skipped unread | source RSS MiB | destination RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        opt.mem, rng(runs, lambda r: r["stats"]["total_us"] / 1e3),
        rng(runs, lambda r: r["stats"]["rounds"][0]["duration_us"] / 1e3),
        rng(runs, lambda r: r["stats"]["downtime_us"] / 1e3, "%.2f"),
        runs[0]["stats"].get("pages_skipped_unread", "-"),
        rng(runs, lambda r: r["src_rss_kib"] / 1024, "%.0f"),
        rng(runs, lambda r: r["dst_rss_kib"] / 1024, "%.0f")))
    return runs


def part(s, k):
    return s.get("downtime_%s_us" % k, 0) / 1e3


def cmd_downtime(opt, tmp):
    runs = []
    ws = "%dM" % (mib(opt.mem) // 2)
    for i in range(opt.runs):
        r = migrate(opt.build, opt.mem, "memtouch", "rate=%d ws=%s report=0" % (opt.rate, ws), tmp,
                    params=opt.param)
        s = r["stats"]
        runs.append(r)
        print(bl.kv_line("bench=downtime", [
            ("mem", opt.mem), ("rate", opt.rate), ("run", i), ("rounds", s["round_count"]),
            ("total_ms", "%.1f" % (s["total_us"] / 1e3)),
            ("downtime_ms", "%.3f" % (s["downtime_us"] / 1e3)),
            ("last_pages", s["rounds"][-1]["pages_sent"])] +
            [(k + "_ms", "%.3f" % part(s, k)) for k in PARTS]), flush=True)
    print("| RAM, rate | downtime ms | pause | last pages | state | END->READY | READY->RESUMED | last-round pages | total ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("| %s, %d/s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        opt.mem, opt.rate, rng(runs, lambda r: r["stats"]["downtime_us"] / 1e3, "%.2f"),
        *[rng(runs, lambda r, k=k: part(r["stats"], k), "%.2f") for k in PARTS],
        rng(runs, lambda r: r["stats"]["rounds"][-1]["pages_sent"], "%.0f"),
        rng(runs, lambda r: r["stats"]["total_us"] / 1e3, "%.0f")))
    return runs


def cmd_growth(opt, tmp):
    runs = []
    print("| RAM | round 0 ms | round 0 MiB/s | log get after round 0 ms | log clear ms | pages dirty after round 0 | stop-and-copy ms | downtime ms | source extra RSS MiB | destination extra RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in opt.sizes.split(","):
        rs = []
        for i in range(opt.runs):
            # The guest fills its working set first (about 1 GiB/s here):
            # migrate once it has.
            after = "%ds" % (2 + mib(size) // 2048)
            r = migrate(opt.build, size, "memtouch", "rate=10000 ws=%dM report=0" % (mib(size) // 2),
                        tmp, after)
            r["mem"] = size
            rs.append(r)
        runs += rs
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            size, rng(rs, lambda r: r["stats"]["rounds"][0]["duration_us"] / 1e3, "%.0f"),
            rng(rs, lambda r: r["stats"]["rounds"][0]["bandwidth_bps"] / 2**20, "%.0f"),
            rng(rs, lambda r: r["stats"]["rounds"][0].get("log_get_us", 0) / 1e3, "%.2f"),
            rng(rs, lambda r: r["stats"]["rounds"][0].get("log_clear_us", 0) / 1e3, "%.2f"),
            rng(rs, lambda r: r["stats"]["rounds"][1]["dirty_pages"], "%.0f"),
            rng(rs, lambda r: r["stats"]["rounds"][-1]["duration_us"] / 1e3, "%.1f"),
            rng(rs, lambda r: r["stats"]["downtime_us"] / 1e3, "%.1f"),
            rng(rs, lambda r: (r["src_rss_kib"] - r["src_ram_rss_kib"]) / 1024),
            rng(rs, lambda r: (r["dst_rss_kib"] - r["dst_ram_rss_kib"]) / 1024)), flush=True)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("idle", "downtime", "growth"))
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", help="guest RAM (idle: 4G, downtime: 512M)")
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--sizes", default="256M,512M,1G,2G,4G,8G")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a migration parameter for the source (downtime; repeatable)")
    ap.add_argument("--json")
    opt = ap.parse_args()
    opt.mem = opt.mem or ("4G" if opt.what == "idle" else "512M")
    if not os.path.exists(os.path.join(opt.build, "vmm")):
        bl.die("%s/vmm missing: run make first" % opt.build)
    before = bl.machine()
    meter = bl.LoadMeter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"idle": cmd_idle, "downtime": cmd_downtime, "growth": cmd_growth}[opt.what](opt, tmp)
    load = meter.report("migrate_cost")
    bl.write_json(opt.json, {"bench": "migrate_cost", "what": opt.what, "args": vars(opt),
                             "machine_before": before, "machine_after": bl.machine(),
                             "load": load, "runs": runs})


if __name__ == "__main__":
    main()
