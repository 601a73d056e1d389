#!/usr/bin/env python3
"""Reads guest serial output stamped by vmm (`--serial file:PATH,timestamps`).

Each line starts with the host's CLOCK_REALTIME time at which its first
byte left the guest: `[SECONDS.MICROSECONDS] text` (README, options).

    lines = read_stamped("src.log")            # [(us, text), ...]
    g = heartbeat_gap("src.log", "dst.log")    # the client-seen downtime

    python3 bench/serial_stamps.py gap SRC.log DST.log

The gap is the first heartbeat tick the destination printed minus the last
one the source printed, both stamped on one host clock: downtime as a
client of the guest sees it, independent of any buffering in a script.
"""
import re
import sys

STAMP = re.compile(r"^\[(\d+)\.(\d{6})\] (.*)$")
TICK = re.compile(r"^tick (\d+) ")


def read_stamped(path):
    """[(microseconds since 1970, text without its newline)] of every stamped line."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = STAMP.match(line.rstrip("\r\n"))
            if m:
                out.append((int(m.group(1)) * 1000000 + int(m.group(2)), m.group(3)))
    return out


def ticks(path):
    """[(us, tick number)] of the heartbeat's tick lines."""
    res = []
    for us, text in read_stamped(path):
        m = TICK.match(text)
        if m:
            res.append((us, int(m.group(1))))
    return res


def heartbeat_gap(src_path, dst_path):
    """{'last_src_us', 'last_src_tick', 'first_dst_us', 'first_dst_tick', 'gap_us'}."""
    s, d = ticks(src_path), ticks(dst_path)
    if not s or not d:
        raise ValueError(f"no stamped ticks in {src_path if not s else dst_path}")
    return {"last_src_us": s[-1][0], "last_src_tick": s[-1][1],
            "first_dst_us": d[0][0], "first_dst_tick": d[0][1],
            "gap_us": d[0][0] - s[-1][0]}


def main(argv):
    if len(argv) != 4 or argv[1] != "gap":
        print("usage: serial_stamps.py gap SRC.log DST.log", file=sys.stderr)
        return 2
    try:
        g = heartbeat_gap(argv[2], argv[3])
    except (OSError, ValueError) as e:
        print(f"serial_stamps: {e}", file=sys.stderr)
        return 1
    print(f"last tick on the source: {g['last_src_tick']} at {g['last_src_us'] / 1e6:.6f}; "
          f"first on the destination: {g['first_dst_tick']} at {g['first_dst_us'] / 1e6:.6f}; "
          f"gap_us={g['gap_us']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
