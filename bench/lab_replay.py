"""`bench/lab replay TRACE`: pre-copy replayed offline on a dirty trace
(migrate/TRACE.md), under vmm's, Xen's or QEMU's stop rule.

The model, round by round, on one clock that starts at the trace's start:
- round k sends the pages pending (round 0: every page of RAM) in
  pages x (4096 + 12) / B seconds (a page and its 12-byte entry in the RAM
  section of stream 3.0, as vmm's forecast counts it); pages known to be
  zero cost 1 / zero-rate seconds each and, on the wire, 12 bytes per run
  of them (a ZERO_RUN entry, stream 3.6) (round 0 only);
- the pages dirtied meanwhile are the union of the trace's slices over
  that window. A slice the window covers in part contributes that share
  of its pages, on the assumption that the guest dirtied the slice's pages
  at an even pace and in ascending page order (exact for a sequential
  writer; for a random one any equal share is as good). Two windows that
  split a slice so take disjoint pages and together take all of them;
- the stop rule then decides on what is pending, with the bandwidth the
  round achieved (bytes / duration), except vmm's, which decides with
  stop-bandwidth when given: vmm's engine takes the link's rate (bytes
  over the time not slept for max-bandwidth), what its stop-and-copy will
  see, not a rate lowered by its own throttle; after a stop,
  the stop-and-copy sends the pending pages and the device state at B
  (or stop-bandwidth: vmm never throttles the stop-and-copy), plus a
  fixed downtime-overhead-ms (pausing, resuming).
Model parameters (every policy): device-state (bytes), setup-ms,
zero-pages (a count or `auto`: the pages the trace never dirties),
zero-runs (the runs they lie in, a count or `auto`: counted in the trace
with zero-pages auto, else one),
zero-rate (zero pages scanned per second), round0-bandwidth and
stop-bandwidth (bytes/s for round 0 and the stop-and-copy; 0 = B),
downtime-overhead-ms.
A replay longer than the trace loops it (and says how many times).
Nothing else is modelled: no dirty-log read time, no setup, no resume.
"""
import math

PAGE = 4096
ENTRY = 12                 # a page's entry in a RAM section (FORMAT.md 3.0)

# migrate/params.c, migrate_params__defaults (test_traces.py checks they agree)
VMM_DEFAULTS = {"max-iterations": 30, "downtime-limit": 300, "min-dirty-pages": 50,
                "no-progress-rounds": 5, "max-sent-factor": 3.0,
                "shrink-factor": 2.0, "stall-action": "stop-copy"}
# Xen's classic xc_domain_save: 30 rounds, fewer than 50 pages, 3x RAM sent
XEN_DEFAULTS = {"max-rounds": 30, "min-pages": 50, "max-factor": 3.0}
# QEMU: stop when pending x page / bandwidth <= downtime-limit (ms); the
# lab gives up on QEMU after its timeout (s): did-not-converge
QEMU_DEFAULTS = {"downtime-limit": 300, "timeout": 60.0}
# Common to every policy: the model's own inputs
MODEL_DEFAULTS = {"device-state": 6811, "setup-ms": 0.0, "zero-pages": 0, "zero-runs": "auto",
                  "zero-rate": math.inf, "round0-bandwidth": 0.0,
                  "stop-bandwidth": 0.0, "downtime-overhead-ms": 0.0}
POLICIES = {"vmm": VMM_DEFAULTS, "xen": XEN_DEFAULTS, "qemu": QEMU_DEFAULTS}


class ReplayError(Exception):
    pass


def parse_params(policy, items):
    """k=v strings over the policy's and the model's defaults."""
    if policy not in POLICIES:
        raise ReplayError("unknown policy %r (vmm, xen, qemu)" % policy)
    p = dict(POLICIES[policy])
    p.update(MODEL_DEFAULTS)
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or k not in p:
            raise ReplayError("--param %s: known for %s: %s" % (
                item, policy, ", ".join(sorted(p))))
        if k == "stall-action":
            if v not in ("stop-copy", "cancel"):
                raise ReplayError("stall-action: stop-copy or cancel")
            p[k] = v
        elif k in ("zero-pages", "zero-runs") and v == "auto":
            p[k] = "auto"
        else:
            try:
                p[k] = float(v)
            except ValueError:
                raise ReplayError("--param %s: not a number" % item) from None
    return p


class Timeline:
    """The trace as a function of time: pages dirtied in [t0, t1) (µs from
    the trace's start, looped past its end), as a bitmap int."""

    def __init__(self, slices):
        self.slices = [s for s in slices if s.duration_us > 0]
        if not self.slices:
            raise ReplayError("the trace has no slice of non-zero length")
        self.starts = []
        t = 0
        for s in self.slices:
            self.starts.append(t)
            t += s.duration_us
        self.length_us = t
        self._pages = {}

    def _sorted_pages(self, i):
        if i not in self._pages:
            bm = self.slices[i].bitmap
            out = []
            raw = bm.to_bytes((bm.bit_length() + 7) // 8, "little")
            for byte_i, b in enumerate(raw):
                while b:
                    low = b & -b
                    out.append(byte_i * 8 + low.bit_length() - 1)
                    b ^= low
            self._pages[i] = out
        return self._pages[i]

    def _part(self, i, f0, f1):
        """Slice i's pages of rank [f0 n, f1 n): the share of the slice's
        time [f0, f1) under the even-pace, ascending-order assumption."""
        s = self.slices[i]
        if f0 <= 0.0 and f1 >= 1.0:
            return s.bitmap
        n = s.dirty_pages
        a, b = round(f0 * n), round(f1 * n)
        if a >= b:
            return 0
        pages = self._sorted_pages(i)
        hi = (1 << (pages[b - 1] + 1)) - 1
        return s.bitmap & hi & ~((1 << pages[a]) - 1)

    def dirtied(self, t0, t1):
        """Bitmap of pages dirtied in [t0, t1) µs; t0 <= t1."""
        out = 0
        L = self.length_us
        if t1 - t0 >= L:
            for s in self.slices:
                out |= s.bitmap
            return out
        a, b = t0 % L, t0 % L + (t1 - t0)
        for seg0, seg1 in ((a, min(b, L)), (0, b - L)):
            if seg1 <= seg0:
                continue
            for i, s in enumerate(self.slices):
                s0 = self.starts[i]
                s1 = s0 + s.duration_us
                if s1 <= seg0 or s0 >= seg1:
                    continue
                f0 = (max(seg0, s0) - s0) / s.duration_us
                f1 = (min(seg1, s1) - s0) / s.duration_us
                out |= self._part(i, f0, f1)
        return out


def _vmm_rule(p, st, k, dirty, bw):
    """migrate/policy.c's first_rule and policy__action, in their order."""
    bw = p.get("stop-bandwidth") or bw
    if k == 0 or dirty < st["lowest"]:
        st["lowest"], st["since_low"] = dirty, 0
    else:
        st["since_low"] += 1
    ms = (dirty * PAGE + p["device-state"]) * 1000.0 / bw if bw > 0 else math.nan
    # migrate/policy.c's another_round_pays: the round (round_pages sent;
    # unknown = never) divided the set by shrink-factor, more than
    # min-dirty-pages are left, and max-iterations allows another round
    shrink = p.get("shrink-factor", 0)
    pays = shrink > 0 and dirty > p["min-dirty-pages"] and k + 1 < p["max-iterations"] \
        and dirty * shrink <= st.get("round_pages", 0)
    if p["downtime-limit"] and ms <= p["downtime-limit"] and not pays:
        reason = "converged"
    elif dirty <= p["min-dirty-pages"]:
        reason = "min-dirty-pages"
    elif k + 1 >= p["max-iterations"]:
        reason = "max-iterations"
    elif p["no-progress-rounds"] and st["since_low"] >= p["no-progress-rounds"]:
        reason = "no-progress"
    elif p["max-sent-factor"] > 0 and st["bytes"] > p["max-sent-factor"] * st["ram"]:
        reason = "max-sent-factor"
    else:
        return None, None
    cancel = reason in ("no-progress", "max-sent-factor") and p["stall-action"] == "cancel"
    return reason, "cancel" if cancel else "stop-copy"


def _xen_rule(p, st, k, dirty, bw):
    if dirty < p["min-pages"]:
        return "min-pages", "stop-copy"
    if k + 1 >= p["max-rounds"]:
        return "max-rounds", "stop-copy"
    if st["bytes"] > p["max-factor"] * st["ram"]:
        return "max-factor", "stop-copy"
    return None, None


def _qemu_rule(p, st, k, dirty, bw):
    if bw > 0 and dirty * PAGE * 1000.0 / bw <= p["downtime-limit"]:
        return "converged", "stop-copy"
    if st["t_us"] >= p["timeout"] * 1e6:
        return "timeout", "cancel"
    return None, None


RULES = {"vmm": _vmm_rule, "xen": _xen_rule, "qemu": _qemu_rule}


def replay(trace, policy="vmm", bandwidth=1.25e9, params=None, start_us=0):
    """Replays pre-copy on trace; a dict of the predicted migration.
    bandwidth in bytes/s; params as parse_params returns (defaults if None)."""
    p = params if params is not None else parse_params(policy, [])
    if not bandwidth > 0:
        raise ReplayError("the bandwidth must be positive")
    tl = Timeline(trace.slices)
    ram_pages = trace.nr_pages
    per_page = PAGE + ENTRY
    zero, runs = p["zero-pages"], p["zero-runs"]
    if zero == "auto":
        never = ~tl.dirtied(0, tl.length_us) & ((1 << ram_pages) - 1)
        zero = never.bit_count()
        if runs == "auto":
            runs = (never & ~(never << 1)).bit_count()   # each run's first page
    zero = int(min(max(zero, 0), ram_pages))
    runs = int(min(max(1 if runs == "auto" else runs, 1), zero)) if zero else 0
    bw0 = p["round0-bandwidth"] or bandwidth
    rule = RULES[policy]
    st = {"lowest": 0, "since_low": 0, "bytes": 0, "ram": ram_pages * PAGE,
          "t_us": p["setup-ms"] * 1000.0}
    t = start_us + st["t_us"]
    pending = ram_pages
    rounds = []
    k = 0
    while True:
        if k == 0:
            nz = pending - zero
            dur_s = nz * per_page / bw0 + (zero / p["zero-rate"] if zero else 0.0)
            sent_bytes = nz * per_page + runs * ENTRY
            bw_meas = sent_bytes / dur_s if dur_s > 0 else math.inf
        else:
            dur_s = pending * per_page / bandwidth
            sent_bytes = pending * per_page
            bw_meas = bandwidth
        dur_us = dur_s * 1e6
        dirty = tl.dirtied(t, t + dur_us).bit_count() if dur_us > 0 else 0
        st["bytes"] += sent_bytes
        st["t_us"] += dur_us
        st["round_pages"] = pending
        rounds.append({"index": k, "start_ms": (t - start_us) / 1000.0,
                       "duration_ms": dur_us / 1000.0, "pages_sent": pending,
                       "bytes": sent_bytes, "dirty_pages": dirty})
        t += dur_us
        reason, action = rule(p, st, k, dirty, bw_meas)
        pending = dirty
        if reason:
            break
        k += 1
    out = {"policy": policy, "bandwidth_bps": bandwidth, "stop_reason": reason,
           "action": action, "params": p, "zero_pages": zero, "zero_runs": runs,
           "trace_ms": tl.length_us / 1000.0,
           "trace_loops": int(max(t - 1, 0) // tl.length_us)}
    if action == "cancel":
        out.update(outcome="did-not-converge", rounds=len(rounds),
                   total_ms=st["t_us"] / 1000.0, downtime_ms=None,
                   bytes=st["bytes"], rounds_detail=rounds)
        return out
    down_s = (pending * per_page + p["device-state"]) / (p["stop-bandwidth"] or bandwidth) \
        + p["downtime-overhead-ms"] / 1000.0
    rounds.append({"index": k + 1, "start_ms": (t - start_us) / 1000.0,
                   "duration_ms": down_s * 1000.0, "pages_sent": pending,
                   "bytes": pending * per_page + p["device-state"],
                   "dirty_pages": 0})
    out.update(outcome="completed", rounds=len(rounds),
               total_ms=st["t_us"] / 1000.0 + down_s * 1000.0,
               downtime_ms=down_s * 1000.0,
               bytes=st["bytes"] + pending * per_page + p["device-state"],
               rounds_detail=rounds)
    return out


def report(r):
    """The replay as text: a summary and the per-round table."""
    lines = []
    p = r["params"]
    shown = ", ".join("%s=%s" % (k, ("%g" % v) if isinstance(v, float) else v)
                      for k, v in p.items())
    lines.append("replay: policy %s, bandwidth %.1f MiB/s, %s" % (
        r["policy"], r["bandwidth_bps"] / 2**20, shown))
    lines.append("trace %.1f ms%s; zero pages in round 0: %d in %d run(s)" % (
        r["trace_ms"], ", looped %d time(s): the replay outlasts the trace" % r["trace_loops"]
        if r["trace_loops"] else "", r["zero_pages"], r["zero_runs"]))
    dt = "%.1f ms" % r["downtime_ms"] if r["downtime_ms"] is not None else "-"
    lines.append("%s after %d rounds, stop reason %s: total %.1f ms, downtime %s, "
                 "%.1f MiB sent" % (r["outcome"], r["rounds"], r["stop_reason"],
                                    r["total_ms"], dt, r["bytes"] / 2**20))
    lines.append("%6s %10s %10s %10s %12s %10s" % (
        "round", "start ms", "ms", "sent", "dirtied", "MiB"))
    for x in r["rounds_detail"]:
        lines.append("%6d %10.1f %10.1f %10d %12d %10.1f" % (
            x["index"], x["start_ms"], x["duration_ms"], x["pages_sent"],
            x["dirty_pages"], x["bytes"] / 2**20))
    return "\n".join(lines) + "\n"
