# The destination's disk line: on a terminal (a pty made by script(1)), a
# destination receiving a block migration (migrate -b) rewrites one line
# in place ("\r", erase to the end of the line, text), as QEMU's printed
# "Receiving block device images Completed N %", and ends it with the
# 100 % line and a newline; off a terminal (stderr to a file) nothing of
# it is written.
. tests/integration/lib.bash
require_kvm
require_cmd script
require_cmd socat

# 32 MiB of data at 20 MiB/s: the copy takes over a second and a half
# whatever the machine, the line is looked at 4 times a second.
SRC=$TMP/src.img
head -c 32M /dev/urandom >"$SRC"
start src "$VMM" --mem 32M --monitor "unix:$TMP/src.sock" --serial "file:$TMP/src.log" \
	--drive "file=$SRC" "$GUESTS/idle.elf"
src_pid=$LAST_PID
wait_sock "$TMP/src.sock"
mon_check "$TMP/src.sock" "migrate_set_parameter max-bandwidth 20M" "^ok"

# The destination under script(1): its stderr is a terminal.
port=$(free_port)
truncate -s 32M "$TMP/tty.img"
start tty script -qfec "exec $VMM --incoming tcp:127.0.0.1:$port --drive file=$TMP/tty.img --serial file:$TMP/tty.log --monitor unix:$TMP/tty.sock" /dev/null
wait_port "$port" 10 || fail "the destination under script did not listen"
mon_check "$TMP/src.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
wait_sock "$TMP/tty.sock"
mon_wait "$TMP/tty.sock" "completed" 60 || fail "tty: the migration did not complete"
cmp -s "$SRC" "$TMP/tty.img" || fail "tty: the image differs from the source's"
wait_status "$src_pid" 30 0 "the source after migrate -b" src
out=$TMP/tty.out
grep -aEq $'\r\x1b\\[KReceiving block device images Completed 100 %\r?$' "$out" ||
	{ cat -A "$out"; fail "no final 100 % line on the terminal"; }
n=$(grep -ao $'\r\x1b\\[KReceiving block device images Completed [0-9]\\{1,2\\} %' "$out" | wc -l)
[ "$n" -ge 1 ] || { cat -A "$out"; fail "the line was never drawn before 100 %"; }
# vmm's next message starts on a line of its own.
grep -aA1 "Completed 100 %" "$out" | grep -aq "^vmm: " ||
	{ cat -A "$out"; fail "the 100 % line was not ended with a newline"; }
note "on a terminal: drawn $n times below 100 %, then the 100 % line"

# Back the other way (the tty destination is now the source), with the
# destination's stderr a file.
mon_check "$TMP/tty.sock" "migrate_set_parameter max-bandwidth 20M" "^ok"
SRC=$TMP/tty.img
port=$(free_port)
truncate -s 32M "$TMP/back.img"
start back "$VMM" --incoming "tcp:127.0.0.1:$port" --drive "file=$TMP/back.img" \
	--serial "file:$TMP/back.log" --monitor "unix:$TMP/back.sock"
back_pid=$LAST_PID
wait_for "$TMP/back.err" "waiting for a migration" 10 || fail "the destination did not listen"
mon_check "$TMP/tty.sock" "migrate -b tcp:127.0.0.1:$port" "^ok"
wait_sock "$TMP/back.sock"
mon_wait "$TMP/back.sock" "completed" 60 || fail "back: the migration did not complete"
cmp -s "$SRC" "$TMP/back.img" || fail "back: the image differs"
grep -q "migration received from" "$TMP/back.err" || fail "back: no arrival said"
if grep -aq $'\r\\|\x1b\\[K\\|Receiving block device' "$TMP/back.err"; then
	cat -A "$TMP/back.err"; fail "the disk line was written off a terminal"
fi
mon "$TMP/back.sock" "quit" >/dev/null || true
wait_exit "$back_pid" 30 || kill "$back_pid"
echo "migrate_block_progress: the images' share on a terminal, ending at 100 %; nothing off one"
