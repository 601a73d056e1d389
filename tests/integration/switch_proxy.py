#!/usr/bin/env python3
"""A TCP proxy between a migration source and its destination that reads
the stream's framing (migrate/FORMAT.md: a 16-byte preamble each way, then
sections of a 16-byte header with the type as the first u32 and the
payload length as the u64 at offset 8, the payload and a 4-byte CRC) and
does one thing to one section type:

    switch_proxy.py LISTEN_PORT DEST_PORT ACTION SECTION LOG

ACTION is `delay:SECONDS` (hold the section, and so everything after it in
that direction, for that long, then pass it on), `dribble:SECONDS` (pass
the section one byte every SECONDS: a peer that is never quite silent) or
`drop` (close both connections where the section would have passed: the
peer never gets it) or `omit:N` (leave out the Nth matching section,
counted from 0, and pass everything else on: a stream well framed, with
right checksums, that misses one section).
SECTION is a type name: END, GO, READY, RESUMED, ..., or `RAM:N`, the first
RAM section of pre-copy round N (a later round). `delay:0` only logs
"holding SECTION" as it passes: a marker a test acts on. Events go to LOG, one
a line ("seen END", "holding END", "passed END", "dropped at GO", "omitted
BLOCK", "closed source->dest"), so a test can wait for them. One connection is served; the
proxy exits when both directions are done.
"""
import socket
import struct
import sys
import threading
import time

TYPES = {
    "CONFIG": 0x001, "RAM": 0x002, "ROUND_END": 0x003, "VCPU": 0x004,
    "VM_STATE": 0x005, "DEVICE": 0x006, "END": 0x007, "GO": 0x008, "BLOCK": 0x009,
    "ACCEPT": 0x101, "REFUSE": 0x102, "RESUMED": 0x103, "FAILED": 0x104,
    "READY": 0x105, "ROUND_DONE": 0x106,
}
NAMES = {v: k for k, v in TYPES.items()}


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, text):
        with self.lock:
            self.f.write(text + "\n")


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def parse_target(section):
    """(type, round or None) for a SECTION argument; None if unknown."""
    name, _, rnd = section.partition(":")
    if name not in TYPES or (rnd and (name != "RAM" or not rnd.isdigit())):
        return None
    return TYPES[name], int(rnd) if rnd else None


def is_target(stype, rest, target):
    """The section matches: its type, and for RAM:N its round (the first
    u32 of a RAM payload)."""
    ttype, rnd = target
    if stype != ttype:
        return False
    return rnd is None or (len(rest) >= 4 and struct.unpack("<I", rest[:4])[0] == rnd)


def pump(src, dst, label, action, target, log, both):
    """Copies src to dst section by section; returns at EOF or an error."""
    omit_left = int(action[5:]) if action.startswith("omit:") else None
    try:
        pre = read_exact(src, 16)
        if pre is None:
            return
        dst.sendall(pre)
        while True:
            head = read_exact(src, 16)
            if head is None:
                return
            stype, _, length = struct.unpack("<IIQ", head)
            rest = read_exact(src, length + 4)
            if rest is None:
                dst.sendall(head)
                return
            name = NAMES.get(stype, hex(stype))
            log(f"seen {name}")
            hit = is_target(stype, rest, target)
            if hit and omit_left is not None:
                if omit_left == 0:
                    log(f"omitted {name}")
                    target = (None, None)
                    continue
                omit_left -= 1
                hit = False
            if hit:
                if action == "drop":
                    log(f"dropped at {name}")
                    for s in both:
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    return
                kind, secs = action.split(":", 1)
                log(f"holding {name}")
                if kind == "dribble":
                    for b in head + rest:
                        dst.sendall(bytes([b]))
                        time.sleep(float(secs))
                    log(f"passed {name}")
                    target = (None, None)
                    continue
                time.sleep(float(secs))
            dst.sendall(head + rest)
            if hit:
                log(f"passed {name}")
                # Only the first matching section: RAM:N is one section.
                target = (None, None)
    except OSError as e:
        log(f"{label}: {e}")
    finally:
        # A vmm never half-closes: whoever ends first ends the link, both
        # ways, so neither peer waits on a connection with no one behind.
        log(f"closed {label}")
        for s in both:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen_port, dest_port, action, section, log_path = sys.argv[1:6]
    target = parse_target(section)
    omit = action.startswith("omit:") and action[5:].isdigit()
    if target is None or not (action == "drop" or omit or
                              action.startswith(("delay:", "dribble:"))):
        sys.exit("usage: switch_proxy.py LISTEN_PORT DEST_PORT drop|delay:S|dribble:S|omit:N "
                 "SECTION LOG")
    log = Log(log_path)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(listen_port)))
    ls.listen(1)
    log("listening")
    src, _ = ls.accept()
    ls.close()
    dst = socket.create_connection(("127.0.0.1", int(dest_port)))
    for s in (src, dst):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    both = (src, dst)
    threads = [
        threading.Thread(target=pump, args=(src, dst, "source->dest", action, target, log, both)),
        threading.Thread(target=pump, args=(dst, src, "dest->source", action, target, log, both)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in both:
        s.close()
    log("done")


if __name__ == "__main__":
    main()
