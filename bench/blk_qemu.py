#!/usr/bin/env python3
"""Block migration side by side with QEMU 7.2 on the same image (issue 11).

For each mode, -b (full copy of a raw image of random data) and -i (a
qcow2 overlay of random writes over a raw base of random data, only the
overlay travels), and each repetition, an idle guest migrates over
loopback under vmm and under QEMU, alternated (the first system swaps
every repetition). Both run the same guest ELF (idle.elf, QEMU boots it
with -kernel) on the same image contents, started and driven by the lab
(bench/lab_run.py, bench/lab_systems.py, bench/lab_disk.py for the
images and drives: one QMP code path, `migrate`
with `blk`/`inc`). Parameters are each system's defaults unless
--max-bandwidth sets one for both: QEMU 7.2's default max-bandwidth caps
the stream at 128 MiB/s, vmm's does not cap. max-bandwidth 0 (the lab's
"no cap") cannot be used for QEMU here: its block migration sizes each
step by the rate limit, so with 0 it sends no disk byte at all (64 MiB
image: 0 bytes in 300 s, then cancelled).

    python3 bench/blk_qemu.py [--out DIR] [--build build] [--max-bandwidth N]
                              [--guest idle|diskverify] [--dry-run]

SIZE_MIB (512), OVERLAY_MIB (16), REPS (3) and MEM_MIB (256) come from
the environment. --guest diskverify writes while it migrates (DV_WS_MIB
64, DV_RATE 200 per second, DV_WRITES 2000, then its verdict): each run
starts from a copy of the source image, the lab waits for the verdict on
the destination, and the destination's image is compared with the one
diskverify leaves when it runs to its end unmigrated (once per mode,
under vmm: with writes=N that image depends on the parameters alone). Each run: DIR/runs/MODE-SYSTEM-rN.json (the lab's record
plus "blk": total, setup and downtime, disk and RAM bytes, whether the
destination's image reads the same as the source's by `qemu-img
compare`); then DIR/table.md with the medians and the vmm/QEMU ratios.
Ctrl-C ends every process by its PID and removes the images.
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

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab_config  # noqa: E402
import lab_disk  # noqa: E402
import lab_run  # noqa: E402
import lab_systems  # noqa: E402

MODES = ("b", "i")
SYSTEMS = ("vmm", "qemu")
CLUSTER = lab_disk.CLUSTER
LAB_MODE = {"b": "block", "i": "incremental"}


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def make_images(work, size, overlay):
    """The sources' images, made once: src.img (-b), base.img with
    src.qcow2 over it (-i) and the destination's own copy of the base
    (lab_disk: random data, on disk before any run)."""
    images = lab_disk.Images(work)
    b = images.source({"size": size, "mode": "block", "overlay": None})
    i = images.source({"size": size, "mode": "incremental", "overlay": overlay})
    return {"b_src": b["src"][0], "base": i["base"], "dst_base": i["dst_base"],
            "i_src": i["src"][0]}


def fresh_destination(work, img, mode, size):
    """The destination's drive for one run: a zeroed raw image of the
    source's size (-b), or a fresh overlay over its own base (-i)."""
    path = os.path.join(work, "dst." + ("img" if mode == "b" else "qcow2"))
    return lab_disk.fresh_destination(path, {"size": size, "mode": LAB_MODE[mode]},
                                      img)


def blk_summary(record):
    """The figures of one run, from the source's last query-migrate; the
    disk's as the lab's (lab_disk.figures: QEMU 7.2's from its last
    active sample, "disk_from" says so)."""
    final = record["qmp"].get("src_migrate") or {}
    disk = lab_disk.figures({"qmp": record["qmp"], "samples": record["samples"]})
    return {"outcome": record["outcome"], "error": record.get("error"),
            "error_detail": record.get("error_detail"),
            "total_ms": final.get("total-time"), "setup_ms": final.get("setup-time"),
            "downtime_ms": final.get("downtime"),
            "ram_bytes": (final.get("ram") or {}).get("transferred"),
            "disk_bytes": disk["bytes"], "disk_total": disk["total"],
            "disk_from": disk["from"]}


def point(system, mode, mem, max_bw, guest=None):
    migrate = lab_config.disk_migrate_args({"mode": LAB_MODE[mode]})
    params = {} if max_bw is None else {"max-bandwidth": max_bw}
    return {"id": "%s-%s" % (mode, system), "system": system,
            "guest": guest or {"name": "idle"}, "mem": mem, "cpus": 1,
            "link": lab_config.parse_link("loopback"), "params": params,
            "capabilities": {}, "migrate": migrate}


# Samples every 20 ms: QEMU's disk figures exist only in active samples.
EXP = dict(lab_config.EXPERIMENT_DEFAULTS, name="blk-qemu", warmup=0.5,
           cooldown=0.3, timeout=120.0, sample_interval=0.02)
VERDICT = r"^diskverify: (PASS|FAIL)"


def exp_for(guest):
    """diskverify ends with a verdict on the destination: wait for it."""
    if guest["name"] != "diskverify":
        return EXP
    return dict(EXP, cooldown=120.0, dst_until=VERDICT)


def run_source(work, img, mode):
    """A writing guest changes its image: each run starts from a copy."""
    master, fmt = (img["b_src"], "raw") if mode == "b" else (img["i_src"], "qcow2")
    path = os.path.join(work, "run-src." + ("img" if mode == "b" else "qcow2"))
    shutil.copyfile(master, path)
    lab_disk.fsync_file(path)
    return path, fmt


def make_reference(work, img, mode, cfg, build):
    """diskverify with writes=N leaves an image that depends only on its
    parameters (guest-tests/README.md): run it to its end, unmigrated,
    under vmm, on a copy of the source; each destination must read the
    same."""
    path, fmt = run_source(work, img, mode)
    ref = os.path.join(work, "ref-%s.%s" % (mode, "img" if mode == "b" else "qcow2"))
    os.rename(path, ref)
    g = {k: v for k, v in cfg["guest"].items() if k != "ready"}
    g["rate"] = 0
    argv = [os.path.join(build, "vmm"), "--mem", "%dM" % (cfg["mem"] >> 20),
            "--drive", "file=%s,format=%s" % (ref, fmt),
            os.path.join(build, "guests", "diskverify.elf"), "--"] + \
        lab_systems.guest_args(g)
    with lab_run.critical():
        proc = lab_systems.Proc(argv, os.path.join(work, "ref.out"))
    if not proc.wait(600):
        proc.kill()
    out = proc.err()
    if proc.status != 0 or "diskverify: PASS" not in out:
        raise RuntimeError("reference run failed (status %s): %s" % (
            proc.status, out.strip()[-300:]))
    return ref


def verdict(record):
    import re
    for ln in reversed(record["serial"].get("dst") or []):
        if re.search(VERDICT, ln["text"]):
            return ln["text"]
    return None


def one(drv, mode, rep, cfg, work, img, host):
    """One migration; its record, written to out/runs."""
    p = point(drv.name, mode, cfg["mem"], cfg["max_bw"], cfg["guest"])
    writer = cfg["guest"]["name"] == "diskverify"
    if writer:
        src = run_source(work, img, mode)
    else:
        src = (img["b_src"], "raw") if mode == "b" else (img["i_src"], "qcow2")
    exp = exp_for(cfg["guest"])
    drives = {"src": src, "dst": fresh_destination(work, img, mode, cfg["size"])}
    tmp = tempfile.mkdtemp(prefix="run-", dir=work)
    link = lab_run.lab_links.make(p["link"])
    record = lab_run.new_record(p, exp, host, drv, link, rep)
    record["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    try:
        lab_run.one_run(drv, p, exp, link, tmp, record, drives)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    record["blk"] = blk_summary(record)
    record["blk"].update(mode="-" + mode, size_mib=cfg["size"] >> 20,
                         overlay_mib=cfg["overlay"] >> 20 if mode == "i" else None,
                         compare=lab_disk.compare(img["ref_" + mode] if writer else src[0],
                                                  drives["dst"][0], src[1]),
                         verdict=verdict(record) if writer else None,
                         dst_disk_usage=os.stat(drives["dst"][0]).st_blocks * 512)
    name = os.path.join(cfg["out"], "runs", "%s-r%d.json" % (p["id"], rep + 1))
    with lab_run.critical():  # no .partial left by a Ctrl-C
        with open(name + ".partial", "w") as f:
            json.dump(record, f, indent=1, default=str)
        os.replace(name + ".partial", name)
    return record


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _num(x, digits=0):
    return "-" if x is None else ("%.*f" % (digits, x))


def table(records, cfg):
    """Markdown: medians per mode and system over completed runs, and the
    vmm/QEMU ratios of total time and downtime."""
    used = {}
    for r in records:
        used.setdefault(r["system"], (r["qmp"].get("parameters") or {}).get(
            "max-bandwidth"))
    bw = ("max-bandwidth %d B/s set on both" % cfg["max_bw"] if cfg["max_bw"] is not None
          else "each system's default parameters, max-bandwidth not set")
    bw += " (in force: %s)" % ", ".join(
        "%s %s" % (s, "no cap" if not used.get(s) else "%s B/s" % used[s])
        for s in SYSTEMS if s in used)
    g = cfg.get("guest") or {"name": "idle"}
    guest = "idle guest" if g["name"] == "idle" else (
        "diskverify writing while it migrates (ws=%s rate=%s/s writes=%s; "
        "images compared with one it left without migrating, under vmm)" % (
            g["ws"], g["rate"], g["writes"]))
    lines = ["Block migration, %s (%d MiB RAM, 1 vCPU), loopback, %s; "
             "image %d MiB of random data (-i: overlay of %d MiB random 64 KiB "
             "writes over a raw base); medians of completed runs." % (
                 guest, cfg["mem"] >> 20, bw, cfg["size"] >> 20,
                 cfg["overlay"] >> 20), "",
             "| mode | system | runs ok | total ms | setup ms | downtime ms | "
             "disk MiB | RAM MiB | dst allocated MiB | images identical | dst verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    med = {}
    for mode in MODES:
        for system in SYSTEMS:
            rs = [r["blk"] for r in records
                  if r["blk"]["mode"] == "-" + mode and r["system"] == system]
            ok = [b for b in rs if b["outcome"] == "completed"]
            m = {k: _med([b[k] for b in ok]) for k in
                 ("total_ms", "setup_ms", "downtime_ms", "disk_bytes", "ram_bytes",
                  "dst_disk_usage")}
            med[mode, system] = m
            same = sum(1 for b in rs if b["compare"]["identical"])
            passed = sum(1 for b in rs if (b.get("verdict") or "").startswith(
                "diskverify: PASS"))
            lines.append("| -%s | %s | %d/%d | %s | %s | %s | %s | %s | %s | %d/%d | %s |" % (
                mode, system, len(ok), len(rs), _num(m["total_ms"]),
                _num(m["setup_ms"]), _num(m["downtime_ms"], 1),
                _num(m["disk_bytes"] and m["disk_bytes"] / 2**20, 1),
                _num(m["ram_bytes"] and m["ram_bytes"] / 2**20, 1),
                _num(m["dst_disk_usage"] and m["dst_disk_usage"] / 2**20, 1),
                same, len(rs), "%d/%d PASS" % (passed, len(rs))
                if any(b.get("verdict") for b in rs) else "-"))
    lines += ["", "| mode | total time vmm/QEMU | downtime vmm/QEMU |", "| --- | --- | --- |"]
    for mode in MODES:
        v, q = med[mode, "vmm"], med[mode, "qemu"]
        ratio = [_num(v[k] / q[k], 2) if v[k] is not None and q[k] else "-"
                 for k in ("total_ms", "downtime_ms")]
        lines.append("| -%s | %s | %s |" % (mode, ratio[0], ratio[1]))
    lines += ["", "disk: what each system's query-migrate reports. vmm: image "
              "bytes sent. QEMU 7.2: its last active sample (it drops `disk` once "
              "completed), and its count is of sectors done, so under -i it "
              "includes the base ranges it skipped. dst allocated: the "
              "destination image's blocks on the host's disk after the run."]
    failed = [r for r in records if r["blk"]["outcome"] != "completed"]
    if failed:
        lines += ["", "Failed runs:"] + ["- %s r%d: %s %s" % (
            r["point"]["id"], r["repetition"] + 1, r["blk"]["outcome"],
            r["blk"]["error"] or "") for r in failed]
    return "\n".join(lines) + "\n"


def config(opt):
    cfg = {"size": env_int("SIZE_MIB", 512) << 20, "overlay": env_int("OVERLAY_MIB", 16) << 20,
           "reps": env_int("REPS", 3), "mem": env_int("MEM_MIB", 256) << 20,
           "max_bw": opt.max_bandwidth, "out": opt.out, "guest": {"name": "idle"}}
    if opt.guest == "diskverify":
        # Ready at its first report, once the fill is done: migrating from
        # its first line would catch the fill on one system and the
        # rewrites on the other (the fill runs at another speed on each).
        cfg["guest"] = {"name": "diskverify", "ws": "%dM" % env_int("DV_WS_MIB", 64),
                        "rate": env_int("DV_RATE", 200),
                        "writes": env_int("DV_WRITES", 2000),
                        "ready": r"^diskverify: t="}
        if env_int("DV_WS_MIB", 64) << 20 > cfg["size"]:
            sys.exit("blk_qemu: DV_WS_MIB must be at most SIZE_MIB")
    if not 0 < cfg["overlay"] <= cfg["size"] or cfg["overlay"] % CLUSTER:
        sys.exit("blk_qemu: OVERLAY_MIB must be 1..SIZE_MIB")
    if cfg["reps"] < 1:
        sys.exit("blk_qemu: REPS must be at least 1")
    return cfg


def plan(cfg):
    """(repetition, mode, system) in run order: systems alternate within a
    repetition and the first one swaps every repetition."""
    order = []
    for rep in range(cfg["reps"]):
        systems = SYSTEMS if rep % 2 == 0 else SYSTEMS[::-1]
        order += [(rep, mode, s) for mode in MODES for s in systems]
    return order


def dry_run(cfg, drivers):
    """The plan and both systems' command lines, nothing started."""
    print("blk_qemu: %d runs, image %d MiB, overlay %d MiB, out %s" % (
        len(plan(cfg)), cfg["size"] >> 20, cfg["overlay"] >> 20, cfg["out"]))
    for rep, mode, system in plan(cfg):
        drv = drivers[system]
        p = point(system, mode, cfg["mem"], cfg["max_bw"], cfg["guest"])
        fmt = "raw" if mode == "b" else "qcow2"
        ctx = lab_run.RunCtx(p, "TMP", lab_run.lab_links.make(p["link"]), 0,
                             {"src": ("SRC", fmt), "dst": ("DST", fmt)})
        print("rep %d -%s %s: migrate %s" % (rep + 1, mode, system, json.dumps(p["migrate"])))
        print("  dst: " + " ".join(drv.dest_argv(ctx)))
        print("  src: " + " ".join(drv.source_argv(ctx)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(
        "build", "blk-qemu-" + time.strftime("%Y%m%d-%H%M%S")))
    ap.add_argument("--build", default="build")
    ap.add_argument("--max-bandwidth", type=int, default=None,
                    help="bytes/s for both systems (default: not set)")
    ap.add_argument("--guest", choices=("idle", "diskverify"), default="idle",
                    help="diskverify: writing while it migrates (DV_WS_MIB, "
                    "DV_RATE, DV_WRITES)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the runs and command lines, start nothing")
    opt = ap.parse_args()
    cfg = config(opt)
    drivers = {s: lab_systems.make(s, opt.build) for s in SYSTEMS}
    if opt.dry_run:
        dry_run(cfg, drivers)
        return 0
    for d in drivers.values():
        why = d.missing()
        if why:
            sys.exit("blk_qemu: %s: %s" % (d.name, why))
    lab_run.install_signal_handlers()
    os.makedirs(os.path.join(cfg["out"], "runs"), exist_ok=True)
    with lab_run.critical():
        work = tempfile.mkdtemp(prefix="blk-qemu-")
        lab_run._tmpdirs.add(work)  # the lab's exit removes it, Ctrl-C too
    records = []
    try:
        print("blk_qemu: images (%d MiB random, overlay %d MiB) in %s" % (
            cfg["size"] >> 20, cfg["overlay"] >> 20, work), flush=True)
        img = make_images(work, cfg["size"], cfg["overlay"])
        if cfg["guest"]["name"] == "diskverify":
            for mode in MODES:
                img["ref_" + mode] = make_reference(work, img, mode, cfg, opt.build)
        host = lab_run.host_info(list(drivers.values()))
        for rep, mode, system in plan(cfg):
            r = one(drivers[system], mode, rep, cfg, work, img, host)
            records.append(r)
            b = r["blk"]
            print("blk_qemu: rep %d -%s %-4s %s total %s ms, downtime %s ms, disk %s B, "
                  "identical %s%s" % (rep + 1, mode, system, b["outcome"],
                                      _num(b["total_ms"]), _num(b["downtime_ms"], 1),
                                      b["disk_bytes"], b["compare"]["identical"],
                                      " (%s)" % b["error"] if b["error"] else ""),
                  flush=True)
    except lab_run.Interrupted as e:
        print("blk_qemu: interrupted (%s): processes ended, images removed; "
              "finished runs are in %s" % (e, cfg["out"]), file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
        lab_run._tmpdirs.discard(work)
    text = table(records, cfg)
    text += "\nload average at the end: %s\n" % " ".join(
        "%.2f" % x for x in os.getloadavg())
    with open(os.path.join(cfg["out"], "table.md"), "w") as f:
        f.write(text)
    print()
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
