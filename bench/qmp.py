"""A QMP client (QEMU Machine Protocol), Python 3 standard library only.

One client for both systems: QEMU's `-qmp unix:PATH,server=on,wait=off`
and vmm's `--qmp unix:PATH` speak the same protocol, so a script (the lab,
the tests) drives either through this module and a difference it measures
is a difference between the systems, not between two code paths.

    with QMP(path) as q:                    # greeting + qmp_capabilities
        q.command("migrate", {"uri": "tcp:127.0.0.1:4444"})
        ev = q.wait_event("MIGRATION", lambda e: e["data"]["status"] == "completed")
        info = q.command("query-migrate")

Events that arrive while waiting for a reply are kept, in order, for
wait_event()/events(); every event carries the host time it was read
(`"_received": time.monotonic()`) beside QMP's own timestamp.
"""
import json
import os
import select
import socket
import time


class QMPError(Exception):
    """The server answered {"error": {"class": ..., "desc": ...}}."""

    def __init__(self, command, error):
        self.command = command
        self.error_class = error.get("class", "")
        self.desc = error.get("desc", "")
        super().__init__("%s: %s: %s" % (command, self.error_class, self.desc))


class QMPTimeout(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=10.0):
        """Connects to the unix socket at path (retrying until it exists, up
        to timeout seconds), reads the greeting and negotiates
        capabilities."""
        self.path = path
        self.greeting = None
        self._buf = b""
        self._events = []
        self._sock = None
        deadline = time.monotonic() + timeout
        self._sock = connect_unix(path, timeout, "QMP server")
        self.greeting = self._read_message(deadline)
        if "QMP" not in self.greeting:
            raise QMPError("greeting", {"class": "ProtocolError",
                                        "desc": "not a QMP greeting: %r" % self.greeting})
        self.command("qmp_capabilities")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock:
            self._sock.close()
            self._sock = None

    def _read_message(self, deadline):
        """The next JSON object from the server (reply or event)."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("no message from %s in time" % self.path)
            r, _, _ = select.select([self._sock], [], [], left)
            if not r:
                continue
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP server at %s closed the connection" % self.path)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        line = line.strip()
        if not line:
            return self._read_message(deadline)
        return json.loads(line)

    def command(self, name, args=None, timeout=30.0):
        """Runs one command with its arguments (a dict, QMP's names:
        {"max-bandwidth": 1 << 30}); returns its "return" value or raises
        QMPError."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if "event" in m:
                m["_received"] = time.monotonic()
                self._events.append(m)
                continue
            if "error" in m:
                raise QMPError(name, m["error"])
            if "return" in m:
                return m["return"]

    def events(self):
        """Every event received so far, oldest first; the list is emptied."""
        self._poll_events()
        ev, self._events = self._events, []
        return ev

    def _poll_events(self):
        while True:
            r, _, _ = select.select([self._sock], [], [], 0)
            if not r and b"\n" not in self._buf:
                return
            m = self._read_message(time.monotonic() + 1.0)
            if "event" in m:
                m["_received"] = time.monotonic()
                self._events.append(m)

    def wait_event(self, name, match=None, timeout=60.0):
        """Returns the first event called name (for which match(event) is
        true, when given), received before or after this call; events
        before it stay queued."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self._events):
                if e["event"] == name and (match is None or match(e)):
                    del self._events[i]
                    return e
            m = self._read_message(deadline)
            if "event" in m:
                m["_received"] = time.monotonic()
                self._events.append(m)


def connect_unix(path, timeout=10.0, what="server"):
    """A stream socket connected to the unix socket at path, retrying
    until a server listens there, up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() >= deadline:
                raise QMPTimeout("no %s at %s after %.1f s" % (what, path, timeout))
            time.sleep(0.01)


def wait_socket(path, timeout=10.0):
    """Waits until path exists (a server is about to accept on it)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise QMPTimeout("%s did not appear in %.1f s" % (path, timeout))
        time.sleep(0.02)
