#!/usr/bin/env python3
"""Rewrites a saved migration stream (migrate/FORMAT.md) section by section,
so a test can hand a destination a stream that is well framed, with correct
checksums, but breaks a rule of the format.

    stream_edit.py IN OUT EDIT...

EDIT is one of (TYPE a section name, N counting that type's sections from 0):
    drop:TYPE:N           leave section N out
    copy:TYPE:N:M         replace section N's payload with section M's
    append:TYPE:N:HEX     add bytes after section N's payload
    rename:DEVICE:N:HEX   set DEVICE section N's device name to these bytes

A saved file with pages at fixed offsets (FORMAT.md, "Saved file") is
edited in its state stream; its header gets the new stream length and
checksum, the rest is copied as it is.

    stream_edit.py IN OUT sequential

turns such a file into the sequential stream a save wrote before that
layout (its pages in RAM sections of round 0), for RAM below 3 GiB.
"""
import struct
import sys

TYPES = {"CONFIG": 1, "RAM": 2, "ROUND_END": 3, "VCPU": 4, "VM_STATE": 5,
         "DEVICE": 6, "END": 7}
PREAMBLE = 16


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def parse(raw, start):
    """[type, reserved, payload, raw section bytes or None once edited]"""
    out, pos = [], start + PREAMBLE
    while pos < len(raw):
        typ, res, n = struct.unpack_from("<IIQ", raw, pos)
        end = pos + 16 + n + 4
        out.append([typ, res, raw[pos + 16:pos + 16 + n], raw[pos:end]])
        pos = end
    return out


def checked(typ, payload):
    """The payload bytes the section CRC covers: all, but for RAM only the
    batch header and the entry table (pages carry their own CRC)."""
    if typ != TYPES["RAM"] or len(payload) < 8:
        return payload
    count = struct.unpack_from("<I", payload, 4)[0]
    return payload[:8 + 12 * count]


def frame(typ, res, payload):
    head = struct.pack("<IIQ", typ, res, len(payload))
    return head + payload + struct.pack("<I", crc32c(head + checked(typ, payload)))


def nth(sections, name, n):
    found = [s for s in sections if s[0] == TYPES[name]]
    return found[int(n)]


def edit(sections, spec):
    op, name, n, *rest = spec.split(":")
    sec = nth(sections, name, n)
    if op == "drop":
        sections.remove(sec)
        return
    if op == "copy":
        sec[2] = nth(sections, name, rest[0])[2]
    elif op == "append":
        sec[2] = sec[2] + bytes.fromhex(rest[0])
    elif op == "rename":
        old = struct.unpack_from("<H", sec[2])[0]
        new = bytes.fromhex(rest[0])
        sec[2] = struct.pack("<H", len(new)) + new + sec[2][2 + old:]
    else:
        sys.exit("unknown edit " + spec)
    sec[3] = None


def sequential(raw):
    """The mapped file's pages as round 0's RAM sections, then its state."""
    nr, = struct.unpack_from("<Q", raw, 24)
    bitmap, _, crcs, _, ram = struct.unpack_from("<5Q", raw, 40)
    start, = struct.unpack_from("<Q", raw, 88)
    present = [n for n in range(nr) if raw[bitmap + n // 8] >> (n % 8) & 1]
    sections = parse(raw, start)
    out, nbytes = [], 0
    for i in range(0, len(present), 1024):
        batch = present[i:i + 1024]
        table = b"".join(struct.pack("<QI", n * 4096 | 0x2,
                                     struct.unpack_from("<I", raw, crcs + 4 * n)[0])
                         for n in batch)
        pages = b"".join(raw[ram + n * 4096:ram + (n + 1) * 4096] for n in batch)
        sec = frame(TYPES["RAM"], 0, struct.pack("<II", 0, len(batch)) + table + pages)
        out.append(sec)
        nbytes += len(sec)
    for sec in sections:
        if sec[0] == TYPES["ROUND_END"]:
            sec[2], sec[3] = struct.pack("<IQQ", 0, len(present), nbytes), None
        elif sec[0] == TYPES["END"]:
            sec[2], sec[3] = struct.pack("<IQ", 1, len(present)), None
    head = sections[0]
    rest = [whole if whole is not None else frame(typ, res, payload)
            for typ, res, payload, whole in sections]
    assert head[0] == TYPES["CONFIG"]
    return raw[start:start + PREAMBLE] + rest[0] + b"".join(out) + b"".join(rest[1:])


def main():
    raw = open(sys.argv[1], "rb").read()
    if sys.argv[3:] == ["sequential"]:
        with open(sys.argv[2], "wb") as f:
            f.write(sequential(raw))
        return
    mapped = raw[:8] == b"LMIGMAP\n"
    start = struct.unpack_from("<Q", raw, 88)[0] if mapped else 0
    sections = parse(raw, start)
    for spec in sys.argv[3:]:
        edit(sections, spec)
    stream = raw[start:start + PREAMBLE] + b"".join(
        whole if whole is not None else frame(typ, res, payload)
        for typ, res, payload, whole in sections)
    head = raw[:start]
    if mapped:
        head = bytearray(head)
        struct.pack_into("<Q", head, 96, len(stream))
        struct.pack_into("<I", head, 4092, crc32c(bytes(head[:4092])))
    with open(sys.argv[2], "wb") as f:
        f.write(bytes(head) + stream)


main()
