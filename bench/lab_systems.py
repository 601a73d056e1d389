"""The systems the lab migrates with (vmm, the system's QEMU, and other
QEMU binaries an experiment names in [systems.NAME]): how to start a
source and a destination of each, what each refuses up front, where
their serial output goes, and what each leaves behind beyond QMP (vmm:
its --stats-json files). Everything else, the
migration itself, goes through QMP (bench/qmp.py) in lab_run.py: one code
path for both.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import lab_config
import lab_disk
import lab_serial

QBOOT = "/usr/share/qemu/qboot.rom"
LIVE = set()  # every Proc not yet reaped: the last cleanup kills them


def kill_all():
    """SIGKILLs and reaps every VMM process the lab started and has not
    reaped (by PID, never by name)."""
    for p in list(LIVE):
        p.kill()


class Proc:
    """A VMM process in its own session (a Ctrl-C on the terminal reaches
    the lab only, which then ends it by its PID). Reaped with wait4 so its
    CPU time and peak RSS are known."""

    def __init__(self, argv, err_path):
        self.argv = argv
        self.err_path = err_path
        with open(err_path, "wb") as errf:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=errf, stderr=errf,
                                          start_new_session=True)
        self.pid = self.popen.pid
        self.status = None
        self.rusage = None
        LIVE.add(self)

    def _reap(self, flags):
        if self.status is not None:
            return True
        try:
            pid, st, ru = os.wait4(self.pid, flags)
        except ChildProcessError:
            self.status, self.popen.returncode = -1, -1
            LIVE.discard(self)
            return True
        if pid == 0:
            return False
        self.status = os.waitstatus_to_exitcode(st)
        self.popen.returncode = self.status  # Popen must not reap it again
        self.rusage = ru
        LIVE.discard(self)
        return True

    def alive(self):
        return not self._reap(os.WNOHANG)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while not self._reap(os.WNOHANG):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def kill(self):
        """Ends it for sure (SIGKILL by PID) and reaps it."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(0)

    def err(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def usage(self):
        """CPU seconds and peak RSS once reaped (None before)."""
        if self.rusage is None:
            return None
        return {"exit_status": self.status,
                "cpu_user_s": round(self.rusage.ru_utime, 3),
                "cpu_sys_s": round(self.rusage.ru_stime, 3),
                "peak_rss_kib": self.rusage.ru_maxrss}


def guest_args(guest):
    """The guest's command line: its parameters as k=v, with duration=0
    (run until migrated and stopped) unless the experiment set one."""
    args = ["%s=%s" % (k, v) for k, v in guest.items()
            if k not in ("name", "ready")]
    if "duration" not in guest:
        args.append("duration=0")
    return args


def ready_regex(guest):
    """A line that says the guest's workload is running."""
    if "ready" in guest:
        return guest["ready"]
    name = guest["name"]
    if name == "heartbeat":
        return r"^tick 0 "
    if name == "memtouch" and str(guest.get("prefill", 1)) != "0":
        return r"^memtouch: prefilled"
    return r"^%s: " % re.escape(name)


def _ring(point):
    """The point's dirty ring entries per vCPU, 0 for the bitmap."""
    return point.get("dirty-ring", 0)


class Vmm:
    name = "vmm"
    kind = "vmm"

    def __init__(self, build):
        self.binary = os.path.join(build, "vmm")
        self.guests = os.path.join(build, "guests")
        self._help = None

    def help_text(self):
        if self._help is None:
            try:
                r = subprocess.run([self.binary, "--help"], capture_output=True,
                                   text=True, timeout=10)
                self._help = r.stdout + r.stderr
            except OSError:
                self._help = ""
        return self._help

    def missing(self):
        """Why this system cannot run here, or None."""
        if not os.access(self.binary, os.X_OK):
            return "%s missing (run make)" % self.binary
        if "--qmp" not in self.help_text():
            return "%s has no --qmp option yet" % self.binary
        return None

    def version(self):
        try:
            return subprocess.run([self.binary, "--version"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except OSError as e:
            return "unknown (%s)" % e

    def timestamps(self):
        return "timestamps" in self.help_text()

    def refuses(self, point):
        """Why this system cannot run the point, or None."""
        if point.get("mem-prealloc") and "--mem-prealloc" not in self.help_text():
            return "%s has no --mem-prealloc" % self.binary
        return None

    def _prealloc_argv(self, run):
        return ["--mem-prealloc"] if run.point.get("mem-prealloc") else []

    def _ring_argv(self, run):
        ring = _ring(run.point)
        return ["--dirty-ring", str(ring)] if ring else []

    def _serial(self, path):
        return "file:%s%s" % (path, ",timestamps" if self.timestamps() else "")

    def dest_argv(self, run):
        # The lab's links are namespace addresses, not loopback: a vmm
        # without a secret listens there only when told --insecure.
        insecure = ["--insecure"] if "--insecure" in self.help_text() else []
        return [self.binary, "--incoming", "tcp:%s:%d" % (run.dst_ip, run.port)] + insecure + [
                "--qmp", "unix:" + run.qmp["dst"],
                "--serial", self._serial(run.serial["dst"]),
                "--stats-json", run.files["dst_stats"]] + self._ring_argv(run) + \
            self._size_argv(run) + self._prealloc_argv(run) + self._drive(run, "dst")

    def _drive(self, run, side):
        drives = getattr(run, "drives", None)
        return lab_disk.drive_argv(self.kind, drives[side]) if drives else []

    def _size_argv(self, run):
        """RAM and vCPUs, on both sides: as QEMU's destination has -m and
        -smp, a vmm destination given --mem makes its VM's shell before
        it listens (and preallocates with --mem-prealloc)."""
        return ["--mem", lab_config.size_text(run.point["mem"]),
                "--cpus", str(run.point["cpus"])]

    def source_argv(self, run):
        p = run.point
        return [self.binary] + self._size_argv(run) + [
                "--qmp", "unix:" + run.qmp["src"],
                "--serial", self._serial(run.serial["src"]),
                "--stats-json", run.files["src_stats"]] + self._ring_argv(run) + \
            self._prealloc_argv(run) + self._drive(run, "src") + [
                os.path.join(self.guests, p["guest"]["name"] + ".elf"),
                "--"] + guest_args(p["guest"])

    def tap(self, run, side):
        return lab_serial.FileTap(run.serial[side], run.serial[side] + ".log",
                                  self.timestamps())

    def serial_method(self):
        if self.timestamps():
            return "vmm --serial file:PATH,timestamps (host time per line, 1 us)"
        return "serial file polled every %g ms, lines stamped on discovery" % (
            lab_serial.POLL * 1e3)

    def param_applies(self, name):
        return True

    def leftovers(self, run):
        """vmm's own statistics files (its view of the migration)."""
        out = {}
        for side in ("src", "dst"):
            try:
                with open(run.files[side + "_stats"]) as f:
                    out[side] = json.load(f)
            except (OSError, ValueError):
                out[side] = None
        return out


def qemu_version(text):
    """(major, minor) from `qemu-system-x86_64 --version`'s first line,
    or None."""
    m = re.search(r"version ([0-9]+)\.([0-9]+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


class Qemu:
    """A QEMU: the system's (name "qemu", found on PATH), or another
    binary named in [systems.NAME] with its data directories (-L)."""
    kind = "qemu"

    def __init__(self, build, name="qemu", binary="qemu-system-x86_64",
                 datadir=()):
        self.guests = os.path.join(build, "guests")
        self.name, self.binary, self.datadir = name, binary, list(datadir)
        self._version = None

    def missing(self):
        if not shutil.which(self.binary):
            if self.name == "qemu":
                return "%s not installed" % self.binary
            return "%s missing or not executable ([systems.%s] binary; " \
                "bench/qemu-backports fetches QEMU 10)" % (self.binary, self.name)
        for d in self.datadir:
            if not os.path.isdir(d):
                return "%s missing ([systems.%s] datadir)" % (d, self.name)
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "/dev/kvm not usable"
        return None

    def version(self):
        if self._version is None:
            try:
                out = subprocess.run([self.binary, "--version"], capture_output=True,
                                     text=True, timeout=10).stdout
                lines = [ln for ln in out.splitlines() if "version" in ln]
                self._version = lines[0] if lines else "unknown"
            except OSError as e:
                return "unknown (%s)" % e
        return self._version

    def refuses(self, point):
        """What this QEMU's version cannot do, said before it runs:
        dirty-limit came with 8.1, and 9.1 removed block migration."""
        ver = qemu_version(self.version())
        if ver is None:
            return None
        limit = point["capabilities"].get("dirty-limit") or any(
            k in point["params"] for k in lab_config.DIRTY_LIMIT_PARAMS)
        if limit and ver < (8, 1):
            return ("%s is QEMU %d.%d, which has no dirty-limit (QEMU 8.1 added "
                    "the capability and its parameters): run a newer QEMU as a "
                    "system of its own ([systems.NAME], bench/qemu-backports)" % (
                        self.name, ver[0], ver[1]))
        if point.get("migrate", {}).get("blk") and ver >= (9, 1):
            return ("%s is QEMU %d.%d: QEMU 9.1 removed block migration (migrate "
                    "-b/-i)" % (self.name, ver[0], ver[1]))
        return None

    def _bios(self):
        """qboot (a fast multiboot start), this QEMU's own first."""
        for d in self.datadir + [os.path.dirname(QBOOT)]:
            path = os.path.join(d, os.path.basename(QBOOT))
            if os.path.exists(path):
                return ["-bios", path]
        return []

    def _common(self, run, side):
        p = run.point
        accel = "kvm"
        if _ring(p):
            accel += ",dirty-ring-size=%d" % _ring(p)
        argv = [self.binary, "-accel", accel, "-m", str(p["mem"] // 2**20),
                "-smp", str(p["cpus"])]
        if p.get("mem-prealloc"):
            argv.append("-mem-prealloc")
        for d in self.datadir:
            argv += ["-L", d]
        return argv + self._bios() + [
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-chardev", "socket,id=ser0,path=%s,server=on,wait=on" % run.serial[side],
            "-serial", "chardev:ser0",
            "-qmp", "unix:%s,server=on,wait=off" % run.qmp[side],
            "-display", "none", "-monitor", "none", "-no-reboot"]

    def dest_argv(self, run):
        # The destination needs the same machine: the same -kernel and
        # -append too (QEMU checks the ROM sizes it migrates).
        return self._common(run, "dst") + self._kernel(run) + [
            "-incoming", "tcp:%s:%d" % (run.dst_ip, run.port)] + self._drive(run, "dst")

    def source_argv(self, run):
        return self._common(run, "src") + self._kernel(run) + self._drive(run, "src")

    _drive = Vmm._drive

    def _kernel(self, run):
        g = run.point["guest"]
        return ["-kernel", os.path.join(self.guests, g["name"] + ".elf"),
                "-append", " ".join(guest_args(g))]

    def tap(self, run, side):
        return lab_serial.SocketTap(run.serial[side], run.serial[side] + ".log")

    def serial_method(self):
        return ("QEMU socket chardev read by the lab, lines stamped on arrival "
                "(resolution: the lab's scheduling latency, below 1 ms idle)")

    def param_applies(self, name):
        return name not in lab_config.VMM_PARAMS

    def leftovers(self, run):
        return {}


def make(name, build, systems=None):
    """The driver of a system: vmm, qemu, or one of systems (an
    experiment's [systems.NAME], lab_config.parse_systems)."""
    if name == "vmm":
        return Vmm(build)
    if name == "qemu":
        return Qemu(build)
    s = (systems or {})[name]
    return Qemu(build, name, s["binary"], s["datadir"])
