# virtio-blk end to end: diskverify passes on vmm; a guest handing the
# device garbage gets IOERR and NEEDS_RESET and vmm survives; a live
# migration over shared storage (both sides given the same --drive) keeps
# every block the guest wrote, and so does a save and restore; a
# destination whose drive differs (none, or read-only) is refused and the
# source's guest keeps running.
. tests/integration/lib.bash
require_kvm
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
# rate=0: a request is nearly always in flight when the vCPUs stop.
GUEST_ARGS=(duration=0 report=0.2 rate=0 ws=2M bs=64K)

run_guest 60 --mem 32M --drive "file=$IMG" "$GUESTS/diskverify.elf" -- duration=1 garbage=1
expect_status 0 "diskverify garbage=1"
expect_out "^diskverify: garbage: read past the end got IOERR, bad chain set NEEDS_RESET"
expect_out "^diskverify: PASS blocks=1024"
expect_err "virtio-blk.0: bad descriptor chain or avail index; the device needs a reset"
note "garbage descriptors: errors for the guest, vmm carried on"

run_guest 60 --mem 32M --drive "file=$IMG,cache=none" "$GUESTS/diskverify.elf" -- duration=1
expect_status 0 "diskverify cache=none"
expect_out "^diskverify: PASS"

start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" --drive "file=$IMG" \
	--stats-json "$TMP/src.json" \
	"$GUESTS/diskverify.elf" -- "${GUEST_ARGS[@]}"
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "^diskverify: t=" 30 || fail "diskverify did not start"

# refused NAME WHY DEST-ARGS...: the destination refuses, the source's
# guest goes on writing and checking.
refused() {
	local name=$1 why=$2 port n; shift 2
	port=$(free_port)
	start_dest "$name" "$port" "$@"
	local dpid=$LAST_PID
	mon "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" >/dev/null
	wait_exit "$dpid" 30 || fail "$name: the destination did not give up"
	grep -Eq -- "$why" "$TMP/$name.err" || { sed 's/^/    /' "$TMP/$name.err"; fail "$name: no /$why/"; }
	mon_wait "$TMP/src.sock" "failed|cancelled" 30 || fail "$name: the source did not see the failure"
	n=$(grep -c "^diskverify: t=" "$TMP/src.out")
	wait_count "$TMP/src.out" "^diskverify: t=" "$n" 20 || fail "$name: the guest stopped"
	kill -0 "$src_pid" || fail "$name: the source ended"
}
refused nodrive "source has device virtio-blk.0"
refused rodrive "give the same --drive" --drive "file=$IMG,readonly=on"
note "destinations with another drive refused; the guest kept running"

port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock" --drive "file=$IMG"
dst_pid=$LAST_PID
mon "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_status "$src_pid" 60 0 "the source after the migration" src
grep -q "^diskverify: FAIL" "$TMP/src.out" && fail "a block was wrong before the migration"
grep -Eq "virtio-blk.0: waited [0-9.]+ ms for requests in flight" "$TMP/src.err" ||
	fail "the source did not say how long it drained"
grep -Eq '"downtime_drain_us": *[0-9]+' "$TMP/src.json" || fail "no downtime_drain_us in the statistics"
n=$(grep -c "^diskverify: t=" "$TMP/dst.out")
wait_count "$TMP/dst.out" "^diskverify: t=" "$n" 20 || fail "the guest did not run on the destination"
grep -q "^diskverify: FAIL" "$TMP/dst.out" && fail "a block was wrong after the live migration"
note "live migration over shared storage: the guest kept writing and reading back"

# Then save to a file and restore with a 'q': the guest checks every block.
wait_sock "$TMP/dst.sock"
mon "$TMP/dst.sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "save not accepted"
wait_status "$dst_pid" 60 0 "the destination after the save" dst
run_guest_input q 120 --incoming "file:$TMP/snap" --drive "file=$IMG"
expect_status 0 "diskverify's verdict after the migrations"
expect_out "^diskverify: PASS blocks=32 .*\(asked to stop\)"
grep "^diskverify: PASS" "$TMP/run.out"
echo "disk: diskverify passed on vmm, across a live migration and a save/restore"
