#!/usr/bin/env bash
# --migrate-after belongs to the migration object: a guest that ends while
# the delay runs ends vmm at once, and a delay that expires after the
# object is gone starts nothing (it once used the freed object).
source "$(dirname "$0")/lib.bash"
require_kvm
port=$(free_port)	# nothing listens there

note "the guest ends long before the delay: vmm exits with its status, now"
run_guest 30 --serial none --migrate-to "tcp:127.0.0.1:$port" --migrate-after 3600s \
	"$GUESTS/hello.elf"
expect_status 0 "guest ended during --migrate-after"
grep -q "migration to" "$TMP/run.err" && fail "a migration started after the guest ended"

# The window itself: hold the main thread after the migration object is
# destroyed (at vm__destroy) until the delay has passed, then let it end.
if ! command -v gdb >/dev/null; then
	note "gdb not installed: the check with the main thread held is not run"
	exit 0
fi
note "the delay expires while the main thread is held after destroying the migration"
cat >"$TMP/hold.gdb" <<'GDB'
set pagination off
set non-stop on
set confirm off
handle SIGUSR1 nostop noprint pass
handle SIGUSR2 nostop noprint pass
break vm__destroy
run
shell sleep 4
continue -a
GDB
# LeakSanitizer cannot run under ptrace; AddressSanitizer itself can.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
timeout --kill-after=5 60 gdb -q -batch -x "$TMP/hold.gdb" --args "$VMM" --serial none \
	--migrate-to "tcp:127.0.0.1:$port" --migrate-after 1s "$GUESTS/hello.elf" \
	>"$TMP/gdb.out" 2>&1 </dev/null
if ! grep -q "hit Breakpoint 1" "$TMP/gdb.out"; then
	note "gdb could not run vmm here (ptrace refused?): $(tail -n 1 "$TMP/gdb.out")"
	exit 0
fi
if grep -Eq "AddressSanitizer|corrupted|received signal SIG(SEGV|ABRT|BUS)" "$TMP/gdb.out" ||
   ! grep -q "exited normally" "$TMP/gdb.out"; then
	sed 's/^/    /' "$TMP/gdb.out" | tail -n 40
	fail "vmm did not end cleanly when --migrate-after expired after the migration was destroyed"
fi
echo "PASS"
