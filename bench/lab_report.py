"""From run JSON to numbers: one summary per run (the same fields for both
systems), aggregates per point (median and min-max over repetitions,
failures counted), Markdown tables, and the comparison of two result sets.
Nothing here starts a process: `bench/lab table|compare` work from the
collected JSON alone.
"""
import glob
import json
import os
import statistics

import lab_serial

PAGE = 4096


def num(x, digits=0):
    if x is None:
        return "-"
    return "%.*f" % (digits, x)


def _ms(us):
    return None if us is None else us / 1000.0


def _qemu_rounds(samples):
    """Per-round figures rebuilt from QEMU's sampled query-migrate: a round
    is the span between two dirty-bitmap syncs (ram.dirty-sync-count);
    dirty pages = ram.remaining / page size at the first sample of a round,
    sent = growth of normal + duplicate pages until the next round. Rounds
    shorter than the sampling interval merge into their neighbour."""
    rows = []
    last = None
    for s in samples:
        ram = s.get("ram")
        if not ram:
            continue
        k = ram.get("dirty-sync-count", 0)
        sent = ram.get("normal", 0) + ram.get("duplicate", 0)
        if last is None or k != last["sync"]:
            if last is not None:
                last["row"]["pages_sent"] = sent - last["sent0"]
            row = {"index": len(rows), "dirty_pages": ram.get("remaining", 0) // PAGE,
                   "pages_sent": None, "start_ms": s["_t"] * 1000,
                   "dirty_rate_pps": ram.get("dirty-pages-rate")}
            rows.append(row)
            last = {"sync": k, "sent0": sent, "row": row}
    if last is not None and samples:
        final = samples[-1].get("ram") or {}
        last["row"]["pages_sent"] = (final.get("normal", 0) +
                                     final.get("duplicate", 0) - last["sent0"])
    return rows


def _dirty_rate_before(record):
    """The guest's own achieved dirty rate before the migration started
    (pages/s, the median of memtouch's/verify's reports between ready and
    migrate), 0 for a guest that writes nothing, None if unknown."""
    t_mig = record["times"].get("migrate_mono")
    src = record["serial"].get("src") or []
    if t_mig is None:
        return None
    rates = lab_serial.memtouch_rates(src)
    if not rates:
        name = record["point"]["guest"]["name"]
        return 0.0 if name in ("idle", "heartbeat", "hello") else None
    before = [r for t, r in rates if t < t_mig]
    return statistics.median(before) if before else None


def _guest_rates(record):
    """The guest's own achieved rate (memtouch/verify reports, pages/s,
    median) before migrate, during the migration on the source, and on
    the destination after it: how much the migration slowed the guest."""
    t_mig = record["times"].get("migrate_mono")
    t_end = record["times"].get("end_mono")
    if t_mig is None:
        return None
    src = lab_serial.memtouch_rates(record["serial"].get("src") or [])
    dst = lab_serial.memtouch_rates(record["serial"].get("dst") or [])
    if not src and not dst:
        return None

    def med(v):
        return statistics.median(v) if v else None
    return {"before": med([r for t, r in src if t < t_mig]),
            "during": med([r for t, r in src if t >= t_mig and
                           (t_end is None or t <= t_end)]),
            "after": med([r for _, r in dst])}


def summarize(record):
    """The per-run summary both systems share. Times ms, sizes bytes."""
    out = {"status": record.get("outcome") or "error", "error": record.get("error"),
           "total_ms": None, "downtime_ms": None, "setup_ms": None,
           "client_downtime_ms": None, "client_downtime_source": None,
           "rounds": None, "bytes": None, "ram_bytes": record["point"]["mem"],
           "stop_reason": None, "mbps": None, "round_detail": [],
           "round_source": None, "dirty_rate_pps": None,
           "cpu_s": {}, "peak_rss_kib": {}, "dirty_log_mode": None}
    final = (record.get("qmp") or {}).get("src_migrate") or (
        record["samples"][-1] if record.get("samples") else {})
    ram = final.get("ram") or {}
    out["total_ms"] = final.get("total-time")
    out["downtime_ms"] = final.get("downtime")
    out["setup_ms"] = final.get("setup-time")
    out["rounds"] = ram.get("dirty-sync-count")
    out["bytes"] = ram.get("transferred")
    out["mbps"] = ram.get("mbps")
    up = record.get("upfront") or {}
    if up.get("rounds") is not None:   # [experiment] forecast: vmm's before it ran
        out["forecast_total_ms"] = up["total_us"] / 1e3
        out["forecast_bytes"] = up["bytes"]
    stats = (record.get("vmm_stats") or {}).get("src")
    if stats:
        out["total_ms"] = _ms(stats.get("total_us"))
        out["downtime_ms"] = _ms(stats.get("downtime_us"))
        out["setup_ms"] = _ms(stats.get("setup_us"))
        out["rounds"] = stats.get("round_count")
        out["bytes"] = stats.get("bytes_total")
        out["stop_reason"] = stats.get("stop_reason")
        out["dirty_log_mode"] = stats.get("dirty_log_mode")
        out["round_detail"] = [{"index": r["index"], "dirty_pages": r["dirty_pages"],
                                "pages_sent": r["pages_sent"],
                                "start_ms": r["start_us"] / 1000.0,
                                "dirty_rate_pps": r.get("dirty_rate_pps")}
                               for r in stats.get("rounds", [])]
        out["round_source"] = "vmm --stats-json"
        if out["status"] == "completed" and stats.get("status") not in (None, "completed"):
            out["status"] = stats.get("status")
            out["error"] = out["error"] or stats.get("error")
    else:
        out["round_detail"] = _qemu_rounds(record.get("samples") or [])
        out["round_source"] = "sampled query-migrate"
        if out["status"] == "completed":
            out["stop_reason"] = "converged"
        elif out["status"] == "did-not-converge":
            out["stop_reason"] = "time limit"
    if out["status"] == "did-not-converge":
        out["stop_reason"] = out["stop_reason"] or "time limit"
        out["total_ms"] = out["total_ms"] or None
    if out["status"] == "completed":
        gap, how = lab_serial.heartbeat_gap(record["serial"].get("src") or [],
                                            record["serial"].get("dst") or [])
        if gap is not None:
            out["client_downtime_ms"] = gap * 1000.0
            out["client_downtime_source"] = how
    out["dirty_rate_pps"] = _dirty_rate_before(record)
    out["guest_rate_pps"] = _guest_rates(record)
    if record["point"].get("disk"):
        out["disk"] = _disk_summary(record)
    for side in ("src", "dst"):
        p = (record.get("proc") or {}).get(side)
        if p:
            out["cpu_s"][side] = round(p["cpu_user_s"] + p["cpu_sys_s"], 3)
            out["peak_rss_kib"][side] = p["peak_rss_kib"]
    return out


def _disk_summary(record):
    """A run's disk: its figures (lab_disk.figures) and whether the
    destination's image reads as the source's after both ended (None:
    shared storage, or not compared)."""
    import lab_config
    import lab_disk
    out = lab_disk.figures(record)
    left = record.get("disk") or {}
    out["mode"] = record["point"]["disk"]["mode"]
    out["identical"] = (left.get("compare") or {}).get("identical")
    out["dst_disk_usage"] = left.get("dst_disk_usage")
    out["writes_per_s"] = lab_disk.writes_before(record)
    if record["point"]["guest"]["name"] in lab_config.DISK_GUESTS:
        # It goes on writing on the destination after the migration: the
        # images differ by those writes whatever the migration did.
        out["identical"] = None
        out["identical_note"] = "not judged: the guest writes on the destination"
    return out


def load_runs(d):
    """Every run JSON of a result directory, sorted by point and repetition."""
    runs = []
    for path in sorted(glob.glob(os.path.join(d, "runs", "*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    if not runs:
        raise FileNotFoundError("no runs in %s (expected %s/runs/*.json)" % (d, d))
    runs.sort(key=lambda r: (r["point_id"], r["repetition"]))
    return runs


def _stat(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


METRICS = ("total_ms", "downtime_ms", "client_downtime_ms", "rounds", "bytes",
           "dirty_rate_pps")
DISK_METRICS = ("bytes", "total")


def aggregate(runs):
    """One entry per point, in first-seen order: its point, the number of
    runs and of each outcome, and median/min/max of each metric over the
    runs that completed."""
    points = {}
    for r in runs:
        s = r.get("summary") or summarize(r)
        e = points.setdefault(r["point_id"], {"point": r["point"], "runs": 0,
                                              "outcomes": {}, "ok": [],
                                              "stop_reasons": {}, "errors": [],
                                              "link_notes": set()})
        e["runs"] += 1
        link = r.get("link") or {}
        if link.get("fallback"):
            e["link_notes"].add("not shaped (%s): loopback with max-bandwidth at "
                                "the link's rate" % link["fallback"])
        if link.get("not_applied"):
            e["link_notes"].add(link["not_applied"])
        e["outcomes"][s["status"]] = e["outcomes"].get(s["status"], 0) + 1
        if s["stop_reason"] and s["status"] == "completed":
            e["stop_reasons"][s["stop_reason"]] = e["stop_reasons"].get(
                s["stop_reason"], 0) + 1
        if s["status"] == "completed":
            e["ok"].append(s)
        elif s.get("error"):
            e["errors"].append(s["error"])
        if s.get("disk"):
            e.setdefault("disks", []).append(s["disk"])
    for e in points.values():
        for m in METRICS:
            e[m] = _stat([s[m] for s in e["ok"]])
        e["failures"] = e["runs"] - len(e["ok"])
        ok_disks = [s["disk"] for s in e["ok"] if s.get("disk")]
        for m in DISK_METRICS:
            e["disk_" + m] = _stat([d[m] for d in ok_disks])
    return dict(sorted(points.items(), key=lambda kv: point_order(kv[1]["point"])))


def point_order(p):
    """Rows in reading order: by RAM, link (loopback first, then by
    rate), vCPUs, workload (idle first, then by rate, max last), then the
    systems side by side (vmm, QEMU, then an experiment's own systems)
    for each capability set, RAM allocated on demand before RAM
    preallocated."""
    import lab_config
    link = p["link"]
    g = p["guest"]
    rate = g.get("rate")
    if g["name"] in ("idle", "heartbeat", "hello"):
        wl = (0, 0)
    elif rate is not None and int(rate) == 0:
        wl = (2, 0)
    else:
        wl = (1, int(rate) if rate is not None else 0)
    disk = p.get("disk") or {}
    return (p["mem"], link["rate_bps"] or 0, link["delay_s"], link["loss_pct"],
            p["cpus"], disk.get("mode", ""), disk.get("size", 0),
            g["name"] if g["name"] not in ("idle",) else "", wl,
            json.dumps(p["params"], sort_keys=True),
            json.dumps(p.get("capabilities") or {}, sort_keys=True),
            bool(p.get("mem-prealloc")), lab_config.system_rank(p["system"]), p["id"])


def _cell(st, digits=0, scale=1.0):
    if st is None:
        return "-"
    med, lo, hi = st["median"] * scale, st["min"] * scale, st["max"] * scale
    if st["n"] == 1 or num(lo, digits) == num(hi, digits):
        return num(med, digits)
    return "%s (%s-%s)" % (num(med, digits), num(lo, digits), num(hi, digits))


def _guest_text(g):
    import lab_config
    return lab_config.guest_label(g)


def _params_text(p):
    return ", ".join("%s=%s" % kv for kv in sorted(p.items()))


def _disk_cells(e):
    """A point's disk columns: the disk, its bytes sent, the images
    compared equal in k of n runs, vmm's dirty blocks per round."""
    import lab_config
    if not e["point"].get("disk"):
        return ["-"] * 5
    disks = e.get("disks") or []
    same = [d["identical"] for d in disks if d.get("identical") is not None]
    blocks = [d["dirty_blocks"] for d in disks if d.get("dirty_blocks")]
    rates = [d["writes_per_s"] for d in disks if d.get("writes_per_s") is not None]
    return [lab_config.disk_label(e["point"]["disk"]),
            num(statistics.median(rates)) if rates else "-",
            _cell(e.get("disk_bytes"), 1, 1 / 2**20),
            "%d/%d" % (sum(same), len(same)) if same else "-",
            " ".join(str(b) for b in blocks[0]) if blocks else "-"]


def table(points):
    """Markdown: one row per point; with the disk columns when a point
    has a disk."""
    import lab_config
    disks = any(e["point"].get("disk") for e in points.values())
    head = ("| system | guest | RAM | vCPUs | link | runs (failed) | total time ms "
            "| downtime ms | client-seen downtime ms | rounds | sent MiB "
            "| guest dirty rate pages/s | stop reason / outcome |")
    if disks:
        head += (" disk | guest writes/s | disk MiB | images identical | dirty "
                 "blocks per round (vmm, first run) |")
    lines = [head, "| " + " | ".join(["---"] * (head.count("|") - 1)) + " |"]
    for e in points.values():
        p = e["point"]
        outcome = ", ".join("%s x%d" % kv for kv in sorted(e["stop_reasons"].items()))
        bad = {k: v for k, v in e["outcomes"].items() if k != "completed"}
        if bad:
            outcome = ", ".join(filter(None, [outcome] + [
                "%s x%d" % kv for kv in sorted(bad.items())]))
        lines.append("| %s | %s | %s | %d | %s | %d (%d) | %s | %s | %s | %s | %s | %s | %s |" % (
            p["system"], _guest_text(p["guest"]), lab_config.size_text(p["mem"]) +
            (" prealloc" if p.get("mem-prealloc") else ""), p["cpus"], p["link"]["name"] + (" (!)" if e["link_notes"] else ""),
            e["runs"], e["failures"],
            _cell(e["total_ms"]), _cell(e["downtime_ms"], 1),
            _cell(e["client_downtime_ms"], 1), _cell(e["rounds"]),
            _cell(e["bytes"], 0, 1 / 2**20), _cell(e["dirty_rate_pps"]),
            outcome or "-") + (" %s |" % " | ".join(_disk_cells(e)) if disks else ""))
    params = {}
    for e in points.values():
        params.setdefault(_params_text(e["point"]["params"]), []).append(e)
    notes = []
    if len(params) == 1:
        notes.append("Migration parameters, every point: %s." % next(iter(params)))
    else:
        notes.append("Migration parameters differ between points: see each "
                     "run's JSON (point.params).")
    if disks:
        notes.append("Disk: block = migrate -b, incremental = -i (size+overlay), "
                     "shared = one image, no block migration. sent MiB is vmm's "
                     "bytes_total (disk included) and QEMU's ram.transferred (RAM "
                     "only); disk MiB: vmm's disk_transferred, QEMU's "
                     "disk.transferred at its last active sample (a completed "
                     "QEMU 7.2 drops it). images identical: qemu-img compare of "
                     "the two images after both ended, not judged (-) for a guest that "
                     "goes on writing on the destination (disktouch, diskverify). "
                     "guest writes/s: disktouch's achieved rate before migrate.")
    links = {}
    for e in points.values():
        for n in e["link_notes"]:
            links.setdefault(e["point"]["link"]["name"], set()).add(n)
    for name, ns in sorted(links.items()):
        notes.append("(!) Link %s: %s." % (name, "; ".join(sorted(ns))))
    errors = {}
    for e in points.values():
        for msg in e["errors"]:
            errors.setdefault(msg, []).append(e["point"]["id"])
    for msg, ids in sorted(errors.items()):
        notes.append("Failure: %s (%d run(s): %s)" % (msg, len(ids),
                                                     ", ".join(sorted(set(ids)))))
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _key(point):
    """A point's identity without its system, for pairing two sets."""
    p = dict(point)
    p.pop("id", None)
    return json.dumps(p, sort_keys=True)


def compare(points_a, points_b, name_a="A", name_b="B"):
    """Markdown: points present in both sets side by side, B/A ratios of
    the medians."""
    import lab_config
    by_key = {_key(e["point"]): e for e in points_b.values()}
    head = ("| system | guest | RAM | link | total ms %s | total ms %s | ratio "
            "| downtime ms %s | downtime ms %s | ratio | sent MiB %s | sent MiB %s "
            "| ratio | failed %s / %s |" % ((name_a, name_b) * 3 + (name_a, name_b)))
    lines = [head, "| " + " | ".join(["---"] * (head.count("|") - 1)) + " |"]
    only_a = []
    for e in points_a.values():
        f = by_key.pop(_key(e["point"]), None)
        if f is None:
            only_a.append(e["point"]["id"])
            continue
        p = e["point"]
        row = [p["system"], _guest_text(p["guest"]), lab_config.size_text(p["mem"]),
               p["link"]["name"]]
        for m, digits, scale in (("total_ms", 0, 1.0), ("downtime_ms", 1, 1.0),
                                 ("bytes", 0, 1 / 2**20)):
            a, b = e[m], f[m]
            row += [_cell(a, digits, scale), _cell(b, digits, scale), ratio(a, b)]
        row.append("%d / %d" % (e["failures"], f["failures"]))
        lines.append("| " + " | ".join(row) + " |")
    out = "\n".join(lines) + "\n"
    if only_a:
        out += "\nOnly in %s: %s\n" % (name_a, ", ".join(only_a))
    if by_key:
        out += "\nOnly in %s: %s\n" % (name_b, ", ".join(
            e["point"]["id"] for e in by_key.values()))
    return out


def _outcome(e):
    """A point's outcome in a word or two: its stop reasons when every run
    completed, else the counts of each outcome."""
    if e is None:
        return "-"
    bad = {k: v for k, v in e["outcomes"].items() if k != "completed"}
    words = ["%s x%d" % kv if e["runs"] > 1 else kv[0]
             for kv in sorted(e["stop_reasons"].items()) + sorted(bad.items())]
    return ", ".join(words) or "-"


def versus(points, a="vmm", b="qemu"):
    """Markdown: the points of one result set that differ only in their
    system, system A beside system B on one row: medians (min-max over
    the repetitions that completed) of total time, downtime and rounds,
    the B/A ratios of total time and downtime, and each one's outcome."""
    import lab_config
    rows = {}
    for e in points.values():
        sysname = e["point"]["system"]
        if sysname not in (a, b):
            continue
        p = dict(e["point"])
        p["system"] = ""
        rows.setdefault(_key(p), {})[sysname] = e
    head = ("| RAM | link | workload | total ms %s | total ms %s | %s/%s "
            "| downtime ms %s | downtime ms %s | %s/%s | rounds %s / %s "
            "| outcome %s / %s |" % (a, b, a, b, a, b, a, b, a, b, a, b))
    lines = [head, "| " + " | ".join(["---"] * (head.count("|") - 1)) + " |"]
    for pair in rows.values():
        ea, eb = pair.get(a), pair.get(b)
        p = (ea or eb)["point"]
        row = [lab_config.size_text(p["mem"]), p["link"]["name"],
               _guest_text(p["guest"])]
        for m, digits in (("total_ms", 0), ("downtime_ms", 1)):
            sa, sb = ea and ea[m], eb and eb[m]
            row += [_cell(sa, digits), _cell(sb, digits), ratio(sb, sa)]
        row.append("%s / %s" % (_cell(ea and ea["rounds"]), _cell(eb and eb["rounds"])))
        row.append("%s / %s" % (_outcome(ea), _outcome(eb)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def ratio(a, b):
    """B's median over A's, or "-"."""
    if a is None or b is None or not a["median"]:
        return "-"
    return "%.2f" % (b["median"] / a["median"])
