# Ping-pong: one verify guest goes A -> B -> A three times, each hop a fresh
# destination vmm started with only --incoming and a monitor; every hop is
# started from the current holder's monitor. The guest then ends on its own
# on the last host, and its own verdict there is PASS, exit status 0:
# nothing in memory was corrupted on the way.
. tests/integration/lib.bash
require_kvm

# The guest ends by itself after DURATION s, on whichever host holds it
# then: long enough for six hops (about 8 s here) on a loaded machine.
DURATION=30
start hop0 "$VMM" --cpus 2 --mem 128M --monitor "unix:$TMP/hop0.sock" \
	"$GUESTS/verify.elf" -- ws=32M rate=2000 duration=$DURATION report=1
holder=0
pids[0]=$LAST_PID
wait_sock "$TMP/hop0.sock"
# Migrate a guest that is checking and rewriting pages, not one still
# booting: its first report line says it is.
wait_for "$TMP/hop0.out" "verify: t=" 20 || fail "the guest never started its workload"
for hop in 1 2 3 4 5 6; do
	grep -q "verify: PASS" "$TMP/hop$holder.out" &&
		fail "the guest finished before hop $hop: DURATION=$DURATION is too short for this machine"
	port=$(free_port)
	start_dest "hop$hop" "$port" --monitor "unix:$TMP/hop$hop.sock"
	pids[$hop]=$LAST_PID
	note "hop $hop: $holder -> $hop"
	mon "$TMP/hop$holder.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
	wait_status "${pids[$holder]}" 60 0 "hop $hop: source" "hop$holder"
	wait_for "$TMP/hop$hop.err" "the guest runs here" 10 || fail "hop $hop: destination does not run the guest"
	wait_sock "$TMP/hop$hop.sock"
	# A report line printed here proves the guest checks memory on the
	# new host before it moves on.
	wait_for "$TMP/hop$hop.out" "verify: t=" 20 || fail "hop $hop: the guest made no progress after arriving"
	holder=$hop
done
# The guest checks every page on every pass and once more at its end: a
# corrupt page ends it with a FAIL line and status 1.
grep -q "FAIL" "$TMP"/hop*.out && fail "verify reported corruption"
wait_status "${pids[$holder]}" $((DURATION + 60)) 0 "the guest's verdict on the last host" "hop$holder"
grep -q "^verify: PASS pages=8192 " "$TMP/hop$holder.out" || fail "no PASS line from the guest on the last host"
echo "migrate_pingpong: 6 hops (3 round trips), the guest passed on the last host"
