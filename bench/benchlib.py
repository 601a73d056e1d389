"""Shared helpers for the VMM-core benchmarks (stdlib only).

Benchmarks measure and print; they never fail because a machine is slow.
They exit non-zero only when a run could not be made at all (missing
binary, a guest that did not print what it always prints).
"""
import ctypes
import json
import mmap
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QBOOT = "/usr/share/qemu/qboot.rom"


def die(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(1)


def _make_rdtsc():
    """The host's TSC, read from Python: rdtsc; shl rdx,32; or rax,rdx; ret.

    Only x86_64 and only where an anonymous page may be executable; None
    elsewhere, and the caller goes without.
    """
    code = bytes([0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3])
    if os.uname().machine != "x86_64":
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fn = ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)
    fn._page = page  # keeps the mapping alive as long as fn
    return fn


rdtsc = _make_rdtsc()


class Run:
    """One finished process: output, status and host-side timestamps (ns,
    CLOCK_MONOTONIC; spawn = just before the fork)."""

    def __init__(self):
        self.out = ""
        self.err = ""
        self.status = None
        self.spawn_ns = 0
        self.first_byte_ns = None
        self.exit_ns = 0
        self.tsc_spawn = None
        self.tsc_exit = None
        self.timed_out = False

    def ms(self, t_ns):
        return None if t_ns is None else (t_ns - self.spawn_ns) / 1e6


def run_timed(cmd, timeout=120.0):
    """Runs cmd with stdout on a pipe; notes when its first byte arrives
    and when the process has ended."""
    r = Run()
    chunks = []
    with tempfile.TemporaryFile() as errf:
        if rdtsc:
            r.tsc_spawn = rdtsc()
        r.spawn_ns = time.monotonic_ns()
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=errf,
                                 bufsize=0)
        except OSError as e:
            die("cannot run %s: %s" % (cmd[0], e))
        fd = p.stdout.fileno()
        deadline = r.spawn_ns + int(timeout * 1e9)
        while True:
            left = (deadline - time.monotonic_ns()) / 1e9
            if left <= 0:
                r.timed_out = True
                p.kill()
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            if r.first_byte_ns is None:
                r.first_byte_ns = time.monotonic_ns()
            chunks.append(data)
        r.status = p.wait()
        r.exit_ns = time.monotonic_ns()
        if rdtsc:
            r.tsc_exit = rdtsc()
        p.stdout.close()
        errf.seek(0)
        r.err = errf.read().decode(errors="replace")
    r.out = b"".join(chunks).decode(errors="replace")
    return r


def vmm_cmd(guest, args="", cpus=1, mem=None, vmm=None, build="build",
            opts=()):
    """vmm booting build/guests/GUEST.elf; opts go before the image."""
    cmd = [vmm or os.path.join(build, "vmm"), "--cpus", str(cpus)]
    if mem:
        cmd += ["--mem", mem]
    cmd += list(opts)
    cmd.append(os.path.join(build, "guests", guest + ".elf"))
    if args:
        cmd += ["--"] + args.split()
    return cmd


def free_port():
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Background:
    """A process left running (a destination vmm), its stderr in a file;
    stop() ends it for sure."""

    def __init__(self, cmd, err_path):
        self.cmd = cmd
        self.err_path = err_path
        with open(err_path, "wb") as errf:
            try:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL,
                                             stderr=errf)
            except OSError as e:
                die("cannot run %s: %s" % (cmd[0], e))

    def err(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait_for(self, text, timeout=10.0):
        """Waits until its stderr holds text; dies if it ends first or
        the time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.err():
            if self.proc.poll() is not None:
                die("%s ended (status %s) before printing %r:\n%s" % (
                    self.cmd[0], self.proc.returncode, text, self.err()))
            if time.monotonic() > deadline:
                self.stop()
                die("%s did not print %r within %g s:\n%s" % (
                    self.cmd[0], text, timeout, self.err()))
            time.sleep(0.02)

    def stop(self, timeout=10.0):
        """Waits up to timeout for it to end, then kills it; its status."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def monitor(path, line, timeout=10.0):
    """One command on a vmm monitor socket; the reply up to and including
    its ok/error line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        reply = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            reply += data
            last = reply.decode(errors="replace").splitlines()[-1:]
            if reply.endswith(b"\n") and last and (
                    last[0] == "ok" or last[0].startswith("error")):
                break
    return reply.decode(errors="replace")


def qemu_cmd(guest, args="", cpus=1, mem_mib=256):
    """The same image under QEMU as guest-tests/README.md runs it, with
    qboot: the debug-exit port at 0xf4 like vmm's, serial on stdout."""
    return ["qemu-system-x86_64", "-accel", "kvm", "-m", str(mem_mib),
            "-smp", str(cpus), "-bios", QBOOT,
            "-kernel", os.path.join("build", "guests", guest + ".elf"),
            "-append", args,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-serial", "stdio", "-display", "none", "-no-reboot"]


def guest_exit_code(run, under_qemu):
    """The code the guest wrote to 0xf4, or None (crash, signal)."""
    s = run.status
    if under_qemu:
        return (s >> 1) if s is not None and s > 0 and s & 1 else None
    return s


def summary(values):
    """median/min/max (and n) of the values that are not None."""
    v = [x for x in values if x is not None]
    if not v:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(v), "median": statistics.median(v), "min": min(v),
            "max": max(v)}


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return "%.*f" % (digits, x)
    return str(x)


def kv_line(prefix, fields):
    """The one key=value summary line a run ends with."""
    return prefix + " " + " ".join("%s=%s" % (k, fmt(v)) for k, v in fields)


def machine():
    """What else the machine was doing: load averages and CPU count."""
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(), "uname": " ".join(os.uname()[2:3]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _cpu_sample():
    """(busy, total) jiffies of the whole machine, and the CPU seconds of
    this process and its reaped children."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    total = sum(v[:8])  # guest time is already inside user
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return total - idle, total, ours


def _proc_times():
    """{pid: (name, CPU jiffies)} of every process now running."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                text = f.read()
        except OSError:
            continue  # gone meanwhile
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        out[int(pid)] = (name, int(fields[11]) + int(fields[12]))
    return out


class LoadMeter:
    """How busy the machine was with work other than ours while a
    benchmark ran, as a percentage of every CPU, and who the busiest
    others were. Approximate: kernel threads that work for our VMs count
    as "other", and other processes that came and went are not named."""

    def __init__(self):
        self.start = _cpu_sample()
        self.procs = _proc_times()

    def busiest_others(self, hz, n=5):
        me = os.getpid()
        rows = []
        for pid, (name, t) in _proc_times().items():
            used = t - self.procs.get(pid, (name, 0))[1]
            if pid != me and used > 0:
                rows.append((used, "%s[%d]" % (name, pid)))
        rows.sort(reverse=True)
        return ["%s %.2fs" % (who, used / hz) for used, who in rows[:n]]

    def result(self):
        end = _cpu_sample()
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[0] - self.start[0]) / hz
        total = (end[1] - self.start[1]) / hz
        ours = end[2] - self.start[2]
        if total <= 0:
            return {"busy_pct": None, "other_pct": None, "busiest_others": []}
        return {"busy_pct": round(100.0 * busy / total, 1),
                "other_pct": round(max(0.0, 100.0 * (busy - ours) / total), 1),
                "busiest_others": self.busiest_others(hz)}

    def report(self, tag):
        """Prints the machine line of a benchmark; returns its figures."""
        load = self.result()
        load["loadavg"] = round(os.getloadavg()[0], 2)
        print(kv_line(tag + ": machine", [(k, load[k]) for k in
                                          ("busy_pct", "other_pct", "loadavg")]))
        print("%s: busiest other processes: %s" % (
            tag, ", ".join(load["busiest_others"]) or "none"))
        return load


def write_json(path, obj):
    if not path:
        return
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def check_tools(need_qemu):
    if not os.path.exists(os.path.join("build", "vmm")):
        die("build/vmm missing: run make first (from the repository root)")
    if need_qemu:
        if not os.path.exists(QBOOT):
            return "no %s" % QBOOT
        for d in os.environ.get("PATH", "").split(":"):
            if os.access(os.path.join(d, "qemu-system-x86_64"), os.X_OK):
                return None
        return "qemu-system-x86_64 not found"
    return None
