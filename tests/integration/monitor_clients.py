"""Monitor clients that misbehave, for tests/integration/monitor.sh.

    monitor_clients.py nonreader SOCK   a client that sends commands and
                                        never reads: the others are served
    monitor_clients.py idle SOCK        eight idle clients: a ninth is served
    monitor_clients.py nul SOCK         a line with a NUL byte, an empty line:
                                        each gets its status line

Prints what it checked; exits 1 with the reason on the first failure.
"""
import socket
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def ask(path, line, timeout=10):
    """Sends one line on a fresh connection; returns the reply up to its
    status line, or fails if none comes within timeout."""
    s = connect(path)
    s.settimeout(timeout)
    s.sendall(line)
    got = b""
    try:
        while not any(l.startswith((b"ok", b"error")) for l in got.split(b"\n")):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        fail("no status line for %r within %d s (got %r)" % (line, timeout, got[-200:]))
    finally:
        s.close()
    return got.decode(errors="replace")


def nonreader(path):
    hog = connect(path)
    hog.setblocking(False)
    sent = 0
    # Commands until the monitor stops taking them (its replies fill both
    # socket buffers, or it drops the client), at most 4 MiB of them.
    blocked_since = None
    while sent < 4 << 20:
        try:
            sent += hog.send(b"help\n" * 512)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1:
                break
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
    reply = ask(path, b"info status\n")
    if "VM status" not in reply:
        fail("info status beside a client that never reads: %r" % reply)
    print("ok: served beside a client that never reads (%d bytes of commands sent)" % sent)
    hog.close()


def idle(path):
    idlers = [connect(path) for _ in range(8)]
    # An idle client is one that has sent nothing for a while (the monitor
    # lets one that idled 5 s make room); wait past that.
    time.sleep(6)
    reply = ask(path, b"info status\n")
    if "VM status" not in reply:
        fail("a ninth client beside eight idle ones: %r" % reply)
    print("ok: a ninth client served beside eight idle ones")
    for s in idlers:
        s.close()


def nul(path):
    reply = ask(path, b"\0info status\n")
    if "error: the line holds a NUL byte" not in reply:
        fail("a line starting with NUL: %r" % reply)
    reply = ask(path, b"info\0 status\n")
    if "error: the line holds a NUL byte" not in reply:
        fail("a line with a NUL inside: %r" % reply)
    reply = ask(path, b"\n")
    if reply.strip() != "ok":
        fail("an empty line: %r" % reply)
    print("ok: NUL lines and empty lines each get a status line")


if __name__ == "__main__":
    {"nonreader": nonreader, "idle": idle, "nul": nul}[sys.argv[1]](sys.argv[2])
