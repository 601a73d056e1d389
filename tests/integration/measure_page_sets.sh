# Per-round page sets against what the guest wrote (the KVM selftests'
# dirty_log_test rule: every page the guest wrote in a round is in that
# round's set). The verify guest rewrites random pages, whole, with a new
# generation, and keeps each page's generation in an array in RAM.
#
# Why a page the dirty log missed is caught. Say a write to page P in
# round k is not in round k's set. If P is written again later and that
# write is logged, P is sent again whole and nothing was lost. Otherwise
# the destination holds P as an earlier round sent it, an older
# generation. Then either the array's entry for P arrived newer (its page
# was logged, or written again later: the array page of 1024 entries is
# rewritten far more often than any one data page) and verify's own check
# fails on P ("an update was lost"), or the array page was missed alike
# and agrees with the stale P: the case the check alone cannot see, and
# exactly what a whole missing interval of the log (the last read before
# the pause skipped, say) produces. tally=1 closes it with a count kept
# outside RAM: every rewrite also reads the test device's counter (device
# state, moved by the stop-and-copy, never by the dirty log), and at the
# end the generations the pages hold must add up to the rewrites counted.
# The last two runs show both halves: corrupt=lost fakes a lost write and
# its array entry (consistent, stale); verify alone passes it, tally=1
# fails it, after a migration as before one.
#
# Runs under several rates and round settings (a cap on bandwidth forces
# many rounds; max-iterations 1 sends everything of round 0's interval in
# the stop-and-copy; the plain dirty log), 1 and 2 vCPUs.
# exclusive: a round-end fit run must see rounds cut part-way, which needs the guest
# to dirty at its full rate.
. tests/integration/lib.bash
require_kvm
require_cmd socat

SOCK=$TMP/mon.sock

migrate_verify() {	# migrate_verify LABEL WANT_STATUS "PARAMS" VMM-OPTS... -- GUEST-ARGS...
	local label=$1 want=$2 params=$3; shift 3
	local port; port=$(free_port)
	note "$label"
	start_dest dst "$port" --serial "file:$TMP/dst.log" --stats-json "$TMP/dst.json"
	local dpid=$LAST_PID
	rm -f "$SOCK"
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	start src "$VMM" --serial "file:$TMP/src.log" --monitor "unix:$SOCK" \
		--stats-json "$TMP/src.json" "${opts[@]}" "$GUESTS/verify.elf" -- "$@"
	local spid=$LAST_PID
	wait_sock "$SOCK"
	wait_for "$TMP/src.log" "verify: t=1" 20 || fail "$label: verify did not start"
	local p
	while IFS= read -r p; do
		[ -n "$p" ] && mon_check "$SOCK" "migrate_set_parameter $p" "^ok"
	done <<<"$params"
	mon_check "$SOCK" "migrate tcp:127.0.0.1:$port" "^ok"
	wait_status "$spid" 120 0 "$label: source" src
	wait_status "$dpid" 120 "$want" "$label: destination" dst
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))
print("   %d rounds (%s), pages per round %s, downtime %.1f ms" % (s["round_count"], s["stop_reason"],
      [r["pages_sent"] for r in s["rounds"]], s["downtime_us"] / 1000))' "$TMP/src.json"
	grep -E "verify: (tally|PASS|FAIL)" "$TMP/dst.log" | sed 's/^/   /'
}

migrate_verify "rate 2000, 1 vCPU, default parameters" 0 "" \
	--mem 256M -- ws=32M rate=2000 duration=5 tally=1
grep -q "verify: tally" "$TMP/dst.log" || fail "no tally on the destination"
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify did not pass"

migrate_verify "rate 1000, 2 vCPUs, 20 MiB/s: many rounds" 0 "max-bandwidth 20M
max-iterations 12
downtime-limit 0
min-dirty-pages 0
no-progress-rounds 0" \
	--mem 256M --cpus 2 -- ws=32M rate=1000 duration=8 tally=1
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify did not pass"
# rounds halve until the guest's few writes per round run out
[ "$(grep -c '"index"' "$TMP/src.json")" -ge 5 ] || fail "fewer than 5 rounds"

migrate_verify "round-end fit, 2 vCPUs, 10 ms: rounds cut part-way, what they leave sent later" 0 \
	"downtime-limit 10
round-end fit" --mem 256M --cpus 2 -- ws=32M rate=200000 duration=6
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify did not pass"
python3 - "$TMP/src.json" <<'PY' || fail "round-end fit: the cuts"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["rounds"]
# A round past round 0 stops once what it has left fits 10 ms at the
# previous round's link rate, at a batch's end: never with more left.
for a, b in zip(r, r[1:]):
    fit = int(a["link_bandwidth_bps"] * 0.010 / (4096 + 12))
    assert b["pages_left"] <= fit or b["pages_left"] == 0, (b, fit)
    assert b["pages_sent"] + b["pages_left"] == b["dirty_pages"], b
assert r[0]["pages_left"] == 0, r[0]
assert any(x["pages_left"] for x in r), [x["pages_left"] for x in r]
print("   pages left per round: %s" % [x["pages_left"] for x in r])
PY

migrate_verify "rate 3000, max-iterations 1: round 0's interval in the stop-and-copy" 0 \
	"max-iterations 1" --mem 256M -- ws=32M rate=3000 duration=5 tally=1
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify did not pass"

migrate_verify "rate 2000, 2 vCPUs, the plain dirty log, 50 MiB/s" 0 "max-bandwidth 50M
downtime-limit 1" \
	--mem 256M --cpus 2 --dirty-log-plain -- ws=32M rate=2000 duration=6 tally=1
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify did not pass"

migrate_verify "a lost write and its array entry, without tally: unseen" 0 "" \
	--mem 256M -- ws=8M rate=500 duration=4 corrupt=lost
grep -q "verify: PASS" "$TMP/dst.log" || fail "verify alone was expected to miss corrupt=lost"

migrate_verify "the same with tally=1: caught" 1 "" \
	--mem 256M -- ws=8M rate=500 duration=4 corrupt=lost tally=1
grep -q "verify: FAIL tally: .* 1 page writes lost" "$TMP/dst.log" || fail "tally did not catch the lost write"
echo "measure_page_sets: every page written before the pause arrived, under every setting"
