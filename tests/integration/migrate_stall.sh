# A guest that dirties its working set faster than a throttled link can
# carry it: the dirty set stops shrinking, the no-progress rule fires, and
# stall-action decides: stop-and-copy anyway (the migration completes, its
# stop reason says why), or give up (the guest stays on the source).
. tests/integration/lib.bash
require_kvm

start_source() {	# start_source NAME STALL_ACTION
	start "$1" "$VMM" --mem 16M --monitor "unix:$TMP/$1.sock" --stats-json "$TMP/$1.json" \
		"$GUESTS/memtouch.elf" -- ws=4M rate=5000 report=1
	SRC_PID=$LAST_PID
	wait_sock "$TMP/$1.sock"
	# 4 MiB dirtied far faster than 8 MiB/s can move it: no new low for
	# two rounds, after round 2 or 3 (whether round 1 still makes a low
	# depends on a few pages, such as the guest's report line, that round
	# 0's set caught or not). The downtime rule is off: the stop-and-copy is not
	# throttled, so at the link's rate those 4 MiB would fit any limit.
	for p in "max-bandwidth 8M" "no-progress-rounds 2" "stall-action $2" \
		"downtime-limit 0"; do
		mon "$TMP/$1.sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "set $p"
	done
}

note "stall-action cancel: give up, keep the guest"
start_source giveup cancel
port=$(free_port)
start_dest dst "$port"
dpid=$LAST_PID
mon "$TMP/giveup.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$TMP/giveup.sock" "status: failed" 60 || fail "did not give up"
mon "$TMP/giveup.sock" "info migrate" | grep -Eq "gave up after round [23]: no-progress" || \
	{ mon "$TMP/giveup.sock" "info migrate"; fail "reason not reported"; }
grep -q '"stop_reason": "no-progress"' "$TMP/giveup.json" || fail "JSON stop reason"
mon "$TMP/giveup.sock" "info status" | grep -q running || fail "guest not running after giving up"
wait_exit $dpid 30 || fail "destination still waiting"
[ "$EXIT_STATUS" -eq 1 ] || fail "destination exit $EXIT_STATUS"
mon "$TMP/giveup.sock" quit >/dev/null
wait_status $SRC_PID 10 0 "source that gave up, after quit" giveup

note "stall-action stop-copy: stop and copy anyway"
start_source anyway stop-copy
port=$(free_port)
start_dest dst2 "$port" --monitor "unix:$TMP/dst2.sock"
dpid=$LAST_PID
mon "$TMP/anyway.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_status $SRC_PID 60 0 "source that stopped and copied" anyway
grep -q "stop reason: no-progress" "$TMP/anyway.err" || { cat "$TMP/anyway.err"; fail "stop reason not no-progress"; }
grep -Eq '"round_count": [45],' "$TMP/anyway.json" || fail "expected rounds 0..2 or 0..3 plus stop-and-copy"
wait_sock "$TMP/dst2.sock"
mon "$TMP/dst2.sock" quit >/dev/null
wait_status $dpid 10 0 "destination after quit" dst2
echo "migrate_stall: no-progress fired; both stall actions did what they say"
