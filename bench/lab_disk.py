"""The lab's disks (issue 11): the images an experiment's `disk` asks for,
each run's drives, and what the run leaves to compare.

A disk is {"size", "mode", "overlay"} (lab_config checks it): `block`
migrates a raw image of random data with `migrate -b`; `incremental` a
qcow2 overlay of `overlay` bytes of random 64 KiB writes over a raw base
of random data with `-i`, the destination on its own copy of the base;
`shared` gives both sides the same raw image and migrates no block. The
source images are made once per experiment (Images); every run writes
into a copy of its own (the guest may write), and the destination gets a
fresh image (a zeroed raw one, or a fresh overlay over its base).
"""
import os
import random
import re
import shutil
import statistics
import subprocess

CLUSTER = 64 << 10  # qemu-img's default qcow2 cluster: one overlay write


def qemu_img(*args):
    r = subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("qemu-img %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 << 20)
            f.write(os.urandom(n))
            left -= n


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_overlay(work, base, path, size, overlay):
    """A qcow2 overlay over base holding `overlay` bytes of random data in
    64 KiB writes at random clusters, each its own random bytes (qemu-io's
    -s reads a write's data from a file)."""
    qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", path)
    chunks = os.path.join(work, "chunks")
    os.mkdir(chunks)
    cmds = []
    for k, c in enumerate(sorted(random.sample(range(size // CLUSTER),
                                               overlay // CLUSTER))):
        chunk = os.path.join(chunks, str(k))
        random_file(chunk, CLUSTER)
        cmds += ["-c", "write -q -s %s %d %d" % (chunk, c * CLUSTER, CLUSTER)]
    r = subprocess.run(["qemu-io", "-f", "qcow2"] + cmds + [path],
                       capture_output=True, text=True)
    shutil.rmtree(chunks)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise RuntimeError("qemu-io: %s" % (r.stderr or r.stdout).strip())


class Images:
    """An experiment's source images, made on first use and kept for every
    run of the same size, mode and overlay. All on disk (fsync) before a
    run: otherwise the first source to flush its drive (vmm drains and
    syncs at stop-and-copy) pays for the dirty page cache inside its
    downtime (measured: 317 ms)."""

    def __init__(self, work):
        self.work = work
        self.made = {}

    def source(self, disk):
        """{"src": (path, format), "base"/"dst_base": raw paths (-i)}."""
        key = (disk["size"], disk["mode"] == "incremental", disk.get("overlay"))
        if key in self.made:
            return self.made[key]
        d = os.path.join(self.work, "img-%d" % len(self.made))
        os.mkdir(d)
        if disk["mode"] != "incremental":
            img = {"src": (os.path.join(d, "src.img"), "raw")}
            random_file(img["src"][0], disk["size"])
        else:
            img = {"base": os.path.join(d, "base.img"),
                   "dst_base": os.path.join(d, "dst-base.img"),
                   "src": (os.path.join(d, "src.qcow2"), "qcow2")}
            random_file(img["base"], disk["size"])
            shutil.copyfile(img["base"], img["dst_base"])
            make_overlay(d, img["base"], img["src"][0], disk["size"], disk["overlay"])
            fsync_file(img["dst_base"])
            fsync_file(img["base"])
        fsync_file(img["src"][0])
        self.made[key] = img
        return img


def fresh_destination(path, disk, img):
    """The destination's drive: a zeroed raw image of the disk's size
    (block), or a fresh overlay over its own base (incremental)."""
    if os.path.exists(path):
        os.unlink(path)
    if disk["mode"] == "incremental":
        qemu_img("create", "-q", "-f", "qcow2", "-b", img["dst_base"], "-F", "raw",
                 path)
        return path, "qcow2"
    with open(path, "wb") as f:
        f.truncate(disk["size"])
    return path, "raw"


def prepare(disk, images, tmp):
    """One run's drives in tmp: {"src": (path, fmt), "dst": (path, fmt)};
    the source a copy of the experiment's image (a writing guest changes
    it), the destination fresh (shared: the source's own path)."""
    img = images.source(disk)
    master, fmt = img["src"]
    ext = "qcow2" if fmt == "qcow2" else "img"
    src = os.path.join(tmp, "src." + ext)
    shutil.copyfile(master, src)
    fsync_file(src)
    if disk["mode"] == "shared":
        return {"src": (src, fmt), "dst": (src, fmt)}
    return {"src": (src, fmt),
            "dst": fresh_destination(os.path.join(tmp, "dst." + ext), disk, img)}


def compare(src, dst, fmt):
    """`qemu-img compare` of the two images as a guest reads them."""
    r = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", fmt, src, dst],
                       capture_output=True, text=True)
    return {"identical": r.returncode == 0, "exit_status": r.returncode,
            "output": (r.stdout + r.stderr).strip()}


def after_run(disk, drives):
    """What the run left, once both processes ended: the destination's
    image against the source's (None for shared storage: one image) and
    the destination's allocated bytes."""
    src, fmt = drives["src"]
    dst = drives["dst"][0]
    out = {"mode": disk["mode"], "size": disk["size"], "overlay": disk.get("overlay"),
           "compare": None, "dst_disk_usage": None}
    if disk["mode"] != "shared":
        out["compare"] = compare(src, dst, fmt)
    try:
        out["dst_disk_usage"] = os.stat(dst).st_blocks * 512
    except OSError:
        pass
    return out


def drive_argv(system, drive):
    """One drive on a system's command line."""
    path, fmt = drive
    if system == "vmm":
        return ["--drive", "file=%s,format=%s" % (path.replace(",", ",,"), fmt)]
    return ["-drive", "file=%s,if=virtio,format=%s" % (path.replace(",", ",,"), fmt)]


def figures(record):
    """The disk figures of one run: bytes, total, remaining and where they
    come from; vmm's dirty blocks per round. vmm's from its --stats-json;
    QEMU 7.2 drops `disk` from a completed migration's query-migrate (its
    block migration state is gone by then): from the last sample that had
    it, and "from" says so."""
    out = {"bytes": None, "total": None, "remaining": None, "from": None,
           "dirty_blocks": None}
    stats = (record.get("vmm_stats") or {}).get("src")
    if stats and "disk_total" in stats:
        out.update(bytes=stats.get("disk_transferred"), total=stats.get("disk_total"),
                   remaining=stats.get("disk_remaining"), **{"from": "vmm --stats-json"})
        out["dirty_blocks"] = [r.get("dirty_blocks") for r in stats.get("rounds", [])]
        return out
    final = (record.get("qmp") or {}).get("src_migrate") or {}
    if "disk" in final:
        d = final["disk"]
        out.update(bytes=d.get("transferred"), total=d.get("total"),
                   remaining=d.get("remaining"), **{"from": "completed query-migrate"})
        return out
    with_disk = [s for s in record.get("samples") or [] if "disk" in s]
    if with_disk:
        d = with_disk[-1]["disk"]
        out.update(bytes=d.get("transferred"), total=d.get("total"),
                   remaining=d.get("remaining"))
        out["from"] = "last active sample at %.3f s (remaining %s)" % (
            with_disk[-1]["_t"], d.get("remaining"))
    return out


def writes_before(record):
    """disktouch's achieved writes/s before `migrate` (the median of its
    `disktouch: t=MS ms writes=N rate=W/s` reports), or None."""
    t_mig = (record.get("times") or {}).get("migrate_mono")
    rx = re.compile(r"^disktouch: t=[0-9]+ ms writes=[0-9]+ rate=([0-9]+)/s")
    rates = [int(m.group(1)) for ln in (record.get("serial") or {}).get("src") or []
             if (t_mig is None or ln["t"] < t_mig) and (m := rx.match(ln["text"]))]
    return statistics.median(rates) if rates else None
