"""Guest serial output with the host time of every line.

Two sources, one result (a list of {"t", "ts", "text"}; t = the lab's
CLOCK_MONOTONIC when the line's first byte reached it, ts = the host time the VMM
stamped on it, or None):

- SocketTap (QEMU): the serial port is a unix-socket chardev the lab reads
  with select(); a line is stamped the moment its newline arrives. The
  resolution is the lab's scheduling latency (well under 1 ms on an idle
  core; a busy 2-core machine can add a few ms), with no buffering in
  between: QEMU writes each byte to the socket as the guest sends it.
- FileTap (vmm): vmm writes the serial output to a file. With
  `--serial file:PATH,timestamps` vmm prefixes every line with
  `[SECONDS.MICROSECONDS] `, its own host time when the line arrived
  (resolution 1 us): ts. Without it the file is polled every POLL seconds
  and lines are stamped on discovery (resolution POLL).
"""
import re
import select
import threading
import time

from qmp import connect_unix

POLL = 0.002
STAMP = re.compile(r"^\[([0-9]+\.[0-9]+)\] ?(.*)$")


class _Tap:
    def __init__(self, log_path):
        self.lines = []
        self._partial = b""
        self._partial_t = None
        self._log = open(log_path, "w")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.error = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _feed(self, data, now):
        """A line's time is when its first byte arrived: when the guest
        began printing it (a line cut by a migration is finished by the
        destination, and its start is what the source saw last)."""
        if not self._partial:
            self._partial_t = now
        self._partial += data
        while b"\n" in self._partial:
            raw, self._partial = self._partial.split(b"\n", 1)
            self._add(raw, self._partial_t, False)
            self._partial_t = now
        if not self._partial:
            self._partial_t = None

    def _add(self, raw, t, partial):
        text = raw.decode(errors="replace").rstrip("\r")
        ts = None
        m = STAMP.match(text) if self.stamped else None
        if m:
            ts, text = float(m.group(1)), m.group(2)
        line = {"t": t, "ts": ts, "text": text}
        if partial:
            line["partial"] = True
        with self._lock:
            self.lines.append(line)
        self._log.write("[%.6f] %s%s\n" % (ts if ts is not None else t, text,
                                            " [partial line]" if partial else ""))
        self._log.flush()

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def wait_for(self, regex, timeout, alive=None):
        """The first line matching regex; None after timeout, or as soon as
        alive() turns false."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.snapshot()
            for ln in lines[seen:]:
                if rx.search(ln["text"]):
                    return ln
            seen = len(lines)
            if alive is not None and not alive():
                return None
            time.sleep(0.01)
        return None

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        if self._partial:
            self._add(self._partial, self._partial_t, True)
            self._partial = b""
        self._log.close()


class SocketTap(_Tap):
    stamped = False

    def __init__(self, sock_path, log_path, timeout=10.0):
        super().__init__(log_path)
        self._sock = connect_unix(sock_path, timeout, "serial socket")
        self._thread.start()

    def _loop(self):
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([self._sock], [], [], 0.05)
                if not r:
                    continue
                data = self._sock.recv(65536)
                now = time.monotonic()
                if not data:
                    return
                self._feed(data, now)
        except OSError as e:
            self.error = str(e)
        finally:
            self._sock.close()


class FileTap(_Tap):
    def __init__(self, path, log_path, stamped):
        super().__init__(log_path)
        self.path = path
        self.stamped = stamped
        self._thread.start()

    def _loop(self):
        f = None
        try:
            while not self._stop.is_set():
                if f is None:
                    try:
                        f = open(self.path, "rb")
                    except FileNotFoundError:
                        time.sleep(POLL)
                        continue
                data = f.read()
                if data:
                    self._feed(data, time.monotonic())
                else:
                    time.sleep(POLL)
            if f is not None:
                data = f.read()
                if data:
                    self._feed(data, time.monotonic())
        finally:
            if f is not None:
                f.close()


def line_time(line):
    """The best host time of a line: the VMM's stamp, else arrival."""
    return line["ts"] if line["ts"] is not None else line["t"]


def heartbeat_gap(src_lines, dst_lines):
    """Client-seen downtime in seconds: from the last `tick` line the source
    printed to the first the destination printed, on one host clock (the
    VMM's stamps when both sides have them, else arrival times). None
    without ticks on both sides."""
    src = [ln for ln in src_lines if ln["text"].startswith("tick ")]
    dst = [ln for ln in dst_lines if ln["text"].startswith("tick ")]
    if not src or not dst:
        return None, None
    stamped = all(ln["ts"] is not None for ln in (src[-1], dst[0]))
    if stamped:
        gap = dst[0]["ts"] - src[-1]["ts"]
    else:
        gap = dst[0]["t"] - src[-1]["t"]
    return gap, ("vmm serial timestamps" if stamped else "lab arrival times")


def memtouch_rates(lines):
    """[(lab time, pages/s over every CPU)] from memtouch's
    `memtouch: t=T cpu=K pages=N rate=R pages/s` report lines, one entry
    per report time T (the CPUs' rates summed)."""
    rx = re.compile(r"^(?:memtouch|verify): t=([0-9.]+)s cpu=([0-9]+) .*rate=([0-9]+)")
    by_t = {}
    for ln in lines:
        m = rx.match(ln["text"])
        if m:
            key = m.group(1)
            t, r = by_t.get(key, (ln["t"], 0))
            by_t[key] = (min(t, ln["t"]), r + int(m.group(3)))
    return sorted(by_t.values())

