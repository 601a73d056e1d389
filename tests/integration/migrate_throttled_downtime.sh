# max-bandwidth throttles the pre-copy rounds only: the stop-and-copy runs
# at the link's own rate. The expected downtime, the policy's input, must
# therefore divide by that rate, not by the throttled average. A 4 MiB
# working set dirtied at 5000 pages/s under 8 MiB/s would take 500 ms at
# the throttled rate (above the 300 ms limit, every round, until the
# no-progress rule gives up), but a few ms at the link's rate: it must
# converge after round 0 or 1 and complete. The same holds for a round
# whose bytes are mostly disk blocks (migrate -b): the time slept between
# BLOCK sections is the throttle's too, not the link's.
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

# migrate -b of a 24 MiB image under 8 MiB/s: round 0 is three seconds
# of disk blocks, nearly all of them asleep in the throttle. Counted as
# link time, that sleep made the link look as slow as the cap (the
# stop rule then expected the last blocks to take as long in the pause).
note "block migration: the link's rate apart from the throttle's sleep"
head -c 24M /dev/urandom >"$TMP/disk.img"
truncate -s 24M "$TMP/disk-dst.img"
start bsrc "$VMM" --mem 16M --monitor "unix:$TMP/bsrc.sock" --stats-json "$TMP/bsrc.json" \
	--drive "file=$TMP/disk.img" "$GUESTS/idle.elf"
bspid=$LAST_PID
wait_sock "$TMP/bsrc.sock"
mon "$TMP/bsrc.sock" "migrate_set_parameter max-bandwidth 8M" | grep -q '^ok$' || fail "set max-bandwidth"
port=$(free_port)
start_dest bdst "$port" --drive "file=$TMP/disk-dst.img" --monitor "unix:$TMP/bdst.sock"
bdpid=$LAST_PID
mon "$TMP/bsrc.sock" "migrate -b tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate -b not accepted"
wait_status $bspid 60 0 "the source after migrate -b" bsrc
cmp -s "$TMP/disk.img" "$TMP/disk-dst.img" || fail "the destination's image differs"
r0=$(grep '"index": 0,' "$TMP/bsrc.json")
avg=$(num bandwidth_bps "$r0"); link=$(num link_bandwidth_bps "$r0")
cap=$((8 << 20))
[ -n "$avg" ] && [ -n "$link" ] || { echo "$r0"; fail "no rates in round 0"; }
awk -v a="$avg" -v c="$cap" 'BEGIN { exit !(a < 1.5 * c) }' || \
	{ echo "$r0"; fail "round 0 was not held to max-bandwidth"; }
awk -v l="$link" -v c="$cap" 'BEGIN { exit !(l > 4 * c) }' || \
	{ echo "$r0"; fail "round 0's link rate $link B/s is within 4x of the 8 MiB/s cap: the disk's sleep was counted as link time"; }
wait_sock "$TMP/bdst.sock"
mon "$TMP/bdst.sock" quit >/dev/null
wait_status $bdpid 10 0 "block destination after quit" bdst
echo "migrate_throttled_downtime: converged after $((rounds - 1)) pre-copy round(s) under max-bandwidth; block round 0's link rate $(awk -v l="$link" 'BEGIN { printf "%.0f", l / 1048576 }') MiB/s under an 8 MiB/s cap"
