"""`bench/lab run`: every point of an experiment, every repetition, one
JSON per run.

One run: a fresh destination, a fresh source, both with a QMP socket;
wait for the guest's "running" line; warm up; set the parameters and
capabilities; `migrate`; sample `query-migrate` every sample_interval
until completed/failed/cancelled or the time limit (then
`migrate_cancel`: "did-not-converge"); cool down on the destination;
collect QMP's final view, the VMMs' own statistics, the guest's output
with host times, CPU time and peak RSS; `quit` both; write the JSON.
A run that fails is recorded with the system's own message, never dropped.
"""
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import lab_config
import lab_links
import lab_replay
import lab_systems
from qmp import QMP, QMPError, QMPTimeout

TERMINAL = ("completed", "failed", "cancelled")


class Interrupted(Exception):
    pass


_interrupts = {"count": 0, "critical": 0, "pending": None}
_tmpdirs = set()


def _on_signal(signum, frame):
    """The first SIGINT/SIGTERM raises Interrupted, so that every finally
    on the way out ends its processes and links; later ones are ignored
    (a second Ctrl-C must not cut a cleanup short). Inside a critical
    section (a process or namespace made but not yet recorded) the raise
    waits until the section ends."""
    _interrupts["count"] += 1
    if _interrupts["count"] != 1:
        return
    name = signal.Signals(signum).name
    if _interrupts["critical"]:
        _interrupts["pending"] = name
        return
    raise Interrupted(name)


class critical:
    def __enter__(self):
        _interrupts["critical"] += 1

    def __exit__(self, *exc):
        _interrupts["critical"] -= 1
        if not _interrupts["critical"] and _interrupts["pending"]:
            name, _interrupts["pending"] = _interrupts["pending"], None
            if exc[0] is None:
                raise Interrupted(name)


def _last_cleanup():
    """At exit, whatever happened: no process, namespace or directory of
    the lab's survives it."""
    lab_systems.kill_all()
    lab_links.delete_all()
    for d in list(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_last_cleanup)


def install_signal_handlers():
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def _git(*args):
    try:
        r = subprocess.run(["git"] + list(args), capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.abspath(__file__)),
                           timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None
    except OSError:
        return None


def _kvm_caps():
    """KVM_CHECK_EXTENSION for the capabilities a migration study cares
    about (values as the kernel returns them; 0 = not offered)."""
    import fcntl
    caps = {"NR_MEMSLOTS": 10, "TSC_CONTROL": 60, "MAX_VCPUS": 66,
            "MANUAL_DIRTY_LOG_PROTECT2": 168, "X86_USER_SPACE_MSR": 188,
            "DIRTY_LOG_RING": 192, "DIRTY_LOG_RING_ACQ_REL": 223}
    out = {}
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return {"error": str(e)}
    try:
        out["api_version"] = fcntl.ioctl(fd, 0xAE00, 0)
        for name, num in caps.items():
            out[name] = fcntl.ioctl(fd, 0xAE03, num)
    except OSError as e:
        out["error"] = str(e)
    finally:
        os.close(fd)
    return out


def host_info(systems):
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    status = _git("status", "--porcelain")
    return {
        "kernel": " ".join(os.uname()[2:4]), "machine": os.uname().machine,
        "cpu_model": cpu, "cpus": os.cpu_count(), "kvm": _kvm_caps(),
        "git_revision": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "versions": {s.name: s.version() for s in systems},
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


class RunCtx:
    """Paths, ports and processes of one run."""

    def __init__(self, point, tmp, link, port, drives=None):
        self.point = point
        self.drives = drives  # lab_disk.prepare's {"src", "dst"}, or None
        self.dst_ip = link.dst_ip
        self.port = port
        self.qmp = {s: os.path.join(tmp, s + ".qmp") for s in ("src", "dst")}
        self.serial = {s: os.path.join(tmp, s + ".serial") for s in ("src", "dst")}
        self.files = {s + "_stats": os.path.join(tmp, s + "-stats.json")
                      for s in ("src", "dst")}
        self.files.update({s + "_err": os.path.join(tmp, s + ".err")
                           for s in ("src", "dst")})


def _tail(text, n=15):
    lines = [ln for ln in text.splitlines()
             if "host doesn't support requested feature" not in ln]
    return "\n".join(lines[-n:])


def _qmp_error_message(e):
    if isinstance(e, QMPError):
        return "%s (%s)" % (e.desc, e.error_class)
    return str(e)


def _proc_status(pid):
    """Peak RSS and CPU seconds of a running process, from /proc."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        hz = os.sysconf("SC_CLK_TCK")
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / hz
    except (OSError, ValueError, IndexError):
        pass
    return out


def _set_params(sysdrv, q, point, link, record):
    params = dict(point["params"])
    if link.fallback and point["link"]["rate_bps"] and not params.get("max-bandwidth"):
        params["max-bandwidth"] = point["link"]["rate_bps"] // 8
        record["link"]["max_bandwidth_fallback"] = params["max-bandwidth"]
    applied = {k: v for k, v in params.items() if sysdrv.param_applies(k)}
    record["params_skipped"] = sorted(set(params) - set(applied))
    if applied:
        q.command("migrate-set-parameters", applied)
    if point["capabilities"]:
        q.command("migrate-set-capabilities", {"capabilities": [
            {"capability": k, "state": v} for k, v in point["capabilities"].items()]})
    try:
        record["qmp"]["parameters"] = q.command("query-migrate-parameters")
    except (QMPError, ConnectionError, QMPTimeout) as e:
        record["qmp"]["parameters"] = {"error": _qmp_error_message(e)}


def _wait_qmp_status(q, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = q.command("query-status", timeout=5)
            if st.get("status") in want:
                return st
        except (QMPError, QMPTimeout):
            pass
        except (ConnectionError, OSError):
            return None  # it ended
        time.sleep(0.05)
    return None


def _start(run, sysdrv, link):
    """Destination first (it must listen before the source migrates),
    then the source; each with its serial tap and QMP connection."""
    ctx, procs, record = run.ctx, run.procs, run.record
    dst_argv = link.prefix("dst") + sysdrv.dest_argv(ctx)
    src_argv = link.prefix("src") + sysdrv.source_argv(ctx)
    record["argv"] = {"dst": dst_argv, "src": src_argv}
    with critical():
        procs["dst"] = lab_systems.Proc(dst_argv, ctx.files["dst_err"])
    run.taps["dst"] = sysdrv.tap(ctx, "dst")
    if sysdrv.kind == "vmm":
        _wait_text(procs["dst"], "waiting for a migration", 20, record)
        # A destination's monitor may only come up with the VM it
        # receives: then it is reached after the migration.
        run.qmps["dst"] = _try_qmp(ctx.qmp["dst"], 5, record)
    else:
        run.qmps["dst"] = QMP(ctx.qmp["dst"], timeout=20)
    with critical():
        procs["src"] = lab_systems.Proc(src_argv, ctx.files["src_err"])
    run.taps["src"] = sysdrv.tap(ctx, "src")
    run.qmps["src"] = QMP(ctx.qmp["src"], timeout=20)
    record["qmp"]["greeting"] = run.qmps["src"].greeting


def _wait_ready(run, exp):
    """Until the guest's workload runs on the source, then the warm-up."""
    guest = run.ctx.point["guest"]
    ready = run.taps["src"].wait_for(lab_systems.ready_regex(guest),
                                     exp["ready_timeout"], run.procs["src"].alive)
    if ready is None:
        raise RunFailure("guest not running: no line matching /%s/ within %g s" % (
            lab_systems.ready_regex(guest), exp["ready_timeout"]))
    run.record["times"]["ready"] = ready["t"] - run.t0
    _sleep(exp["warmup"])


def _migrate(run, sysdrv, exp, link):
    """Parameters, capabilities, migrate, and sampling to the end."""
    point, record, q = run.ctx.point, run.record, run.qmps["src"]
    dst_caps = {k: v for k, v in point["capabilities"].items()
                if k not in lab_config.SOURCE_ONLY_CAPS}
    if dst_caps and run.qmps["dst"] is not None:
        run.qmps["dst"].command("migrate-set-capabilities", {"capabilities": [
            {"capability": k, "state": v} for k, v in dst_caps.items()]})
    _set_params(sysdrv, q, point, link, record)
    if exp.get("forecast") and sysdrv.kind == "vmm":
        record["upfront"] = _upfront(q, exp["forecast"], record,
                                     _ROUND0_RATES.get(_round0_key(point)),
                                     _FIXED_COSTS.get(_fixed_key(point)))
    t_mig = time.monotonic()
    record["times"]["migrate"] = t_mig - run.t0
    record["times"]["migrate_mono"] = t_mig
    # A point may add QMP migrate arguments (blk, inc: block migration).
    args = dict(point.get("migrate", {}))
    args["uri"] = "tcp:%s:%d" % (run.ctx.dst_ip, run.ctx.port)
    q.command("migrate", args)
    record["outcome"] = _follow(q, run.procs["src"], exp, t_mig, record)
    record["times"]["end_mono"] = time.monotonic()
    record["times"]["end"] = record["times"]["end_mono"] - run.t0


# Round 0's page-data rate in this experiment's earlier vmm runs, by link
# and RAM allocation (_round0_key): what a user who has migrated over the
# link before knows, and gives the up-front forecast as ROUND0_BANDWIDTH.
_ROUND0_RATES = {}
# The same runs' fixed costs, by link, RAM allocation and guest
# (_fixed_key): (setup, switchover) in µs, given to the forecast as SETUP
# and SWITCHOVER (_learn_fixed).
_FIXED_COSTS = {}
PAGE_ON_WIRE = lab_replay.PAGE + lab_replay.ENTRY   # a page of data and its entry
BATCH_PAGES = 1024   # a RAM section's entries (FORMAT.md): the engine times whole batches


def _round0_key(point):
    return (point["link"]["name"], bool(point.get("mem-prealloc")))


def _fixed_key(point):
    """A guest's own: how much of the switchover a round of dirty-log
    syncs or a resumed vCPU takes differs between a guest that writes and
    one that does not, by more than an idle guest's whole migration."""
    return _round0_key(point) + (point["guest"]["name"],)


def _learn_round0(point, record):
    """Keeps a completed vmm run's round-0 page-data rate (its statistics'
    forecast bandwidth) for the forecasts of the runs after it, where round
    0 carried at least a batch of data pages: the engine times the batches
    that are mostly data, and without one (an idle guest's round 0: a few
    pages of data and runs of zero pages) its statistics hold the link's
    rate over round 0 instead, which is no page-data rate."""
    st = (record.get("vmm_stats") or {}).get("src") or {}
    bw = (st.get("forecast") or {}).get("bandwidth_bps")
    r0 = (st.get("rounds") or [{}])[0]
    data = r0.get("pages_sent", 0) - r0.get("zero_pages", 0)
    if record.get("outcome") == "completed" and bw and data >= BATCH_PAGES:
        _ROUND0_RATES.setdefault(_round0_key(point), []).append(bw)


def _learn_fixed(point, record):
    """Keeps a completed vmm run's fixed costs for the forecasts of the runs
    after it, from its source's statistics: the setup (`migrate` to round
    0: the handshake, the dirty log's start) and the switchover, all that
    is neither the setup, a pre-copy round, the wait for the link to carry
    what the rounds queued (the forecast's rounds end when their bytes
    have crossed) nor the last pages and the state crossing the link at
    the rate the forecast is given (the link's anchor): pausing, taking
    the state, READY, GO, RESUMED. Costs a destination shows, which the
    forecast, made on the source alone, cannot measure."""
    st = (record.get("vmm_stats") or {}).get("src") or {}
    rounds = st.get("rounds") or []
    bps = ((record.get("link") or {}).get("anchor") or {}).get("bits_per_second")
    if record.get("outcome") != "completed" or len(rounds) < 2 or not bps or \
            not st.get("total_us") or not st.get("setup_us"):
        return
    last_us = (rounds[-1]["bytes"] + st.get("device_state_bytes", 0)) * 8e6 / bps
    switchover = (st["total_us"] - st["setup_us"] -
                  sum(r["duration_us"] for r in rounds[:-1]) -
                  st.get("link_drain_us", 0) - last_us)
    _FIXED_COSTS.setdefault(_fixed_key(point), []).append(
        (st["setup_us"], max(switchover, 0)))


def _upfront(q, seconds, record, round0_rates=None, fixed_costs=None):
    """vmm's forecast before anything is sent (x-vmm-forecast), under the
    parameters just set, given the link's rate as the lab measured it (its
    anchor), round 0's as earlier runs over the same link measured it
    (the median of round0_rates; none: the link's rate) and their fixed
    costs (the medians of fixed_costs' setups and switchovers; none: the
    forecast's own setup, no switchover); what it says, or why it said
    nothing. Round 0 fills the destination's RAM, which RAM never touched
    may take several times slower than the link carries
    (bench/RESULTS.md); on loopback the guest's vCPU shares the CPUs."""
    anchor = record["link"].get("anchor") or {}
    if not anchor.get("bits_per_second"):
        return {"error": "no measured link rate to give it (%s)" % anchor.get("error")}
    args = {"seconds": int(seconds), "bandwidth": int(anchor["bits_per_second"] / 8)}
    if round0_rates:
        args["round0-bandwidth"] = int(statistics.median(round0_rates))
    if fixed_costs:
        args["setup-us"] = int(statistics.median(c[0] for c in fixed_costs))
        args["switchover-us"] = int(statistics.median(c[1] for c in fixed_costs))
    try:
        r = q.command("x-vmm-forecast", args, timeout=seconds + 30)
    except QMPError as e:
        return {"error": _qmp_error_message(e), "args": args}
    return {"rounds": r["rounds"], "total_us": r.get("total-time-us", r["total-time"] * 1e3),
            "downtime_ms": r["downtime"], "bytes": r["bytes"],
            "stop_reason": r["stop-reason"], "converges": r["converges"],
            "bandwidth_bps": args["bandwidth"],
            "round0_bps": args.get("round0-bandwidth", 0),
            "round0_runs": len(round0_rates or ()), "setup_us": args.get("setup-us", 0),
            "switchover_us": args.get("switchover-us", 0),
            "fixed_runs": len(fixed_costs or ()), "seconds": int(seconds), "qmp": r}


def _check_destination(run, exp):
    """A completed migration counts once the destination runs the guest;
    if it does not, its own last words are the reason (QEMU 7.2: "load
    of migration failed")."""
    record = run.record
    if run.qmps["dst"] is None:
        run.qmps["dst"] = _try_qmp(run.ctx.qmp["dst"], 10, record)
    st = None
    if run.qmps["dst"] is not None:
        st = _wait_qmp_status(run.qmps["dst"], ("running",), 10)
    if st is None:
        dst = run.procs["dst"]
        dst.wait(2)
        words = [ln for ln in _tail(dst.err(), 5).splitlines() if ln.strip()]
        record["outcome"] = "failed"
        record["error"] = "destination: %s" % (
            words[-1] if words else "not running after the source completed")
    elif exp.get("dst_until"):
        # A guest that ends with a verdict: wait for it (up to cooldown)
        # rather than a fixed time, so that it is in the record.
        tap = run.taps["dst"]
        line = tap.wait_for(exp["dst_until"], exp["cooldown"], run.procs["dst"].alive)
        if line is None:  # it ended: its tap may still be reading its last line
            line = tap.wait_for(exp["dst_until"], 1.0)
        record["times"]["dst_until"] = None if line is None else line["t"] - run.t0
        return
    _sleep(exp["cooldown"])


def _collect(run):
    """What the live processes say at the end: /proc figures, QMP status,
    the destination's query-migrate."""
    record = run.record
    for side in ("src", "dst"):
        if not run.procs[side].alive():
            continue
        record["proc_live"][side] = _proc_status(run.procs[side].pid)
        if run.qmps.get(side) is None:
            continue
        try:
            record["qmp"][side + "_status"] = run.qmps[side].command(
                "query-status", timeout=5)
        except (QMPError, QMPTimeout, ConnectionError, OSError) as e:
            record["qmp"][side + "_status"] = {"error": _qmp_error_message(e)}
    if run.qmps.get("dst") is None:
        return
    try:
        record["qmp"]["dst_migrate"] = run.qmps["dst"].command("query-migrate",
                                                               timeout=5)
    except (QMPError, QMPTimeout, ConnectionError, OSError) as e:
        record["qmp"]["dst_migrate"] = {"error": _qmp_error_message(e)}


class _Run:
    def __init__(self, ctx, record):
        self.ctx, self.record = ctx, record
        self.procs, self.taps, self.qmps = {}, {}, {}
        self.t0 = time.monotonic()


def one_run(sysdrv, point, exp, link, tmp, record, drives=None):
    """Fills record (the run's JSON) in place; raises Interrupted. drives:
    each side's drive (lab_disk.prepare), or None."""
    ctx = RunCtx(point, tmp, link, lab_links._free_port(), drives)
    run = _Run(ctx, record)
    record["files"] = {"tmp": tmp}
    try:
        _start(run, sysdrv, link)
        _wait_ready(run, exp)
        _migrate(run, sysdrv, exp, link)
        if record["outcome"] == "completed":
            _check_destination(run, exp)
        _collect(run)
    except RunFailure as e:
        record["outcome"] = "error"
        record["error"] = str(e)
    except (QMPError, QMPTimeout, ConnectionError, TimeoutError, OSError) as e:
        record["outcome"] = "error"
        record["error"] = _qmp_error_message(e)
    finally:
        _shutdown(run.procs, run.taps, run.qmps, record)
    for side in ("src", "dst"):
        record["stderr"][side] = _tail(run.procs[side].err()) if side in run.procs else ""
    record["vmm_stats"] = sysdrv.leftovers(ctx) or None
    _explain_failure(record)


class RunFailure(Exception):
    pass


def _try_qmp(path, timeout, record):
    """A QMP connection, or None (noted in the record) when none comes."""
    try:
        return QMP(path, timeout=timeout)
    except (QMPTimeout, QMPError, ConnectionError, OSError) as e:
        record.setdefault("notes", []).append("no QMP at %s: %s" % (
            os.path.basename(path), _qmp_error_message(e)))
        return None


def _wait_text(proc, text, timeout, record):
    """Waits for the destination's "listening" message; without it after
    timeout, goes on (a destination that does not listen makes the
    migration fail, with its message) and notes it."""
    deadline = time.monotonic() + timeout
    while text not in proc.err():
        if not proc.alive():
            raise RunFailure("destination ended (status %s): %s" %
                             (proc.status, _tail(proc.err(), 5)))
        if time.monotonic() > deadline:
            record.setdefault("notes", []).append(
                "destination did not print %r within %g s" % (text, timeout))
            return
        time.sleep(0.02)


def _sleep(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _follow(q, src, exp, t_mig, record):
    """Samples query-migrate until the migration ends; its outcome."""
    samples = record["samples"]
    cancelled_for_time = False
    while True:
        now = time.monotonic()
        try:
            info = q.command("query-migrate", timeout=10)
        except (ConnectionError, OSError, QMPTimeout) as e:
            # vmm's source exits once the destination has the guest.
            if src.wait(5) and src.status == 0:
                return "completed"
            raise RunFailure("source QMP lost during the migration: %s" % e)
        info["_t"] = round(now - t_mig, 4)
        samples.append(info)
        status = info.get("status")
        if status in TERMINAL:
            if status == "completed" and not info.get("total-time"):
                info = _completed_times(q, info, t_mig)
            record["qmp"]["src_migrate"] = info
            if status == "cancelled" and cancelled_for_time:
                return "did-not-converge"
            if status == "failed":
                record["error"] = info.get("error-desc", "failed")
            return status
        if not cancelled_for_time and now - t_mig > exp["timeout"]:
            cancelled_for_time = True
            record["error"] = ("did not converge within %g s: cancelled" %
                               exp["timeout"])
            try:
                q.command("migrate_cancel")
            except QMPError as e:
                record["error"] += " (migrate_cancel: %s)" % e.desc
        if cancelled_for_time and now - t_mig > exp["timeout"] + 30:
            return "did-not-converge"
        # Sample on a fixed schedule from migrate (the first sample at
        # once: round 0 starts with every page to send).
        n = len(samples)
        _sleep(max(0.0, t_mig + n * exp["sample_interval"] - time.monotonic()))


def _completed_times(q, info, t_mig):
    """QEMU 7.2 reports "completed" a moment before it fills in its times
    (total-time, downtime and setup-time read 0 then): ask again, for up
    to a second, until they are there."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        _sleep(0.02)
        try:
            again = q.command("query-migrate", timeout=5)
        except (ConnectionError, OSError, QMPTimeout, QMPError):
            break
        if again.get("total-time"):
            again["_t"] = round(time.monotonic() - t_mig, 4)
            again["_asked_again"] = True
            return again
    return info


def _shutdown(procs, taps, qmps, record):
    """quit through QMP, then SIGKILL by PID whatever is left; never raises
    on a dead peer."""
    for side in ("src", "dst"):
        q = qmps.get(side)
        if q is not None:
            try:
                record["events"][side] = q.events()
            except Exception:  # noqa: BLE001 - a dead peer is fine here
                record["events"][side] = q._events
            try:
                q.command("quit", timeout=3)
            except Exception:  # noqa: BLE001
                pass
    for side in ("src", "dst"):
        p = procs.get(side)
        # Without a QMP connection nothing asked it to quit: no waiting.
        if p is not None and not p.wait(5 if qmps.get(side) is not None else 0):
            p.kill()
    for side, q in qmps.items():
        if q is not None:
            q.close()
    for side, tap in taps.items():
        tap.stop()
        record["serial"][side] = tap.snapshot()
    for side, p in procs.items():
        record["proc"][side] = p.usage()


def _explain_failure(record):
    """A failed QEMU destination says why on its stderr: keep its words."""
    if record["outcome"] in ("failed", "error"):
        for side in ("dst", "src"):
            msg = [ln for ln in record["stderr"].get(side, "").splitlines()
                   if ln.strip()]
            if msg:
                record.setdefault("error_detail", {})[side] = msg[-3:]


def new_record(point, exp, host, sysdrv, link, rep):
    return {
        "schema": "vmm-lab-run/1", "point": point, "point_id": point["id"],
        "repetition": rep, "experiment": exp, "host": host,
        "system": sysdrv.name, "serial_method": sysdrv.serial_method(),
        "link": link.describe(), "outcome": None, "error": None,
        "times": {}, "samples": [], "qmp": {}, "events": {}, "serial": {},
        "stderr": {}, "proc": {}, "proc_live": {}, "vmm_stats": None,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _fmt_dur(s):
    s = int(round(s))
    return "%dh%02dm%02ds" % (s // 3600, s % 3600 // 60, s % 60) if s >= 3600 \
        else "%dm%02ds" % (s // 60, s % 60)


def _usable_systems(points, only_systems, build, log, systems=None):
    """The drivers, and {system: why it is skipped}; systems: the
    experiment's own ([systems.NAME])."""
    drivers = {n: lab_systems.make(n, build, systems)
               for n in lab_config.SYSTEMS + tuple(systems or ())}
    skip = {}
    for n, d in drivers.items():
        why = d.missing()
        if only_systems and n not in only_systems:
            why = why or "not selected (--systems)"
        if why:
            skip[n] = why
    for n, why in sorted(skip.items()):
        if any(p["system"] == n for p in points):
            log("lab: SKIP system %s: %s" % (n, why))
    return drivers, skip


def refused_points(points, drivers, log):
    """{point id: why its system refuses it} (dirty-limit before QEMU
    8.1, block migration from 9.1), each said once before anything runs."""
    out = {}
    for p in points:
        why = drivers[p["system"]].refuses(p)
        if why:
            out[p["id"]] = why
            log("lab: SKIP point %s: %s" % (p["id"], why))
    return out


def _measure_anchor(spec, log):
    """The link's real throughput, measured once per experiment."""
    name = spec["name"]
    with critical():
        link = lab_links.make(spec)
    try:
        if link.fallback:
            log("lab: link %s: cannot make namespaces (%s): loopback with "
                "max-bandwidth %d bytes/s instead%s" % (
                    name, link.fallback, (spec["rate_bps"] or 0) // 8,
                    ", no delay or loss" if spec["delay_s"] or spec["loss_pct"] else ""))
        if link.not_applied:
            log("lab: link %s: %s" % (name, link.not_applied))
        a = dict(lab_links.measure_throughput(link), link=link.describe())
    finally:
        link.close()
    log("lab: link %s measured: %s" % (name, (
        "%.2f Gbit/s (%s)" % (a["bits_per_second"] / 1e9, a["tool"]))
        if "bits_per_second" in a else a.get("error")))
    return a


def _run_and_write(sysdrv, point, exp, host, rep, anchor, out, images=None):
    """One run on a fresh link and temporary directory (with its drives
    when the point has a disk); its JSON written (atomically) to
    out/runs/POINT-rREP.json; its record."""
    import lab_disk
    import lab_report
    with critical():
        link = lab_links.make(point["link"])
        tmp = tempfile.mkdtemp(prefix="vmmlab-%d-" % os.getpid())
        _tmpdirs.add(tmp)
    record = new_record(point, exp, host, sysdrv, link, rep)
    record["link"]["anchor"] = anchor
    try:
        drives = None
        if point.get("disk"):
            drives = lab_disk.prepare(point["disk"], images, tmp)
        one_run(sysdrv, point, exp, link, tmp, record, drives)
        if sysdrv.kind == "vmm":
            _learn_round0(point, record)
            _learn_fixed(point, record)
        if drives:
            record["disk"] = lab_disk.after_run(point["disk"], drives)
    finally:
        link.close()
        shutil.rmtree(tmp, ignore_errors=True)
        _tmpdirs.discard(tmp)
    record["summary"] = lab_report.summarize(record)
    name = "%s-r%d.json" % (point["id"], rep + 1)
    tmpf = os.path.join(out, "runs", name + ".partial")
    with open(tmpf, "w") as f:
        json.dump(record, f, indent=1, default=str)
    os.replace(tmpf, os.path.join(out, "runs", name))
    return record


def _result_line(s):
    from lab_report import num
    if s["status"] != "completed":
        text = s["status"]
    else:
        text = "completed: total %s ms, downtime %s ms, client-seen %s ms, %s rounds, " \
            "%s MiB" % (num(s["total_ms"]), num(s["downtime_ms"], 1),
                        num(s["client_downtime_ms"], 1), s["rounds"],
                        num((s["bytes"] or 0) / 2**20))
        if s.get("forecast_total_ms") is not None:
            text += " (forecast %s ms, %s MiB)" % (num(s["forecast_total_ms"]),
                                                   num(s["forecast_bytes"] / 2**20))
    return "lab:   -> " + text + ("" if not s.get("error") else " (%s)" % s["error"])


def _disk_images(points, log):
    """The experiment's source images (lab_disk.Images) in a directory the
    lab's exit removes, or None when no point has a disk."""
    import lab_disk
    if not any(p.get("disk") for p in points):
        return None
    with critical():
        work = tempfile.mkdtemp(prefix="vmmlab-disk-%d-" % os.getpid())
        _tmpdirs.add(work)
    log("lab: disk images (random data) in %s" % work)
    return lab_disk.Images(work)


def run_experiment(path, out, build="build", only_systems=None, log=print):
    """Runs every point; returns (runs written, {system: why skipped})."""
    spec = lab_config.load_experiment(path)
    exp, points = spec["experiment"], spec["points"]
    _ROUND0_RATES.clear()
    _FIXED_COSTS.clear()
    drivers, skip = _usable_systems(points, only_systems, build, log,
                                    spec["systems"])
    todo = [p for p in points if p["system"] not in skip]
    refused = refused_points(todo, drivers, log)
    todo = [p for p in todo if p["id"] not in refused]
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    shutil.copyfile(path, os.path.join(out, "experiment.toml"))
    host = host_info([d for n, d in drivers.items() if n not in skip])
    host["skipped_systems"] = skip
    host["skipped_points"] = refused
    with open(os.path.join(out, "host.json"), "w") as f:
        json.dump(host, f, indent=1)
    plan = lab_config.run_order(todo, exp["repetitions"], spec["order"])
    total = len(plan)
    log("lab: %s: %d points x %d repetitions = %d runs, %s -> %s" % (
        exp["name"] or os.path.basename(path), len(todo), exp["repetitions"],
        total, spec["order"], out))
    anchors = {}
    done = 0
    t_start = time.monotonic()
    images = _disk_images(todo, log)
    for i, point, rep in plan:
        lname = point["link"]["name"]
        if lname not in anchors:
            anchors[lname] = _measure_anchor(point["link"], log)
            with open(os.path.join(out, "links.json"), "w") as f:
                json.dump(anchors, f, indent=1)
        elapsed = time.monotonic() - t_start
        eta = elapsed / done * (total - done) if done else None
        log("lab: point %d/%d rep %d/%d %s  elapsed %s  ETA %s" % (
            i + 1, len(todo), rep + 1, exp["repetitions"], point["id"],
            _fmt_dur(elapsed), _fmt_dur(eta) if eta is not None else "?"),
            flush=True)
        record = _run_and_write(drivers[point["system"]], point, exp, host, rep,
                                anchors[lname], out, images)
        done += 1
        log(_result_line(record["summary"]))
    log("lab: done, %d runs in %s" % (done, _fmt_dur(time.monotonic() - t_start)))
    return done, skip
