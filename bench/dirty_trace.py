#!/usr/bin/env python3
"""Reads dirty traces written by vmm's `record-dirty` (format: migrate/TRACE.md).

Python 3 standard library only; the zstd frames are opened with the
system's libzstd (libzstd.so.1, through ctypes).

    t = read_trace("guest.trace")
    t.header["interval_us"], [s.dirty_pages for s in t.slices]
    wss = writable_working_set(t)        # [(k, mean, max), ...] for k = 1..N

    python3 bench/dirty_trace.py summary TRACE [--max-k N]

A slice's bitmap is a Python int: bit p is RAM page p (numbered as in the
trace's regions), so a union is `|` and a count is `.bit_count()`.
"""
import argparse
import ctypes
import ctypes.util
import struct
import sys

MAGIC = b"DTRC\r\n\x1a\n"
MAJOR = 1
HEADER_FIXED = 64
REGION = struct.Struct("<QQQ")
SLICE_HEAD = struct.Struct("<4sIQQQII")
END = struct.Struct("<4sIQ")
LOG_MODES = {0: "plain", 1: "manual-protect", 2: "ring"}


class TraceError(Exception):
    """The file is not a whole, undamaged trace this reader understands."""


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), continuing crc as the C code's crc32c__extend."""
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


_zstd = None


def _zstd_lib():
    global _zstd
    if _zstd is None:
        name = ctypes.util.find_library("zstd") or "libzstd.so.1"
        lib = ctypes.CDLL(name)
        lib.ZSTD_decompress.restype = ctypes.c_size_t
        lib.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                        ctypes.c_void_p, ctypes.c_size_t]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
        _zstd = lib
    return _zstd


def zstd_decompress(frame, size):
    """One zstd frame that must decompress to exactly size bytes."""
    lib = _zstd_lib()
    out = ctypes.create_string_buffer(size or 1)
    got = lib.ZSTD_decompress(out, size, frame, len(frame))
    if lib.ZSTD_isError(got) or got != size:
        raise TraceError(f"a bitmap does not decompress to {size} bytes")
    return out.raw[:size]


class Slice:
    __slots__ = ("index", "start_us", "duration_us", "dirty_pages", "bitmap")

    def __init__(self, index, start_us, duration_us, dirty_pages, bitmap):
        self.index = index
        self.start_us = start_us
        self.duration_us = duration_us
        self.dirty_pages = dirty_pages
        self.bitmap = bitmap


class Trace:
    def __init__(self, header, slices, total_us):
        self.header = header
        self.slices = slices
        self.total_us = total_us

    @property
    def nr_pages(self):
        return self.header["ram_size"] // self.header["page_size"]


def _read(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise TraceError(f"the trace ends inside {what} (truncated)")
    return b


def _check(data, what):
    if crc32c(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise TraceError(f"checksum mismatch in {what}")


def _read_header(f):
    fixed = _read(f, HEADER_FIXED, "the header")
    if fixed[:8] != MAGIC:
        raise TraceError("not a dirty trace (bad magic)")
    (major, minor, hlen, page_size, log_mode, ram_size, interval_us, duration_us,
     start_unix_us, nr_regions, _) = struct.unpack_from("<HHIIIQQQQII", fixed, 8)
    if major != MAJOR:
        raise TraceError(f"trace version {major}.{minor}; this reader knows {MAJOR}.x")
    if not 1 <= nr_regions <= 8 or not HEADER_FIXED + REGION.size * nr_regions + 4 <= hlen <= 65536:
        raise TraceError("header length or region count out of range")
    data = fixed + _read(f, hlen - HEADER_FIXED, "the header")
    _check(data, "the header")
    if page_size < 512 or page_size & (page_size - 1) or not ram_size or ram_size % page_size:
        raise TraceError("page size or RAM size out of range")
    regions = []
    for i in range(nr_regions):
        gpa, size, first = REGION.unpack_from(data, HEADER_FIXED + REGION.size * i)
        regions.append({"gpa": gpa, "size": size, "first_page": first})
    return {"major": major, "minor": minor, "page_size": page_size,
            "log_mode": LOG_MODES.get(log_mode, str(log_mode)), "ram_size": ram_size,
            "interval_us": interval_us, "duration_us": duration_us,
            "start_unix_us": start_unix_us, "regions": regions}


def read_trace(path):
    """The whole trace; TraceError if it is damaged, truncated or unknown."""
    with open(path, "rb") as f:
        h = _read_header(f)
        nr_pages = h["ram_size"] // h["page_size"]
        raw_len = (nr_pages + 63) // 64 * 8
        slices = []
        while True:
            tag = _read(f, 4, "a record")
            if tag == b"TEND":
                data = tag + _read(f, END.size + 4 - 4, "the end record")
                _check(data, "the end record")
                _, count, total_us = END.unpack_from(data)
                if count != len(slices):
                    raise TraceError("the end record counts other slices than the file holds")
                if f.read(1):
                    raise TraceError("bytes after the end record")
                return Trace(h, slices, total_us)
            if tag != b"SLCE":
                raise TraceError("neither a slice nor the end record")
            head = tag + _read(f, SLICE_HEAD.size - 4, "a slice")
            _, index, start_us, duration_us, dirty, clen, _ = SLICE_HEAD.unpack(head)
            if clen > raw_len + raw_len // 128 + 1024:
                raise TraceError("a slice longer than its bitmap can compress to")
            data = head + _read(f, clen + 4, "a slice")
            _check(data, "a slice")
            if index != len(slices):
                raise TraceError("slices out of order")
            bitmap = int.from_bytes(zstd_decompress(data[SLICE_HEAD.size:-4], raw_len), "little")
            if bitmap >> nr_pages:
                raise TraceError(f"slice {index}: a page past the end of RAM is marked")
            if bitmap.bit_count() != dirty:
                raise TraceError(f"slice {index}: page count does not match its bitmap")
            slices.append(Slice(index, start_us, duration_us, dirty, bitmap))


def writable_working_set(trace, max_k=None):
    """For k = 1..max_k (default: every slice): the distinct pages dirtied
    in a window of k consecutive slices, as (k, mean, max) over every such
    window (Clark et al.'s writable working set against window length)."""
    n = len(trace.slices)
    max_k = min(max_k or n, n)
    # unions[i] = OR of slices i..i+k-1, grown by one slice per k
    unions = [s.bitmap for s in trace.slices]
    out = []
    for k in range(1, max_k + 1):
        if k > 1:
            unions = [unions[i] | trace.slices[i + k - 1].bitmap for i in range(n - k + 1)]
        counts = [u.bit_count() for u in unions]
        out.append((k, sum(counts) / len(counts), max(counts)))
    return out


def summary(trace, max_k=None, out=sys.stdout):
    h = trace.header
    ps = h["page_size"]
    print(f"trace version {h['major']}.{h['minor']}, RAM {h['ram_size'] / 2**20:.1f} MiB "
          f"({trace.nr_pages} pages of {ps} bytes), dirty log {h['log_mode']}", file=out)
    for r in h["regions"]:
        print(f"  region gpa {r['gpa']:#x} size {r['size'] / 2**20:.1f} MiB "
              f"first page {r['first_page']}", file=out)
    print(f"interval {h['interval_us'] / 1000:g} ms, asked {h['duration_us'] / 1e6:g} s, "
          f"recorded {len(trace.slices)} slices over {trace.total_us / 1e6:.3f} s, "
          f"start {h['start_unix_us'] / 1e6:.6f} (unix)", file=out)
    print(f"{'slice':>6} {'start ms':>10} {'ms':>8} {'pages':>10} {'pages/s':>10}", file=out)
    for s in trace.slices:
        rate = s.dirty_pages * 1e6 / s.duration_us if s.duration_us else 0
        print(f"{s.index:>6} {s.start_us / 1000:>10.1f} {s.duration_us / 1000:>8.1f} "
              f"{s.dirty_pages:>10} {rate:>10.0f}", file=out)
    print("writable working set (distinct pages dirtied in k consecutive slices):", file=out)
    print(f"{'k':>6} {'window ms':>10} {'mean pages':>12} {'max pages':>10} {'mean MiB':>10}",
          file=out)
    for k, mean, mx in writable_working_set(trace, max_k):
        print(f"{k:>6} {k * h['interval_us'] / 1000:>10.0f} {mean:>12.1f} {mx:>10} "
              f"{mean * ps / 2**20:>10.2f}", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Read vmm dirty traces (migrate/TRACE.md).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("summary", help="header, pages per slice, writable working set")
    sp.add_argument("trace")
    sp.add_argument("--max-k", type=int, default=None,
                    help="largest window in slices (default: all)")
    args = ap.parse_args(argv)
    try:
        t = read_trace(args.trace)
    except (OSError, TraceError) as e:
        print(f"dirty_trace: {args.trace}: {e}", file=sys.stderr)
        return 1
    summary(t, args.max_k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
