# A destination killed in round 0, in a later round, or during
# stop-and-copy, and a cancelled migration, all leave the source's guest
# running with memory intact; a second migration then succeeds.
. tests/integration/lib.bash
require_kvm

sock=$TMP/src.sock
start src "$VMM" --cpus 2 --mem 128M --monitor "unix:$sock" "$GUESTS/verify.elf" -- \
	ws=32M rate=3000 duration=0 report=1
spid=$LAST_PID
wait_sock "$sock"
# Migrate a guest that is checking and rewriting pages, not one still
# booting: its first report line says it is.
wait_for "$TMP/src.out" "verify: t=" 20 || fail "the guest never started its workload"
# Enough rounds that "round 2" exists: no early stop on a small dirty set,
# and no downtime rule (off at 0): with a 1 ms limit a fast round 0 left
# so few dirty pages that round 1 could already converge.
for p in "min-dirty-pages 0" "downtime-limit 0" "max-iterations 6"; do
	mon "$sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "set $p"
done

kill_at() {	# kill_at WHERE
	local port; port=$(free_port)
	note "destination killed at $1"
	VMM_TEST_KILL_AT=$1 start_dest dst "$port"
	local dpid=$LAST_PID
	mon "$sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
	wait_exit $dpid 30 || fail "destination was not killed at $1"
	mon_wait "$sock" "status: failed" 30 || fail "source did not notice the dead destination ($1)"
	kill -0 $spid 2>/dev/null || fail "source died"
	mon "$sock" "info status" | grep -q "running" || fail "source guest not running after $1"
	local before; before=$(grep -c "verify: t=" "$TMP/src.out")
	wait_count "$TMP/src.out" "verify: t=" "$before" 20 || fail "guest made no progress after $1"
	grep -q "FAIL" "$TMP/src.out" && fail "memory corrupted after $1"
}

kill_at round:0
kill_at round:2
kill_at state

note "cancel during a bandwidth-limited round 0"
mon "$sock" "migrate_set_parameter max-bandwidth 2M" | grep -q '^ok$' || fail "set max-bandwidth"
port=$(free_port)
start_dest dst "$port"
mon "$sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$sock" "status: active" 10 || fail "migration never active"
# Progress shows while round 0 is still running.
mon_wait "$sock" "ram: [0-9.]+ [KMG]iB transferred" 10 || fail "no progress shown during round 0"
mon "$sock" "info migrate" | grep -q "^rounds: 0$" || fail "round 0 already over: the check above proved nothing"
mon "$sock" "migrate_cancel" | grep -q '^ok$' || fail "cancel refused"
mon_wait "$sock" "status: cancelled" 10 || fail "not cancelled"
mon "$sock" "info status" | grep -q "running" || fail "guest not running after cancel"
kill "$LAST_PID" 2>/dev/null

note "and now a migration that succeeds"
mon "$sock" "migrate_set_parameter max-bandwidth 0" | grep -q '^ok$' || fail "reset max-bandwidth"
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock"
dpid=$LAST_PID
mon "$sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_status $spid 60 0 "source after the migration" src
wait_for "$TMP/dst.err" "the guest runs here" 10 || fail "destination not running the guest"
wait_sock "$TMP/dst.sock"
mon "$TMP/dst.sock" "info migrate" | grep -q "^incoming migration" || fail "destination's info migrate"
mon "$TMP/dst.sock" "info migrate" | grep -q "^status: completed" || fail "destination's info migrate status"
# Two report lines on the destination: the guest has checked its memory
# there for a while (it checks in a loop and reports each second).
wait_count "$TMP/dst.out" "verify: t=" 1 20 || fail "guest made no progress on the destination"
grep -q "FAIL" "$TMP/dst.out" && fail "memory corrupted on the destination"
mon "$TMP/dst.sock" quit >/dev/null
wait_status $dpid 10 0 "destination after quit" dst
echo "migrate_failures: every failure left the guest running; the retry succeeded"
