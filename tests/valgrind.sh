#!/usr/bin/env bash
# `make valgrind`: every unit test, then one migration pair (a verify guest
# from a source vmm to a destination vmm on loopback), under valgrind's
# memcheck with leak checking. Any error valgrind reports fails it.
#
# The vmm processes run with --sandbox off: valgrind makes system calls of
# its own that no allow-list of ours names (the sandbox is tested without
# valgrind, tests/integration/sandbox.sh).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
LOG="$BUILD/valgrind"
mkdir -p "$LOG"
bad=0

# Every test gets a hard limit, so a hang fails instead of stalling CI.
# (test_virtio_blk once hung here: valgrind 3.19 holds its thread lock
# through io_uring_enter, so the drive's I/O thread waiting there kept the
# thread that would wake it from running; devices/blk_raw.c waits in
# poll() instead when it runs under valgrind.)
for t in "$BUILD"/tests/test_*; do
	name=$(basename "$t")
	if timeout -s KILL 600 "${VG[@]}" "$t" >"$LOG/$name.log" 2>&1; then
		echo "PASS  valgrind $name"
	else
		echo "FAIL  valgrind $name"
		tail -n 40 "$LOG/$name.log" | sed 's/^/      | /'
		bad=1
	fi
done

export BUILD
. tests/integration/lib.bash
require_kvm
port=$(free_port)
start vgdst "${VG[@]}" "$VMM" --sandbox off --incoming "tcp:127.0.0.1:$port" \
	--serial "file:$TMP/dst.serial"
dst=$LAST_PID
wait_for "$TMP/vgdst.err" "waiting for a migration" 60 || fail "destination did not listen"
# Valgrind slows vmm, not the guest: the guest runs long enough for a slow
# migration and checks its memory after it.
start vgsrc "${VG[@]}" "$VMM" --sandbox off --mem 64M --serial "file:$TMP/src.serial" \
	--migrate-to "tcp:127.0.0.1:$port" --migrate-after 1s "$GUESTS/verify.elf" -- duration=20
wait_exit "$LAST_PID" 240 || fail "source did not end"
if [ "$EXIT_STATUS" -ne 0 ]; then
	sed 's/^/      src | /' "$TMP/vgsrc.err" | tail -n 40
	fail "source under valgrind: exit $EXIT_STATUS"
fi
grep -q "migration completed" "$TMP/vgsrc.err" || fail "the source did not migrate"
wait_exit "$dst" 120 || fail "destination did not end"
if [ "$EXIT_STATUS" -ne 0 ]; then
	sed 's/^/      dst | /' "$TMP/vgdst.err" | tail -n 40
	fail "destination under valgrind: exit $EXIT_STATUS"
fi
grep -q "verify: PASS" "$TMP/dst.serial" || fail "verify did not pass on the destination"
echo "PASS  valgrind migration pair (verify guest, 64 MiB)"
[ "$bad" -eq 0 ] || exit 1
echo "valgrind: clean"
