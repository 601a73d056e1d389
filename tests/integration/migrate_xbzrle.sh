# XBZRLE: pages sent again go as deltas against the source's cache.
#
# 1. A hot/cold memtouch migrated with xbzrle on and a small cache (4M, a
#    quarter of the working set, so pages also evict each other) through a fixed
#    number of rounds: the source's statistics show cache hits, deltas and
#    bytes saved, and the guest goes on running on the destination.
# 2. A verify guest goes A -> B -> A with xbzrle on both ways, the cache
#    size changed on B before the way back: the statistics of each hop
#    show the cache size set for it, and the guest's own verdict on A, after
#    checking every word of every page, is PASS. verify rewrites whole
#    pages and a generation array beside them (8 bytes per page): a delta
#    that lands wrong in either is a FAIL line.
. tests/integration/lib.bash
require_kvm

# A fixed number of rounds: no rule may stop the pre-copy early, and a
# bandwidth limit makes each round long enough for the guest to write its
# hot pages again, so they are sent again round after round.
rounds_params() {
	local sock=$1 p
	for p in "downtime-limit 0" "no-progress-rounds 0" "max-sent-factor 0" \
		 "min-dirty-pages 0" "max-iterations 6" "max-bandwidth 20M" "xbzrle-cache-size $2"; do
		mon "$sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "migrate_set_parameter $p refused"
	done
	mon_check "$sock" "migrate_set_capability xbzrle on" '^ok$'
}

json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- 1: hot/cold memtouch -------------------------------------------------
start src "$VMM" --mem 64M --monitor "unix:$TMP/src.sock" --stats-json "$TMP/src.json" \
	"$GUESTS/memtouch.elf" -- ws=16M pattern=hotcold hot=90 rate=20000 duration=60
src=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "memtouch: t=" 20 || fail "memtouch never started"
rounds_params "$TMP/src.sock" 4M
mon_check "$TMP/src.sock" "info migrate_capabilities" '^xbzrle: on$'
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock"
dst=$LAST_PID
mon_check "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
wait_status "$src" 60 0 "memtouch source" src
wait_for "$TMP/dst.err" "the guest runs here" 10 || fail "the destination does not run the guest"
n=$(grep -c "memtouch: t=" "$TMP/dst.out")
wait_count "$TMP/dst.out" "memtouch: t=" "$n" 10 || fail "memtouch made no progress on the destination"
[ "$(json_get "$TMP/src.json" 'd["status"]')" = completed ] || fail "migration did not complete"
[ "$(json_get "$TMP/src.json" 'd["xbzrle_cache"]["cache_size"]')" = 4194304 ] ||
	fail "cache size in the statistics is not 4M"
for k in hits pages bytes_saved cache_miss evictions; do
	v=$(json_get "$TMP/src.json" "d['xbzrle_cache']['$k']")
	[ "$v" -gt 0 ] || { cat "$TMP/src.json"; fail "xbzrle $k is $v, expected > 0"; }
done
# Round 0 is the bulk pass: no lookups; the rounds' counters add up.
[ "$(json_get "$TMP/src.json" 'd["rounds"][0]["xbzrle_hits"] + d["rounds"][0]["xbzrle_cache_miss"]')" = 0 ] ||
	fail "round 0 used the cache"
[ "$(json_get "$TMP/src.json" 'sum(r["xbzrle_bytes_saved"] for r in d["rounds"]) == d["xbzrle_cache"]["bytes_saved"]')" = True ] ||
	fail "the rounds' bytes saved do not add up to the total"
saved=$(json_get "$TMP/src.json" 'd["xbzrle_cache"]["bytes_saved"]')
hits=$(json_get "$TMP/src.json" 'd["xbzrle_cache"]["hits"]')
kill "$dst"

# --- 2: verify, there and back, the cache resized between the hops ----------
# The guest must outlive both hops (on a loaded machine under ASan they
# took more than 15 s): it ends on its own, on A2, with its verdict.
start a "$VMM" --mem 64M --monitor "unix:$TMP/a.sock" --stats-json "$TMP/a.json" \
	"$GUESTS/verify.elf" -- ws=16M rate=2000 duration=25
a=$LAST_PID
wait_sock "$TMP/a.sock"
wait_for "$TMP/a.out" "verify: t=" 20 || fail "verify never started"
rounds_params "$TMP/a.sock" 1M
port=$(free_port)
start_dest b "$port" --monitor "unix:$TMP/b.sock"
b=$LAST_PID
mon_check "$TMP/a.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
wait_status "$a" 60 0 "verify source A" a
wait_for "$TMP/b.err" "the guest runs here" 10 || fail "B does not run the guest"
[ "$(json_get "$TMP/a.json" 'd["xbzrle_cache"]["cache_size"]')" = 1048576 ] || fail "A -> B: cache size not 1M"
[ "$(json_get "$TMP/a.json" 'd["xbzrle_cache"]["pages"]')" -gt 0 ] || { cat "$TMP/a.json"; fail "A -> B: no page went as a delta"; }
rounds_params "$TMP/b.sock" 2M
port=$(free_port)
start_dest a2 "$port" --monitor "unix:$TMP/a2.sock"
a2=$LAST_PID
mon_check "$TMP/b.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
# B's statistics file is its incoming migration's; its own migration shows
# the cache in 'info migrate' while it runs (a second or more at 20M/s).
mon_wait "$TMP/b.sock" "^xbzrle: cache 2097152 bytes" 10 ||
	fail "B -> A: the cache size set on B (2M) did not apply"
wait_status "$b" 60 0 "verify source B" b
grep -q "verify: PASS" "$TMP/b.out" &&
	fail "the guest ended on B before the hop back to A: duration=25 is too short for this machine"
grep -q "FAIL" "$TMP"/a.out "$TMP"/b.out "$TMP"/a2.out && fail "verify reported corruption"
wait_status "$a2" 90 0 "the guest's verdict back on A" a2
grep -q "^verify: PASS pages=4096 " "$TMP/a2.out" || fail "no PASS line from the guest"
echo "migrate_xbzrle: memtouch $hits hits, $saved bytes saved; verify passed after A -> B -> A"
