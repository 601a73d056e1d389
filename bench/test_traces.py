"""Unit tests of the writable working set (bench/lab_wws.py) on synthetic
traces whose answer is worked out by hand in each test. Run: cd bench &&
python3 -m unittest test_traces (tests/integration/lab_unit.sh does)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirty_trace  # noqa: E402
import lab_wws  # noqa: E402


def pages(lo, hi):
    return ((1 << hi) - 1) & ~((1 << lo) - 1)


def make_trace(bitmaps, nr_pages, slice_us=100000):
    slices = [dirty_trace.Slice(i, i * slice_us, slice_us, bm.bit_count(), bm)
              for i, bm in enumerate(bitmaps)]
    header = {"page_size": 4096, "ram_size": nr_pages * 4096, "interval_us": slice_us,
              "duration_us": slice_us * len(bitmaps), "regions": []}
    return dirty_trace.Trace(header, slices, slice_us * len(bitmaps))


# 1000 pages; a sequential writer: slice i (100 ms) dirties pages 100i..100i+99
SEQ = make_trace([pages(100 * i, 100 * i + 100) for i in range(10)], 1000)
# the same 100 pages in every slice: a working set that saturates at once
HOT = make_trace([pages(0, 100)] * 10, 1000)


class Wws(unittest.TestCase):
    def test_sequential_grows_hot_saturates(self):
        seq = lab_wws.curve(SEQ)
        self.assertEqual([r[1] for r in seq], [100.0 * k for k in range(1, 11)])
        self.assertEqual(seq[2][0], 300.0)
        hot = lab_wws.curve(HOT, 4)
        self.assertEqual([(r[1], r[2], r[3]) for r in hot],
                         [(100, 100, 100), (100, 100, 200), (100, 100, 300), (100, 100, 400)])
        self.assertIn("| 200 | 100 | 100 | 0.39 | 200 |", lab_wws.table(HOT, hot, "hot"))

    def test_figure_files(self):
        try:
            import matplotlib  # noqa: F401
        except ModuleNotFoundError:
            self.skipTest("no matplotlib")
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            files = lab_wws.figure(SEQ, lab_wws.curve(SEQ), "seq", d)
            self.assertEqual([os.path.basename(f) for f in files], ["wws-seq.png", "wws-seq.svg"])
            self.assertTrue(all(os.path.getsize(f) > 1000 for f in files))


if __name__ == "__main__":
    unittest.main()
