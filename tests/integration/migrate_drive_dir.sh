# --drive-dir DIR: a destination that creates the images a block
# migration (migrate -b) copies, DIR/disk0.img, ..., rather than being
# given them with --drive. Refused at start: no such directory, with
# --drive, without --incoming, outside --jail. Refused before anything
# moves, the source's guest running on and nothing overwritten: an image
# of that name exists, the directory is not writable, or was removed
# since the destination started. A migration that fails after the image
# was made removes it. An idle guest's image arrives byte-identical,
# sparse, mode 0600, inside a --jail, with the sandbox on; the guest can
# be copied on from there with -b again; a stream without disks leaves
# DIR alone; diskverify, writing all along, passes on the destination.
. tests/integration/lib.bash
require_kvm
SRC=$TMP/src.img
sparse_image "$SRC"
src_sum=$(sha256sum <"$SRC")

# Refused at start, each with its reason.
run_guest 10 --incoming tcp:127.0.0.1:1 --drive-dir "$TMP/nope"
expect_status 1 "--drive-dir of no such directory"
expect_err "--drive-dir $TMP/nope: No such file or directory"
touch "$TMP/plain"
run_guest 10 --incoming tcp:127.0.0.1:1 --drive-dir "$TMP/plain"
expect_status 1 "--drive-dir of a file"
expect_err "--drive-dir $TMP/plain: Not a directory"
run_guest 10 --incoming tcp:127.0.0.1:1 --drive-dir "$TMP" --drive "file=$SRC"
expect_status 1 "--drive-dir with --drive"
expect_err "--drive-dir and --drive exclude each other"
run_guest 10 --drive-dir "$TMP" "$GUESTS/idle.elf"
expect_status 1 "--drive-dir without --incoming"
expect_err "--drive-dir needs --incoming"
mkdir "$TMP/jail" "$TMP/outside"
run_guest 10 --incoming tcp:127.0.0.1:1 --jail "$TMP/jail" --drive-dir "$TMP/outside"
expect_status 1 "--drive-dir outside --jail"
expect_err "$TMP/outside is outside --jail"
note "refused at start: no such directory, a file, with --drive, without --incoming, outside --jail"

start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" --serial "file:$TMP/src.log" \
	--drive "file=$SRC" "$GUESTS/idle.elf"
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"

# refused NAME DIR REGEX: a destination on DIR refuses the source's
# migrate -b with REGEX in its reason; the source's guest runs on.
refused() {
	local name=$1 dir=$2 re=$3 port dpid
	port=$(free_port)
	start_dest "$name" "$port" --drive-dir "$dir"
	dpid=$LAST_PID
	[ -n "${4:-}" ] && eval "$4"
	mon "$TMP/src.sock" "migrate -b tcp:127.0.0.1:$port" >/dev/null
	wait_status "$dpid" 30 1 "the destination $name" "$name"
	grep -Eq -- "$re" "$TMP/$name.err" || { sed 's/^/    /' "$TMP/$name.err"; fail "$name: no reason"; }
	mon_wait "$TMP/src.sock" "$re" 30 || fail "$name: the source was not told why"
	kill -0 "$src_pid" || fail "the source ended after the refusal ($name)"
}

# An image of that name already there: never overwritten.
mkdir "$TMP/taken"
printf 'keep me' >"$TMP/taken/disk0.img"
refused taken "$TMP/taken" "disk0.img already exists: vmm never overwrites an image"
[ "$(cat "$TMP/taken/disk0.img")" = "keep me" ] || fail "the existing image was changed"
# A directory vmm cannot write (vmm holds no capability by then, so a
# mode of 0555 stops it as root too).
mkdir "$TMP/ro"
chmod 0555 "$TMP/ro"
refused ro "$TMP/ro" "cannot create disk0.img: Permission denied"
# Gone since the destination started.
mkdir "$TMP/gone"
refused gone "$TMP/gone" "the directory was removed since vmm started" "rmdir '$TMP/gone'"
[ "$(ls -A "$TMP/ro")" = "" ] || fail "something was left in the read-only directory"
note "refused with the guest running on: an existing image (unchanged), a read-only directory, a removed one"

# A migration that fails after the image was made (cancelled in the bulk
# pass): the image goes with it.
mkdir "$TMP/cancel"
port=$(free_port)
start_dest cancel "$port" --drive-dir "$TMP/cancel"
dpid=$LAST_PID
mon_check "$TMP/src.sock" "migrate_set_parameter max-bandwidth 1M" "^ok"
mon_check "$TMP/src.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
mon_wait "$TMP/src.sock" "transferred disk: [1-9]" 30 || fail "the bulk pass did not start"
[ -f "$TMP/cancel/disk0.img" ] || fail "no image made in the bulk pass"
mon "$TMP/src.sock" "migrate_cancel" >/dev/null
mon_wait "$TMP/src.sock" "cancelled" 30 || fail "the cancel did not end the migration"
wait_status "$dpid" 30 1 "the destination after the cancel" cancel
[ "$(ls -A "$TMP/cancel")" = "" ] || fail "the image of the cancelled migration was left: $(ls "$TMP/cancel")"
grep -q "removed disk0.img, made for a migration that did not complete" "$TMP/cancel.err" ||
	{ sed 's/^/    /' "$TMP/cancel.err"; fail "the removal was not said"; }
mon_check "$TMP/src.sock" "migrate_set_parameter max-bandwidth 0" "^ok"
kill -0 "$src_pid" || fail "the source ended after the cancel"
note "cancelled in the bulk pass: the image made for it removed"

# The migration, inside a jail, sandbox on: the image arrives whole.
mkdir "$TMP/jail/d"
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock" --serial "file:$TMP/dst.log" \
	--jail "$TMP/jail" --drive-dir "$TMP/jail/d"
dst_pid=$LAST_PID
mon_check "$TMP/src.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
wait_status "$src_pid" 60 0 "the source after migrate -b" src
mon_wait "$TMP/dst.sock" "completed" 30 || fail "the destination did not complete"
IMG=$TMP/jail/d/disk0.img
[ "$(ls "$TMP/jail/d")" = "disk0.img" ] || fail "the directory holds: $(ls "$TMP/jail/d")"
[ "$(sha256sum <"$IMG")" = "$src_sum" ] || fail "the created image differs from the source's"
[ "$(stat -c '%s %a' "$IMG")" = "$((64 << 20)) 600" ] || fail "image size and mode: $(stat -c '%s %a' "$IMG")"
used=$(du -k "$IMG" | cut -f1)
[ "$used" -lt 8192 ] || fail "the created image is not sparse: $used KiB used of 65536"
grep -q "created $IMG (67108864 bytes) for drive 0" "$TMP/dst.err" || fail "the creation was not said"
note "migrate -b into --drive-dir: byte-identical, $used KiB allocated of 64 MiB, mode 600"

# On from there, into a second --drive-dir.
mkdir "$TMP/d2"
port=$(free_port)
start_dest dst2 "$port" --monitor "unix:$TMP/dst2.sock" --serial "file:$TMP/dst2.log" \
	--drive-dir "$TMP/d2"
dst2_pid=$LAST_PID
mon_check "$TMP/dst.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
wait_status "$dst_pid" 60 0 "the first destination after migrate -b on" dst
mon_wait "$TMP/dst2.sock" "completed" 30 || fail "the second destination did not complete"
[ "$(sha256sum <"$TMP/d2/disk0.img")" = "$src_sum" ] || fail "the image copied on differs"
mon "$TMP/dst2.sock" "quit" >/dev/null || true
wait_exit "$dst2_pid" 30 || kill "$dst2_pid"
note "copied on with -b from a --drive-dir destination into another"

# A stream without disks: DIR is left alone.
mkdir "$TMP/nodisk"
port=$(free_port)
start_dest nodisk "$port" --drive-dir "$TMP/nodisk" --serial "file:$TMP/nodisk.log"
nd_pid=$LAST_PID
run_guest 60 --mem 32M --serial none --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/idle.elf" \
	-- duration=3
expect_status 0 "a diskless source"
wait_status "$nd_pid" 30 0 "the destination of a diskless guest" nodisk
[ "$(ls -A "$TMP/nodisk")" = "" ] || fail "a diskless stream made files: $(ls "$TMP/nodisk")"
note "a stream without disks: nothing made"

# diskverify, writing and checking all along, into a --drive-dir: its
# verdict on the destination.
truncate -s 16M "$TMP/dv.img"
start dv "$VMM" --mem 32M --monitor "unix:$TMP/dv.sock" --drive "file=$TMP/dv.img" \
	"$GUESTS/diskverify.elf" -- duration=6 report=0.2 rate=200 ws=4M bs=64K
dv_pid=$LAST_PID
wait_sock "$TMP/dv.sock"
wait_for "$TMP/dv.out" "^diskverify: t=" 30 || fail "diskverify did not start"
mkdir "$TMP/dvd"
port=$(free_port)
start_dest dvd "$port" --drive-dir "$TMP/dvd"
dvd_pid=$LAST_PID
mon_check "$TMP/dv.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
wait_status "$dv_pid" 60 0 "the diskverify source after migrate -b" dv
wait_status "$dvd_pid" 60 0 "diskverify's verdict on the destination" dvd
grep -q "^diskverify: PASS" "$TMP/dvd.out" || { tail "$TMP/dvd.out"; fail "no PASS on the destination"; }
grep "^diskverify: PASS" "$TMP/dvd.out"
echo "migrate_drive_dir: images made in --drive-dir, refusals said, nothing overwritten"
