#!/usr/bin/env python3
"""A TCP relay that shows what a network observer would see of one
migration connection, and can damage it:

    tls_tap.py LISTEN_PORT DEST_PORT CAPTURE [flip:OFFSET]

Serves one connection: relays it to 127.0.0.1:DEST_PORT both ways and
appends every byte the source sent to CAPTURE. With flip:OFFSET the byte
at that offset of the source's direction is inverted on its way (a
damaged or forged record). Prints "listening" once it accepts, and exits
when both directions are done.
"""
import socket
import sys
import threading


def pump(src, dst, capture=None, flip=None):
    seen = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if flip is not None and seen <= flip < seen + len(data):
                b = bytearray(data)
                b[flip - seen] ^= 0xff
                data = bytes(b)
            seen += len(data)
            if capture:
                capture.write(data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen_port, dest_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    flip = None
    if len(sys.argv) > 4 and sys.argv[4].startswith("flip:"):
        flip = int(sys.argv[4][5:])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(1)
    print("listening", flush=True)
    src, _ = ls.accept()
    dst = socket.create_connection(("127.0.0.1", dest_port))
    with open(path, "wb") as capture:
        up = threading.Thread(target=pump, args=(src, dst, capture, flip))
        down = threading.Thread(target=pump, args=(dst, src))
        up.start()
        down.start()
        up.join()
        down.join()


if __name__ == "__main__":
    main()
