# Reported downtime against downtime as a client sees it. A heartbeat
# guest ticks every PERIOD us; both vmm's stamp their serial output with
# host time (--serial file:PATH,timestamps, one host clock), and the gap
# between the last tick the source printed and the first the destination
# printed is the client's view of the switchover.
#
# What the engine's downtime_us measures (migrate/STATS.md): from the
# source's decision to pause (before the vCPUs are parked) to the arrival
# of the destination's RESUMED. Against the client's gap G:
#   G >= D - pause - trip: the guest may still run (and tick) while its
#        vCPUs are being parked (downtime_pause_us), and the destination's
#        guest runs from before RESUMED reaches the source (RESUMED's trip
#        back: on loopback well under TRIP_SLACK_US);
#   G <= D + 1 ms + PERIOD + FIRST_TICK_SLACK_US: the guest sleeps
#        between ticks on a timer that the stop-and-copy carries across
#        with what it had left, so the time the sleep had run before the
#        pause plus what it still waits after the resume is at most one
#        period (+ 1 ms for printing a tick through emulated port I/O);
#        FIRST_TICK_SLACK_US covers the destination's vCPU thread being
#        scheduled. Measured here: G - D is close to PERIOD, as this says
#        for a count-down timer; a timer that expired during the pause
#        would tick at once and make G smaller, still inside the bounds.
# The slacks are generous for a loaded 2-core machine; a downtime that
# missed a phase, or counted one twice, is off by far more than them.
# exclusive: the client's gap is checked against the reported downtime with slacks
# sized for one test on the machine.
. tests/integration/lib.bash
require_kvm

PERIOD=10000
TRIP_SLACK_US=2000
FIRST_TICK_SLACK_US=2000

measure_once() {	# measure_once LABEL SOURCE-OPTIONS... -- GUEST ARGS
	local label=$1; shift
	local port; port=$(free_port)
	start_dest dst "$port" --serial "file:$TMP/dst.log,timestamps"
	local dpid=$LAST_PID
	start src "$VMM" --mem 256M --serial "file:$TMP/src.log,timestamps" \
		--migrate-to "tcp:127.0.0.1:$port" --migrate-after 1s \
		--stats-json "$TMP/src.json" "$@"
	wait_status "$LAST_PID" 60 0 "source ($label)" src
	wait_status "$dpid" 60 0 "destination ($label)" dst
	grep -q '"status": "completed"' "$TMP/src.json" || fail "$label: migration not completed"
	ticks_continuous <(sed 's/^\[[0-9.]*\] //' "$TMP/src.log") \
		<(sed 's/^\[[0-9.]*\] //' "$TMP/dst.log") || fail "$label: ticks not continuous"
	python3 - "$TMP/src.log" "$TMP/dst.log" "$TMP/src.json" "$PERIOD" \
		"$TRIP_SLACK_US" "$FIRST_TICK_SLACK_US" "$label" <<'PY' || fail "$label: downtime check"
import json, sys
sys.path.insert(0, "bench")
import serial_stamps
src, dst, js, period, trip, first, label = sys.argv[1:]
period, trip, first = int(period), int(trip), int(first)
try:
    gap = serial_stamps.heartbeat_gap(src, dst)["gap_us"]
except ValueError as e:
    sys.exit(str(e))
st = json.load(open(js))
dt, pause = st['downtime_us'], st['downtime_pause_us']
lo = dt - pause - trip
hi = dt + 1000 + period + first
parts = [st[f"downtime_{k}_us"] for k in ("pause", "last_ram", "state", "ready", "resumed")]
print(f"-- {label}: reported downtime {dt} us (pause {pause}, last ram "
      f"{st['downtime_last_ram_us']}, state {st['downtime_state_us']}, ready "
      f"{st['downtime_ready_us']}, resumed {st['downtime_resumed_us']}); client-seen gap {gap} us; "
      f"gap - downtime {gap - dt:+d} us; allowed [{lo}, {hi}]")
# Integers of one clock, each the difference of consecutive instants.
if sum(parts) != dt:
    sys.exit(f"the downtime's parts add up to {sum(parts)} us, not {dt} us")
if st["downtime_resume_us"] != st["downtime_ready_us"] + st["downtime_resumed_us"]:
    sys.exit("downtime_resume_us is not ready + resumed")
if not lo <= gap <= hi:
    sys.exit(f"client-seen gap {gap} us outside [{lo}, {hi}] us")
PY
}

measure_once "idle heartbeat" "$GUESTS/heartbeat.elf" -- period=$PERIOD duration=3
measure_once "heartbeat + 2nd vCPU" --cpus 2 "$GUESTS/heartbeat.elf" -- period=$PERIOD duration=3
echo "measure_downtime: the client-seen gap matches the reported downtime"
