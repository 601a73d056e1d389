"""Figures of bench/replay_validate.py (Debian's python3-matplotlib):

- replay-vs-real: the replay's prediction against the real migration, one
  panel per quantity (rounds, total time, downtime, bytes), y = x drawn:
  how far from the diagonal is the replay's error.
- forecast-vs-real: vmm's own forecast (made after round 0) against the
  real total time and bytes over the sweep, coloured by the stop reason:
  where it misses.
- wws-workloads: the writable working set of each workload's trace.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dirty_trace  # noqa: E402
import lab_wws  # noqa: E402

# svg.hashsalt and no Date: the same results redraw to the same files
plt.rcParams.update({"font.size": 10, "axes.grid": True, "grid.alpha": 0.3,
                     "savefig.bbox": "tight", "svg.hashsalt": "vmm-replay"})


def _save(fig, out, name, formats=("png", "svg")):
    files = []
    for fmt in formats:
        path = os.path.join(out, "%s.%s" % (name, fmt))
        fig.savefig(path, dpi=130 if fmt == "png" else None,
                    metadata={"Date": None} if fmt == "svg" else None)
        files.append(path)
    plt.close(fig)
    return files


def _diag(ax, xs, ys, log):
    lo = min(min(xs), min(ys))
    hi = max(max(xs), max(ys))
    if log:
        lo, hi = lo / 1.5, hi * 1.5
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        lo, hi = 0, hi * 1.15
    ax.plot([lo, hi], [lo, hi], "-", color="gray", lw=1, zorder=0, label="replay = real")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)


VARIANT_STYLE = {"calibrated": ("tab:green", "the link calibrated on other guests"),
                 "phases": ("tab:blue", "three bandwidths from the real run"),
                 "one": ("tab:orange", "one bandwidth (after round 0)")}
LINK_MARKER = {"loopback": ("o", "loopback, full speed"),
               "100MiBps": ("s", "loopback, max-bandwidth 100 MiB/s")}


def plot_replay(out, rows):
    quantities = [("rounds", "rounds", 1, False), ("total_ms", "total time (ms)", 1, True),
                  ("downtime_ms", "downtime (ms)", 1, True),
                  ("bytes", "bytes sent (MiB)", 2**-20, True)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    for ax, (key, label, scale, log) in zip(axes.flat, quantities):
        xs, ys = [], []
        for v, (color, _) in VARIANT_STYLE.items():
            for r in rows:
                x = r["real"][key] * scale
                y = (r["variants"][v][0][key] or 0) * scale
                xs.append(x)
                ys.append(y)
                ax.scatter(x, y, s=45, color=color, marker=LINK_MARKER[r["rec"]["link"]][0],
                           edgecolor="k", linewidth=0.5, zorder=3, alpha=0.85)
        _diag(ax, xs, ys, log)
        ax.set_xlabel("real: " + label)
        ax.set_ylabel("replay: " + label)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label="replay with " + t)
               for c, t in VARIANT_STYLE.values()]
    handles += [plt.Line2D([], [], ls="", marker=m, color="gray", label=t)
                for m, t in LINK_MARKER.values()]
    handles.append(plt.Line2D([], [], color="gray", label="replay = real"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9,
               bbox_to_anchor=(0.5, -0.05))
    fig.suptitle("Replay against reality (%d memtouch runs, vmm's stop rules): given the "
                 "real run's bandwidths\n(blue), pre-copy replayed on the trace lands near "
                 "the diagonal: what varies is the link" % len(rows))
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return _save(fig, out, "replay-vs-real")


def plot_forecast(out, fc_rows):
    reasons = sorted({r["stop_reason"] for r in fc_rows})
    colors = dict(zip(reasons, ["tab:green", "tab:red", "tab:purple", "tab:brown"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, key, label, scale in ((axes[0], "total_ms", "total time (ms)", 1),
                                  (axes[1], "bytes", "bytes sent (MiB)", 2**-20)):
        xs = [r["real_" + key] * scale for r in fc_rows]
        ys = [r["fc_" + key] * scale for r in fc_rows]
        for r, x, y in zip(fc_rows, xs, ys):
            ax.scatter(x, y, s=40, color=colors[r["stop_reason"]], edgecolor="k",
                       linewidth=0.5, zorder=3)
        _diag(ax, xs, ys, True)
        ax.set_xlabel("real: " + label)
        ax.set_ylabel("forecast after round 0: " + label)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label="real stop: " + k)
               for k, c in colors.items()]
    handles.append(plt.Line2D([], [], color="gray", label="forecast = real"))
    axes[0].legend(handles=handles, fontsize=9, loc="upper left")
    longer = sum(r["fc_total_ms"] > r["real_total_ms"] for r in fc_rows)
    fig.suptitle("vmm's forecast (after round 0) against the real migration: longer than "
                 "real in %d of %d runs" % (longer, len(fc_rows)))
    fig.tight_layout()
    return _save(fig, out, "forecast-vs-real")


def plot_wws(out, rows):
    fig, ax = plt.subplots(figsize=(8, 5))
    seen = set()
    for r in rows:
        rec = r["rec"]
        if rec["link"] != "loopback" or rec["workload"] in seen:
            continue
        seen.add(rec["workload"])
        t = dirty_trace.read_trace(os.path.join(out, "traces", rec["trace"]))
        c = lab_wws.curve(t)
        ps = t.header["page_size"] / 2**20
        ax.plot([x[0] for x in c], [x[1] * ps for x in c], label=rec["workload"])
    ax.set_xlabel("window length (ms)")
    ax.set_ylabel("writable working set (MiB, mean over windows)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(title="memtouch workload", fontsize=9)
    ax.set_title("Writable working set of each workload's trace: random writers saturate "
                 "their working set,\nsequential ones grow linearly until they wrap", fontsize=10)
    return _save(fig, out, "wws-workloads")


def plot_all(out, rows, fc_rows):
    return plot_replay(out, rows) + plot_forecast(out, fc_rows) + plot_wws(out, rows)
