# On a shaped link the kernel holds megabytes of the stream (the send
# buffer and the qdisc's queue: ~20 ms at 1 Gbit/s). Once the stop is
# decided, the source lets the link carry them before it pauses the guest,
# so they do not cross inside the downtime, and the expected downtime the
# stop rule used is then what the downtime turns out to be. The run goes
# through bench/lab on its 1gbit link (two namespaces, veth, tbf); where
# namespaces cannot be made the test is skipped visibly.
. tests/integration/lib.bash
require_kvm
python3 -c 'import tomllib' 2>/dev/null || { echo "SKIP: python3 has no tomllib (needs 3.11)"; exit 77; }
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
	echo "SKIP: a shaped link needs root, ip and tc (network namespaces)"
	exit 77
fi
# shrink-factor 0 stops after round 0, whose tail fills the kernel's queue
# (megabytes) every time. With the default, a slow round 1 can leave more
# than min-dirty-pages and a round 2 of a few pages, whose queue (tens of
# KiB) is too short to tell a wait from scheduling noise.
cat >"$TMP/drain.toml" <<TOML
[experiment]
name = "link-drain"
repetitions = 2
warmup = "1s"
cooldown = "0s"
timeout = "60s"
[grid]
system = "vmm"
guest = { name = "memtouch", ws = "64M", rate = 1000 }
mem = "128M"
link = "1gbit"
params = { shrink-factor = 0 }
TOML
start lab bench/lab run "$TMP/drain.toml" --out "$TMP/out" --build "$BUILD"
wait_status "$LAST_PID" 180 0 "bench/lab run" lab
python3 -c 'import json, sys; l = json.load(open(sys.argv[1]))["1gbit"]["link"]
sys.exit(1 if l["fallback"] else 0)' "$TMP/out/links.json" || fail "the lab fell back to loopback"

# Each run: the queue was there and was waited for, and from the pause to
# READY, less parking the vCPUs and taking the state, took the expected
# downtime give or take half the queue's time (without the wait the queue
# crossed there, the whole of its time longer). Those parts, not the
# whole downtime: the rest is fixed work, slower under a sanitizer.
python3 - "$TMP/out" <<'PY' || fail "the link's queue crossed inside the downtime"
import glob, json, sys
bad = 0
for path in sorted(glob.glob(sys.argv[1] + "/runs/*.json")):
    s = json.load(open(path))["vmm_stats"]["src"]
    last = s["rounds"][-2]
    queued, waited = s.get("link_queued_bytes"), s.get("link_drain_us")
    if queued is None or waited is None:
        print("no link_queued_bytes / link_drain_us in the statistics")
        bad += 1
        continue
    queue_ms = queued * 1000.0 / last["link_bandwidth_bps"]
    crossing_ms = (s["downtime_last_ram_us"] + s["downtime_ready_us"]) / 1000.0
    over_ms = crossing_ms - last["expected_downtime_ms"]
    print("queued %d bytes (%.1f ms at the link's rate), waited %.1f ms; downtime %.1f ms, "
          "of which last pages and READY %.1f ms, expected %.1f ms" % (
              queued, queue_ms, waited / 1000.0, s["downtime_us"] / 1000.0, crossing_ms,
              last["expected_downtime_ms"]))
    problems = []
    if queued < 256 << 10:
        problems.append("less than 256 KiB queued: no shaped link?")
    if waited <= 0:
        problems.append("no wait before the pause")
    if over_ms > queue_ms / 2:
        problems.append("%.1f ms more than expected crossed the link" % over_ms)
    if problems:
        print("  " + "; ".join(problems))
        print("  rounds (pages sent, ms, expected downtime ms): %s" % [
            (r["pages_sent"], round(r["duration_us"] / 1000.0, 1),
             round(r["expected_downtime_ms"], 1)) for r in s["rounds"]])
    bad += bool(problems)
sys.exit(1 if bad else 0)
PY
echo "link drain: the kernel's queue crossed before the pause, downtime as expected"
