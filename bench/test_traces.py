"""Unit tests of the writable working set and the offline pre-copy replay
(bench/lab_wws.py, bench/lab_replay.py) on synthetic traces whose answer
is worked out by hand in each test, and of the forecast's port
(bench/forecast_error.py). Run: cd bench && python3 -m unittest
test_traces (tests/integration/lab_unit.sh does)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirty_trace  # noqa: E402
import forecast_error  # noqa: E402
import lab_replay  # noqa: E402
import lab_wws  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pages(lo, hi):
    return ((1 << hi) - 1) & ~((1 << lo) - 1)


def make_trace(bitmaps, nr_pages, slice_us=100000):
    slices = [dirty_trace.Slice(i, i * slice_us, slice_us, bm.bit_count(), bm)
              for i, bm in enumerate(bitmaps)]
    header = {"page_size": 4096, "ram_size": nr_pages * 4096, "interval_us": slice_us,
              "duration_us": slice_us * len(bitmaps), "regions": []}
    return dirty_trace.Trace(header, slices, slice_us * len(bitmaps))


def run(trace, policy, bw, **kw):
    items = ["%s=%s" % (k.replace("_", "-"), v) for k, v in kw.items()]
    return lab_replay.replay(trace, policy, bw, lab_replay.parse_params(policy, items))


# 1000 pages; a sequential writer: slice i (100 ms) dirties pages 100i..100i+99
SEQ = make_trace([pages(100 * i, 100 * i + 100) for i in range(10)], 1000)
# the same 100 pages in every slice: a working set that saturates at once
HOT = make_trace([pages(0, 100)] * 10, 1000)
WIRE = lab_replay.PAGE + lab_replay.ENTRY   # a page and its entry: 4108 bytes
MS_PER_PAGE = WIRE * 1000.0      # bytes/s: one page (and its entry) per ms


class Timeline(unittest.TestCase):
    def test_part_of_a_slice_is_its_share_in_page_order(self):
        tl = lab_replay.Timeline(SEQ.slices)
        self.assertEqual(tl.dirtied(0, 30000), pages(0, 30))
        self.assertEqual(tl.dirtied(30000, 100000), pages(30, 100))
        self.assertEqual(tl.dirtied(250000, 312500), pages(250, 312))
        self.assertEqual(tl.dirtied(0, 1000000), pages(0, 1000))

    def test_loops_past_the_end(self):
        tl = lab_replay.Timeline(SEQ.slices)
        self.assertEqual(tl.dirtied(950000, 1050000), pages(950, 1000) | pages(0, 50))
        self.assertEqual(tl.dirtied(2000000, 2100000), pages(0, 100))
        self.assertEqual(tl.dirtied(5, 5 + 3000000), pages(0, 1000))


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


class ReplayVmm(unittest.TestCase):
    def test_saturated_set_converges_after_round_0(self):
        # round 0: 1000 pages in 1000 ms, the same 100 pages dirtied;
        # 100 x 4096 B / 4.104 MB/s = 99.8 ms <= 300: stop-and-copy of
        # 100 pages in 100 ms.
        # (shrink-factor off: that rule has its own test)
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=0, shrink_factor=0)
        self.assertEqual((r["outcome"], r["stop_reason"], r["rounds"]),
                         ("completed", "converged", 2))
        self.assertAlmostEqual(r["total_ms"], 1100.0)
        self.assertAlmostEqual(r["downtime_ms"], 100.0)
        self.assertEqual(r["bytes"], 1100 * WIRE)
        self.assertEqual([x["dirty_pages"] for x in r["rounds_detail"]], [100, 0])
        self.assertEqual(r["trace_loops"], 0)

    def test_partial_slices_at_round_edges(self):
        # 0.25 ms a page. Round 0: 250 ms, slices 0-1 and half of slice 2:
        # pages 0..249. Round 1 sends them in 62.5 ms, [250, 312.5) ms:
        # the second half of slice 2 (50) and an eighth of slice 3
        # (round(12.5) = 12): 62 pages; 62 x 4096 / 16.416 MB/s = 15.5 ms
        # <= 20: stop-and-copy of 62 x 4108 B = 15.5 ms.
        r = run(SEQ, "vmm", 4 * MS_PER_PAGE, device_state=0, downtime_limit=20,
                shrink_factor=0)
        self.assertEqual([x["dirty_pages"] for x in r["rounds_detail"]], [250, 62, 0])
        self.assertEqual((r["rounds"], r["stop_reason"]), (3, "converged"))
        self.assertAlmostEqual(r["downtime_ms"], 15.5)
        self.assertAlmostEqual(r["total_ms"], 250 + 62.5 + 15.5)
        self.assertEqual(r["bytes"], (1000 + 250 + 62) * WIRE)

    def test_stop_copy_has_its_own_bandwidth(self):
        # As above, but the stop-and-copy runs at twice B (vmm does not
        # throttle it) and pausing and resuming cost 1 ms: 50 + 1 ms. The
        # policy decided with that bandwidth too (49.9 ms <= 300).
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=0, stop_bandwidth=2 * MS_PER_PAGE,
                downtime_overhead_ms=1, shrink_factor=0)
        self.assertEqual(r["rounds"], 2)
        self.assertAlmostEqual(r["downtime_ms"], 51.0)
        self.assertAlmostEqual(r["total_ms"], 1051.0)

    def test_another_round_while_the_set_halves(self):
        # HOT with shrink-factor 2 (the default): round 0 cut 1000 pages
        # to 100 (fits: 99.8 ms) but halved it, so round 1 sends them
        # (100 ms) and finds the same 100: not halved, converged. SEQ at
        # 4 pages/ms, limit 20 ms: 250 -> 62 (halved, over 50: go on)
        # -> round 2 sends 62 in 15.5 ms, [312.5, 328) ms of slice 3
        # (pages 300..399 in ascending order): its share 12.5%..28% less
        # the 12 pages round 1 took, 16 pages, at most 50: converged; a
        # pause of 16 pages (4 ms) instead of 62 (15.5 ms).
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("converged", 3))
        self.assertEqual([x["dirty_pages"] for x in r["rounds_detail"]], [100, 100, 0])
        self.assertAlmostEqual(r["total_ms"], 1200.0)
        r = run(SEQ, "vmm", 4 * MS_PER_PAGE, device_state=0, downtime_limit=20)
        self.assertEqual([x["dirty_pages"] for x in r["rounds_detail"]][:2], [250, 62])
        self.assertEqual((r["stop_reason"], r["rounds"]), ("converged", 4))
        self.assertEqual(r["rounds_detail"][2]["dirty_pages"], 16)
        self.assertAlmostEqual(r["downtime_ms"], 4.0)

    def test_rule_uses_the_link_not_the_throttle(self):
        # max-bandwidth holds pre-copy to a quarter of the link: round 0
        # takes 4 s and finds HOT's 100 pages; at the throttled rate they
        # would take 399 ms (> 300), but the engine judges by the link's
        # rate (stop-bandwidth): 99.8 ms, converged; 100 pages in 100 ms.
        r = run(HOT, "vmm", MS_PER_PAGE / 4, device_state=0, stop_bandwidth=MS_PER_PAGE,
                shrink_factor=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("converged", 2))
        self.assertAlmostEqual(r["total_ms"], 4100.0)
        self.assertAlmostEqual(r["downtime_ms"], 100.0)
        # Without stop-bandwidth the link is B itself: 399 ms, no stop.
        r = run(HOT, "vmm", MS_PER_PAGE / 4, device_state=0, max_sent_factor=0)
        self.assertEqual(r["stop_reason"], "no-progress")

    def test_device_state_counts_in_expected_downtime(self):
        # As HOT, but 1.2 MB of device state: (409600 + 1200000) B /
        # 4.104 MB/s = 392 ms > 300: round 1 (100 ms, 100 pages again).
        # Then no rule till no-progress: rounds 1..5 never beat 100.
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=1200000, max_sent_factor=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("no-progress", 7))

    def test_sent_factor_before_no_progress(self):
        # Every round sends all 1000 pages (1 s) and finds all 1000 dirty.
        # After round 2, 3 x 1000 x 4108 B > 3 x 4096000 B: max-sent-factor
        # (no-progress has only 2 rounds then). Round 3 is the stop-copy.
        r = run(SEQ, "vmm", MS_PER_PAGE, device_state=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("max-sent-factor", 4))
        self.assertAlmostEqual(r["total_ms"], 4000.0)
        self.assertEqual(r["trace_loops"], 2)  # 3 s of rounds on 1 s

    def test_stall_cancel_gives_up(self):
        r = run(SEQ, "vmm", MS_PER_PAGE, device_state=0, max_sent_factor=0,
                stall_action="cancel")
        # lowest 1000 at round 0, no new low in rounds 1..5: no-progress
        self.assertEqual((r["outcome"], r["stop_reason"], r["rounds"]),
                         ("did-not-converge", "no-progress", 6))
        self.assertIsNone(r["downtime_ms"])

    def test_first_rule_wins(self):
        # 30 pages dirty: converged and min-dirty-pages both hold; the
        # policy names converged first.
        t = make_trace([pages(0, 30)] * 10, 1000)
        r = run(t, "vmm", MS_PER_PAGE)
        self.assertEqual(r["stop_reason"], "converged")
        r = run(t, "vmm", MS_PER_PAGE, downtime_limit=0)
        self.assertEqual(r["stop_reason"], "min-dirty-pages")

    def test_boundaries_of_min_dirty_and_max_iterations(self):
        # exactly 50 pages dirty: min-dirty-pages holds (at most 50)
        t = make_trace([pages(0, 50)] * 10, 1000)
        r = run(t, "vmm", MS_PER_PAGE, downtime_limit=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("min-dirty-pages", 2))
        # max-iterations 3: rounds 0, 1, 2, then the stop-and-copy
        r = run(SEQ, "vmm", MS_PER_PAGE, downtime_limit=0, no_progress_rounds=0,
                max_sent_factor=0, max_iterations=3)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("max-iterations", 4))

    def test_zero_pages_cost_their_runs_and_scan(self):
        # HOT with 900 zero pages scanned at 100000 pages/s: round 0 is
        # 100 ms of data and 9 ms of scan, 100 x 4108 bytes and one
        # 12-byte ZERO_RUN entry (or as many as zero-runs says).
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=0, zero_pages=900, zero_rate=1e5)
        self.assertAlmostEqual(r["rounds_detail"][0]["duration_ms"], 109.0)
        self.assertEqual(r["rounds_detail"][0]["bytes"], 100 * WIRE + lab_replay.ENTRY)
        r = run(HOT, "vmm", MS_PER_PAGE, device_state=0, zero_pages=900, zero_runs=7)
        self.assertEqual(r["rounds_detail"][0]["bytes"], 100 * WIRE + 7 * lab_replay.ENTRY)
        # auto: the pages the trace never dirties (900 of them, one run)
        r = run(HOT, "vmm", MS_PER_PAGE, zero_pages="auto")
        self.assertEqual((r["zero_pages"], r["zero_runs"]), (900, 1))
        # pages 100-199 and 300-999 never dirtied: two runs
        gaps = make_trace([pages(0, 100), pages(200, 300)] * 5, 1000)
        r = run(gaps, "vmm", MS_PER_PAGE, zero_pages="auto")
        self.assertEqual((r["zero_pages"], r["zero_runs"]), (800, 2))

    def test_defaults_are_the_engines(self):
        with open(os.path.join(REPO, "migrate", "params.c")) as f:
            src = f.read()
        body = src[src.index("void migrate_params__defaults"):]
        c = dict(re.findall(r"p->(\w+) = ([\w.]+);", body[:body.index("\n}")]))
        d = lab_replay.VMM_DEFAULTS
        self.assertEqual(int(c["max_iterations"]), d["max-iterations"])
        self.assertEqual(int(c["downtime_limit_ms"]), d["downtime-limit"])
        self.assertEqual(int(c["min_dirty_pages"]), d["min-dirty-pages"])
        self.assertEqual(int(c["no_progress_rounds"]), d["no-progress-rounds"])
        self.assertEqual(float(c["max_sent_factor"]), d["max-sent-factor"])
        self.assertEqual(float(c["shrink_factor"]), d["shrink-factor"])
        self.assertEqual(c["stall_action"], "ON_STALL_STOP_COPY")


class ForecastPort(unittest.TestCase):
    def test_reproduces_the_engines_forecasts(self):
        # bench/forecast_error.py's copy of the old migrate/forecast.c, fed from the
        # statistics, gives the rounds and total time the engine recorded then
        # (the first run of the grid, made with that forecast)
        runs = forecast_error.load([os.path.join(REPO, "bench", "results",
                                                 "convergence-1rep-first")])
        rows = forecast_error.errors(runs)
        self.assertGreater(len(rows), 30)
        self.assertEqual([r["name"] for r in rows if not r["port_match"]], [])

    def test_mape(self):
        rows = [{"fc_x": 110, "real_x": 100}, {"fc_x": 50, "real_x": 100}]
        self.assertAlmostEqual(forecast_error.mape(rows, "x"), 30.0)


class ReplayOthers(unittest.TestCase):
    def test_xen_stops_at_3x_ram(self):
        # as the vmm case: 3 rounds of 1000 pages pass 3x RAM
        r = run(SEQ, "xen", MS_PER_PAGE)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("max-factor", 4))
        r = run(SEQ, "xen", MS_PER_PAGE, max_factor=100)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("max-rounds", 31))
        t = make_trace([pages(0, 49)] * 10, 1000)
        r = run(t, "xen", MS_PER_PAGE)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("min-pages", 2))
        # fewer than 50: 50 pages is not enough (vmm's rule is at most 50);
        # round 1 sends them in 50 ms, half a slice: 25 pages, then it is
        t = make_trace([pages(0, 50)] * 10, 1000)
        r = run(t, "xen", MS_PER_PAGE)
        self.assertEqual([x["dirty_pages"] for x in r["rounds_detail"]], [50, 25, 0])
        self.assertEqual((r["stop_reason"], r["rounds"]), ("min-pages", 3))

    def test_qemu_downtime_limit_and_timeout(self):
        # HOT: 100 x 4096 B / 4.104 MB/s = 99.8 ms <= 300
        r = run(HOT, "qemu", MS_PER_PAGE, device_state=0)
        self.assertEqual((r["stop_reason"], r["rounds"]), ("converged", 2))
        # ... but not <= 50: never better, cancelled after 5 s of rounds
        r = run(HOT, "qemu", MS_PER_PAGE, downtime_limit=50, timeout=5)
        # round 0 ends at 1 s, then 100 ms rounds: 1 + 40 x 0.1 = 5 s
        self.assertEqual((r["outcome"], r["stop_reason"], r["rounds"]),
                         ("did-not-converge", "timeout", 41))

    def test_bad_params(self):
        with self.assertRaises(lab_replay.ReplayError):
            lab_replay.parse_params("vmm", ["max-rounds=3"])
        with self.assertRaises(lab_replay.ReplayError):
            lab_replay.parse_params("ovirt", [])
        with self.assertRaises(lab_replay.ReplayError):
            lab_replay.parse_params("xen", ["max-rounds=x"])


if __name__ == "__main__":
    unittest.main()
