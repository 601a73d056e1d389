# Ping-pong: one verify guest goes A -> B -> A three times, each hop a fresh
# destination vmm started with only --incoming and a monitor; every hop is
# started from the current holder's monitor. The guest's verdict at the end
# is 0 and nothing in memory was corrupted on the way.
. tests/integration/lib.bash
require_kvm

start hop0 "$VMM" --cpus 2 --mem 128M --monitor "unix:$TMP/hop0.sock" \
	"$GUESTS/verify.elf" -- ws=32M rate=2000 duration=0 report=1
holder=0
pids[0]=$LAST_PID
wait_sock "$TMP/hop0.sock"
sleep 0.5
for hop in 1 2 3 4 5 6; do
	port=$(free_port)
	start_dest "hop$hop" "$port" --monitor "unix:$TMP/hop$hop.sock"
	pids[$hop]=$LAST_PID
	note "hop $hop: $holder -> $hop"
	mon "$TMP/hop$holder.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
	wait_exit "${pids[$holder]}" 60 || fail "hop $hop: source did not finish"
	[ "$EXIT_STATUS" -eq 0 ] || { cat "$TMP/hop$holder.err"; fail "hop $hop: source exit $EXIT_STATUS"; }
	wait_for "$TMP/hop$hop.err" "the guest runs here" 10 || fail "hop $hop: destination does not run the guest"
	wait_sock "$TMP/hop$hop.sock"
	wait_for "$TMP/hop$hop.out" "verify: .*pass" 20 || fail "hop $hop: the guest made no progress after arriving"
	holder=$hop
	sleep 0.3
done
# End the guest where it is now and read its verdict: it checks every page
# on every pass, so a corrupt page would have ended it with status 1.
grep -q "FAIL" "$TMP"/hop*.out && fail "verify reported corruption"
mon "$TMP/hop$holder.sock" "quit" >/dev/null
wait_exit "${pids[$holder]}" 10 || fail "last holder did not quit"
echo "migrate_pingpong: 6 hops (3 round trips), memory intact"
