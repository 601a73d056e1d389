#!/usr/bin/env python3
"""Save and restore (`file:`) against the disk, in one run (issue 8, target 7).

    bench/save_restore.py [--vmm build/vmm] [--label after] [--mem 1G]
                          [--dir DIR] [--reps 3]

On the file system of DIR (default: the system's temporary directory),
in the same run: dd writes and reads a file of the guest's RAM size with
O_DIRECT (bs=4M, the write synced: the disk's large sequential rate)
and, where fio is installed, so does fio with the save's own shape (16
requests of 2 MiB in flight through io_uring, O_DIRECT, the write
synced at the end; its own bandwidth, which leaves out its start-up, so
the stronger anchor), and the ratios are then against fio; then
vmm saves a memtouch guest whose every page was written (prefill=1,
ws = RAM - 64 MiB, at most 3008 MiB: the guest kit uses RAM below 4 GiB) and restores it. Save rate: page data written over the
save's downtime (pause to the file synced and renamed); restore rate:
page data over the destination's total time (open to the guest's state
loaded), the file dropped from the page cache first. Prints one line per repetition and the medians, and the saved
file's size (apparent and allocated) against RAM. Measures only; exits
non-zero only if a run could not be made.
"""
import argparse
import time
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def size_arg(s):
    units = {"M": 20, "G": 30}
    return int(s[:-1]) << units[s[-1]]


def timed_dd(args, nbytes):
    t0 = time.monotonic()
    p = subprocess.run(["dd", *args, "status=none"], capture_output=True, text=True)
    if p.returncode:
        sys.exit("bench: dd failed: " + p.stderr)
    return nbytes / (time.monotonic() - t0)


def fio_rate(path, nbytes, rw):
    """fio's bandwidth in bytes/s for a sequential rw of nbytes."""
    args = ["fio", "--name=anchor", "--filename=" + path, "--size=%d" % nbytes,
            "--rw=" + rw, "--bs=2M", "--iodepth=16", "--direct=1", "--ioengine=io_uring",
            "--output-format=json"]
    if rw == "write":
        args.append("--end_fsync=1")
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode:
        sys.exit("bench: fio failed: " + p.stderr)
    return json.loads(p.stdout)["jobs"][0][rw]["bw_bytes"]


def fstype(path):
    out = subprocess.run(["df", "--output=fstype,source", path], capture_output=True,
                         text=True).stdout.split("\n")[1].split()
    return " ".join(out)


def save_restore(vmm, guest, mem, d, rep):
    snap = os.path.join(d, "vm%d.snap" % rep)
    # The guest kit uses RAM below 4 GiB only: past 3 GiB of RAM the rest
    # (mapped at 4 GiB and up) stays untouched.
    ws = min((mem >> 20) - 64, 3008)
    src_json, dst_json = os.path.join(d, "s.json"), os.path.join(d, "d.json")
    # The guest fills its working set (ring 3, native speed), then idles;
    # it ends 2 s after the save (its clock is the host's), so the
    # restored guest stops soon after it runs.
    after = max(4, mem >> 29)
    cmd = [vmm, "-q", "--mem", "%dM" % (mem >> 20), "--serial", "none",
           "--migrate-to", "file:" + snap, "--migrate-after", "%ds" % after,
           "--stats-json", src_json, guest, "--", "ws=%dM" % ws, "rate=1", "prefill=1",
           "report=0", "duration=%d" % (after + 2)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode:
        sys.exit("bench: save failed: " + p.stderr)
    s = json.load(open(src_json))
    st = os.stat(snap)
    # The restore reads from the disk, as dd's O_DIRECT read does: the
    # file just written leaves the page cache first.
    fd = os.open(snap, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    p = subprocess.run([vmm, "-v", "--serial", "none", "--stats-json", dst_json,
                        "--incoming", "file:" + snap], capture_output=True, text=True,
                       timeout=600)
    t = json.load(open(dst_json))
    if t["status"] != "completed":
        sys.exit("bench: restore failed: " + p.stderr)
    os.unlink(snap)
    data = s["ram_transferred"]
    return {"save_bps": data / (s["downtime_us"] / 1e6),
            "restore_bps": t["ram_transferred"] / (t["total_us"] / 1e6),
            "data": data, "file": st.st_size, "alloc": st.st_blocks * 512,
            "pages_unread": s["pages_skipped_unread"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default=os.path.join(REPO, "build/vmm"))
    ap.add_argument("--guest", default=None)
    ap.add_argument("--label", default="after")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    guest = a.guest or os.path.join(os.path.dirname(a.vmm), "guests/memtouch.elf")
    mem = size_arg(a.mem)
    d = tempfile.mkdtemp(prefix="save-bench.", dir=a.dir)
    try:
        big = os.path.join(d, "dd.bin")
        count = mem >> 22
        print("file system of %s: %s; RAM %d MiB; vmm %s (%s)" %
              (a.dir, fstype(d), mem >> 20, a.vmm, a.label))
        anchor = "fio" if shutil.which("fio") else "dd"
        print("ratios against %s%s" % (anchor, "" if anchor == "fio" else
                                        " (fio is not installed)"))
        rows = []
        for rep in range(a.reps):
            w = timed_dd(["if=/dev/zero", "of=" + big, "bs=4M", "count=%d" % count,
                          "oflag=direct", "conv=fsync"], mem)
            r = timed_dd(["if=" + big, "of=/dev/null", "bs=4M", "iflag=direct"], mem)
            os.unlink(big)
            v = {"dd_w": w, "dd_r": r}
            if anchor == "fio":
                v["fio_w"] = fio_rate(big, mem, "write")
                v["fio_r"] = fio_rate(big, mem, "read")
                os.unlink(big)
            v.update(save_restore(a.vmm, guest, mem, d, rep))
            v["anchor_w"], v["anchor_r"] = v[anchor + "_w"], v[anchor + "_r"]
            rows.append(v)
            print("rep %d: dd write %.0f MB/s, read %.0f MB/s;%s save %.0f MB/s (%.0f%%), "
                  "restore %.0f MB/s (%.0f%%); page data %.0f MiB, file %.0f MiB "
                  "(allocated %.0f MiB)" %
                  (rep, w / 1e6, r / 1e6,
                   " fio write %.0f MB/s, read %.0f MB/s;" % (v["fio_w"] / 1e6, v["fio_r"] / 1e6)
                   if anchor == "fio" else "",
                   v["save_bps"] / 1e6, 100 * v["save_bps"] / v["anchor_w"],
                   v["restore_bps"] / 1e6, 100 * v["restore_bps"] / v["anchor_r"],
                   v["data"] / 2**20, v["file"] / 2**20, v["alloc"] / 2**20), flush=True)
        med = lambda k: statistics.median(x[k] for x in rows)
        print("median: %s write %.0f MB/s, save %.0f MB/s = %.0f%%; %s read %.0f MB/s, "
              "restore %.0f MB/s = %.0f%%; file %.2fx RAM (allocated %.2fx)" %
              (anchor, med("anchor_w") / 1e6, med("save_bps") / 1e6,
               100 * statistics.median(x["save_bps"] / x["anchor_w"] for x in rows),
               anchor, med("anchor_r") / 1e6, med("restore_bps") / 1e6,
               100 * statistics.median(x["restore_bps"] / x["anchor_r"] for x in rows),
               med("file") / mem, med("alloc") / mem))
    finally:
        shutil.rmtree(d, ignore_errors=True)


main()
