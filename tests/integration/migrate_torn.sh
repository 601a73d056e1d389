# Torn pages end to end (stream 3.0): a verify guest rewriting whole pages
# as fast as it can is migrated ten times in a row. RAM goes out straight
# from guest memory, so a page rewritten between its CRC and the kernel's
# copy arrives torn; the destination must get every such page again intact
# in a later round (or refuse the stream at END). Every hop must succeed
# and the guest's own check must PASS on the last host: no torn page
# survived anywhere. How many pages arrived torn depends on timing and is
# only printed, never required.
. tests/integration/lib.bash
require_kvm

HOPS=10
# Long enough for ten hops on a loaded machine; the guest ends on its own.
DURATION=60
start hop0 "$VMM" --cpus 2 --mem 128M --monitor "unix:$TMP/hop0.sock" \
	"$GUESTS/verify.elf" -- ws=32M rate=100000 duration=$DURATION report=1
holder=0
pids[0]=$LAST_PID
wait_sock "$TMP/hop0.sock"
wait_for "$TMP/hop0.out" "verify: t=" 20 || fail "the guest never started its workload"
torn=0
for ((hop = 1; hop <= HOPS; hop++)); do
	grep -q "verify: PASS" "$TMP/hop$holder.out" &&
		fail "the guest finished before hop $hop: DURATION=$DURATION is too short for this machine"
	port=$(free_port)
	start_dest "hop$hop" "$port" --monitor "unix:$TMP/hop$hop.sock" \
		--stats-json "$TMP/hop$hop.json"
	pids[$hop]=$LAST_PID
	mon "$TMP/hop$holder.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
	wait_status "${pids[$holder]}" 60 0 "hop $hop: source" "hop$holder"
	wait_for "$TMP/hop$hop.err" "the guest runs here" 10 || fail "hop $hop: destination does not run the guest"
	wait_sock "$TMP/hop$hop.sock"
	wait_for "$TMP/hop$hop.json" "torn_pages" 10 || fail "hop $hop: no statistics from the destination"
	n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["torn_pages"])' "$TMP/hop$hop.json")
	note "hop $hop: $holder -> $hop, $n page(s) arrived torn and were sent again"
	torn=$((torn + n))
	wait_for "$TMP/hop$hop.out" "verify: t=" 20 || fail "hop $hop: the guest made no progress after arriving"
	holder=$hop
done
grep -q "FAIL" "$TMP"/hop*.out && fail "verify reported corruption"
wait_status "${pids[$holder]}" $((DURATION + 60)) 0 "the guest's verdict on the last host" "hop$holder"
grep -q "^verify: PASS pages=8192 " "$TMP/hop$holder.out" || fail "no PASS line from the guest on the last host"
echo "migrate_torn: $HOPS hops, 0 failures, $torn page(s) arrived torn in all, the guest passed on the last host"
