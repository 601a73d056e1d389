"""`bench/lab wws TRACE`: the writable working set of one dirty trace
(Clark et al., NSDI'05): distinct pages dirtied in a window of k
consecutive slices against the window's length, as a Markdown table and a
figure (PNG and SVG). Beside it, the pages the window would hold if no
page were written twice (the mean slice x k): where the two part, the
guest rewrites pages it already dirtied, and pre-copy rounds that long
send less than rate x time.
"""
import os

import dirty_trace


def curve(trace, max_k=None):
    """[(window_ms, mean_pages, max_pages, no_overwrite_pages), ...]."""
    iv_ms = trace.header["interval_us"] / 1000.0
    n = len(trace.slices)
    per_slice = sum(s.dirty_pages for s in trace.slices) / n if n else 0.0
    return [(k * iv_ms, mean, mx, min(per_slice * k, trace.nr_pages))
            for k, mean, mx in dirty_trace.writable_working_set(trace, max_k)]


def table(trace, rows, name):
    ps = trace.header["page_size"]
    out = ["Writable working set of %s: %d slices of %g ms, RAM %.0f MiB "
           "(%d pages)." % (name, len(trace.slices), trace.header["interval_us"] / 1000,
                            trace.header["ram_size"] / 2**20, trace.nr_pages), "",
           "| window ms | mean pages | max pages | mean MiB | if no page were rewritten |",
           "| ---: | ---: | ---: | ---: | ---: |"]
    for ms, mean, mx, flat in rows:
        out.append("| %g | %.0f | %d | %.2f | %.0f |" % (ms, mean, mx, mean * ps / 2**20, flat))
    return "\n".join(out) + "\n"


def figure(trace, rows, name, outdir, formats=("png", "svg")):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ps = trace.header["page_size"]
    mib = ps / 2**20
    x = [r[0] for r in rows]
    plt.rcParams["svg.hashsalt"] = "vmm-wws"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, [r[1] * mib for r in rows], "o-", color="tab:blue", ms=3,
            label="distinct pages dirtied (mean over windows)")
    ax.fill_between(x, [r[1] * mib for r in rows], [r[2] * mib for r in rows],
                    color="tab:blue", alpha=0.15, label="... up to the max")
    ax.plot(x, [r[3] * mib for r in rows], "--", color="tab:gray",
            label="if no page were written twice")
    top = max(r[2] for r in rows) * mib
    ax.set_ylim(0, top * 1.25 if top else 1)
    ax.set_xlim(0, x[-1] * 1.02)
    ax.set_xlabel("window length (ms)")
    ax.set_ylabel("writable working set (MiB)")
    ax.set_title("Writable working set: %s" % name)
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    files = []
    stem = os.path.join(outdir, "wws-" + "".join(
        c if c.isalnum() or c in "-_." else "_" for c in name))
    for fmt in formats:
        # no Date in an SVG: the same trace redraws to the same file
        fig.savefig("%s.%s" % (stem, fmt), dpi=130 if fmt == "png" else None,
                    bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        files.append("%s.%s" % (stem, fmt))
    plt.close(fig)
    return files
