# --drive ...,base-digest=lazy: a qcow2 drive's base is not hashed at
# start (no background thread, no "made ahead" in the log) on either
# side; migrate -i still works, each side reading its base then ("SHA-256
# in X ms", not "cached"), and the destination's overlay reads as the
# source's. The default (auto) on this small base still hashes ahead.
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
require_cmd qemu-io
cd "$TMP" || fail "no TMP"
head -c 16M /dev/urandom >base.raw
mkdir dst && cp base.raw dst/base.raw
qemu-img create -q -f qcow2 -b base.raw -F raw src-ov.qcow2
qemu-io -c 'write -P 0x5a 1M 256K' -f qcow2 src-ov.qcow2 >/dev/null
(cd dst && qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2 &&
	qemu-img create -q -f qcow2 -b base.raw -F raw auto-ov.qcow2)
cd - >/dev/null || fail "cd back"

no_hash_thread() {	# no_hash_thread PID NAME: none of its threads hashes a base
	! grep -qx base-sha256 /proc/"$1"/task/*/comm 2>/dev/null ||
		fail "$2: a base-sha256 thread runs with base-digest=lazy"
}
lazy_logged() {		# lazy_logged NAME: its log says lazy, not ahead
	grep -q "SHA-256 made when a migrate -i asks (base-digest=lazy)" "$TMP/$1.err" ||
		{ sed 's/^/    /' "$TMP/$1.err"; fail "$1: no lazy line in the log"; }
	! grep -q "made ahead" "$TMP/$1.err" || fail "$1: the base was hashed ahead"
}

start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" \
	--drive "file=$TMP/src-ov.qcow2,format=qcow2,base-digest=lazy" "$GUESTS/idle.elf"
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock" \
	--drive "file=$TMP/dst/ov.qcow2,format=qcow2,base-digest=lazy"
dst_pid=$LAST_PID
lazy_logged src
lazy_logged dst
no_hash_thread "$src_pid" src
no_hash_thread "$dst_pid" dst

mon "$TMP/src.sock" "migrate -i tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate -i not accepted"
wait_status "$src_pid" 60 0 "the source after migrate -i" src
wait_sock "$TMP/dst.sock"
mon_wait "$TMP/dst.sock" "completed" 30 || fail "the destination did not complete"
mon "$TMP/dst.sock" "quit" >/dev/null || true
wait_exit "$dst_pid" 30 || kill "$dst_pid"
for side in src dst; do
	grep -q "SHA-256 in [0-9.]* ms" "$TMP/$side.err" ||
		{ sed 's/^/    /' "$TMP/$side.err"; fail "$side: the base was not read at the migration"; }
	! grep -q "SHA-256 cached" "$TMP/$side.err" || fail "$side: a cached digest with base-digest=lazy"
done
qemu-img compare -q "$TMP/src-ov.qcow2" "$TMP/dst/ov.qcow2" ||
	fail "the destination's overlay reads differently from the source's"
note "lazy: $(grep -o "SHA-256 in [0-9.]* ms" "$TMP/src.err") on the source, $(grep -o "SHA-256 in [0-9.]* ms" "$TMP/dst.err") on the destination"

# The default, auto, on a 16 MiB base: made ahead, and said so.
port=$(free_port)
start_dest auto "$port" --drive "file=$TMP/dst/auto-ov.qcow2,format=qcow2"
grep -q "16777216 bytes: SHA-256 made ahead, at idle priority (base-digest=auto)" "$TMP/auto.err" ||
	{ sed 's/^/    /' "$TMP/auto.err"; fail "auto: a small base not hashed ahead"; }
