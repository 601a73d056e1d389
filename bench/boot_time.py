#!/usr/bin/env python3
"""Time from process start to the guest's first ring-3 instruction.

Boots build/guests/hello.elf under build/vmm and under QEMU (qboot), with
1 and 2 vCPUs, runs interleaved so load changes hit every target alike.
The kit stores the TSC at the BSP's first ring-3 instruction and hello
prints it first (`hello: ring3_tsc=R now_tsc=N`). Per run:

  first_byte_ms  spawn -> first byte of guest output on the host's pipe
  ring3_ms       spawn -> first ring-3 instruction, host TSC read just
                 before the fork against the guest's ring3_tsc; only where
                 the guest's TSC is the host's (no TSC offset: a PVM host),
                 else "-" and the JSON has ring3_guest_tsc_us (the guest
                 TSC from its own zero: vCPU creation, or QEMU's reset)
  ring3_est_ms   first_byte_ms - (N - R): same point, from the host's clock
                 and the guest's own interval (includes ~1 syscall + exit)
  exit_ms        spawn -> process reaped (guest printed 4 lines and exited)

With --trace-runs K it also runs each target K times under
`perf trace -e execve,ioctl` (else `strace -f --seccomp-bpf -ttt -e
trace=execve,ioctl`) for where the host-side time goes: exec (the execve's
return) -> KVM_CREATE_VM -> KVM_CREATE_VCPU -> first KVM_RUN. Tracing slows every traced syscall
(perf ~0.02 ms, strace ~1 ms on a nested host), so these are upper bounds.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

RING3_RE = re.compile(r"hello: ring3_tsc=(\d+) now_tsc=(\d+)")
KHZ_RE = re.compile(r"hello: tsc=(\d+) kHz")
# perf trace: "  4.103 ( 0.849 ms): vmm/12782 ioctl(fd: 3, cmd: KVM_CREATE_VM)"
# (ms since the traced command started); strace -ttt: "PID  SECONDS ioctl(3, ..."
PERF_RE = re.compile(r"^\s*(\d+\.\d+) \(.*?\): \S+ (ioctl\(.*)$")
STRACE_RE = re.compile(r"^\d+\s+(\d+\.\d+)\s+(.*)$")
TRACE_MARKS = (("create_vm_ms", "KVM_CREATE_VM"),
               ("create_vcpu_ms", "KVM_CREATE_VCPU"),
               ("first_run_ms", "KVM_RUN"))
METRICS = ("ring3_ms", "ring3_est_ms", "first_byte_ms", "exit_ms")


def target_cmd(target, cpus):
    if target == "vmm":
        return bl.vmm_cmd("hello", cpus=cpus)
    return bl.qemu_cmd("hello", cpus=cpus)


def measure(target, cpus):
    """One boot; returns its figures, or dies when hello misbehaved."""
    r = bl.run_timed(target_cmd(target, cpus), timeout=60)
    code = bl.guest_exit_code(r, target == "qemu")
    m, k = RING3_RE.search(r.out), KHZ_RE.search(r.out)
    if code != 0 or not m or not k or r.timed_out:
        bl.die("%s hello --cpus %d failed (status %s):\n%s%s" %
               (target, cpus, r.status, r.out, r.err))
    ring3, now, hz = int(m.group(1)), int(m.group(2)), int(k.group(1)) * 1000
    res = {"first_byte_ms": r.ms(r.first_byte_ns), "exit_ms": r.ms(r.exit_ns),
           "ring3_tsc": ring3, "tsc_hz": hz,
           "ring3_est_ms": r.ms(r.first_byte_ns) - (now - ring3) * 1e3 / hz}
    if r.tsc_spawn is not None and r.tsc_spawn <= ring3 <= r.tsc_exit:
        res["tsc_mode"] = "host"
        res["ring3_ms"] = (ring3 - r.tsc_spawn) * 1e3 / hz
    else:
        # The guest's TSC has its own zero: vCPU creation under KVM's
        # defaults, the machine reset under QEMU.
        res["tsc_mode"] = "guest"
        res["ring3_ms"] = None
        res["ring3_guest_tsc_us"] = ring3 * 1e6 / hz
    return res


def trace_cmd(tool, log):
    if tool == "perf":
        # execve too: perf counts from the first event it shows.
        return ["perf", "trace", "-e", "execve,ioctl", "-o", log, "--"]
    return ["strace", "-f", "--seccomp-bpf", "-ttt", "-e", "trace=execve,ioctl",
            "-o", log]


def parse_trace(tool, log):
    """ms from exec to the first ioctl of each mark. perf counts from the
    start of the command; strace's clock is absolute, from its execve."""
    t0 = 0.0 if tool == "perf" else None
    marks = {}
    with open(log) as f:
        for line in f:
            m = (PERF_RE if tool == "perf" else STRACE_RE).match(line)
            if not m:
                continue
            t, text = float(m.group(1)), m.group(2)
            if tool == "strace":
                if t0 is None and text.startswith("execve("):
                    t0 = t
                t = (t - t0) * 1e3 if t0 is not None else None
            for key, word in TRACE_MARKS:
                if key not in marks and t is not None and \
                        text.startswith("ioctl(") and \
                        re.search(r"\b%s\b" % word, text):
                    marks[key] = t
    return marks


def trace_once(tool, target, cpus, tmpdir):
    log = os.path.join(tmpdir, "trace.txt")
    subprocess.run(trace_cmd(tool, log) + target_cmd(target, cpus),
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    return parse_trace(tool, log)


def run_traces(targets, cpus_list, n):
    tool = next((t for t in ("perf", "strace") if shutil.which(t)), None)
    if not tool:
        print("boot: neither perf nor strace installed, no host-side breakdown")
        return {}
    out = {"tool": tool}
    with tempfile.TemporaryDirectory() as tmpdir:
        for target in targets:
            for cpus in cpus_list:
                rows = [trace_once(tool, target, cpus, tmpdir) for _ in range(n)]
                s = {k: bl.summary([r.get(k) for r in rows])
                     for k, _ in TRACE_MARKS}
                out["%s-%d" % (target, cpus)] = s
                print(bl.kv_line("boot-trace:", [
                    ("tool", tool), ("target", target), ("cpus", cpus),
                    ("runs", n)] +
                    [(k + "_median", s[k]["median"]) for k, _ in TRACE_MARKS] +
                    [(k + "_min", s[k]["min"]) for k, _ in TRACE_MARKS]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cpus", default="1,2", help="comma-separated list")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--trace-runs", type=int, default=5, help="0 = none")
    ap.add_argument("--json", help="write all runs and summaries here")
    a = ap.parse_args()
    try:
        cpus_list = [int(c) for c in a.cpus.split(",")]
    except ValueError:
        bl.die("--cpus wants numbers separated by commas, not %r" % a.cpus)
    if a.runs < 1 or a.trace_runs < 0 or any(c < 1 for c in cpus_list):
        bl.die("--runs and --cpus must be at least 1, --trace-runs at least 0")
    targets = ["vmm"]
    why = bl.check_tools(not a.no_qemu)
    if not a.no_qemu:
        if why:
            print("boot: no QEMU comparison: " + why)
        else:
            targets.append("qemu")
    if bl.rdtsc is None:
        print("boot: cannot read the host TSC here; ring3_ms will be '-'")
    before = bl.machine()
    meter = bl.LoadMeter()
    configs = [(t, c) for t in targets for c in cpus_list]
    runs = {"%s-%d" % tc: [] for tc in configs}
    for t, c in configs:
        measure(t, c)  # warm-up: page cache, first-exec costs
    for i in range(a.runs):
        for t, c in configs:
            res = measure(t, c)
            runs["%s-%d" % (t, c)].append(res)
            print(bl.kv_line("boot %s cpus=%d run=%d" % (t, c, i + 1),
                             [(k, res[k]) for k in METRICS]))
    summaries = {}
    for t, c in configs:
        key = "%s-%d" % (t, c)
        s = {k: bl.summary([r[k] for r in runs[key]]) for k in METRICS}
        s["tsc_mode"] = runs[key][0]["tsc_mode"]
        if s["tsc_mode"] == "guest":
            s["ring3_guest_tsc_us"] = bl.summary(
                [r["ring3_guest_tsc_us"] for r in runs[key]])
        summaries[key] = s
        fields = [("target", t), ("cpus", c), ("runs", a.runs),
                  ("tsc_mode", s["tsc_mode"])]
        for k in METRICS:
            fields += [(k + "_median", s[k]["median"]), (k + "_min", s[k]["min"]),
                       (k + "_max", s[k]["max"])]
        print(bl.kv_line("boot:", fields))
    # Before the traces: a traced QEMU may still be exiting when perf has
    # returned, and would count as someone else's load.
    load = meter.report("boot")
    trace = run_traces(targets, cpus_list, a.trace_runs) if a.trace_runs > 0 else {}
    bl.write_json(a.json, {"bench": "boot", "runs_per_config": a.runs,
                           "machine_before": before, "machine_after": bl.machine(),
                           "load": load,
                           "commands": {"%s-%d" % (t, c): target_cmd(t, c)
                                        for t, c in configs},
                           "runs": runs, "summary": summaries, "trace": trace})


if __name__ == "__main__":
    main()
