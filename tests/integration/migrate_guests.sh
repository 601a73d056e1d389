# Live migration over loopback of each guest kind with 1 and 2 vCPUs, driven
# by --migrate-to (no monitor): the source exits 0 after the destination runs
# the guest, and the guest's own verdict on the destination is 0.
. tests/integration/lib.bash
require_kvm

migrate_one() {	# migrate_one CPUS GUEST ARGS... (SRC_OPTS: extra source options)
	local cpus=$1 guest=$2; shift 2
	local port; port=$(free_port)
	note "migrate $guest ($*), $cpus vCPU(s)"
	start_dest dst "$port" --stats-json "$TMP/dst.json"
	local dpid=$LAST_PID
	# shellcheck disable=SC2086
	start src "$VMM" ${SRC_OPTS:-} --cpus "$cpus" --mem 256M --migrate-to "tcp:127.0.0.1:$port" \
		--migrate-after 1s --stats-json "$TMP/src.json" "$GUESTS/$guest.elf" -- "$@"
	local spid=$LAST_PID
	wait_exit $spid 60 || fail "source did not finish"
	[ "$EXIT_STATUS" -eq 0 ] || { cat "$TMP/src.err"; fail "source exit $EXIT_STATUS"; }
	grep -q "completed" "$TMP/src.err" || { cat "$TMP/src.err"; fail "no summary on the source"; }
	wait_exit $dpid 60 || fail "destination's guest did not finish"
	[ "$EXIT_STATUS" -eq 0 ] || { cat "$TMP/dst.err" "$TMP/dst.out"; fail "destination exit $EXIT_STATUS"; }
	grep -q '"status": "completed"' "$TMP/src.json" || fail "source JSON not completed"
	grep -q '"status": "completed"' "$TMP/dst.json" || fail "destination JSON not completed"
}

for cpus in 1 2; do
	# hello would be done before any migration started: it goes across
	# unstarted (--paused), boot-time state and APs waiting for SIPI.
	SRC_OPTS=--paused migrate_one $cpus hello
	grep -q "hello: cpus=$cpus ram=256 MiB" "$TMP/dst.out" || fail "hello did not run on the destination"
	[ ! -s "$TMP/src.out" ] || fail "hello ran on the paused source"

	migrate_one $cpus idle duration=3
	grep -q "idle: done" "$TMP/dst.out" || fail "idle did not finish on the destination"

	migrate_one $cpus memtouch rate=5000 ws=32M duration=3 report=1
	grep -q "memtouch" "$TMP/dst.out" || fail "memtouch printed nothing on the destination"

	migrate_one $cpus verify ws=32M rate=2000 duration=4
	grep -q "verify: PASS" "$TMP/dst.out" || { cat "$TMP/dst.out"; fail "verify did not pass on the destination"; }

	migrate_one $cpus heartbeat period=50000 duration=3
	grep -q "heartbeat: done" "$TMP/dst.out" || fail "heartbeat did not finish on the destination"
	ticks_continuous "$TMP/src.out" "$TMP/dst.out" || fail "heartbeat ticks not continuous"
done
if [ -n "${DIRTY_RING:-}" ]; then
	# Run by migrate_dirty_ring.sh with every vmm on the ring: KVM has no
	# bitmap then, so no plain log to try.
	grep -q '"dirty_log_mode": "ring"' "$TMP/src.json" || fail "source JSON does not say ring"
	echo "migrate_guests: every guest migrated with the dirty ring ($DIRTY_RING entries)"
	exit 0
fi
note "the plain dirty log (KVM_GET_DIRTY_LOG without manual protect)"
SRC_OPTS=--dirty-log-plain migrate_one 2 verify ws=32M rate=4000 duration=4
grep -q "verify: PASS" "$TMP/dst.out" || { cat "$TMP/dst.out"; fail "verify did not pass with the plain dirty log"; }
grep -q '"dirty_log_mode": "plain"' "$TMP/src.json" || fail "source JSON does not say plain"
grep -q '"dirty_log_mode": "manual-protect"' "$TMP/dst.json" && fail "destination JSON claims a dirty log mode"

echo "migrate_guests: every guest migrated and finished on the destination"
