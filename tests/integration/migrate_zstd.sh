# multifd-compression zstd: whole pages go as one zstd frame per RAM batch.
#
# 1. A verify guest migrated with zstd (level 3) through a fixed number of
#    rounds: 'info migrate' shows the zstd line while it runs, the source's
#    statistics show frames and fewer bytes out than page bytes in, the
#    rounds' counters add up to the totals, and the guest's own verdict on
#    the destination, after checking every word of every page, is PASS.
# 2. The same with xbzrle on as well: deltas stay deltas, whole pages are
#    compressed; both show in the statistics, and verify passes again.
#    (verify's pages hardly compress: most batches go whole, as they should.)
# 3. memtouch, whose pages hold one word each: the whole stream is a small
#    part of the page data it carries.
# 4. Save to a file with zstd set and restore it: a regular file keeps
#    pages at fixed offsets, so compression does not apply (vmm says so)
#    and the save is the mapped one; the guest passes.
. tests/integration/lib.bash
require_kvm

# A fixed number of rounds under a bandwidth limit, so that later rounds
# send pages again (xbzrle has something to hit) and the migration runs
# long enough to be seen.
zstd_params() {
	local sock=$1 p
	for p in "downtime-limit 0" "no-progress-rounds 0" "max-sent-factor 0" \
		 "min-dirty-pages 0" "max-iterations 5" "max-bandwidth 20M" \
		 "multifd-compression zstd" "multifd-zstd-level 3"; do
		mon "$sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "migrate_set_parameter $p refused"
	done
	mon_check "$sock" "info migrate_parameters" '^multifd-compression: zstd$'
}

json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# hop NAME EXTRA_MONITOR_COMMAND: one verify guest from NAME to NAME-dst.
hop() {
	local name=$1 extra=$2 port src dst
	start "$name" "$VMM" --mem 64M --monitor "unix:$TMP/$name.sock" \
		--stats-json "$TMP/$name.json" "$GUESTS/verify.elf" -- ws=16M rate=2000 duration=12
	src=$LAST_PID
	wait_sock "$TMP/$name.sock"
	wait_for "$TMP/$name.out" "verify: t=" 20 || fail "verify never started"
	zstd_params "$TMP/$name.sock"
	[ -z "$extra" ] || mon_check "$TMP/$name.sock" "$extra" '^ok$'
	port=$(free_port)
	start_dest "$name-dst" "$port"
	dst=$LAST_PID
	mon_check "$TMP/$name.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
	mon_wait "$TMP/$name.sock" "^zstd: level 3, " 10 || fail "$name: no zstd line in 'info migrate'"
	wait_status "$src" 60 0 "verify source $name" "$name"
	wait_for "$TMP/$name-dst.err" "the guest runs here" 10 || fail "$name: the destination does not run the guest"
	[ "$(json_get "$TMP/$name.json" 'd["status"]')" = completed ] || fail "$name: migration did not complete"
	wait_status "$dst" 60 0 "the guest's verdict on the destination" "$name-dst"
	grep -q "^verify: PASS pages=4096 " "$TMP/$name-dst.out" || fail "$name: no PASS line from the guest"
	grep -q "FAIL" "$TMP/$name.out" "$TMP/$name-dst.out" && fail "$name: verify reported corruption"
	local c="d['compression']"
	[ "$(json_get "$TMP/$name.json" "$c['method'] + ' ' + str($c['level'])")" = "zstd 3" ] ||
		fail "$name: statistics do not say zstd level 3"
	[ "$(json_get "$TMP/$name.json" "$c['frames'] > 0 and $c['pages'] > 0")" = True ] ||
		{ cat "$TMP/$name.json"; fail "$name: no page went compressed"; }
	[ "$(json_get "$TMP/$name.json" "0 < $c['bytes'] < $c['raw_bytes']")" = True ] ||
		fail "$name: compression sent no fewer bytes than it took in"
	[ "$(json_get "$TMP/$name.json" "sum(r['zstd_raw_bytes'] for r in d['rounds']) == $c['raw_bytes'] and sum(r['zstd_bytes'] for r in d['rounds']) == $c['bytes']")" = True ] ||
		fail "$name: the rounds' zstd bytes do not add up to the totals"
}

hop a ""
ratio=$(json_get "$TMP/a.json" "round(d['compression']['ratio'], 2)")
hop x "migrate_set_capability xbzrle on"
[ "$(json_get "$TMP/x.json" "d['xbzrle_cache']['pages']")" -gt 0 ] ||
	{ cat "$TMP/x.json"; fail "with xbzrle: no page went as a delta"; }
# --- 3: compressible pages --------------------------------------------------
start m "$VMM" --mem 64M --monitor "unix:$TMP/m.sock" --stats-json "$TMP/m.json" \
	"$GUESTS/memtouch.elf" -- ws=32M rate=1000 duration=30
m=$LAST_PID
wait_sock "$TMP/m.sock"
wait_for "$TMP/m.out" "memtouch: t=" 20 || fail "memtouch never started"
for p in "multifd-compression zstd" "multifd-zstd-level 1"; do
	mon_check "$TMP/m.sock" "migrate_set_parameter $p" '^ok$'
done
port=$(free_port)
start_dest m-dst "$port"
mdst=$LAST_PID
mon_check "$TMP/m.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
wait_status "$m" 60 0 "memtouch source" m
wait_for "$TMP/m-dst.err" "the guest runs here" 10 || fail "memtouch: the destination does not run the guest"
n=$(grep -c "memtouch: t=" "$TMP/m-dst.out")
wait_count "$TMP/m-dst.out" "memtouch: t=" "$n" 10 || fail "memtouch made no progress on the destination"
kill "$mdst"
[ "$(json_get "$TMP/m.json" "d['compression']['raw_batches'] == 0 and d['compression']['ratio'] > 20")" = True ] ||
	{ json_get "$TMP/m.json" "d['compression']"; fail "memtouch: its pages did not compress 20:1"; }
[ "$(json_get "$TMP/m.json" "d['bytes_total'] * 4 < (d['pages_total'] - d['zero_pages_total']) * 4096")" = True ] ||
	fail "memtouch: the stream is not a quarter of the page data it carries"
mratio=$(json_get "$TMP/m.json" "round(d['compression']['ratio'], 1)")

# --- 4: save and restore ---------------------------------------------------
start s "$VMM" --mem 64M --monitor "unix:$TMP/s.sock" --stats-json "$TMP/s.json" \
	"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=4
s=$LAST_PID
wait_sock "$TMP/s.sock"
wait_for "$TMP/s.out" "verify: t=" 20 || fail "verify never started"
mon_check "$TMP/s.sock" "migrate_set_parameter multifd-compression zstd" '^ok$'
mon_check "$TMP/s.sock" "migrate file:$TMP/vm.snap" '^ok$'
wait_status "$s" 60 0 "the save" s
[ "$(json_get "$TMP/s.json" "d['compression'] is None")" = True ] || fail "save: compressed"
grep -q "multifd-compression does not apply" "$TMP/s.err" || fail "save: not told why"

run_guest 60 --incoming "file:$TMP/vm.snap"
expect_status 0 "restore of a zstd save"
expect_out "^verify: PASS"

echo "migrate_zstd: memtouch's pages $mratio:1, verify passed with zstd (its pages $ratio:1) and with zstd and xbzrle"
