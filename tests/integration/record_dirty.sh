# record-dirty: a memtouch guest dirtying a known number of pages per
# second, recorded in 100 ms slices, shows rate x slice length pages in
# every slice (within 10%: the guest paces itself against its own clock
# and a slice's edges are when the host read the log); the trace reads
# back whole; the dirty log has one user at a time (no recording while
# a migration runs, no migration while recording).
# exclusive: the trace's per-slice counts are checked within 10% of the guest's pace.
. tests/integration/lib.bash
require_kvm
require_cmd socat

SOCK=$TMP/mon.sock

record_rate() {	# record_rate RATE
	local rate=$1
	rm -f "$SOCK"
	start src "$VMM" --mem 512M --serial "file:$TMP/src.log" --monitor "unix:$SOCK" \
		"$GUESTS/memtouch.elf" -- rate="$rate" ws=256M
	local pid=$LAST_PID
	wait_sock "$SOCK"
	wait_for "$TMP/src.log" "memtouch: t=1" 20 || fail "memtouch did not start"
	mon_check "$SOCK" "record-dirty $TMP/r$rate.trace 2 100ms" "^recorded 20 slices"
	mon_check "$SOCK" "quit" "^ok"
	wait_exit "$pid" 20 || fail "vmm did not quit"
	python3 bench/dirty_trace.py summary "$TMP/r$rate.trace" --max-k 3 >"$TMP/summary" ||
		fail "the trace of rate $rate does not read back"
	sed 's/^/    /' "$TMP/summary" | head -8
	python3 - "$TMP/r$rate.trace" "$rate" <<'PY' || fail "rate $rate: pages per slice"
import sys
sys.path.insert(0, "bench")
import dirty_trace
t = dirty_trace.read_trace(sys.argv[1])
rate = int(sys.argv[2])
assert t.header["interval_us"] == 100000 and t.header["page_size"] == 4096
assert len(t.slices) == 20, len(t.slices)
bad = []
for s in t.slices:
    want = rate * s.duration_us / 1e6
    if abs(s.dirty_pages - want) > 0.10 * want:
        bad.append(f"slice {s.index}: {s.dirty_pages} pages in {s.duration_us} us, want {want:.0f}")
total = sum(s.dirty_pages for s in t.slices) * 1e6 / t.total_us
print(f"-- rate {rate}: recorded {total:.0f} pages/s over {t.total_us} us; "
      f"slices {min(s.dirty_pages for s in t.slices)}..{max(s.dirty_pages for s in t.slices)} pages")
if bad:
    sys.exit("\n".join(bad))
PY
}

record_rate 2000
record_rate 20000

note "refused while a migration runs, and a migration refused while recording"
rm -f "$SOCK"
port=$(free_port)
start_dest dst "$port"
start src "$VMM" --mem 256M --serial "file:$TMP/src.log" --monitor "unix:$SOCK" \
	"$GUESTS/memtouch.elf" -- rate=2000 ws=64M
pid=$LAST_PID
wait_sock "$SOCK"
mon_check "$SOCK" "migrate_set_parameter max-bandwidth 10M" "^ok"
mon_check "$SOCK" "migrate tcp:127.0.0.1:$port" "^ok"
mon_check "$SOCK" "record-dirty $TMP/no.trace 1 100ms" "^error: a migration is running"
[ ! -e "$TMP/no.trace" ] || fail "a refused recording left a file"
mon_check "$SOCK" "migrate_cancel" "^ok"
mon_wait "$SOCK" "status: cancelled" 30 || fail "the migration did not cancel"
mon_check "$SOCK" "record-dirty $TMP/a.trace 1 100ms" "^recorded 10 slices"
mon_check "$SOCK" "record-dirty $TMP/a.trace 1" "^error: usage"
mon_check "$SOCK" "record-dirty $TMP/a.trace 0 100ms" "^error: bad SECONDS"
mon_check "$SOCK" "record-dirty $TMP/a.trace 1 100" "^error: bad INTERVAL"
mon_check "$SOCK" "record-dirty $TMP/a.trace 100 1us" "^error: SECONDS / INTERVAL"
note "one user of the dirty log at a time: no recording while calc-dirty-rate measures"
mon_check "$SOCK" "calc-dirty-rate 2" "^ok"
mon_check "$SOCK" "record-dirty $TMP/m.trace 1 100ms" "^error: the dirty rate is being measured"
[ ! -e "$TMP/m.trace" ] || fail "a refused recording left a file"
for ((i = 0; i < 100; i++)); do
	mon "$SOCK" "info dirty-rate" | grep -q "status: measured" && break
	sleep 0.1
done
[ "$i" -lt 100 ] || fail "the measurement did not end"
mon_check "$SOCK" "quit" "^ok"
wait_exit "$pid" 20 || fail "vmm did not quit"

rm -f "$SOCK"
port=$(free_port)
start_dest dst2 "$port"
start src2 "$VMM" --mem 256M --serial "file:$TMP/src2.log" --monitor "unix:$SOCK" \
	--migrate-to "tcp:127.0.0.1:$port" --migrate-after 500ms \
	"$GUESTS/memtouch.elf" -- rate=2000 ws=64M
pid=$LAST_PID
wait_sock "$SOCK"
mon_check "$SOCK" "record-dirty $TMP/b.trace 2s 100ms" "^recorded 20 slices"
wait_for "$TMP/src2.err" "a dirty trace is being recorded" 5 || fail "--migrate-to started during a recording"
mon_check "$SOCK" "info migrate" "status: none|failed"
mon_check "$SOCK" "quit" "^ok"
wait_exit "$pid" 20 || fail "vmm did not quit"
note "a guest that ends during a recording ends it, with a whole trace"
rm -f "$SOCK"
start src3 "$VMM" --mem 4G --serial "file:$TMP/src3.log" --monitor "unix:$SOCK" \
	"$GUESTS/memtouch.elf" -- rate=1000 ws=8M duration=2
pid=$LAST_PID
wait_sock "$SOCK"
mon_check "$SOCK" "record-dirty $TMP/c.trace 10 100ms" "stopped early: the guest ended"
wait_status "$pid" 20 0 "the guest that ended" src3
# RAM past 3 GiB: two regions, both in the trace
python3 bench/dirty_trace.py summary "$TMP/c.trace" --max-k 1 >"$TMP/summary" || fail "the early-ended trace does not read back"
grep -q "region gpa 0x100000000 size 1024.0 MiB first page 786432" "$TMP/summary" ||
	{ cat "$TMP/summary"; fail "the high RAM region is missing from the trace"; }
echo "record_dirty: pages per slice match the guest's rate; one user of the dirty log at a time"
