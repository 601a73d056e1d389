# A migrated disk against a run that never moved. diskverify with a write
# count leaves an image that depends on its parameters and CPU count
# alone; with 1 and 2 vCPUs it runs once without migrating (the
# reference: a zeroed raw image, and a qcow2 overlay over a random base),
# then three times migrated while it writes: over shared storage (the same
# image on both sides), with migrate -b into a second zeroed image, and
# with migrate -i into a fresh overlay over a copy of the base. Each time
# the destination's verdict is PASS (exit 0) and its image (an overlay
# through qemu-img convert -O raw) has the reference's sha256. The
# references run at full speed, the migrated runs paced, so timing does
# not enter the image either. A copy of a destination image with one byte
# of a block flipped must not match: the comparison can fail.
# exclusive: the migration must land while the guest is still writing.
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
WRITES=400
# 64 blocks of 64K; every CPU rewrites its slice WRITES times.
GUEST=(ws=4M bs=64K report=0.2 "writes=$WRITES")
head -c 16M /dev/urandom >"$TMP/base.raw"
mkdir "$TMP/dst" && cp "$TMP/base.raw" "$TMP/dst/base.raw"

# overlay PATH: a fresh qcow2 overlay at PATH over base.raw in its folder.
overlay() {
	rm -f "$1"
	(cd "$(dirname "$1")" && qemu-img create -q -f qcow2 -b base.raw -F raw "$(basename "$1")") ||
		fail "qemu-img create $1"
}

# image_sum PATH [qcow2]: the sha256 of what the guest's disk reads.
image_sum() {
	if [ "${2:-}" = qcow2 ]; then
		qemu-img convert -O raw "$1" "$TMP/converted.raw" || fail "qemu-img convert $1"
		sha256sum <"$TMP/converted.raw" | cut -d' ' -f1
	else
		sha256sum <"$1" | cut -d' ' -f1
	fi
}

# reference CPUS DRIVE [qcow2]: diskverify runs to its end on DRIVE, not
# migrated, at full speed; prints the image's sum.
reference() {
	local cpus=$1 drive=$2 fmt=${3:-raw}
	run_guest 120 --mem 32M --cpus "$cpus" --drive "file=$drive,format=$fmt" \
		"$GUESTS/diskverify.elf" -- "${GUEST[@]}" rate=0
	expect_status 0 "the reference run ($cpus vCPUs, $fmt)"
	expect_out "^diskverify: PASS blocks=64 cpus=$cpus writes=$((64 + cpus * WRITES)) "
	image_sum "$drive" "$fmt"
}

# migrated NAME CPUS HOW SRC-DRIVE DST-DRIVE: diskverify on SRC-DRIVE,
# migrated (HOW: "migrate", "migrate -b" or "migrate -i") once it writes,
# to a destination on DST-DRIVE (vmm --drive options); the destination's
# verdict must be PASS. The source must not have reached its own end.
migrated() {
	local name=$1 cpus=$2 how=$3 sdrive=$4 ddrive=$5 port src_pid dst_pid last
	start "$name-src" "$VMM" --mem 32M --cpus "$cpus" --monitor "unix:$TMP/$name.sock" \
		--drive "$sdrive" "$GUESTS/diskverify.elf" -- "${GUEST[@]}" rate=100
	src_pid=$LAST_PID
	wait_sock "$TMP/$name.sock"
	wait_for "$TMP/$name-src.out" "^diskverify: t=" 30 || fail "$name: diskverify did not start"
	port=$(free_port)
	start_dest "$name-dst" "$port" --drive "$ddrive"
	dst_pid=$LAST_PID
	mon "$TMP/$name.sock" "$how tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "$name: $how not accepted"
	wait_status "$src_pid" 60 0 "$name: the source after $how" "$name-src"
	wait_status "$dst_pid" 60 0 "$name: diskverify's verdict on the destination" "$name-dst"
	grep -Eq "^diskverify: PASS blocks=64 cpus=$cpus writes=$((64 + cpus * WRITES)) " \
		"$TMP/$name-dst.out" || { tail "$TMP/$name-dst.out"; fail "$name: no PASS on the destination"; }
	grep -q "^diskverify: PASS" "$TMP/$name-src.out" && fail "$name: the guest ended before it moved"
	# Mid-run: the source's last count is short of the run's.
	last=$(grep -o "^diskverify: t=.* writes=[0-9]*" "$TMP/$name-src.out" | tail -n 1 | sed 's/.*writes=//')
	[ "$last" -lt $((64 + cpus * WRITES)) ] || fail "$name: the source had written everything ($last)"
	note "$name: the source's last report: $last of $((64 + cpus * WRITES)) writes, PASS on the destination"
}

# same NAME SUM REF: the destination's image against the reference.
same() {
	[ "$2" = "$3" ] || fail "$1: the destination's image differs from the reference ($2, not $3)"
}

for cpus in 1 2; do
	truncate -s 16M "$TMP/ref.img"
	ref=$(reference "$cpus" "$TMP/ref.img") || { echo "$ref"; exit 1; }
	overlay "$TMP/ref.qcow2"
	ref_ov=$(reference "$cpus" "$TMP/ref.qcow2" qcow2) || { echo "$ref_ov"; exit 1; }
	note "$cpus vCPU(s): reference sha256 raw $ref, overlay $ref_ov"

	rm -f "$TMP/shared.img" && truncate -s 16M "$TMP/shared.img"
	migrated "shared$cpus" "$cpus" migrate "file=$TMP/shared.img" "file=$TMP/shared.img"
	same "shared storage, $cpus vCPU(s)" "$(image_sum "$TMP/shared.img")" "$ref"

	rm -f "$TMP/b-src.img" "$TMP/b-dst.img" && truncate -s 16M "$TMP/b-src.img" "$TMP/b-dst.img"
	migrated "b$cpus" "$cpus" "migrate -b" "file=$TMP/b-src.img" "file=$TMP/b-dst.img"
	same "migrate -b, $cpus vCPU(s)" "$(image_sum "$TMP/b-dst.img")" "$ref"

	overlay "$TMP/i-src.qcow2"
	overlay "$TMP/dst/i-dst.qcow2"
	migrated "i$cpus" "$cpus" "migrate -i" "file=$TMP/i-src.qcow2,format=qcow2" \
		"file=$TMP/dst/i-dst.qcow2,format=qcow2"
	same "migrate -i, $cpus vCPU(s)" "$(image_sum "$TMP/dst/i-dst.qcow2" qcow2)" "$ref_ov"
	note "$cpus vCPU(s): shared storage, -b and -i images identical to the reference"
	[ "$cpus" = 1 ] && ref1=$ref
done
[ "$ref1" != "$ref" ] || fail "the 1- and 2-vCPU references are the same image"

# The comparison can fail: the last byte of the last block inverted.
cp "$TMP/b-dst.img" "$TMP/flipped.img"
at=$(((4 << 20) - 1))
byte=$(od -An -tu1 -j "$at" -N1 "$TMP/flipped.img")
printf "\\$(printf %03o $((255 - byte)))" | dd of="$TMP/flipped.img" bs=1 seek="$at" conv=notrunc status=none
cmp -s "$TMP/b-dst.img" "$TMP/flipped.img" && fail "the byte was not changed"
[ "$(image_sum "$TMP/flipped.img")" != "$ref" ] || fail "a flipped byte went unnoticed"
echo "disk_reference: diskverify on 1 and 2 vCPUs, migrated three ways, images identical to the references"
