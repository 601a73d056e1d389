"""`bench/lab plot DIR`: figures from a result directory's JSON (Debian's
python3-matplotlib, no display needed). Each figure carries one message:

- convergence-MEM-LINK: dirty and sent pages per round, one panel per
  system, one colour per guest workload (the run of median total time).
- vs-dirty-rate-MEM-LINK: total time and downtime against the workload's
  requested dirty rate (idle ... max; the rate each guest achieved is in
  the table), each system a line (median, bars min-max); points with runs
  that did not complete are marked x at the top of the panel.
- bytes-vs-ram-LINK: bytes sent against guest RAM, per system and workload
  (drawn when the experiment has at least two RAM sizes).
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import lab_config  # noqa: E402
import lab_report  # noqa: E402

SYSTEM_STYLE = {"vmm": {"color": "tab:blue", "marker": "o"},
                "qemu": {"color": "tab:red", "marker": "s"}}
SYSTEM_NAME = {"vmm": "vmm (ours)", "qemu": "QEMU 7.2"}
# An experiment's own systems ([systems.NAME]): these, by their name.
OTHER_STYLES = ({"color": "tab:green", "marker": "^"},
                {"color": "tab:purple", "marker": "D"},
                {"color": "tab:orange", "marker": "v"})


def _style(system):
    if system in SYSTEM_STYLE:
        return SYSTEM_STYLE[system]
    return OTHER_STYLES[sum(map(ord, system)) % len(OTHER_STYLES)]


def _name(system):
    return SYSTEM_NAME.get(system, system)

plt.rcParams.update({"font.size": 11, "axes.grid": True, "grid.alpha": 0.3,
                     "figure.dpi": 100, "savefig.bbox": "tight"})


def _save(fig, outdir, name, formats):
    files = []
    for fmt in formats:
        path = os.path.join(outdir, "%s.%s" % (name, fmt))
        fig.savefig(path, dpi=130 if fmt == "png" else None)
        files.append(path)
    plt.close(fig)
    return files


def _safe(text):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _median_run(runs):
    ok = [r for r in runs if r["summary"]["status"] == "completed"
          and r["summary"]["total_ms"] is not None]
    if not ok:
        return None
    ok.sort(key=lambda r: r["summary"]["total_ms"])
    return ok[len(ok) // 2]


def _group(runs, key):
    out = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return out


def disk_tag(point):
    """"" without a disk, else "-block-256M": the figures of each disk
    apart (its figures' name suffix)."""
    return "-" + lab_config.disk_label(point["disk"]) if point.get("disk") else ""


def plot_convergence(runs, outdir, formats, tag=""):
    files = []
    by_fig = _group(runs, lambda r: (r["point"]["mem"], r["point"]["link"]["name"]))
    for (mem, link), fruns in sorted(by_fig.items()):
        systems = sorted({r["system"] for r in fruns}, key=lab_config.system_rank)
        fig, axes = plt.subplots(1, len(systems), figsize=(6.5 * len(systems), 4.8),
                                 squeeze=False, sharey=True)
        colours = plt.get_cmap("viridis")
        by_label = {lab_config.guest_label(r["point"]["guest"]): r["point"]["guest"]
                    for r in fruns}
        guests = sorted(by_label, key=lambda g: (workload_rank(by_label[g])[0], g))
        for ax, system in zip(axes[0], systems):
            for gi, g in enumerate(guests):
                pruns = [r for r in fruns if r["system"] == system and
                         lab_config.guest_label(r["point"]["guest"]) == g]
                run = _median_run(pruns)
                if run is None or not run["summary"]["round_detail"]:
                    continue
                rd = run["summary"]["round_detail"]
                c = colours(gi / max(1, len(guests) - 1) * 0.9)
                x = [r["index"] for r in rd]
                # A log axis cannot show 0: a round with nothing left
                # to send simply has no point.
                ax.plot(x, [r["dirty_pages"] or float("nan") for r in rd], "-o",
                        color=c, label="%s: dirty" % g, ms=4)
                ax.plot(x, [r["pages_sent"] or float("nan") for r in rd], "--x",
                        color=c, label="%s: sent" % g, ms=5)
            interval = fruns[0]["experiment"]["sample_interval"]
            src = "per round (vmm statistics)" if system == "vmm" else \
                "per dirty sync, query-migrate sampled every %g ms" % (interval * 1e3)
            ax.set_title("%s, %s RAM, %s link%s\n%s" % (
                _name(system), lab_config.size_text(mem), link,
                tag.replace("-", ", disk ", 1), src), fontsize=11)
            ax.set_xlabel("round (0 = full copy)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            lo, hi = ax.get_xlim()
            ax.set_xlim(min(lo, -0.3), max(hi, 1.3))
        ys = [v for ax in axes[0] for line in ax.get_lines()
              for v in line.get_ydata() if v == v and v > 0]
        # A log axis when the counts span two decades or more; over less,
        # a log axis would show no labelled tick at all.
        for ax in axes[0]:
            if ys and max(ys) / min(ys) >= 100:
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
        axes[0][0].set_ylabel("pages (4 KiB): dirty at round start / sent")
        handles, labels = [], []
        for ax in axes[0]:
            for h, lbl in zip(*ax.get_legend_handles_labels()):
                if lbl not in labels:
                    handles.append(h)
                    labels.append(lbl)
        if handles:
            fig.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)),
                       bbox_to_anchor=(0.5, 0.0), fontsize=9, frameon=False)
        files += _save(fig, outdir, "convergence-%s-%s%s" % (
            lab_config.size_text(mem), _safe(link), _safe(tag)), formats)
    return files


def _points_by_system(points, mem, link):
    out = {}
    for e in points.values():
        p = e["point"]
        if p["mem"] == mem and p["link"]["name"] == link:
            out.setdefault(p["system"], []).append(e)
    return out


def workload_rank(guest):
    """Where a workload sits on the dirty-rate axis, and its tick label:
    idle first, memtouch/verify by requested rate, "max" (rate=0) last."""
    name = guest["name"]
    if name in ("idle", "heartbeat", "hello"):
        return (0, 0), "%s\n(0)" % name
    rate = int(guest.get("rate", 0 if name == "memtouch" else 1000))
    if rate == 0:
        return (2, 0), "%s\nmax" % name
    return (1, rate), "%s\n%gK" % (name, rate / 1000)


def plot_vs_dirty_rate(points, outdir, formats, tag=""):
    files = []
    keys = sorted({(e["point"]["mem"], e["point"]["link"]["name"])
                   for e in points.values()})
    for mem, link in keys:
        by_sys = _points_by_system(points, mem, link)
        ranks = sorted({workload_rank(e["point"]["guest"])
                        for es in by_sys.values() for e in es})
        xpos = {r: i for i, r in enumerate(ranks)}
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        for ax, metric, scale, ylabel in (
                (axes[0], "total_ms", 1e-3, "total migration time (s)"),
                (axes[1], "downtime_ms", 1.0, "downtime as reported (ms)")):
            top = 0
            failed = {}
            systems = sorted(by_sys, key=lab_config.system_rank)
            for si, system in enumerate(systems):
                rows = []
                shift = (si - (len(systems) - 1) / 2) * 0.08
                for e in by_sys[system]:
                    x = xpos[workload_rank(e["point"]["guest"])] + shift
                    if e["failures"]:
                        failed.setdefault(system, []).append(x)
                    if e[metric] is not None:
                        rows.append((x, e[metric]))
                rows.sort(key=lambda t: t[0])
                if not rows:
                    continue
                ys = [r[1]["median"] * scale for r in rows]
                lo = [(r[1]["median"] - r[1]["min"]) * scale for r in rows]
                hi = [(r[1]["max"] - r[1]["median"]) * scale for r in rows]
                top = max(top, max(r[1]["max"] * scale for r in rows))
                st = _style(system)
                ax.errorbar([r[0] for r in rows], ys, yerr=[lo, hi], capsize=3,
                            label=_name(system) + ": median, min-max",
                            color=st["color"], marker=st["marker"], ms=5)
            ymax = top * 1.15 if top else 1
            for system, xs in failed.items():
                ax.scatter(xs, [ymax] * len(xs), marker="x", s=70,
                           color=_style(system)["color"],
                           label="%s: did not complete (some or all runs)" %
                           _name(system))
            ax.set_ylim(0, ymax * 1.1)
            ax.set_xticks(range(len(ranks)))
            ax.set_xticklabels([lbl for _, lbl in ranks], fontsize=9)
            ax.set_xlabel("guest workload, requested dirty rate (pages/s)")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=8, loc="upper left")
        fig.suptitle("%s RAM, %s link%s: cost of a migration against dirty rate" % (
            lab_config.size_text(mem), link, tag.replace("-", ", disk ", 1)))
        files += _save(fig, outdir, "vs-dirty-rate-%s-%s%s" % (
            lab_config.size_text(mem), _safe(link), _safe(tag)), formats)
    return files


def plot_bytes_vs_ram(points, outdir, formats, tag=""):
    files = []
    for link in sorted({e["point"]["link"]["name"] for e in points.values()}):
        lines = {}
        for e in points.values():
            p = e["point"]
            if p["link"]["name"] != link or e["bytes"] is None:
                continue
            key = (p["system"], lab_config.guest_label(p["guest"]))
            lines.setdefault(key, []).append((p["mem"] / 2**20, e["bytes"]))
        if len({x for pts in lines.values() for x, _ in pts}) < 2:
            continue  # one RAM size: nothing to draw against
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        guests = sorted({g for _, g in lines})
        for (system, g), pts in sorted(lines.items()):
            pts.sort()
            st = _style(system)
            i = guests.index(g)
            ax.errorbar([x for x, _ in pts], [b["median"] / 2**20 for _, b in pts],
                        yerr=[[(b["median"] - b["min"]) / 2**20 for _, b in pts],
                              [(b["max"] - b["median"]) / 2**20 for _, b in pts]],
                        color=st["color"], marker="os^vDP*X"[i % 8],
                        ls=["-", "--", ":", "-."][i % 4], capsize=3, ms=6,
                        label="%s, %s" % (_name(system), g))
        rams = sorted({x for pts in lines.values() for x, _ in pts})
        ax.plot(rams, rams, color="grey", lw=1, ls=":", label="= guest RAM")
        ax.set_xticks(rams)
        ax.set_xlabel("guest RAM (MiB)")
        ax.set_ylabel("sent on the wire (MiB)")
        ax.set_title("Bytes sent against RAM, %s link%s" % (
            link, tag.replace("-", ", disk ", 1)))
        ax.legend(fontsize=8, loc="upper left")
        files += _save(fig, outdir, "bytes-vs-ram-%s%s" % (_safe(link), _safe(tag)),
                       formats)
    return files


def plot_all(d, formats=("png", "svg")):
    runs = lab_report.load_runs(d)
    for r in runs:
        if "summary" not in r:
            r["summary"] = lab_report.summarize(r)
    points = lab_report.aggregate(runs)
    outdir = os.path.join(d, "figures")
    os.makedirs(outdir, exist_ok=True)
    files = []
    # Each disk (none, block-256M, incremental-256M+16M...) in figures of
    # its own: one workload's block and incremental points would overlap.
    for tag, truns in sorted(_group(runs, lambda r: disk_tag(r["point"])).items()):
        tpoints = {k: e for k, e in points.items() if disk_tag(e["point"]) == tag}
        files += plot_convergence(truns, outdir, formats, tag)
        files += plot_vs_dirty_rate(tpoints, outdir, formats, tag)
        files += plot_bytes_vs_ram(tpoints, outdir, formats, tag)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(lab_report.table(points))
    files.append(os.path.join(outdir, "table.md"))
    return files
