# Incremental block migration (migrate -i) and qcow2 drives with -b. The
# source runs a qcow2 overlay over a raw base made by qemu-img; the
# destination has its own copy of the base under a fresh overlay. Refused
# with the reason, the source's guest running on and nothing written: a
# raw destination drive, a base that differs (by name; also one changed
# after the destination hashed it at start), an overlay that
# already holds data, --drive-dir (it makes raw images), one too small,
# -i on a raw drive, an empty base.
# migrate -i of an idle guest: the destination's overlay reads exactly as
# the source's (qemu-img compare) and fewer disk bytes travel than the
# base holds, both sides taking the base's digest made at start;
# migrate -b of the same overlay into a raw image and into an overlay
# over another base: identical too. diskverify, writing all along,
# migrated with -i: PASS on the destination.
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
require_cmd qemu-io
cd "$TMP" || fail "no TMP"
head -c 64M /dev/urandom >base.raw
mkdir dst && cp base.raw dst/base.raw
# Made now, to be long unchanged (a base changed within 100 ms of its
# hash's end is not cached) when it changes after a destination hashed it.
cp base.raw dst/late.raw && touch -d '2001-01-01' dst/late.raw
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

start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" \
	--drive "file=$TMP/src-ov.qcow2,format=qcow2" --stats-json "$TMP/src.json" "$GUESTS/idle.elf"
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"

# refuse NAME 'MESSAGE' DRIVE-OPTIONS: the destination says why and ends,
# the source fails the migration and runs on, its overlay untouched.
refuse() {
	local name=$1 msg=$2 port
	shift 2
	port=$(free_port)
	start_dest "$name" "$port" "$@"
	refused "$name" "$msg" "$port"
}
# refused NAME 'MESSAGE' PORT: the same, for the destination NAME already
# listening on PORT.
refused() {
	local name=$1 msg=$2 port=$3
	mon "$TMP/src.sock" "migrate -i tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate -i not accepted"
	wait_exit "$LAST_PID" 60 || fail "destination $name did not give up"
	grep -qF -- "$msg" "$TMP/$name.err" || { sed 's/^/    /' "$TMP/$name.err"; fail "$name: no '$msg'"; }
	mon_wait "$TMP/src.sock" "failed" 30 || fail "$name: the source did not see the refusal"
	kill -0 "$src_pid" || fail "$name: the source ended"
	[ "$(sha256sum <"$TMP/src-ov.qcow2")" = "$src_sum" ] || fail "$name: the source's overlay changed"
	note "$name refused: $(grep -oF -- "$msg" "$TMP/$name.err")"
}

truncate -s 64M "$TMP/dst/raw.img"
refuse raw "drive 0 ($TMP/dst/raw.img) is raw: the source sends only what its qcow2 overlay adds" \
	--drive "file=$TMP/dst/raw.img"
[ "$(du -k "$TMP/dst/raw.img" | cut -f1)" -eq 0 ] || fail "the raw image was written"

cp "$TMP/dst/base.raw" "$TMP/dst/other.raw"
printf 'x' | dd of="$TMP/dst/other.raw" bs=1 seek=$((40 << 20)) conv=notrunc status=none
fresh other-ov.qcow2 other.raw
refuse otherbase "base image $TMP/dst/other.raw differs from the source's: SHA-256" \
	--drive "file=$TMP/dst/other-ov.qcow2,format=qcow2"

# A base rewritten in place after the destination hashed it at start
# (one byte, same size, its mtime put back: only its ctime tells): the
# digest made ahead no longer counts, the base is read again and refused.
hashed_ahead() {	# hashed_ahead PID: its background hash of the base ended
	local i
	for i in $(seq 600); do
		grep -qx base-sha256 /proc/"$1"/task/*/comm 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}
fresh late-ov.qcow2 late.raw
port=$(free_port)
start_dest late "$port" --drive "file=$TMP/dst/late-ov.qcow2,format=qcow2"
hashed_ahead "$LAST_PID" || fail "the destination's base was still being hashed after 30 s"
printf 'x' | dd of="$TMP/dst/late.raw" bs=1 seek=$((50 << 20)) conv=notrunc status=none
touch -d '2001-01-01' "$TMP/dst/late.raw"
refused late "base image $TMP/dst/late.raw differs from the source's: SHA-256" "$port"
grep -q "SHA-256 in [0-9.]* ms" "$TMP/late.err" || fail "late: the changed base was not read again"

truncate -s 32M "$TMP/dst/short.raw"
fresh short-ov.qcow2 short.raw 64M
refuse shortbase "base image $TMP/dst/short.raw differs from the source's: 33554432 bytes, the source's 67108864" \
	--drive "file=$TMP/dst/short-ov.qcow2,format=qcow2"

fresh used-ov.qcow2
qemu-io -c 'write -P 1 0 64K' -f qcow2 "$TMP/dst/used-ov.qcow2" >/dev/null
refuse used "already holds 65536 bytes over its base" \
	--drive "file=$TMP/dst/used-ov.qcow2,format=qcow2"

mkdir "$TMP/dstdir"
refuse drivedir "and --drive-dir makes raw images: give --drive file=OVERLAY,format=qcow2" \
	--drive-dir "$TMP/dstdir"
[ -z "$(ls "$TMP/dstdir")" ] || fail "--drive-dir made an image for migrate -i"

fresh small-ov.qcow2 base.raw 32M
refuse small "has 33554432 bytes, the source's image 67108864" \
	--drive "file=$TMP/dst/small-ov.qcow2,format=qcow2"
[ "$(sha256sum <"$TMP/dst/base.raw")" = "$base_sum" ] || fail "the destination's base changed"

# migrate -i of the idle guest: the overlays read the same, and only the
# overlay's clusters (far less than the base) travelled.
fresh ov.qcow2
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock" --drive "file=$TMP/dst/ov.qcow2,format=qcow2"
dst_pid=$LAST_PID
mon "$TMP/src.sock" "migrate -i tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate -i not accepted"
wait_status "$src_pid" 60 0 "the source after migrate -i" src
wait_sock "$TMP/dst.sock"
mon_wait "$TMP/dst.sock" "completed" 30 || fail "the destination did not complete"
# Its total is what the source's overlay held (1 MiB, the cluster of the
# 4 KiB, the 128 KiB of zeros), not the disk's 64 MiB.
info=$(mon "$TMP/dst.sock" "info migrate")
grep -q "^total disk: 1216 kbytes" <<<"$info" || { echo "$info"; fail "the destination's total disk"; }
grep -q "^transferred disk: 1216 kbytes" <<<"$info" || { echo "$info"; fail "the destination's transferred disk"; }
mon "$TMP/dst.sock" "quit" >/dev/null || true
wait_exit "$dst_pid" 30 || kill "$dst_pid"
qemu-img compare -q "$TMP/src-ov.qcow2" "$TMP/dst/ov.qcow2" ||
	fail "the destination's overlay reads differently from the source's"
qemu-img check -q "$TMP/dst/ov.qcow2" || fail "qemu-img check: the destination's overlay"
[ "$(sha256sum <"$TMP/dst/base.raw")" = "$base_sum" ] || fail "the destination's base changed"
field() {	# field FILE NAME: a number from the statistics' JSON
	grep -o "\"$2\": [0-9]*" "$1" | head -1 | grep -o '[0-9]*$'
}
inc_bytes=$(field "$TMP/src.json" disk_transferred)
[ -n "$inc_bytes" ] && [ "$inc_bytes" -lt $((64 << 20)) ] ||
	fail "migrate -i sent $inc_bytes disk bytes, not less than the 64 MiB base"
# Both ran long enough for the digests made at start (or most of them).
grep -q "SHA-256 cached" "$TMP/src.err" || fail "the source did not take its base's digest from the cache"
grep -q "SHA-256 cached" "$TMP/dst.err" || fail "the destination did not take its base's digest from the cache"
note "migrate -i: overlays identical, $inc_bytes disk bytes, $(field "$TMP/src.json" bytes_total) on the wire, $(field "$TMP/src.json" total_us) us ($(grep -o "SHA-256 cached ([^)]*)" "$TMP/src.err" | tail -1))"

# The digests made at start by a thread that lives on under the sandbox
# (on by default), --jail and, where there is a 'nobody', --runas.
runas=()
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then runas=(--runas nobody); fi
(cd "$TMP" && qemu-img create -q -f qcow2 -b base.raw -F raw jail-ov.qcow2)
qemu-io -c 'write -P 0x3c 7M 64K' -f qcow2 "$TMP/jail-ov.qcow2" >/dev/null
fresh jail-ov.qcow2
start jsrc "$VMM" --mem 32M --jail "$TMP" "${runas[@]}" --monitor "unix:$TMP/jsrc.sock" \
	--drive "file=$TMP/jail-ov.qcow2,format=qcow2" "$GUESTS/idle.elf"
jsrc_pid=$LAST_PID
wait_sock "$TMP/jsrc.sock"
port=$(free_port)
start_dest jdst "$port" --jail "$TMP" "${runas[@]}" --monitor "unix:$TMP/jdst.sock" \
	--drive "file=$TMP/dst/jail-ov.qcow2,format=qcow2"
jdst_pid=$LAST_PID
hashed_ahead "$jsrc_pid" && hashed_ahead "$jdst_pid" || fail "jailed: the bases still hashing after 30 s"
mon "$TMP/jsrc.sock" "migrate -i tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "jailed: migrate -i not accepted"
wait_status "$jsrc_pid" 60 0 "the jailed source after migrate -i" jsrc
wait_sock "$TMP/jdst.sock"
mon_wait "$TMP/jdst.sock" "completed" 30 || fail "jailed: the destination did not complete"
mon "$TMP/jdst.sock" "quit" >/dev/null || true
wait_exit "$jdst_pid" 30 || kill "$jdst_pid"
grep -q "SHA-256 cached (computed at start" "$TMP/jsrc.err" || fail "jailed: the source's digest not cached"
grep -q "SHA-256 cached (computed at start" "$TMP/jdst.err" || fail "jailed: the destination's digest not cached"
qemu-img compare -q "$TMP/jail-ov.qcow2" "$TMP/dst/jail-ov.qcow2" || fail "jailed: the overlays differ"
note "migrate -i under the sandbox, --jail ${runas[*]}: digests made at start on both sides, overlays identical"

# migrate -b of the same overlay: every byte through the qcow2 reader,
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
[ "$full_bytes" -gt "$inc_bytes" ] || fail "migrate -b sent $full_bytes bytes, -i $inc_bytes"
fresh other2-ov.qcow2 other.raw
full ovl --drive "file=$TMP/dst/other2-ov.qcow2,format=qcow2"
qemu-img compare -q "$TMP/src-ov.qcow2" "$TMP/dst/other2-ov.qcow2" ||
	fail "migrate -b of a qcow2 drive into an overlay over another base: contents differ"
qemu-img check -q "$TMP/dst/other2-ov.qcow2" || fail "qemu-img check: the -b overlay"
note "migrate -b of a qcow2 overlay: identical in a raw image and in an overlay over another base; $full_bytes disk bytes, $(field "$TMP/src_raw.json" bytes_total) on the wire, $(field "$TMP/src_raw.json" total_us) us"

# -i on a raw drive: refused before anything starts.
truncate -s 16M "$TMP/plain.img"
start rawsrc "$VMM" --mem 32M --monitor "unix:$TMP/rawsrc.sock" --drive "file=$TMP/plain.img" \
	"$GUESTS/idle.elf"
rawsrc_pid=$LAST_PID
wait_sock "$TMP/rawsrc.sock"
out=$(mon "$TMP/rawsrc.sock" "migrate -i tcp:127.0.0.1:1")
grep -q "drive 0 is raw, with no base image to be incremental over" <<<"$out" || fail "-i on raw: $out"
out=$(mon "$TMP/rawsrc.sock" "migrate_set_parameter block-incremental on")
grep -q '^ok$' <<<"$out" || fail "block-incremental: $out"
mon "$TMP/rawsrc.sock" "info migrate_parameters" | grep -q "^block-incremental: on" ||
	fail "block-incremental not listed on"
out=$(mon "$TMP/rawsrc.sock" "migrate_set_capability block on")
grep -q "drive 0 is raw" <<<"$out" || fail "the block capability with block-incremental on a raw drive: $out"
mon "$TMP/rawsrc.sock" "quit" >/dev/null || true
wait_exit "$rawsrc_pid" 30 || kill "$rawsrc_pid"
note "-i on a raw drive refused; block-incremental listed"

# An overlay over an empty base: nothing to compare, refused by name.
: >"$TMP/empty.raw"
(cd "$TMP" && qemu-img create -q -f qcow2 -b empty.raw -F raw empty-ov.qcow2 16M)
start emptysrc "$VMM" --mem 32M --monitor "unix:$TMP/emptysrc.sock" \
	--drive "file=$TMP/empty-ov.qcow2,format=qcow2" "$GUESTS/idle.elf"
emptysrc_pid=$LAST_PID
wait_sock "$TMP/emptysrc.sock"
mon "$TMP/emptysrc.sock" "migrate -i tcp:127.0.0.1:1" | grep -q '^ok$' || fail "migrate -i (empty base)"
mon_wait "$TMP/emptysrc.sock" "base image $TMP/empty.raw is empty" 30 || fail "the empty base not named"
kill -0 "$emptysrc_pid" || fail "the source ended after its empty base was refused"
mon "$TMP/emptysrc.sock" "quit" >/dev/null || true
wait_exit "$emptysrc_pid" 30 || kill "$emptysrc_pid"
note "an empty base refused by name"

# diskverify writes and checks all along; migrated with -i, then saved
# and restored there, where a 'q' makes it check every block.
(cd "$TMP" && qemu-img create -q -f qcow2 -b base.raw -F raw dv-ov.qcow2)
fresh dv-ov.qcow2
start dv "$VMM" --mem 32M --monitor "unix:$TMP/dv.sock" --drive "file=$TMP/dv-ov.qcow2,format=qcow2" \
	"$GUESTS/diskverify.elf" -- duration=0 report=0.2 rate=200 ws=4M bs=64K
dv_pid=$LAST_PID
wait_sock "$TMP/dv.sock"
wait_for "$TMP/dv.out" "^diskverify: t=" 30 || fail "diskverify did not start"
port=$(free_port)
start_dest dvdst "$port" --monitor "unix:$TMP/dvdst.sock" --drive "file=$TMP/dst/dv-ov.qcow2,format=qcow2"
dvdst_pid=$LAST_PID
mon "$TMP/dv.sock" "migrate -i tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate -i (diskverify) not accepted"
wait_status "$dv_pid" 60 0 "the diskverify source after migrate -i" dv
grep -q "^diskverify: FAIL" "$TMP/dv.out" && fail "a block was wrong before the migration"
n=$(grep -c "^diskverify: t=" "$TMP/dvdst.out")
wait_count "$TMP/dvdst.out" "^diskverify: t=" "$((n + 3))" 20 || fail "the guest did not run on the destination"
grep -q "^diskverify: FAIL" "$TMP/dvdst.out" && fail "a block was wrong after migrate -i"
wait_sock "$TMP/dvdst.sock"
mon "$TMP/dvdst.sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "save not accepted"
wait_status "$dvdst_pid" 60 0 "the destination after the save" dvdst
run_guest_input q 120 --incoming "file:$TMP/snap" --drive "file=$TMP/dst/dv-ov.qcow2,format=qcow2"
expect_status 0 "diskverify's verdict on the destination's overlay"
expect_out "^diskverify: PASS"
qemu-img check -q "$TMP/dst/dv-ov.qcow2" || fail "qemu-img check: the diskverify overlay"
[ "$(sha256sum <"$TMP/dst/base.raw")" = "$base_sum" ] || fail "the destination's base changed"
grep "^diskverify: PASS" "$TMP/run.out"
echo "migrate_block_incr: migrate -i and qcow2 with -b: overlays identical, refusals said, diskverify passed"
