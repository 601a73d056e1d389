#!/usr/bin/env python3
"""Data path: round 0 of a 1 GiB guest whose pages are all non-zero,
beside iperf3 over the same loopback in the same run.

usage: bench/datapath_round0.py [--build build] [--base-vmm PATH [--base-label NAME]]
                                [--prealloc] [--repeat N] [--mem 1G] [--ws 1000M]
                                [--transport tcp|tls|x509|both|all] [--markdown]
                                [--json FILE]

--prealloc adds build/vmm with its destination started with `--mem MEM
--mem-prealloc` (row "prealloc"): its RAM allocated before it listens,
so round 0 lands in memory the host has already backed.

--transport tls migrates over tls: (TLS 1.3 keyed by a secret file made
for the run), x509 over tls: keyed by certificates (--tls-creds: a CA and
both sides' EC certificates made for the run with openssl), both runs
each vmm over tcp: and then tls: in every repetition, all over tcp:,
tls: and x509: the ratio of each to tcp: is what encryption costs
(README "Encryption").

The guest is memtouch with a working set of (nearly) all of RAM and
prefill=1: every page of the working set is written before its clock
starts, so round 0 sends ws / 4 KiB non-zero pages (the few MiB below and
around the guest's own image are the rest). It touches 100 pages/s
afterwards, so round 0 measures the data path, not the dirtying.

Each repetition: iperf3 (3 s, one stream, loopback), then one migration
with each vmm given (--base-vmm, e.g. a build of main, then build/vmm;
the order alternates between repetitions, after one unrecorded warm-up
migration: the first migration after iperf3 pays for the host assembling
huge pages again), then iperf3 again. A migration: destination `vmm --incoming`, source
`vmm --mem 1G --monitor` booting memtouch; once memtouch reports, the
monitor's `migrate` starts it. Round 0's rate is its bytes on the wire
over its duration, from the source's --stats-json. The ratio divides it
by the median of the iperf3 runs around it.

Resident memory besides the guest's RAM: the source's VmHWM at the end
minus its VmRSS just before `migrate` (the guest's RAM is all resident by
then), and the destination's VmHWM once the guest runs there minus that
same source VmRSS (both hold the same guest pages and the same program).

CPU: the source's migration thread (its statistics' cpu_time_us), and
both whole processes from `migrate` to the end (/proc/PID/stat), so that
a slow round 0 shows whether a side was busy or waiting; and the time
their threads spent runnable but waiting for a CPU (schedstat), which is
what other load on the machine costs.

Prints one line per run, a key=value line per vmm, and with --markdown a
table for bench/RESULTS.md. Measures and prints; never fails because the
machine is slow.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def proc_kib(pid, field):
    """A VmRSS/VmHWM-style field of /proc/PID/status, KiB; None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid):
    """(user, system) CPU of a whole process so far, seconds, and its minor
    page faults; None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) / tck, int(fields[12]) / tck, int(fields[7]))


def cpu_delta(a, b):
    return tuple(y - x for x, y in zip(a, b))


def runq_waits(pid, into):
    """Adds each thread's time spent runnable but waiting for a CPU
    (/proc/PID/task/TID/schedstat, second field, ns) to into[tid] as its
    latest value; threads that ended keep their last one."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return into
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                into[tid] = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return into


def waited_s(first, last):
    """Seconds waited between two runq_waits samples, over all threads."""
    return sum(v - first.get(tid, 0) for tid, v in last.items()) / 1e9


def iperf3(seconds=3):
    """Loopback TCP throughput, bytes/s, one stream, as iperf3 -J says."""
    port = bl.free_port()
    srv = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                                str(seconds), "-J"], capture_output=True, text=True)
            data = json.loads(r.stdout or "{}")
            if "error" not in data and "end" in data:
                return data["end"]["sum_received"]["bits_per_second"] / 8
            time.sleep(0.05)  # the server was not listening yet
        bl.die("iperf3 never ran: %s" % (r.stdout + r.stderr))
    finally:
        srv.kill()
        srv.wait()
    return None


def wait_text(path, text, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        if proc.poll() is not None:
            bl.die("the source ended (status %s) before its guest printed %r" %
                   (proc.returncode, text))
        time.sleep(0.05)
    bl.die("no %r in %s within %g s" % (text, path, timeout))


def make_creds(tmp):
    """A tls-creds directory with a CA and both sides' certificates (the
    server's naming 127.0.0.1), made with openssl; its path."""
    d = os.path.join(tmp, "creds")
    if os.path.isdir(d):
        return d
    os.mkdir(d, 0o700)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def run(args):
        subprocess.run(["openssl"] + args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=d)
    run(["req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=ca", "-keyout", "ca-key.pem",
                                 "-out", "ca-cert.pem"])
    for serial, (side, san) in enumerate((("server", "IP:127.0.0.1"),
                                          ("client", "DNS:source")), 2):
        with open(os.path.join(d, side + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        run(["req"] + ec + ["-subj", "/CN=" + side, "-keyout", side + "-key.pem",
                            "-out", side + ".csr"])
        run(["x509", "-req", "-in", side + ".csr", "-CA", "ca-cert.pem", "-CAkey",
             "ca-key.pem", "-set_serial", str(serial), "-days", "2", "-extfile",
             side + ".ext", "-out", side + "-cert.pem"])
    return d


def migrate_once(vmm, build, mem, ws, tmp, scheme="tcp", prealloc=False):
    """One migration over scheme (tcp, tls or x509), into a destination
    with --mem-prealloc if prealloc; (source statistics, source extra
    KiB, dest extra KiB)."""
    port = bl.free_port()
    secret = []
    if scheme == "x509":
        secret = ["--tls-creds", make_creds(tmp)]
    if scheme == "tls":
        key = os.path.join(tmp, "key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(os.urandom(32))
        secret = ["--secret-file", key]
    files = {k: os.path.join(tmp, k) for k in
             ("src.json", "dst.json", "src.sock", "dst.sock", "src.serial",
              "src.err", "dst.err")}
    for k in ("src.json", "dst.json", "src.serial"):
        if os.path.exists(files[k]):
            os.unlink(files[k])
    uri = "%s:127.0.0.1:%d" % ("tcp" if scheme == "tcp" else "tls", port)
    dst = bl.Background([vmm, "--incoming", uri] + secret +
                        (["--mem", mem, "--mem-prealloc"] if prealloc else []) +
                        ["--serial", "none",
                         "--monitor", "unix:" + files["dst.sock"],
                         "--stats-json", files["dst.json"]], files["dst.err"])
    src = bl.Background([vmm, "--mem", mem] + secret +
                        ["--serial", "file:" + files["src.serial"],
                         "--monitor", "unix:" + files["src.sock"],
                         "--stats-json", files["src.json"],
                         os.path.join(build, "guests", "memtouch.elf"), "--",
                         "ws=" + ws, "rate=100", "prefill=1", "report=1"],
                        files["src.err"])
    try:
        dst.wait_for("waiting for a migration")
        wait_text(files["src.serial"], "memtouch: t=", src.proc, 120)
        src_before = proc_kib(src.proc.pid, "VmRSS")
        cpu0 = (proc_cpu_s(src.proc.pid), proc_cpu_s(dst.proc.pid))
        wait0 = (runq_waits(src.proc.pid, {}), runq_waits(dst.proc.pid, {}))
        src_wait = dict(wait0[0])
        reply = bl.monitor(files["src.sock"], "migrate " + uri)
        if "ok" not in reply.split():
            bl.die("migrate refused: %s" % reply)
        src_hwm = dst_hwm = src_cpu = None
        while src.proc.poll() is None:
            src_hwm = proc_kib(src.proc.pid, "VmHWM") or src_hwm
            dst_hwm = proc_kib(dst.proc.pid, "VmHWM") or dst_hwm
            src_cpu = proc_cpu_s(src.proc.pid) or src_cpu
            runq_waits(src.proc.pid, src_wait)
            time.sleep(0.02)
        if src.proc.returncode != 0:
            bl.die("source failed (%s):\n%s%s" % (src.proc.returncode, src.err(), dst.err()))
        dst.wait_for("the guest runs here")
        dst_hwm = proc_kib(dst.proc.pid, "VmHWM") or dst_hwm
        dst_cpu = cpu_delta(cpu0[1], proc_cpu_s(dst.proc.pid))
        dst_wait = waited_s(wait0[1], runq_waits(dst.proc.pid, dict(wait0[1])))
        bl.monitor(files["dst.sock"], "quit")
    finally:
        src.stop(timeout=1)
        dst.stop()
    with open(files["src.json"]) as f:
        stats = json.load(f)
    src_cpu = cpu_delta(cpu0[0], src_cpu)
    stats["bench_cpu_s"] = {"source": src_cpu[0] + src_cpu[1],
                            "destination": dst_cpu[0] + dst_cpu[1],
                            "source_user": src_cpu[0], "source_sys": src_cpu[1],
                            "destination_user": dst_cpu[0], "destination_sys": dst_cpu[1],
                            "destination_minflt": dst_cpu[2]}
    stats["bench_runq_wait_s"] = {"source": waited_s(wait0[0], src_wait),
                                  "destination": dst_wait}
    return stats, src_hwm - src_before, dst_hwm - src_before


def row(label, stats, iperf_bps, src_extra, dst_extra):
    r0 = stats["rounds"][0]
    rate = r0["bytes"] / (r0["duration_us"] / 1e6)
    return dict(vmm=label, round0_pages=r0["pages_sent"], round0_zero=r0["zero_pages"],
                round0_bytes=r0["bytes"], round0_ms=r0["duration_us"] / 1000,
                round0_MBps=rate / 1e6, iperf3_MBps=iperf_bps / 1e6,
                ratio=rate / iperf_bps, total_ms=stats["total_us"] / 1000,
                src_thread_cpu_ms=stats["cpu_time_us"] / 1000,
                src_cpu_ms=stats["bench_cpu_s"]["source"] * 1000,
                dst_cpu_ms=stats["bench_cpu_s"]["destination"] * 1000,
                src_sys_ms=stats["bench_cpu_s"]["source_sys"] * 1000,
                dst_sys_ms=stats["bench_cpu_s"]["destination_sys"] * 1000,
                dst_minflt=stats["bench_cpu_s"]["destination_minflt"],
                src_wait_ms=stats["bench_runq_wait_s"]["source"] * 1000,
                dst_wait_ms=stats["bench_runq_wait_s"]["destination"] * 1000,
                src_extra_MiB=src_extra / 1024, dst_extra_MiB=dst_extra / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--base-vmm", help="a second vmm to compare, e.g. main's")
    ap.add_argument("--base-label", default="base", help="its name in the output")
    ap.add_argument("--prealloc", action="store_true",
                    help="also this vmm into a destination with --mem-prealloc")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--ws", default="1000M")
    ap.add_argument("--transport", choices=("tcp", "tls", "x509", "both", "all"),
                    default="tcp")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    schemes = {"both": ("tcp", "tls"), "all": ("tcp", "tls", "x509")}.get(
        a.transport, (a.transport,))
    if not shutil.which("iperf3"):
        bl.die("iperf3 is not installed")
    vmms = []
    if a.base_vmm:
        vmms.append((a.base_label, a.base_vmm))
    vmms.append(("this", os.path.join(a.build, "vmm")))
    if a.prealloc:
        vmms.append(("prealloc", os.path.join(a.build, "vmm")))
    # One row label per vmm and transport; tcp alone keeps the old labels.
    vmms = [(label if schemes == ("tcp",) else "%s/%s" % (label, sc), vmm, sc,
             label == "prealloc") for label, vmm in vmms for sc in schemes]
    rows = []
    with tempfile.TemporaryDirectory(prefix="datapath-") as tmp:
        # The first migration after iperf3 (or after start) pays for the
        # host making 1 GiB of huge pages again (the destination's system
        # time doubles): one unrecorded migration first, and the order of
        # the vmms alternates between repetitions.
        migrate_once(vmms[0][1], a.build, a.mem, a.ws, tmp, vmms[0][2], vmms[0][3])
        for rep in range(a.repeat):
            before = iperf3()
            order = vmms if rep % 2 == 0 else vmms[::-1]
            runs = [(label, migrate_once(vmm, a.build, a.mem, a.ws, tmp, sc, pre))
                    for label, vmm, sc, pre in order]
            after = iperf3()
            anchor = statistics.median([before, after])
            for label, (stats, se, de) in runs:
                r = row(label, stats, anchor, se, de)
                r["rep"] = rep
                rows.append(r)
                print("rep %d %s round0 %d pages (%d zero) in %.0f ms: %.0f MB/s, "
                      "iperf3 %.0f MB/s, ratio %.2f; extra RSS source %.1f MiB, "
                      "destination %.1f MiB; whole migration: %.0f ms, CPU migration thread "
                      "%.0f ms, source %.0f ms (sys %.0f), destination %.0f ms (sys %.0f, "
                      "%d minor faults); waiting for a CPU: "
                      "source %.0f ms, destination %.0f ms; load %s" % (
                          rep, label, r["round0_pages"], r["round0_zero"], r["round0_ms"],
                          r["round0_MBps"], r["iperf3_MBps"], r["ratio"],
                          r["src_extra_MiB"], r["dst_extra_MiB"], r["total_ms"],
                          r["src_thread_cpu_ms"], r["src_cpu_ms"], r["src_sys_ms"],
                          r["dst_cpu_ms"], r["dst_sys_ms"], r["dst_minflt"],
                          r["src_wait_ms"], r["dst_wait_ms"],
                          " ".join("%.1f" % x for x in os.getloadavg())), flush=True)
    for label, _, _, _ in vmms:
        mine = [r for r in rows if r["vmm"] == label]
        print(bl.kv_line("datapath_round0 " + label, {
            "ratio_median": round(statistics.median(r["ratio"] for r in mine), 3),
            "round0_MBps_median": round(statistics.median(r["round0_MBps"] for r in mine)),
            "iperf3_MBps_median": round(statistics.median(r["iperf3_MBps"] for r in mine)),
            "src_extra_MiB_max": round(max(r["src_extra_MiB"] for r in mine), 1),
            "dst_extra_MiB_max": round(max(r["dst_extra_MiB"] for r in mine), 1)}.items()))
    if a.markdown:
        print("\n| vmm | rep | round 0 pages (zero) | round 0 ms | round 0 MB/s | iperf3 MB/s "
              "| ratio | extra RSS source / destination MiB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print("| %s | %d | %d (%d) | %.0f | %.0f | %.0f | %.2f | %.1f / %.1f |" % (
                r["vmm"], r["rep"], r["round0_pages"], r["round0_zero"], r["round0_ms"],
                r["round0_MBps"], r["iperf3_MBps"], r["ratio"], r["src_extra_MiB"],
                r["dst_extra_MiB"]))
    if a.json:
        bl.write_json(a.json, {"machine": bl.machine(), "rows": rows})


if __name__ == "__main__":
    main()
