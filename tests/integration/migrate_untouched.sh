# Memory the guest never touched is never read: an idle 4 GiB guest
# migrates without its source populating the RAM it did not use (pages a
# read would map, even as the shared zero page, show in the source's own
# pagemap) and without its RSS growing by the guest's RAM; the destination
# accepts the stream and runs the guest. A verify guest whose working set
# is a small part of its RAM still passes on the destination.
. tests/integration/lib.bash
require_kvm

MIB=$((1024 * 1024))
# Pages of the process's guest RAM mapping that the host has populated,
# from /proc/PID/pagemap (present or swapped). The mapping is the largest
# one no bigger than twice the guest's RAM (MiB): a sanitizer build also
# maps terabytes of shadow memory, which is not the guest's.
populated_mib() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
pid, ram = sys.argv[1], int(sys.argv[2]) << 20
best = (0, 0)
for line in open(f"/proc/{pid}/maps"):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if best[1] - best[0] < hi - lo <= 2 * ram:
        best = (lo, hi)
n = 0
with open(f"/proc/{pid}/pagemap", "rb") as f:
    for addr in range(best[0], best[1], 1 << 27):
        end = min(best[1], addr + (1 << 27))
        f.seek(addr // 4096 * 8)
        data = f.read((end - addr) // 4096 * 8)
        n += sum(1 for (e,) in struct.iter_unpack("<Q", data) if e >> 62)
print(n * 4096 // (1 << 20))
PY
}
rss_mib() {
	awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$1/status"
}

port=$(free_port)
start_dest dst "$port" --serial none --stats-json "$TMP/dst.json"
dpid0=$LAST_PID
start src "$VMM" --mem 4G --serial "file:$TMP/src.log" --monitor "unix:$TMP/src.sock" \
	--qmp "unix:$TMP/src.qmp" --stats-json "$TMP/src.json" "$GUESTS/idle.elf" -- duration=0
spid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.log" "idle: cpus=1" 20 || fail "the idle guest did not start"
pop0=$(populated_mib $spid 4096)
rss0=$(rss_mib $spid)
mon_check "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" '^ok$'
mon_wait "$TMP/src.sock" "status: (completed|failed)" 60 || fail "the migration did not end"
mon_check "$TMP/src.sock" "info migrate" "status: completed"
wait_for "$TMP/dst.err" "the guest runs here" 10 || fail "the destination does not run the guest"
pop1=$(populated_mib $spid 4096)
rss1=$(rss_mib $spid)
note "source guest RAM populated: ${pop0} MiB before, ${pop1} MiB after; VmRSS ${rss0} -> ${rss1} MiB"
[ $((pop1 - pop0)) -lt 64 ] || fail "the migration populated $((pop1 - pop0)) MiB of the source's guest RAM"
[ $((rss1 - rss0)) -lt 64 ] || fail "the source's RSS grew by $((rss1 - rss0)) MiB"
# The destination populates ahead of round 0's pages only where they land.
dpop=$(populated_mib $dpid0 4096)
note "destination guest RAM populated: ${dpop} MiB"
[ "$dpop" -lt 64 ] || fail "the destination populated ${dpop} MiB for an idle guest"
mon_check "$TMP/src.sock" "info migrate" "skipped unread"
kill "$dpid0"; wait "$dpid0" 2>/dev/null
python3 - "$TMP/src.json" "$((4096 * MIB / 4096))" "$TMP/dst.json" <<'PY' || fail "source statistics"
import json, sys
st, pages = json.load(open(sys.argv[1])), int(sys.argv[2])
dst = json.load(open(sys.argv[3]))
unread = st["pages_skipped_unread"]
print(f"-- pages skipped unread: {unread} of {pages}")
assert st["status"] == "completed", st["status"]
assert unread >= pages * 9 // 10, "fewer than 90% of an idle guest's pages skipped"
assert unread <= st["zero_pages_total"], "more pages unread than sent as zero"
# Stream 3.6: zero pages travel as runs, an entry per run, so round 0 is
# its data pages and little else (as a ZERO entry per page it was 12 MiB
# more: 12 bytes for each of the million zero pages).
r0 = st["rounds"][0]
data = r0["pages_sent"] - r0["zero_pages"]
runs = r0["zero_entries"]
print(f"-- round 0: {r0['bytes']} bytes for {data} data pages and {r0['zero_pages']} zero "
      f"ones in {runs} entries")
assert r0["bytes"] <= data * (4096 + 12) + (64 << 10), "zero pages cost more than their runs"
# The statistics count the entries: a few hundred at most for a million
# zero pages, each entry 12 bytes of the round's, and both sides agree.
assert 1 <= runs <= 4096, runs
assert r0["bytes"] >= data * 4096 + runs * 12, "fewer bytes than the entries counted"
assert st["zero_entries_total"] == sum(r["zero_entries"] for r in st["rounds"])
assert dst["zero_entries_total"] == st["zero_entries_total"], \
    (dst["zero_entries_total"], st["zero_entries_total"])
PY

note "a verify guest using 64 MiB of 512 MiB"
port=$(free_port)
start_dest dst2 "$port" --stats-json "$TMP/dst2.json"
dpid=$LAST_PID
start src2 "$VMM" --cpus 2 --mem 512M --migrate-to "tcp:127.0.0.1:$port" --migrate-after 1s \
	--stats-json "$TMP/src2.json" "$GUESTS/verify.elf" -- ws=64M rate=2000 duration=4
wait_status $LAST_PID 60 0 "verify: source" src2
wait_status $dpid 60 0 "verify: the guest's verdict on the destination" dst2
grep -q "verify: PASS" "$TMP/dst2.out" || fail "no PASS line from verify on the destination"
grep -Eq '"pages_skipped_unread": [1-9]' "$TMP/src2.json" || fail "verify: no page skipped unread"
# 64 MiB of data in round 0: a second thread populated some of its chunks
# ahead of the pages (include/ram_prefault.h), and the pages still verify.
note "destination: $(grep -Eo '"prefault_(chunks|us)": [0-9]+' "$TMP/dst2.json" | tr '\n' ' ')"
grep -Eq '"prefault_chunks": [1-9]' "$TMP/dst2.json" ||
	{ grep prefault "$TMP/dst2.json"; fail "verify: no chunk populated ahead"; }

# Without a pagemap (here: a tmpfs over /proc in a mount namespace of its
# own) round 0 reads every page, and says so once.
# A sanitizer build cannot run without /proc: its runtime reads its
# options from /proc/self/environ and LeakSanitizer /proc/PID/task.
if nm "$VMM" 2>/dev/null | grep -q __asan_init; then
	note "a sanitizer build needs /proc: the fallback is tried in the plain build only"
elif unshare --mount true 2>/dev/null; then
	note "no /proc/self/pagemap: every page read"
	port=$(free_port)
	start_dest dst3 "$port" --serial none
	start src3 unshare --mount sh -c 'mount -t tmpfs none /proc && exec "$@"' sh \
		"$VMM" --mem 64M --serial none --migrate-to "tcp:127.0.0.1:$port" --migrate-after 500ms \
		--stats-json "$TMP/src3.json" "$GUESTS/idle.elf" -- duration=0
	wait_status $LAST_PID 60 0 "source without a pagemap" src3
	[ "$(grep -c "reading every page of guest RAM in round 0" "$TMP/src3.err")" -eq 1 ] ||
		{ cat "$TMP/src3.err"; fail "the fallback was not said exactly once"; }
	grep -q '"pages_skipped_unread": 0,' "$TMP/src3.json" || fail "pages skipped without a pagemap"
	grep -q '"status": "completed"' "$TMP/src3.json" || fail "no completed migration without a pagemap"
else
	note "unshare --mount is not permitted here: the fallback is not tried"
fi
echo "migrate_untouched: untouched RAM stayed unread; idle and verify guests arrived"
