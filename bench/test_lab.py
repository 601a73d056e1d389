"""Unit tests of the lab (python3 -m unittest, from bench/; run by
tests/integration/lab_unit.sh): the experiment parser, link presets,
serial timing, aggregation, tables, comparison, and the vmm driver end to
end against a fake vmm that speaks QMP (bench/lab_fakevmm.py)."""
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import types
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab_config  # noqa: E402
import lab_report  # noqa: E402
import lab_serial  # noqa: E402

GOOD = """
[experiment]
name = "t"
repetitions = 3
warmup = "500ms"
[grid]
system = ["vmm", "qemu"]
guest = [{ name = "idle" }, { name = "memtouch", ws = "64M", rate = [0, 1000] }]
mem = ["256M", "1G"]
link = ["loopback", "1gbit,delay=1ms"]
"""


def parse(text):
    return lab_config.parse_experiment(text, "x.toml")


class Parser(unittest.TestCase):
    def test_grid_is_the_product_of_every_axis(self):
        spec = parse(GOOD)
        # 2 systems x 3 guests (idle, memtouch x 2 rates) x 2 sizes x 2 links
        self.assertEqual(len(spec["points"]), 24)
        self.assertEqual(spec["experiment"]["repetitions"], 3)
        self.assertEqual(spec["experiment"]["warmup"], 0.5)
        p = spec["points"][0]
        self.assertEqual(p["system"], "vmm")
        self.assertEqual(p["guest"], {"name": "idle"})
        self.assertEqual(p["mem"], 256 << 20)
        self.assertEqual(p["cpus"], 1)
        self.assertEqual(p["params"], {"downtime-limit": 300, "max-bandwidth": 0})
        rates = sorted(q["guest"].get("rate", -1) for q in spec["points"])
        self.assertEqual(rates.count(0), 8)
        self.assertEqual(len({q["id"] for q in spec["points"]}), 24)

    def test_params_expand_and_override_defaults(self):
        spec = parse('[grid]\nsystem = "vmm"\nguest = "idle"\n'
                     'params = { downtime-limit = [100, 300], max-iterations = 5 }\n')
        self.assertEqual([p["params"] for p in spec["points"]], [
            {"downtime-limit": 100, "max-bandwidth": 0, "max-iterations": 5},
            {"downtime-limit": 300, "max-bandwidth": 0, "max-iterations": 5}])

    def expect_error(self, text, *words):
        with self.assertRaises(lab_config.ConfigError) as cm:
            parse(text)
        for w in words:
            self.assertIn(w, str(cm.exception))
        self.assertIn("x.toml", str(cm.exception))

    def test_unknown_keys_are_named(self):
        self.expect_error('[experiment]\nrepetition = 2\n[grid]\nguest = "idle"\n',
                          "[experiment] repetition", "unknown key", "repetitions")
        self.expect_error('[grid]\nguest = "idle"\nram = ["1G"]\n',
                          "[grid] unknown key 'ram'", "mem")
        self.expect_error('[grids]\nguest = "idle"\n', "unknown section", "grids")

    def test_bad_values_say_what_is_expected(self):
        self.expect_error('[grid]\nguest = "idle"\nmem = "12Q"\n', "[grid] mem",
                          "'12Q' is not a size")
        self.expect_error('[grid]\nguest = "idle"\nsystem = "xen"\n',
                          "unknown system 'xen'")
        self.expect_error('[grid]\nguest = "idle"\ncpus = 0\n', "vCPU count")
        self.expect_error('[grid]\nguest = "idle"\nlink = "2gbit"\n',
                          "unknown preset '2gbit'")
        self.expect_error('[grid]\nguest = "idle"\nparams = { downtime-limit = -1 }\n',
                          "downtime-limit=-1", "non-negative")
        self.expect_error('[experiment]\nwarmup = "soon"\n[grid]\nguest = "idle"\n',
                          "'soon' is not a duration")
        self.expect_error('[experiment]\nrepetitions = 0\n[grid]\nguest = "idle"\n',
                          "repetitions", ">= 1")
        self.expect_error('[grid]\nguest = { rate = 5 }\n', "needs a name")
        self.expect_error('[grid\n', "not valid TOML")

    def test_empty_grid_is_an_error(self):
        self.expect_error('[grid]\nguest = "idle"\nsystem = []\n',
                          "[grid] system is empty", "no points")
        self.expect_error('[grid]\nguest = { name = "memtouch", rate = [] }\n',
                          "no points")
        self.expect_error('[experiment]\nname = "x"\n', "no [grid]")
        self.expect_error('[grid]\nsystem = "vmm"\n', "guest", "missing")

    def test_duplicate_points_are_refused(self):
        self.expect_error('[grid]\nguest = ["idle", "idle"]\n', "appears twice")


class Links(unittest.TestCase):
    def test_presets(self):
        self.assertEqual(lab_config.parse_link("loopback"),
                         {"name": "loopback", "rate_bps": None, "delay_s": 0.0,
                          "loss_pct": 0.0})
        self.assertEqual(lab_config.parse_link("1gbit")["rate_bps"], 10**9)
        self.assertEqual(lab_config.parse_link("10gbit")["rate_bps"], 10**10)
        self.assertEqual(lab_config.parse_link("25gbit")["rate_bps"], 25 * 10**9)
        link = lab_config.parse_link("10gbit,delay=500us,loss=0.1%")
        self.assertEqual((link["rate_bps"], link["delay_s"], link["loss_pct"]),
                         (10**10, 0.0005, 0.1))
        link = lab_config.parse_link("loopback,delay=2ms")
        self.assertEqual((link["rate_bps"], link["delay_s"]), (None, 0.002))
        self.assertTrue(lab_config.link_is_shaped(link))
        self.assertFalse(lab_config.link_is_shaped(lab_config.parse_link("loopback")))
        self.assertEqual(lab_config.parse_link("rate=500mbit")["rate_bps"], 5 * 10**8)

    def test_bad_links(self):
        for text, words in (("100gbit", "unknown preset"),
                            ("1gbit,jitter=1ms", "unknown link option 'jitter'"),
                            ("1gbit,loss=200%", "not a percentage"),
                            ("1gbit,delay=soon", "not a duration"),
                            ("1gbit,10gbit", "must be key=value"),
                            ("", "is not a link")):
            with self.assertRaises(lab_config.ConfigError) as cm:
                lab_config.parse_link(text)
            self.assertIn(words, str(cm.exception))


class LinkFallback(unittest.TestCase):
    def test_without_namespaces_a_shaped_link_is_loopback_capped(self):
        import lab_links
        import lab_run
        saved = lab_links.cannot_make_namespaces
        lab_links.cannot_make_namespaces = lambda: "not root"
        try:
            spec = lab_config.parse_link("1gbit")
            link = lab_links.make(spec)
        finally:
            lab_links.cannot_make_namespaces = saved
        self.assertEqual((link.fallback, link.dst_ip, link.prefix("src"),
                          link.namespaced()), ("not root", "127.0.0.1", [], False))

        class Q:
            calls = []

            def command(self, name, args=None, timeout=None):
                self.calls.append((name, args))
                return {"max-bandwidth": 1}

        point = {"params": {"downtime-limit": 300, "max-bandwidth": 0,
                            "max-iterations": 9}, "link": spec, "capabilities": {}}
        record = {"link": link.describe(), "qmp": {}}
        import lab_systems
        lab_run._set_params(lab_systems.Qemu("build"), Q(), point, link, record)
        self.assertEqual(Q.calls[0], ("migrate-set-parameters",
                                      {"downtime-limit": 300, "max-bandwidth": 125000000}))
        self.assertEqual(record["params_skipped"], ["max-iterations"])
        self.assertEqual(record["link"]["max_bandwidth_fallback"], 125000000)


class Serial(unittest.TestCase):
    def test_gap_uses_the_vmm_stamps_when_both_sides_have_them(self):
        src = [{"t": 10.0, "ts": 100.0, "text": "tick 1 t_us=1"},
               {"t": 10.1, "ts": 100.010, "text": "tick 2 t_us=2"}]
        dst = [{"t": 10.5, "ts": 100.050, "text": "tick 3 t_us=3"}]
        gap, how = lab_serial.heartbeat_gap(src, dst)
        self.assertAlmostEqual(gap, 0.040)
        self.assertIn("timestamps", how)
        for ln in src + dst:
            ln["ts"] = None
        gap, how = lab_serial.heartbeat_gap(src, dst)
        self.assertAlmostEqual(gap, 0.4)
        self.assertIn("arrival", how)
        self.assertEqual(lab_serial.heartbeat_gap(src, []), (None, None))

    def test_file_tap_reads_stamps_and_stamps_a_line_by_its_first_byte(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "serial")
            tap = lab_serial.FileTap(path, path + ".log", stamped=True)
            with open(path, "w") as f:
                f.write("[12.500000] tick 0 t_us=1\n[12.600000] tick 1")
                f.flush()
                self.assertIsNotNone(tap.wait_for(r"^tick 0", 5))
                time.sleep(0.05)
                t_before = time.monotonic()
            tap.stop()
            lines = tap.snapshot()
            self.assertEqual([ln["text"] for ln in lines], ["tick 0 t_us=1", "tick 1"])
            self.assertEqual([ln["ts"] for ln in lines], [12.5, 12.6])
            self.assertTrue(lines[1]["partial"])
            self.assertLess(lines[1]["t"], t_before)  # first byte, not the flush
        finally:
            shutil.rmtree(d)

    def test_memtouch_rates_sum_the_cpus(self):
        lines = [{"t": 1.0, "ts": None, "text": "memtouch: t=1.00s cpu=0 pages=5 rate=500 pages/s"},
                 {"t": 1.1, "ts": None, "text": "memtouch: t=1.00s cpu=1 pages=5 rate=700 pages/s"},
                 {"t": 2.0, "ts": None, "text": "memtouch: t=2.00s cpu=0 pages=9 rate=400 pages/s"}]
        self.assertEqual(lab_serial.memtouch_rates(lines), [(1.0, 1200), (2.0, 400)])


def fake_record(system, total_ms, downtime_ms, outcome="completed", rep=0,
                point_id=None, error=None, mem=256 << 20):
    point = {"system": system, "guest": {"name": "memtouch", "rate": 1000},
             "mem": mem, "cpus": 1, "link": lab_config.parse_link("loopback"),
             "params": {"downtime-limit": 300, "max-bandwidth": 0},
             "capabilities": {}}
    point["id"] = point_id or lab_config.point_id(point)
    final = {"status": outcome, "total-time": total_ms, "downtime": downtime_ms,
             "setup-time": 2, "ram": {"transferred": 100 << 20, "remaining": 0,
                                      "dirty-sync-count": 4, "normal": 100,
                                      "duplicate": 10}, "_t": 1.0}
    r = {"point": point, "point_id": point["id"], "repetition": rep,
         "outcome": outcome, "error": error, "times": {"migrate_mono": 5.0},
         "samples": [{"status": "active", "_t": 0.1, "ram": {
             "dirty-sync-count": 1, "remaining": 4096 * 1000, "normal": 0,
             "duplicate": 0}}, final],
         "qmp": {"src_migrate": final}, "serial": {"src": [
             {"t": 4.0, "ts": None, "text": "memtouch: t=1.00s cpu=0 pages=1 rate=999 pages/s"}],
             "dst": []}, "proc": {}, "vmm_stats": None}
    if outcome != "completed":
        r["qmp"] = {}
        r["samples"] = r["samples"][:1]
    return r


class Aggregation(unittest.TestCase):
    def test_summary_from_qemu_fields(self):
        s = lab_report.summarize(fake_record("qemu", 1500, 30))
        self.assertEqual((s["status"], s["total_ms"], s["downtime_ms"], s["rounds"],
                          s["bytes"], s["stop_reason"]),
                         ("completed", 1500, 30, 4, 100 << 20, "converged"))
        self.assertEqual(s["dirty_rate_pps"], 999)
        self.assertEqual(s["guest_rate_pps"], {"before": 999, "during": None,
                                               "after": None})
        self.assertEqual(s["round_detail"][0]["dirty_pages"], 1000)
        self.assertEqual(s["round_detail"][0]["pages_sent"], 110)

    def test_summary_prefers_vmm_statistics(self):
        r = fake_record("vmm", 1500, 30)
        r["vmm_stats"] = {"src": {"total_us": 900000, "downtime_us": 4500,
                                  "setup_us": 100, "round_count": 3,
                                  "bytes_total": 7, "stop_reason": "min-dirty-pages",
                                  "status": "completed", "rounds": [
                                      {"index": 0, "start_us": 0, "dirty_pages": 9,
                                       "pages_sent": 9}]}}
        s = lab_report.summarize(r)
        self.assertEqual((s["total_ms"], s["downtime_ms"], s["rounds"], s["bytes"],
                          s["stop_reason"]), (900.0, 4.5, 3, 7, "min-dirty-pages"))
        self.assertEqual(s["round_source"], "vmm --stats-json")

    def test_medians_ranges_and_failures(self):
        self.sample_points()

    def sample_points(self):
        runs = [fake_record("qemu", t, d, rep=i) for i, (t, d) in
                enumerate(((1000, 10), (3000, 30), (2000, 50)))]
        runs.append(fake_record("qemu", None, None, "did-not-converge", rep=3,
                                error="did not converge within 60 s: cancelled"))
        runs.append(fake_record("qemu", None, None, "failed", rep=4,
                                error="Read section footer failed"))
        for r in runs:
            r["summary"] = lab_report.summarize(r)
        pts = lab_report.aggregate(runs)
        self.assertEqual(len(pts), 1)
        e = next(iter(pts.values()))
        self.assertEqual(e["runs"], 5)
        self.assertEqual(e["failures"], 2)
        self.assertEqual(e["outcomes"], {"completed": 3, "did-not-converge": 1,
                                         "failed": 1})
        self.assertEqual(e["total_ms"], {"median": 2000, "min": 1000, "max": 3000, "n": 3})
        self.assertEqual(e["downtime_ms"]["median"], 30)
        self.assertIsNone(e["client_downtime_ms"])
        return pts

    def test_table(self):
        text = lab_report.table(self.sample_points())
        rows = [ln for ln in text.splitlines() if ln.startswith("| qemu")]
        self.assertEqual(len(rows), 1)
        cells = [c.strip() for c in rows[0].split("|")[1:-1]]
        self.assertEqual(cells[:7], ["qemu", "memtouch(rate=1000)", "256M", "1",
                                     "loopback", "5 (2)", "2000 (1000-3000)"])
        self.assertEqual(cells[7], "30.0 (10.0-50.0)")
        self.assertEqual(cells[8], "-")
        self.assertIn("converged x3", cells[12])
        self.assertIn("did-not-converge x1", cells[12])
        self.assertIn("failed x1", cells[12])
        self.assertIn("Failure: Read section footer failed", text)
        self.assertIn("downtime-limit=300", text)

    def test_a_link_that_is_not_what_was_asked_is_flagged(self):
        r = fake_record("qemu", 1000, 10)
        r["link"] = {"fallback": None, "not_applied":
                     "delay and loss not applied: this kernel has no netem qdisc"}
        r["summary"] = lab_report.summarize(r)
        text = lab_report.table(lab_report.aggregate([r]))
        self.assertIn("| loopback (!) |", text)
        self.assertIn("(!) Link loopback: delay and loss not applied", text)
        r["link"] = {"fallback": "not root", "not_applied": None}
        text = lab_report.table(lab_report.aggregate([r]))
        self.assertIn("(!) Link loopback: not shaped (not root): loopback with "
                      "max-bandwidth", text)

    def test_compare_pairs_points_and_gives_ratios(self):
        a = [fake_record("qemu", 1000, 10), fake_record("qemu", 3000, 30, rep=1)]
        b = [fake_record("qemu", 1000, 5), fake_record("qemu", 1000, 5, rep=1),
             fake_record("vmm", 10, 1)]
        for r in a + b:
            r["summary"] = lab_report.summarize(r)
        text = lab_report.compare(lab_report.aggregate(a), lab_report.aggregate(b),
                                  "old", "new")
        row = [ln for ln in text.splitlines() if ln.startswith("| qemu")][0]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        self.assertEqual(cells[4:7], ["2000 (1000-3000)", "1000", "0.50"])
        self.assertEqual(cells[9], "0.25")
        self.assertIn("Only in new: vmm_", text)


    def test_versus_puts_two_systems_of_a_point_on_one_row(self):
        runs = [fake_record("vmm", 500, 2, rep=0), fake_record("vmm", 700, 6, rep=1),
                fake_record("qemu", 1200, 40, rep=0),
                fake_record("qemu", None, None, "did-not-converge", rep=1,
                            error="did not converge within 60 s: cancelled"),
                fake_record("vmm", 100, 1, mem=1 << 30)]
        for r in runs:
            r["summary"] = lab_report.summarize(r)
        text = lab_report.versus(lab_report.aggregate(runs))
        rows = [ln for ln in text.splitlines() if ln.startswith("| 256M")]
        self.assertEqual(len(rows), 1)
        cells = [c.strip() for c in rows[0].split("|")[1:-1]]
        self.assertEqual(cells[3:9], ["600 (500-700)", "1200", "0.50",
                                      "4.0 (2.0-6.0)", "40.0", "0.10"])
        self.assertEqual(cells[10], "converged x2 / converged x1, did-not-converge x1")
        # A point only one system ran: its row, the other side "-".
        row = [ln for ln in text.splitlines() if ln.startswith("| 1G")][0]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        self.assertEqual((cells[3], cells[4], cells[5]), ("100", "-", "-"))
        self.assertEqual(cells[10], "converged / -")


class FakeVmmDriver(unittest.TestCase):
    """The vmm driver and the runner against bench/lab_fakevmm.py: the
    command lines, QMP, timestamped serial, --stats-json, the outcomes."""

    def setUp(self):
        import lab_links
        import lab_run
        import lab_systems
        self.lab_run, self.lab_systems, self.lab_links = lab_run, lab_systems, lab_links
        self.build = tempfile.mkdtemp()
        os.makedirs(os.path.join(self.build, "guests"))
        fake = os.path.join(self.build, "vmm")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (
                sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "lab_fakevmm.py")))
        os.chmod(fake, stat.S_IRWXU)
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        os.environ.pop("FAKE_VMM_MODE", None)
        shutil.rmtree(self.build)
        shutil.rmtree(self.tmp)

    def run_one(self, mode, timeout=10.0, migrate=None, grid="", **exp_extra):
        os.environ["FAKE_VMM_MODE"] = mode
        spec = parse('[experiment]\nwarmup = 0.1\ncooldown = 0.2\ntimeout = %g\n'
                     'sample_interval = 0.05\n[grid]\nsystem = "vmm"\n'
                     'guest = { name = "heartbeat", period = 10000 }\nmem = "64M"\n'
                     'params = { max-iterations = 7 }\n%s' % (timeout, grid))
        drv = self.lab_systems.make("vmm", self.build)
        self.assertIsNone(drv.missing())
        self.assertTrue(drv.timestamps())
        point, exp = spec["points"][0], spec["experiment"]
        exp.update(exp_extra)
        if migrate:
            point["migrate"] = migrate
        link = self.lab_links.make(point["link"])
        rec = self.lab_run.new_record(point, exp, {}, drv, link, 0)
        self.lab_run.one_run(drv, point, exp, link, self.tmp, rec)
        rec["summary"] = lab_report.summarize(rec)
        json.dumps(rec, default=str)  # the record is JSON
        for side in ("src", "dst"):
            self.assertIsNotNone(rec["proc"][side]["exit_status"])
        return rec

    def test_completed_run(self):
        rec = self.run_one("converge")
        src = rec["argv"]["src"]
        self.assertEqual(src[:5], [os.path.join(self.build, "vmm"), "--mem", "64M",
                                   "--cpus", "1"])
        self.assertIn("--qmp", src)
        self.assertTrue(src[src.index("--serial") + 1].endswith(",timestamps"))
        self.assertEqual(src[-3:], ["--", "period=10000", "duration=0"])
        self.assertIn("--incoming", rec["argv"]["dst"])
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        self.assertEqual(rec["qmp"]["parameters"]["max-iterations"], 7)
        self.assertEqual(rec["qmp"]["dst_status"]["status"], "running")
        s = rec["summary"]
        self.assertEqual((s["total_ms"], s["downtime_ms"], s["rounds"], s["stop_reason"]),
                         (1234.0, 12.0, 3, "converged"))
        self.assertEqual([r["dirty_pages"] for r in s["round_detail"]], [16384, 300, 40])
        self.assertEqual(s["client_downtime_source"], "vmm serial timestamps")
        self.assertGreater(s["client_downtime_ms"], 0)
        self.assertTrue(any(e["event"] == "MIGRATION" for e in rec["events"]["src"]))
        self.assertGreaterEqual(len(rec["samples"]), 3)

    def test_dirty_limit_goes_to_the_source_only(self):
        # It throttles the source's vCPUs: the lab sets it there only,
        # and gives both sides the ring.
        rec = self.run_one("converge", grid="capabilities = { dirty-limit = true }\n")
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        for side in ("src", "dst"):
            argv = rec["argv"][side]
            self.assertEqual(argv[argv.index("--dirty-ring") + 1], "4096")

    def test_a_point_adds_its_migrate_arguments(self):
        rec = self.run_one("converge", migrate={"blk": True})
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        self.assertIn("disk", rec["samples"][0])

    def test_waits_for_the_destination_line_it_is_told(self):
        rec = self.run_one("converge", dst_until=r"^tick 1020 ", cooldown=10.0)
        self.assertIsNotNone(rec["times"]["dst_until"])
        self.assertTrue(any(ln["text"].startswith("tick 1020 ")
                            for ln in rec["serial"]["dst"]))

    def test_a_destination_line_that_never_comes_ends_the_wait(self):
        rec = self.run_one("converge", dst_until=r"^never", cooldown=0.3)
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        self.assertIsNone(rec["times"]["dst_until"])

    def test_times_of_a_completion_reported_before_they_are_known(self):
        rec = self.run_one("zerotimes")
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        final = rec["qmp"]["src_migrate"]
        self.assertEqual((final["total-time"], final["downtime"]), (1234, 12))

    def test_source_that_exits_when_done(self):
        rec = self.run_one("exit")
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        self.assertEqual(rec["proc"]["src"]["exit_status"], 0)
        self.assertEqual(rec["summary"]["rounds"], 3)

    def test_destination_monitor_that_comes_with_the_vm(self):
        rec = self.run_one("lateqmp")
        self.assertEqual(rec["outcome"], "completed", rec.get("error"))
        self.assertEqual(rec["qmp"]["dst_status"]["status"], "running")
        self.assertTrue(any("no QMP at dst.qmp" in n for n in rec["notes"]))

    def test_time_limit_cancels(self):
        rec = self.run_one("never", timeout=0.3)
        self.assertEqual(rec["outcome"], "did-not-converge")
        self.assertIn("did not converge within 0.3 s", rec["error"])
        self.assertEqual(rec["summary"]["status"], "did-not-converge")

    def test_failure_keeps_the_message(self):
        rec = self.run_one("fail")
        self.assertEqual(rec["outcome"], "failed")
        self.assertEqual(rec["error"], "destination closed the connection")

    def test_destination_that_dies_fails_the_run_with_its_words(self):
        rec = self.run_one("dstfail")
        self.assertEqual(rec["outcome"], "failed")
        self.assertEqual(rec["error"], "destination: vmm: incoming migration failed: "
                         "stream ended in the middle of a RAM section")
        self.assertEqual(rec["summary"]["status"], "failed")
        self.assertEqual(rec["proc"]["dst"]["exit_status"], 1)


ORDER = """
[experiment]
repetitions = 2
%s
[grid]
system = %s
guest = [{ name = "idle" }, { name = "heartbeat" }]
mem = "64M"
"""


class RunOrder(unittest.TestCase):
    """The order of the runs (issue 7): a repetition of every point at a
    time and a point's systems one after the other, so that what drifts
    on the host lands on both; the runner itself, its runs stood in for."""

    def setUp(self):
        import lab_run
        self.lab_run = lab_run
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def stand_in(self, name, value):
        self.addCleanup(setattr, self.lab_run, name, getattr(self.lab_run, name))
        setattr(self.lab_run, name, value)

    def runs_taken(self, order="", systems='["vmm", "qemu"]'):
        """(system, guest, repetition) of every run run_experiment takes,
        in order, and its progress lines; each run takes a minute of a
        stand-in clock."""
        path = os.path.join(self.tmp, "x.toml")
        with open(path, "w") as f:
            f.write(ORDER % (order, systems))
        taken, lines, clock = [], [], [0.0]

        class Driver:
            def __init__(self, name):
                self.name = name

            def version(self):
                return "stand-in"

            def refuses(self, point):
                return None

        def usable(points, only_systems, build, log, systems=None):
            return {n: Driver(n) for n in lab_config.SYSTEMS}, {}

        def run_and_write(sysdrv, point, exp, host, rep, anchor, out, images=None):
            taken.append((sysdrv.name, point["guest"]["name"], rep))
            clock[0] += 60
            return {"summary": {"status": "stood-in"}}

        self.stand_in("_usable_systems", usable)
        self.stand_in("host_info", lambda systems: {})
        self.stand_in("_measure_anchor", lambda spec, log: {})
        self.stand_in("_run_and_write", run_and_write)
        self.stand_in("time", types.SimpleNamespace(monotonic=lambda: clock[0]))
        done, skipped = self.lab_run.run_experiment(
            path, os.path.join(self.tmp, "out"),
            log=lambda text, **kw: lines.append(text))
        self.assertEqual((done, skipped), (len(taken), {}))
        return taken, [ln for ln in lines if ln.startswith("lab: point ")]

    def test_each_repetition_runs_a_points_systems_one_after_the_other(self):
        taken, progress = self.runs_taken()
        self.assertEqual(taken, [
            ("vmm", "idle", 0), ("qemu", "idle", 0),
            ("vmm", "heartbeat", 0), ("qemu", "heartbeat", 0),
            # the second repetition the other way round, so neither
            # system is always first after the run of another point
            ("qemu", "idle", 1), ("vmm", "idle", 1),
            ("qemu", "heartbeat", 1), ("vmm", "heartbeat", 1)])
        # The point's place in its repetition; the ETA from runs done of 8.
        self.assertEqual([ln.split()[2:5] for ln in progress],
                         [["%d/4" % (i % 4 + 1), "rep", "%d/2" % (i // 4 + 1)]
                          for i in range(8)])
        self.assertTrue(progress[0].endswith("elapsed 0m00s  ETA ?"))
        for done, ln in enumerate(progress[1:], 1):
            self.assertTrue(ln.endswith("elapsed %dm00s  ETA %dm00s" % (
                done, 8 - done)), ln)

    def test_systems_in_the_order_the_grid_lists_them(self):
        taken, _ = self.runs_taken(systems='["qemu", "vmm"]')
        self.assertEqual(taken[:4], [("qemu", "idle", 0), ("vmm", "idle", 0),
                                     ("qemu", "heartbeat", 0), ("vmm", "heartbeat", 0)])

    def test_blocks_is_the_order_of_before(self):
        taken, progress = self.runs_taken('order = "blocks"')
        self.assertEqual(taken, [
            ("vmm", "idle", 0), ("vmm", "idle", 1),
            ("vmm", "heartbeat", 0), ("vmm", "heartbeat", 1),
            ("qemu", "idle", 0), ("qemu", "idle", 1),
            ("qemu", "heartbeat", 0), ("qemu", "heartbeat", 1)])
        self.assertEqual(progress[2].split()[2:5], ["2/4", "rep", "1/2"])

    def test_order_is_checked_and_not_in_a_runs_settings(self):
        spec = parse(ORDER % ("", '"vmm"'))
        self.assertEqual(spec["order"], "interleaved")
        self.assertNotIn("order", spec["experiment"])
        self.assertEqual(parse(ORDER % ('order = "blocks"', '"vmm"'))["order"], "blocks")
        with self.assertRaises(lab_config.ConfigError) as cm:
            parse(ORDER % ('order = "random"', '"vmm"'))
        self.assertIn("x.toml: [experiment] order: 'random'", str(cm.exception))
        self.assertIn("interleaved", str(cm.exception))
        self.assertIn("blocks", str(cm.exception))


DISK = """
[grid]
system = ["vmm", "qemu"]
guest = [{ name = "idle" }, { name = "disktouch", ws = "64M", rate = [100, 1000] }]
params = { max-bandwidth = 134217728 }
disk = { size = "256M", mode = ["block", "incremental"] }
"""


class Disks(unittest.TestCase):
    """An experiment's disk: parsing, validation, each system's drive
    options, the disk figures of a run and the table's disk columns."""

    def test_disk_is_a_grid_axis(self):
        spec = parse(DISK)
        # 2 systems x 3 guests x 2 modes
        self.assertEqual(len(spec["points"]), 12)
        p = spec["points"][0]
        self.assertEqual(p["disk"], {"size": 256 << 20, "mode": "block", "overlay": None})
        self.assertEqual(p["migrate"], {"blk": True})
        self.assertTrue(p["id"].endswith("_block-256M"), p["id"])
        inc = spec["points"][1]
        self.assertEqual(inc["disk"], {"size": 256 << 20, "mode": "incremental",
                                       "overlay": 16 << 20})
        self.assertEqual(inc["migrate"], {"blk": True, "inc": True})
        self.assertTrue(inc["id"].endswith("_incremental-256M+16M"), inc["id"])
        shared = parse('[grid]\nguest = "idle"\ndisk = { mode = "shared" }\n')
        self.assertEqual(shared["points"][0]["migrate"], {})
        self.assertEqual(shared["points"][0]["disk"]["size"], 256 << 20)

    def test_without_a_disk_a_point_is_as_before(self):
        for p in parse(GOOD)["points"]:
            self.assertNotIn("disk", p)
            self.assertNotIn("migrate", p)
        both = parse('[grid]\nsystem = "vmm"\nguest = "idle"\n'
                     'disk = ["none", { size = "1M" }]\n')["points"]
        self.assertEqual([p.get("disk", {}).get("mode") for p in both], [None, "block"])

    def expect_error(self, grid, *words):
        Parser.expect_error(self, "[grid]\nsystem = \"vmm\"\n" + grid, *words)

    def test_bad_disks_say_what_is_expected(self):
        self.expect_error('guest = "idle"\ndisk = { mode = "copy" }\n',
                          "[grid] disk", "disk mode 'copy'", "block", "incremental",
                          "shared")
        self.expect_error('guest = "idle"\ndisk = { size = "256M", sise = 1 }\n',
                          "unknown disk key 'sise'", "size, mode, overlay")
        self.expect_error('guest = "idle"\ndisk = { size = "12Q" }\n',
                          "disk size", "'12Q' is not a size")
        self.expect_error('guest = "idle"\ndisk = { size = 1000 }\n',
                          "multiple of 64K")
        self.expect_error('guest = "idle"\ndisk = { mode = "block", overlay = "1M" }\n',
                          "overlay is for mode incremental only")
        self.expect_error('guest = "idle"\ndisk = { size = "1M", mode = "incremental", '
                          'overlay = "2M" }\n', "at most the disk's size")
        self.expect_error('guest = "idle"\ndisk = "yes"\n', "not a disk table")
        self.expect_error('guest = "idle"\ndisk = []\n', "no points")

    def test_what_a_point_asks_of_its_disk(self):
        self.expect_error('guest = { name = "disktouch", rate = 100 }\n',
                          "guest disktouch needs a disk")
        self.expect_error('guest = { name = "diskverify", ws = "128M" }\n'
                          'disk = { size = "64M" }\n', "ws=128M is larger than the disk")
        # The default ws (64M) counts too.
        self.expect_error('guest = "disktouch"\ndisk = { size = "32M" }\n',
                          "ws=64M is larger")
        with self.assertRaises(lab_config.ConfigError) as cm:
            parse('[grid]\nsystem = "qemu"\nguest = "idle"\ndisk = { size = "1M" }\n')
        self.assertIn("sends nothing with max-bandwidth 0", str(cm.exception))
        # Shared storage migrates no block: no bandwidth needed.
        parse('[grid]\nsystem = "qemu"\nguest = "idle"\n'
              'disk = { size = "1M", mode = "shared" }\n')

    def test_each_system_gets_its_drive_on_both_sides(self):
        import lab_run
        import lab_systems
        for p in parse(DISK)["points"][:1] + parse(DISK)["points"][6:7]:
            drv = lab_systems.make(p["system"], "B")
            plain = lab_run.RunCtx(p, "T", lab_run.lab_links.make(p["link"]), 1)
            ctx = lab_run.RunCtx(p, "T", lab_run.lab_links.make(p["link"]), 1,
                                 {"src": ("/i/s.img", "raw"), "dst": ("/i/d.img", "raw")})
            src, dst = drv.source_argv(ctx), drv.dest_argv(ctx)
            self.assertNotIn("file=", " ".join(drv.source_argv(plain) +
                                                drv.dest_argv(plain)))
            if p["system"] == "vmm":
                i = src.index("--drive")
                self.assertEqual(src[i:i + 3], ["--drive", "file=/i/s.img,format=raw",
                                                os.path.join("B", "guests", "idle.elf")])
                self.assertEqual(dst[-2:], ["--drive", "file=/i/d.img,format=raw"])
            else:
                self.assertEqual(src[-2:], ["-drive", "file=/i/s.img,if=virtio,format=raw"])
                self.assertEqual(dst[-2:], ["-drive", "file=/i/d.img,if=virtio,format=raw"])

    def disk_record(self, system):
        r = fake_record(system, 1000, 10)
        r["point"]["disk"] = {"size": 1 << 20, "mode": "block", "overlay": None}
        r["disk"] = {"compare": {"identical": True}, "dst_disk_usage": 4096}
        if system == "vmm":
            r["vmm_stats"] = {"src": {"total_us": 900000, "downtime_us": 4500,
                                      "round_count": 2, "bytes_total": 7,
                                      "status": "completed", "disk_total": 1 << 20,
                                      "disk_transferred": 3 << 19, "disk_remaining": 0,
                                      "rounds": [
                                          {"index": 0, "start_us": 0, "dirty_pages": 9,
                                           "pages_sent": 9, "dirty_blocks": 1},
                                          {"index": 1, "start_us": 5, "dirty_pages": 1,
                                           "pages_sent": 1, "dirty_blocks": 2}]}}
        else:
            r["samples"].insert(1, {"status": "active", "_t": 0.5, "disk": {
                "transferred": 1 << 19, "total": 1 << 20, "remaining": 1 << 19}})
        return r

    def test_disk_figures_of_a_run(self):
        vmm = lab_report.summarize(self.disk_record("vmm"))["disk"]
        self.assertEqual((vmm["bytes"], vmm["total"], vmm["remaining"],
                          vmm["dirty_blocks"], vmm["identical"]),
                         (3 << 19, 1 << 20, 0, [1, 2], True))
        qemu = lab_report.summarize(self.disk_record("qemu"))["disk"]
        self.assertEqual((qemu["bytes"], qemu["remaining"], qemu["dirty_blocks"]),
                         (1 << 19, 1 << 19, None))
        self.assertIn("last active sample at 0.500 s", qemu["from"])
        self.assertNotIn("disk", lab_report.summarize(fake_record("vmm", 1, 1)))

    def test_table_has_disk_columns_only_with_a_disk(self):
        runs = [self.disk_record("vmm"), self.disk_record("qemu")]
        text = lab_report.table(lab_report.aggregate(runs))
        self.assertIn("| disk | guest writes/s | disk MiB | images identical | "
                      "dirty blocks per round", text)
        rows = [ln for ln in text.splitlines() if ln.startswith(("| vmm", "| qemu"))]
        self.assertTrue(rows[0].endswith("| block-1M | - | 1.5 | 1/1 | 1 2 |"), rows[0])
        self.assertTrue(rows[1].endswith("| block-1M | - | 0.5 | 1/1 | - |"), rows[1])
        self.assertNotIn("differ", text)
        plain = lab_report.table(lab_report.aggregate([fake_record("vmm", 1, 1)]))
        self.assertNotIn("disk MiB", plain)
        self.assertNotIn("differ", plain)

    def test_a_writing_guest_has_its_rate_and_no_verdict_on_the_images(self):
        r = self.disk_record("vmm")
        r["point"]["guest"] = {"name": "disktouch", "rate": 100}
        r["serial"]["src"] = [
            {"t": 3.0, "text": "disktouch: ws=67108864 bs=4096 rate=100 pattern=random"},
            {"t": 4.0, "text": "disktouch: t=1000 ms writes=100 rate=99/s MB/s=0"},
            {"t": 4.5, "text": "disktouch: t=2000 ms writes=100 rate=97/s MB/s=0"},
            {"t": 6.0, "text": "disktouch: t=3000 ms writes=10 rate=10/s MB/s=0"}]
        d = lab_report.summarize(r)["disk"]
        self.assertEqual(d["writes_per_s"], 98)  # before migrate (t 5.0) only
        self.assertIsNone(d["identical"])
        self.assertIn("writes on the destination", d["identical_note"])

    @unittest.skipUnless(shutil.which("qemu-img"), "qemu-img not installed")
    def test_images_per_run(self):
        import lab_disk
        work = tempfile.mkdtemp()
        try:
            images = lab_disk.Images(work)
            for mode in ("block", "incremental", "shared"):
                disk = {"size": 1 << 20, "mode": mode,
                        "overlay": 128 << 10 if mode == "incremental" else None}
                tmp = os.path.join(work, "run-" + mode)
                os.mkdir(tmp)
                d = lab_disk.prepare(disk, images, tmp)
                self.assertEqual(d["src"][1], "qcow2" if mode == "incremental" else "raw")
                after = lab_disk.after_run(disk, d)
                if mode == "shared":
                    self.assertEqual(d["src"], d["dst"])
                    self.assertIsNone(after["compare"])
                    continue
                # A fresh destination differs until something is copied.
                self.assertFalse(after["compare"]["identical"])
                self.assertNotEqual(d["src"][0], images.source(disk)["src"][0])
                lab_disk.qemu_img("convert", "-n", "-f", d["src"][1], "-O",
                                  d["dst"][1], d["src"][0], d["dst"][0])
                self.assertTrue(lab_disk.after_run(disk, d)["compare"]["identical"])
            # block and shared share one source image; incremental has its own
            self.assertEqual(len(images.made), 2)
        finally:
            shutil.rmtree(work)


SYSTEMS = """
[systems.qemu10]
kind = "qemu"
binary = "build/qemu-bpo/bin/qemu-system-x86_64"
datadir = ["build/qemu-bpo/root/usr/share/qemu", "/abs/seabios"]

[grid]
system = ["vmm", "qemu10"]
guest = { name = "memtouch", ws = "64M", rate = 0 }
params = { vcpu-dirty-limit = 1, x-vcpu-dirty-limit-period = 1000 }
capabilities = [{}, { auto-converge = true }, { dirty-limit = true }]
"""


def fake_qemu(d, version):
    """An executable that answers --version as a QEMU would (no VM)."""
    path = os.path.join(d, "qemu-%s" % version)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho 'QEMU emulator version %s (Debian)'\n" % version)
    os.chmod(path, 0o755)
    return path


class OtherSystems(unittest.TestCase):
    """[systems.NAME]: another QEMU binary as a system of its own, the
    dirty ring a point gives both systems for dirty-limit, and what a
    QEMU's version refuses up front. No VM runs."""

    def test_systems_table_defines_a_grid_system(self):
        spec = parse(SYSTEMS)
        repo = os.path.dirname(os.path.dirname(os.path.abspath(lab_config.__file__)))
        self.assertEqual(spec["systems"], {"qemu10": {
            "kind": "qemu",
            "binary": os.path.join(repo, "build/qemu-bpo/bin/qemu-system-x86_64"),
            "datadir": [os.path.join(repo, "build/qemu-bpo/root/usr/share/qemu"),
                        "/abs/seabios"]}})
        self.assertEqual([p["system"] for p in spec["points"]],
                         ["vmm"] * 3 + ["qemu10"] * 3)
        self.assertTrue(spec["points"][3]["id"].startswith("qemu10_memtouch"))
        # Without the table the name is unknown, and the message says where
        # names come from.
        Parser.expect_error(self, '[grid]\nsystem = "qemu10"\nguest = "idle"\n',
                            "unknown system 'qemu10'", "vmm, qemu", "[systems.NAME]")
        self.assertEqual(parse('[grid]\nguest = "idle"\n')["systems"], {})

    def test_bad_systems_say_what_is_expected(self):
        def bad(table, *words):
            Parser.expect_error(self, table + '[grid]\nsystem = "vmm"\nguest = "idle"\n',
                                *words)
        bad('[systems.qemu]\nkind = "qemu"\nbinary = "q"\n', "[systems.qemu]",
            "built in")
        bad('[systems.q]\nkind = "qemu"\nbinary = "q"\nbios = "b"\n',
            "unknown key 'bios'", "kind, binary, datadir")
        bad('[systems.q]\nkind = "xen"\nbinary = "q"\n', "kind = 'xen'", "qemu")
        bad('[systems.q]\nkind = "qemu"\n', "binary", "missing")
        bad('[systems.q]\nkind = "qemu"\nbinary = "q"\ndatadir = [1]\n',
            "datadir", "-L")
        bad('[systems]\nq = 1\n', "[systems.q]", "not a table")

    def test_dirty_limit_gives_both_systems_a_ring(self):
        points = parse(SYSTEMS)["points"]
        caps = [sorted(p["capabilities"]) for p in points]
        self.assertEqual(caps[:3], [[], ["auto-converge"], ["dirty-limit"]])
        self.assertEqual([p.get("dirty-ring") for p in points],
                         [None, None, 4096] * 2)
        self.assertTrue(points[2]["id"].endswith("_dirty-limit=on_ring4096"),
                        points[2]["id"])
        self.assertNotIn("ring", points[0]["id"])
        # A ring the grid sizes, with or without dirty-limit.
        p = parse('[grid]\nsystem = "vmm"\nguest = "idle"\ndirty-ring = [0, 1024]\n'
                  'capabilities = { auto-converge = true }\n')["points"]
        self.assertEqual([q.get("dirty-ring") for q in p], [None, 1024])

    def test_bad_rings_and_dirty_limit_settings_are_refused(self):
        Parser.expect_error(self, '[grid]\nguest = "idle"\ndirty-ring = 1000\n',
                            "[grid] dirty-ring", "1000", "power of two from 256")
        Parser.expect_error(self, '[grid]\nguest = "idle"\ndirty-ring = 128\n',
                            "power of two from 256")
        Parser.expect_error(self, '[grid]\nguest = "idle"\ndirty-ring = 0\n'
                            'capabilities = { dirty-limit = true }\n',
                            "dirty-limit needs the dirty ring")
        Parser.expect_error(self, '[grid]\nguest = "idle"\ncapabilities = '
                            '{ dirty-limit = true, auto-converge = true }\n',
                            "cannot be on together")
        Parser.expect_error(self, '[grid]\nguest = "idle"\n'
                            'params = { vcpu-dirty-limit = 0 }\n',
                            "vcpu-dirty-limit=0", ">= 1", "MB/s")

    def argv(self, drv, point):
        import lab_run
        ctx = lab_run.RunCtx(point, "T", lab_run.lab_links.make(point["link"]), 1)
        return drv.source_argv(ctx), drv.dest_argv(ctx)

    def test_qemu_argv_has_the_binary_datadirs_and_ring(self):
        import lab_systems
        d = tempfile.mkdtemp()
        try:
            with open(os.path.join(d, "qboot.rom"), "wb"):
                pass
            text = SYSTEMS.replace('"build/qemu-bpo/root/usr/share/qemu"', '"%s"' % d)
            spec = parse(text)
            drv = lab_systems.make("qemu10", "B", spec["systems"])
            self.assertEqual((drv.name, drv.kind), ("qemu10", "qemu"))
            binary = spec["systems"]["qemu10"]["binary"]
            for point, accel in ((spec["points"][3], "kvm"),
                                 (spec["points"][5], "kvm,dirty-ring-size=4096")):
                for argv in self.argv(drv, point):
                    self.assertEqual(argv[:3], [binary, "-accel", accel])
                    i = argv.index("-L")
                    self.assertEqual(argv[i:i + 4], ["-L", d, "-L", "/abs/seabios"])
                    # this QEMU's own qboot, not the system QEMU's
                    self.assertEqual(argv[i + 4:i + 6], ["-bios", os.path.join(d, "qboot.rom")])
                    self.assertIn(os.path.join("B", "guests", "memtouch.elf"), argv)
            src, dst = self.argv(drv, spec["points"][5])
            self.assertIn("-incoming", dst)
            # The system's QEMU keeps its command line: no -L, plain kvm.
            qemu = dict(spec["points"][5], system="qemu")
            src, dst = self.argv(lab_systems.make("qemu", "B"), qemu)
            self.assertEqual(src[:3], ["qemu-system-x86_64", "-accel",
                                       "kvm,dirty-ring-size=4096"])
            self.assertNotIn("-L", src + dst)
        finally:
            shutil.rmtree(d)

    def test_vmm_gets_its_ring_on_both_sides(self):
        import lab_systems
        points = parse(SYSTEMS)["points"]
        drv = lab_systems.make("vmm", "B")
        for argv in self.argv(drv, points[2]):
            i = argv.index("--dirty-ring")
            self.assertEqual(argv[i + 1], "4096")
        for argv in self.argv(drv, points[1]):
            self.assertNotIn("--dirty-ring", argv)

    def test_old_qemu_refuses_dirty_limit_up_front(self):
        import lab_run
        import lab_systems
        d = tempfile.mkdtemp()
        try:
            points = parse(SYSTEMS)["points"][3:]
            old = lab_systems.Qemu("B", "qemu72", fake_qemu(d, "7.2.22"))
            new = lab_systems.Qemu("B", "qemu10", fake_qemu(d, "10.0.2"))
            # Its dirty-limit parameters alone are refused too: 7.2's QMP
            # does not know them.
            for p in points:
                why = old.refuses(p)
                self.assertIn("QEMU 7.2", why)
                self.assertIn("QEMU 8.1 added", why)
            none = dict(points[0], params={"downtime-limit": 300})
            self.assertIsNone(old.refuses(none))
            self.assertEqual([new.refuses(p) for p in points], [None] * 3)
            log = []
            out = lab_run.refused_points(points[2:] + [none], {"qemu10": old},
                                         log.append)
            self.assertEqual(list(out), [points[2]["id"]])
            self.assertEqual(len(log), 1)
            self.assertIn("lab: SKIP point %s: qemu72 is QEMU 7.2" % points[2]["id"],
                          log[0])
        finally:
            shutil.rmtree(d)

    def test_new_qemu_refuses_block_migration_up_front(self):
        import lab_run
        import lab_systems
        d = tempfile.mkdtemp()
        try:
            points = parse(SYSTEMS)["points"][3:]
            old = lab_systems.Qemu("B", "qemu72", fake_qemu(d, "7.2.22"))
            new = lab_systems.Qemu("B", "qemu10", fake_qemu(d, "10.0.2"))
            blk = dict(points[0], migrate={"blk": True}, params={})
            self.assertIn("9.1 removed block migration", new.refuses(blk))
            self.assertIsNone(old.refuses(blk))
            self.assertEqual([new.refuses(p) for p in points], [None] * 3)
            log = []
            out = lab_run.refused_points(points[:1] + [blk], {"qemu10": new},
                                         log.append)
            self.assertEqual(list(out), [blk["id"]])
            self.assertEqual(len(log), 1)
            self.assertIn("lab: SKIP point %s: qemu10 is QEMU 10.0" % blk["id"], log[0])
        finally:
            shutil.rmtree(d)

    def test_a_missing_binary_skips_the_system(self):
        import lab_systems
        drv = lab_systems.Qemu("B", "qemu10", "/nonexistent/qemu-system-x86_64")
        self.assertIn("/nonexistent/qemu-system-x86_64 missing or not executable",
                      drv.missing())
        self.assertIn("bench/qemu-backports", drv.missing())

    def test_report_shows_dirty_limit_per_vcpu(self):
        import autoconverge_report as ar
        vmm = fake_record("vmm", 1000, 10)
        vmm["point"]["capabilities"] = {"dirty-limit": True}
        vmm["qmp"]["parameters"] = {"vcpu-dirty-limit": 2}
        vmm["samples"][0]["vmm"] = {"vcpu_throttle_pct": [40, 0]}
        vmm["samples"][1]["vmm"] = {"vcpu_throttle_pct": [0, 0]}
        vmm["vmm_stats"] = {"src": {"vcpu_throttled_us": [1500000, 0]}}
        qemu = fake_record("qemu10", 1000, 10)
        qemu["point"]["capabilities"] = {"dirty-limit": True}
        qemu["point"]["params"]["vcpu-dirty-limit"] = 1
        qemu["samples"][0]["dirty-limit-throttle-time-per-round"] = 900
        qemu["samples"][1]["dirty-limit-throttle-time-per-round"] = 700
        rows = [ar.row(r) for r in (vmm, qemu, fake_record("qemu", 1000, 10))]
        self.assertEqual([(r["capability"], r["vcpu_limit_mbps"], r["vcpu_throttle_pct"],
                           r["throttled"]) for r in rows],
                         [("dirty-limit", 2, "0=40 1=0", "0=1500ms 1=0ms"),
                          ("dirty-limit", 1, None, "900us/round"),
                          ("none", None, None, None)])
        self.assertIn("| qemu10 | dirty-limit | - | completed |", ar.markdown(rows))
        self.assertEqual(ar.medians(rows)[0]["throttled"], "0=1500ms 1=0ms")

    def test_tables_put_other_systems_beside_vmm_and_qemu(self):
        recs = []
        for system in ("qemu10", "qemu", "vmm"):
            r = fake_record(system, 1000, 10)
            r["point"]["id"] = r["point_id"] = lab_config.point_id(r["point"])
            recs.append(r)
        points = lab_report.aggregate(recs)
        self.assertEqual([e["point"]["system"] for e in points.values()],
                         ["vmm", "qemu", "qemu10"])
        self.assertIn("| qemu10 | memtouch(rate=1000) |", lab_report.table(points))


class BlkQemu(unittest.TestCase):
    """bench/blk_qemu.py's pieces that need no VM: the run order, where
    each system's figures come from, the table, the drive options."""

    def setUp(self):
        import blk_qemu
        self.bq = blk_qemu

    def test_systems_alternate_and_swap_every_repetition(self):
        order = [(r, m, s) for r, m, s in self.bq.plan({"reps": 2})]
        self.assertEqual(order, [(0, "b", "vmm"), (0, "b", "qemu"), (0, "i", "vmm"),
                                 (0, "i", "qemu"), (1, "b", "qemu"), (1, "b", "vmm"),
                                 (1, "i", "qemu"), (1, "i", "vmm")])

    def record(self, final, samples=()):
        return {"outcome": "completed", "qmp": {"src_migrate": final},
                "samples": list(samples)}

    def test_disk_bytes_from_the_completed_reply_else_the_last_sample(self):
        final = {"total-time": 200, "setup-time": 5, "downtime": 3,
                 "ram": {"transferred": 4096}}
        vmm = self.bq.blk_summary(self.record(dict(final, disk={
            "transferred": 100, "total": 100, "remaining": 0})))
        self.assertEqual((vmm["disk_bytes"], vmm["disk_from"]),
                         (100, "completed query-migrate"))
        self.assertEqual((vmm["total_ms"], vmm["downtime_ms"], vmm["ram_bytes"]),
                         (200, 3, 4096))
        qemu = self.bq.blk_summary(self.record(final, [
            {"_t": 0.1, "disk": {"transferred": 40, "total": 100, "remaining": 60}},
            {"_t": 0.2, "disk": {"transferred": 90, "total": 100, "remaining": 10}},
            {"_t": 0.3}]))
        self.assertEqual(qemu["disk_bytes"], 90)
        self.assertIn("last active sample at 0.200 s (remaining 10)", qemu["disk_from"])

    def test_table_gives_medians_ratios_and_keeps_failures(self):
        def rec(system, mode, total, down, outcome="completed", error=None):
            return {"system": system, "repetition": 0, "point": {"id": mode + "-" + system},
                    "qmp": {"parameters": {"max-bandwidth": 0 if system == "vmm" else 7}},
                    "blk": {"mode": "-" + mode, "outcome": outcome, "error": error,
                            "total_ms": total, "setup_ms": 1, "downtime_ms": down,
                            "disk_bytes": 2**20, "ram_bytes": 2**20, "dst_disk_usage": 2**21,
                            "compare": {"identical": outcome == "completed"}}}
        records = [rec("vmm", "b", 100, 10), rec("vmm", "b", 300, 30),
                   rec("qemu", "b", 400, 5), rec("vmm", "i", 50, 2),
                   rec("qemu", "i", None, None, "failed", "Unable to write")]
        text = self.bq.table(records, {"max_bw": None, "mem": 2**28, "size": 2**29,
                                       "overlay": 2**24})
        self.assertIn("| -b | vmm | 2/2 | 200 | 1 | 20.0 | 1.0 | 1.0 | 2.0 | 2/2 | - |", text)
        self.assertIn("| -b | 0.50 | 4.00 |", text)
        self.assertIn("| -i | - | - |", text)
        self.assertIn("(in force: vmm no cap, qemu 7 B/s)", text)
        self.assertIn("- i-qemu r1: failed Unable to write", text)

    def test_diskverify_verdict_from_the_destination(self):
        rec = {"serial": {"dst": [{"text": "diskverify: t=100 writes=5 reads=5"},
                                  {"text": "diskverify: FAIL block=3 gen=2 word=0"}]}}
        self.assertEqual(self.bq.verdict(rec), "diskverify: FAIL block=3 gen=2 word=0")
        self.assertIsNone(self.bq.verdict({"serial": {"dst": []}}))

    def test_drives_on_both_command_lines(self):
        import lab_run
        import lab_systems
        for name in ("vmm", "qemu"):
            drv = lab_systems.make(name, "B")
            p = self.bq.point(name, "i", 2**28, None)
            self.assertEqual(p["migrate"], {"blk": True, "inc": True})
            ctx = lab_run.RunCtx(p, "T", lab_run.lab_links.make(p["link"]), 1,
                                 {"src": ("S,1", "qcow2"), "dst": ("D", "qcow2")})
            src, dst = drv.source_argv(ctx), drv.dest_argv(ctx)
            if name == "vmm":
                i = src.index("--drive")
                self.assertEqual(src[i:i + 3], ["--drive", "file=S,,1,format=qcow2",
                                                os.path.join("B", "guests", "idle.elf")])
                self.assertEqual(dst[-2:], ["--drive", "file=D,format=qcow2"])
            else:
                self.assertEqual(src[-2:], ["-drive", "file=S,,1,if=virtio,format=qcow2"])
                self.assertEqual(dst[-2:], ["-drive", "file=D,if=virtio,format=qcow2"])


class PreallocAndForecast(unittest.TestCase):
    TEXT = ('[experiment]\nforecast = "2s"\n[grid]\nguest = "idle"\n'
            'mem-prealloc = [false, true]\n')

    def test_prealloc_is_an_axis_named_in_the_id_only_when_on(self):
        spec = parse(self.TEXT)
        self.assertEqual(spec["experiment"]["forecast"], 2.0)
        pts = [p for p in spec["points"] if p["system"] == "vmm"]
        self.assertEqual([p.get("mem-prealloc") for p in pts], [None, True])
        self.assertFalse(pts[0]["id"].endswith("prealloc"))
        self.assertTrue(pts[1]["id"].endswith("_prealloc"), pts[1]["id"])
        self.assertEqual(parse(GOOD)["experiment"]["forecast"], 0.0)

    def test_bad_values_are_refused(self):
        Parser.expect_error(self, '[grid]\nguest = "idle"\nmem-prealloc = 1\n',
                            "[grid] mem-prealloc", "true or false")
        for f in ('"1500ms"', '"31s"'):
            Parser.expect_error(self, '[experiment]\nforecast = %s\n[grid]\n'
                                'guest = "idle"\n' % f, "[experiment] forecast",
                                "whole seconds, 1 to 30")

    def test_both_systems_preallocate_on_both_sides(self):
        import lab_systems
        pts = parse(self.TEXT)["points"]
        vmm = lab_systems.make("vmm", "B")
        vmm._help = "--mem-prealloc"
        plain = [p for p in pts if p["system"] == "vmm" and not p.get("mem-prealloc")][0]
        on = [p for p in pts if p["system"] == "vmm" and p.get("mem-prealloc")][0]
        src, dst = OtherSystems.argv(self, vmm, on)
        self.assertIn("--mem-prealloc", src)
        # a destination makes its RAM before it knows the source's size
        i = dst.index("--mem")
        self.assertEqual(dst[i:i + 5], ["--mem", "256M", "--cpus", "1", "--mem-prealloc"])
        self.assertIsNone(vmm.refuses(on))
        for argv in OtherSystems.argv(self, vmm, plain):
            self.assertNotIn("--mem-prealloc", argv)
            # both sides know the size, as QEMU's: the destination makes
            # its VM's shell before it listens
            i = argv.index("--mem")
            self.assertEqual(argv[i:i + 4], ["--mem", "256M", "--cpus", "1"])
        vmm._help = "no such option"
        self.assertIn("no --mem-prealloc", vmm.refuses(on))
        qemu = lab_systems.make("qemu", "B")
        for argv in OtherSystems.argv(self, qemu, dict(on, system="qemu")):
            self.assertIn("-mem-prealloc", argv)

    def test_forecast_gets_the_link_and_the_rounds_0_seen_before(self):
        import lab_run

        class Q:
            def command(self, name, args=None, timeout=None):
                self.asked = (name, args, timeout)
                return {"rounds": 3, "total-time": 120, "downtime": 1.5,
                        "bytes": 1000, "stop-reason": "converged", "converges": True}

        point = parse(self.TEXT)["points"][1]
        rec = {"link": {"anchor": {"bits_per_second": 8e9}}}
        q = Q()
        up = lab_run._upfront(q, 2.0, rec)
        self.assertEqual(q.asked, ("x-vmm-forecast", {"seconds": 2, "bandwidth": 10**9}, 32.0))
        self.assertEqual((up["total_us"], up["bytes"], up["round0_bps"]), (120e3, 1000, 0))
        lab_run._ROUND0_RATES.clear()
        def run(bw, data=2000, zero=0, outcome="completed"):
            lab_run._learn_round0(point, {"outcome": outcome, "vmm_stats": {"src": {
                "forecast": {"bandwidth_bps": bw},
                "rounds": [{"pages_sent": data + zero, "zero_pages": zero,
                            "bytes": data * 4108 + zero * 12}]}}})
        for bw in (3e8, 1e8, 2e8):
            run(bw)
        run(5e9, outcome="failed")
        run(5e9, data=20, zero=65516)   # an idle guest's round 0: no rate in it
        run(5e9, data=1000)             # less than a batch of data: none either
        rates = lab_run._ROUND0_RATES[lab_run._round0_key(point)]
        up = lab_run._upfront(q, 2.0, rec, rates)
        self.assertEqual(q.asked[1]["round0-bandwidth"], 2 * 10**8)
        self.assertEqual(up["round0_runs"], 3)
        self.assertNotIn("setup-us", q.asked[1])
        lab_run._ROUND0_RATES.clear()
        self.assertIn("no measured link rate", lab_run._upfront(q, 2, {"link": {}})["error"])


    def test_forecast_gets_the_fixed_costs_seen_before(self):
        import lab_run

        class Q:
            def command(self, name, args=None, timeout=None):
                self.asked = (name, args, timeout)
                return {"rounds": 2, "total-time": 4, "total-time-us": 4321, "downtime": 1.0,
                        "bytes": 1000, "stop-reason": "converged", "converges": True}

        point = parse(self.TEXT)["points"][1]
        lab_run._FIXED_COSTS.clear()

        def run(setup, rounds, drain, last_bytes, total, outcome="completed"):
            # a link of 8 Mbit/s: a byte a microsecond
            rec = {"outcome": outcome, "link": {"anchor": {"bits_per_second": 8e6}},
                   "vmm_stats": {"src": {
                       "setup_us": setup, "total_us": total, "link_drain_us": drain,
                       "device_state_bytes": 100,
                       "rounds": [{"duration_us": d, "bytes": 0} for d in rounds] +
                                 [{"duration_us": 0, "bytes": last_bytes}]}}}
            lab_run._learn_fixed(point, rec)
        # switchover: total - setup - pre-copy rounds - drain - (last pages + state)
        run(1000, [2000, 500], 300, 900, 5500)          # 5500-1000-2500-300-1000 = 700
        run(3000, [4000], 0, 400, 9000)                 # 9000-3000-4000-0-500 = 1500
        run(2000, [3000], 0, 0, 5000)                   # 5000-2000-3000-0-100 < 0: 0
        run(9e9, [1], 0, 0, 9e9, outcome="failed")      # not learnt
        costs = lab_run._FIXED_COSTS[lab_run._fixed_key(point)]
        self.assertEqual(costs, [(1000, 700.0), (3000, 1500.0), (2000, 0)])
        # another guest on the same link learns apart
        other = dict(point, guest={"name": point["guest"]["name"] + "-other"})
        self.assertNotIn(lab_run._fixed_key(other), lab_run._FIXED_COSTS)
        q = Q()
        rec = {"link": {"anchor": {"bits_per_second": 8e9}}}
        up = lab_run._upfront(q, 2.0, rec, None, costs)
        self.assertEqual((q.asked[1]["setup-us"], q.asked[1]["switchover-us"]), (2000, 700))
        self.assertEqual((up["setup_us"], up["switchover_us"], up["fixed_runs"]), (2000, 700, 3))
        self.assertEqual(up["total_us"], 4321)      # to the microsecond
        lab_run._FIXED_COSTS.clear()


class Plots(unittest.TestCase):
    def test_every_figure_is_written_from_json_alone(self):
        try:
            import lab_plot
        except ModuleNotFoundError:
            self.skipTest("matplotlib is not installed for this python3")
        d = tempfile.mkdtemp()
        try:
            os.makedirs(os.path.join(d, "runs"))
            recs = []
            for mem in (256 << 20, 1 << 30):
                # an experiment's own system ([systems.NAME]) as well
                for system in ("vmm", "qemu", "qemu10"):
                    for rep in range(2):
                        r = fake_record(system, 1000 + rep * 100 + mem / 2**20,
                                        10 + rep, rep=rep, mem=mem)
                        r["system"] = system
                        r["experiment"] = {"sample_interval": 0.05}
                        recs.append(r)
            recs.append(fake_record("qemu", None, None, "did-not-converge", rep=2,
                                    error="did not converge within 60 s: cancelled"))
            recs[-1]["system"] = "qemu"
            recs[-1]["experiment"] = {"sample_interval": 0.05}
            for mode, overlay in (("block", None), ("incremental", 16 << 20)):
                r = fake_record("vmm", 900, 9)
                r["point"]["disk"] = {"size": 256 << 20, "mode": mode, "overlay": overlay}
                r["point"]["id"] = r["point_id"] = lab_config.point_id(r["point"])
                r["system"] = "vmm"
                r["experiment"] = {"sample_interval": 0.05}
                recs.append(r)
            for r in recs:
                r["summary"] = lab_report.summarize(r)
                name = "%s-r%d.json" % (r["point_id"], r["repetition"] + 1)
                with open(os.path.join(d, "runs", name), "w") as f:
                    json.dump(r, f)
            files = [os.path.basename(f) for f in lab_plot.plot_all(d, ["png", "svg"])]
            for want in ("convergence-256M-loopback.png", "convergence-1G-loopback.svg",
                         "vs-dirty-rate-256M-loopback.png", "bytes-vs-ram-loopback.svg",
                         "table.md",
                         # each disk apart: its points would overlap the others
                         "convergence-256M-loopback-block-256M.png",
                         "vs-dirty-rate-256M-loopback-incremental-256M_16M.svg"):
                self.assertIn(want, files)
            for f in files:
                self.assertGreater(os.path.getsize(os.path.join(d, "figures", f)), 0)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
