#!/usr/bin/env python3
"""A TCP proxy between a migration source and its destination that drops
one forward section, so a test can hand a live destination a stream that
is well framed, with correct checksums, but misses a section (the
stream_edit.py of a stream that only travels over TCP, such as block
migration's).

    stream_proxy.py LISTEN_PORT DEST_PORT TYPE N

TYPE is a section type number (9: BLOCK), N counts that type's sections
from 0. The return path is copied as it is. Serves one connection, then
exits. Loopback only; no authentication or TLS in between.
"""
import socket
import struct
import sys
import threading

PREAMBLE = 16
HEADER = 16
TRAILER = 4


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def back(dst, src):
    try:
        while True:
            data = dst.recv(65536)
            if not data:
                break
            src.sendall(data)
    except OSError:
        pass
    try:
        src.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def forward(src, dst, drop_type, drop_n):
    seen = 0
    dst.sendall(read_exact(src, PREAMBLE))
    while True:
        head = read_exact(src, HEADER)
        stype, _, length = struct.unpack("<IIQ", head)
        rest = read_exact(src, length + TRAILER)
        if stype == drop_type:
            seen += 1
            if seen - 1 == drop_n:
                print(f"dropped section type {stype} #{drop_n} ({length} bytes)", flush=True)
                continue
        dst.sendall(head + rest)


def main():
    listen_port, dest_port, drop_type, drop_n = (int(a) for a in sys.argv[1:5])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(1)
    print("listening", flush=True)
    src, _ = ls.accept()
    dst = socket.create_connection(("127.0.0.1", dest_port))
    threading.Thread(target=back, args=(dst, src), daemon=True).start()
    try:
        forward(src, dst, drop_type, drop_n)
    except (EOFError, OSError):
        pass
    dst.close()
    src.close()


if __name__ == "__main__":
    main()
