# qcow2 overlays: diskverify passes on an overlay over a raw base, the base
# stays byte for byte what it was and qemu-img check finds the overlay
# clean; a live migration over shared storage of a qcow2 drive keeps every
# block the guest wrote (the destination opened the overlay before the
# source allocated clusters in it); QEMU runs the same overlay afterwards.
# With cache=none (data clusters O_DIRECT, several requests on the ring),
# diskverify on 1 and 2 vCPUs migrated over shared storage and with
# migrate -i: PASS on the destination, and the image the same as a
# writeback run's that never moved.
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
BASE=$TMP/base.raw
OV=$TMP/ov.qcow2
head -c 16M /dev/zero | tr '\0' 'b' >"$BASE"
qemu-img create -q -f qcow2 -b base.raw -F raw "$OV"
base_sum=$(sha256sum <"$BASE")

run_guest 60 --mem 32M --drive "file=$OV,format=qcow2" "$GUESTS/diskverify.elf" -- duration=1
expect_status 0 "diskverify on a qcow2 overlay"
expect_out "^diskverify: PASS"
[ "$(sha256sum <"$BASE")" = "$base_sum" ] || fail "the base image changed"
qemu-img check -q "$OV" || fail "qemu-img check found errors in the overlay"
note "diskverify on an overlay: PASS, base unchanged, overlay clean"

rm -f "$OV"
qemu-img create -q -f qcow2 -b base.raw -F raw "$OV"
# The destination opens the empty overlay first: the clusters the source
# allocates afterwards must be found through tables read again.
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock" --drive "file=$OV,format=qcow2"
dst_pid=$LAST_PID
start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" --drive "file=$OV,format=qcow2" \
	"$GUESTS/diskverify.elf" -- duration=0 report=0.2 rate=20 ws=2M bs=64K
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "^diskverify: t=" 30 || fail "diskverify did not start"
mon "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_status "$src_pid" 60 0 "the source after the migration" src
n=$(grep -c "^diskverify: t=" "$TMP/dst.out")
wait_count "$TMP/dst.out" "^diskverify: t=" "$n" 20 || fail "the guest did not run on the destination"
grep -q "^diskverify: FAIL" "$TMP/dst.out" && fail "a block was wrong after the live migration"

# Save, then restore with a 'q': the guest checks every block.
wait_sock "$TMP/dst.sock"
mon "$TMP/dst.sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "save not accepted"
wait_status "$dst_pid" 60 0 "the destination after the save" dst
run_guest_input q 120 --incoming "file:$TMP/snap" --drive "file=$OV,format=qcow2"
expect_status 0 "diskverify's verdict after the migrations"
expect_out "^diskverify: PASS blocks=32 .*\(asked to stop\)"
[ "$(sha256sum <"$BASE")" = "$base_sum" ] || fail "the base image changed"
qemu-img check -q "$OV" || fail "qemu-img check found errors after the migrations"
# The overlay vmm wrote boots under QEMU too, where it is installed.
if command -v qemu-system-x86_64 >/dev/null; then
	timeout 60 qemu-system-x86_64 -accel kvm -m 64 -kernel "$GUESTS/diskverify.elf" \
		-append "duration=1 report=0.5" -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-serial stdio -display none -monitor none -no-reboot \
		-drive "file=$OV,if=virtio,format=qcow2" >"$TMP/qemu.out" 2>&1
	grep -q "^diskverify: PASS" "$TMP/qemu.out" || { sed 's/^/    /' "$TMP/qemu.out"; fail "diskverify under QEMU on the overlay"; }
	qemu-img check -q "$OV" || fail "qemu-img check found errors after QEMU"
	note "the overlay vmm wrote: diskverify PASS under QEMU"
fi

# cache=none. A fixed write count makes the image depend on the guest's
# parameters and CPU count alone, not on timing.
WRITES=300
GUEST=(ws=4M bs=64K report=0.2 "writes=$WRITES")
mkdir "$TMP/dst" && cp "$BASE" "$TMP/dst/base.raw"
overlay() {
	rm -f "$1"
	(cd "$(dirname "$1")" && qemu-img create -q -f qcow2 -b base.raw -F raw "$(basename "$1")") ||
		fail "qemu-img create $1"
}
converted_sum() {
	qemu-img convert -O raw "$1" "$TMP/converted.raw" || fail "qemu-img convert $1"
	sha256sum <"$TMP/converted.raw" | cut -d' ' -f1
}
# none_migrated NAME CPUS HOW SRC DST: diskverify on overlay SRC with
# cache=none, migrated (HOW) once it writes to a destination on DST.
none_migrated() {
	local name=$1 cpus=$2 how=$3 src=$4 dst=$5 port src_pid dst_pid
	start "$name-src" "$VMM" --mem 32M --cpus "$cpus" --monitor "unix:$TMP/$name.sock" \
		--drive "file=$src,format=qcow2,cache=none" "$GUESTS/diskverify.elf" -- \
		"${GUEST[@]}" rate=100
	src_pid=$LAST_PID
	wait_sock "$TMP/$name.sock"
	wait_for "$TMP/$name-src.out" "^diskverify: t=" 30 || fail "$name: diskverify did not start"
	port=$(free_port)
	start_dest "$name-dst" "$port" --drive "file=$dst,format=qcow2,cache=none"
	dst_pid=$LAST_PID
	mon "$TMP/$name.sock" "$how tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "$name: $how not accepted"
	wait_status "$src_pid" 60 0 "$name: the source after $how" "$name-src"
	wait_status "$dst_pid" 90 0 "$name: diskverify's verdict on the destination" "$name-dst"
	grep -Eq "^diskverify: PASS blocks=64 cpus=$cpus writes=$((64 + cpus * WRITES)) " \
		"$TMP/$name-dst.out" || { tail "$TMP/$name-dst.out"; fail "$name: no PASS on the destination"; }
	qemu-img check -q "$dst" || fail "$name: qemu-img check found errors in $dst"
}
for cpus in 1 2; do
	overlay "$TMP/ref.qcow2"
	run_guest 120 --mem 32M --cpus "$cpus" --drive "file=$TMP/ref.qcow2,format=qcow2" \
		"$GUESTS/diskverify.elf" -- "${GUEST[@]}" rate=0
	expect_status 0 "the writeback reference ($cpus vCPUs)"
	ref=$(converted_sum "$TMP/ref.qcow2")
	overlay "$TMP/shared.qcow2"
	none_migrated "shared$cpus" "$cpus" migrate "$TMP/shared.qcow2" "$TMP/shared.qcow2"
	[ "$(converted_sum "$TMP/shared.qcow2")" = "$ref" ] ||
		fail "cache=none, shared storage, $cpus vCPU(s): the image differs from the reference"
	overlay "$TMP/i-src.qcow2"
	overlay "$TMP/dst/i-dst.qcow2"
	none_migrated "i$cpus" "$cpus" "migrate -i" "$TMP/i-src.qcow2" "$TMP/dst/i-dst.qcow2"
	[ "$(converted_sum "$TMP/dst/i-dst.qcow2")" = "$ref" ] ||
		fail "cache=none, migrate -i, $cpus vCPU(s): the image differs from the reference"
	note "cache=none, $cpus vCPU(s): shared storage and -i PASS, images as the reference"
done
[ "$(sha256sum <"$BASE")" = "$base_sum" ] || fail "the base image changed"
echo "disk_qcow2: diskverify passed on a qcow2 overlay, across a live migration and a save/restore, and with cache=none migrated two ways"
