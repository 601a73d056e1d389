# max-bandwidth throttles the pre-copy rounds only: the stop-and-copy runs
# at the link's own rate. The expected downtime, the policy's input, must
# therefore divide by that rate, not by the throttled average. A 4 MiB
# working set dirtied at 5000 pages/s under 8 MiB/s would take 500 ms at
# the throttled rate (above the 300 ms limit, every round, until the
# no-progress rule gives up), but a few ms at the link's rate: it must
# converge after round 0 or 1 and complete.
# exclusive: convergence after round 0 or 1 depends on the link's measured rate.
. tests/integration/lib.bash
require_kvm

start src "$VMM" --mem 16M --monitor "unix:$TMP/src.sock" --stats-json "$TMP/src.json" \
	"$GUESTS/memtouch.elf" -- ws=4M rate=5000 report=1
spid=$LAST_PID
wait_sock "$TMP/src.sock"
# stall-action cancel: were the throttled rate used, the migration would
# give up after round 2 instead of completing.
for p in "max-bandwidth 8M" "no-progress-rounds 2" "stall-action cancel"; do
	mon "$TMP/src.sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "set $p"
done
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock"
dpid=$LAST_PID
mon "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_for "$TMP/src.err" "migration .*(completed|failed)" 60 || fail "migration did not end"
wait_status $spid 20 0 "source" src
grep -q '"stop_reason": "converged"' "$TMP/src.json" || \
	{ grep -E '"(stop_reason|round_count|error)"' "$TMP/src.json"; fail "did not converge"; }
rounds=$(sed -n 's/.*"round_count": \([0-9]*\).*/\1/p' "$TMP/src.json")
[ "$rounds" -le 3 ] || fail "$rounds rounds: more than round 0, 1 and the stop-and-copy"
# Round 0 was throttled: the link's rate is recorded beside the average,
# and is the faster one.
num() { sed -n "s/.*\"$1\": \([0-9.e+]*\).*/\1/p" <<<"$2"; }
r0=$(grep '"index": 0,' "$TMP/src.json")
avg=$(num bandwidth_bps "$r0"); link=$(num link_bandwidth_bps "$r0")
[ -n "$avg" ] && [ -n "$link" ] && awk -v a="$avg" -v l="$link" 'BEGIN { exit !(l > a) }' || \
	{ echo "$r0"; fail "link_bandwidth_bps missing or not above the average in round 0"; }
wait_sock "$TMP/dst.sock"
mon "$TMP/dst.sock" quit >/dev/null
wait_status $dpid 10 0 "destination after quit" dst
echo "migrate_throttled_downtime: converged after $((rounds - 1)) pre-copy round(s) under max-bandwidth"
