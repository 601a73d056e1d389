"""Unit test of bench/dirty_trace.py against a trace written by the C
writer (tests/test_dirty_trace.c, run with a path, writes its synthetic
trace there). Run: python3 bench/test_dirty_trace.py BUILD/tests/test_dirty_trace
(tests/integration/dirty_trace_reader.sh does)."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirty_trace  # noqa: E402

WRITER = None
# The synthetic trace of tests/test_dirty_trace.c, computed again here.
LOW_PAGES = 3 << 18
HIGH_PAGES = 2048 + 1 + 3
NR_PAGES = LOW_PAGES + HIGH_PAGES
NR_SLICES = 5
M64 = (1 << 64) - 1


def expected_bitmap(k):
    if k == 0:
        return 0
    if k == 1:
        return (1 << NR_PAGES) - 1
    x = (0x9e3779b97f4a7c15 * (k + 1)) & M64
    bm = 0
    for i in range(NR_PAGES):
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        if x % 16 < k:
            bm |= 1 << i
    return bm | 1 << (NR_PAGES - 1)


class ReadCTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.dir.name, "synthetic.trace")
        subprocess.run([WRITER, cls.path], check=True)
        cls.trace = dirty_trace.read_trace(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_header(self):
        h = self.trace.header
        self.assertEqual((h["major"], h["minor"]), (1, 0))
        self.assertEqual(h["page_size"], 4096)
        self.assertEqual(h["ram_size"], NR_PAGES * 4096)
        self.assertEqual(h["log_mode"], "manual-protect")
        self.assertEqual(h["interval_us"], 100000)
        self.assertEqual(h["duration_us"], 500000)
        self.assertEqual(h["start_unix_us"], 1764512345123456)
        self.assertEqual(h["regions"], [
            {"gpa": 0, "size": LOW_PAGES * 4096, "first_page": 0},
            {"gpa": 4 << 30, "size": HIGH_PAGES * 4096, "first_page": LOW_PAGES}])
        self.assertEqual(self.trace.total_us, 500010)

    def test_slices_bit_for_bit(self):
        self.assertEqual(len(self.trace.slices), NR_SLICES)
        for k, s in enumerate(self.trace.slices):
            self.assertEqual((s.index, s.start_us, s.duration_us), (k, 100000 * k, 100000 + k))
            want = expected_bitmap(k)
            self.assertEqual(s.bitmap, want, f"slice {k}")
            self.assertEqual(s.dirty_pages, want.bit_count())

    def test_working_set(self):
        wss = dirty_trace.writable_working_set(self.trace)
        self.assertEqual([k for k, _, _ in wss], [1, 2, 3, 4, 5])
        # Slice 1 marks every page: any window holding it has them all.
        self.assertEqual(wss[1][2], NR_PAGES)
        self.assertEqual(wss[4], (5, NR_PAGES, NR_PAGES))
        counts = [s.dirty_pages for s in self.trace.slices]
        self.assertAlmostEqual(wss[0][1], sum(counts) / 5)
        self.assertEqual(wss[0][2], max(counts))

    def test_damage_refused(self):
        with open(self.path, "rb") as f:
            data = f.read()
        bad = os.path.join(self.dir.name, "bad.trace")

        def put(content):
            with open(bad, "wb") as f:
                f.write(content)
        for off in (0, 8, 20, 70, len(data) // 2, len(data) - 3):
            b = bytearray(data)
            b[off] ^= 0x40
            put(b)
            with self.assertRaises(dirty_trace.TraceError, msg=f"byte {off}"):
                dirty_trace.read_trace(bad)
        for cut in (10, 100, len(data) - 1):
            put(data[:cut])
            with self.assertRaisesRegex(dirty_trace.TraceError, "truncated"):
                dirty_trace.read_trace(bad)

    def test_crc32c_reference(self):
        # RFC 3720's check value for CRC32C
        self.assertEqual(dirty_trace.crc32c(b"123456789"), 0xE3069283)


if __name__ == "__main__":
    WRITER = sys.argv.pop(1)
    unittest.main()
