# qcow2 drives with migrate -b. The source runs a qcow2 overlay over a
# raw base made by qemu-img; migrate -b of it (every byte through the
# qcow2 reader, base included) into a raw image and into an overlay over
# another base (whose bytes the zeros must hide) reads identical
# (qemu-img compare).
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
require_cmd qemu-io
cd "$TMP" || fail "no TMP"
head -c 64M /dev/urandom >base.raw
mkdir dst && cp base.raw dst/base.raw
qemu-img create -q -f qcow2 -b base.raw -F raw src-ov.qcow2
# 1 MiB of data, zeros over the base, 4 KiB further on.
qemu-io -c 'write -P 0x5a 5M 1M' -c 'write -z 10M 128K' -c 'write -P 0xa5 30M 4K' \
	-f qcow2 src-ov.qcow2 >/dev/null
cd - >/dev/null || fail "cd back"
src_sum=$(sha256sum <"$TMP/src-ov.qcow2")
base_sum=$(sha256sum <"$TMP/base.raw")
fresh() {	# fresh NAME [BASE]: a new overlay in dst/ over dst/BASE
	rm -f "$TMP/dst/$1"
	(cd "$TMP/dst" && qemu-img create -q -f qcow2 -b "${2:-base.raw}" -F raw "$1" ${3:+"$3"})
}

field() {	# field FILE NAME: a number from the statistics' JSON
	grep -o "\"$2\": [0-9]*" "$1" | head -1 | grep -o '[0-9]*$'
}
# migrate -b of the overlay: every byte through the qcow2 reader,
# base included, into a raw image and into an overlay over another base
# (the zeros must hide that base).
full() {	# full NAME DRIVE-OPTIONS: migrate -b an idle source to it
	local name=$1 port
	shift
	start "src_$name" "$VMM" --mem 32M --monitor "unix:$TMP/src_$name.sock" \
		--drive "file=$TMP/src-ov.qcow2,format=qcow2" --stats-json "$TMP/src_$name.json" \
		"$GUESTS/idle.elf"
	local spid=$LAST_PID
	wait_sock "$TMP/src_$name.sock"
	port=$(free_port)
	start_dest "dst_$name" "$port" --monitor "unix:$TMP/dst_$name.sock" "$@"
	local dpid=$LAST_PID
	mon "$TMP/src_$name.sock" "migrate -b tcp:127.0.0.1:$port" | grep -q '^ok$' ||
		fail "$name: migrate -b not accepted"
	wait_status "$spid" 60 0 "the source after migrate -b ($name)" "src_$name"
	wait_sock "$TMP/dst_$name.sock"
	mon_wait "$TMP/dst_$name.sock" "completed" 30 || fail "$name: the destination did not complete"
	mon "$TMP/dst_$name.sock" "quit" >/dev/null || true
	wait_exit "$dpid" 30 || kill "$dpid"
}
truncate -s 64M "$TMP/dst/full.img"
full raw --drive "file=$TMP/dst/full.img"
qemu-img compare -q -f qcow2 -F raw "$TMP/src-ov.qcow2" "$TMP/dst/full.img" ||
	fail "migrate -b of a qcow2 drive into a raw image: contents differ"
full_bytes=$(field "$TMP/src_raw.json" disk_transferred)
cp "$TMP/dst/base.raw" "$TMP/dst/other.raw"
printf 'x' | dd of="$TMP/dst/other.raw" bs=1 seek=$((40 << 20)) conv=notrunc status=none
fresh other2-ov.qcow2 other.raw
full ovl --drive "file=$TMP/dst/other2-ov.qcow2,format=qcow2"
qemu-img compare -q "$TMP/src-ov.qcow2" "$TMP/dst/other2-ov.qcow2" ||
	fail "migrate -b of a qcow2 drive into an overlay over another base: contents differ"
qemu-img check -q "$TMP/dst/other2-ov.qcow2" || fail "qemu-img check: the -b overlay"
note "migrate -b of a qcow2 overlay: identical in a raw image and in an overlay over another base; $full_bytes disk bytes, $(field "$TMP/src_raw.json" bytes_total) on the wire, $(field "$TMP/src_raw.json" total_us) us"

echo "migrate_block_incr: qcow2 drives copied with migrate -b"
