# The live progress line: on a terminal (a pty made by script(1)) the
# source rewrites one line in place ("\r", text, erase to end of line)
# while it migrates, and the final summary still comes whole; off a
# terminal (stderr to a file) no such line is written, only the summary.
. tests/integration/lib.bash
require_kvm
require_cmd script
require_cmd socat

SOCK=$TMP/mon.sock

migrate_memtouch() {	# migrate_memtouch NAME RUN-PREFIX...: runs the source via the prefix
	local name=$1; shift
	local port; port=$(free_port)
	start_dest "dst_$name" "$port"
	rm -f "$SOCK"
	local cmd="$VMM --mem 256M --serial file:$TMP/$name.log --monitor unix:$SOCK $GUESTS/memtouch.elf -- rate=5000 ws=64M"
	if [ "$1" = tty ]; then
		# wide enough for every field (the line is cut to the width)
		start "$name" script -qfec "stty cols 200; exec $cmd" /dev/null
	else
		start "$name" bash -c "exec $cmd"
	fi
	local pid=$LAST_PID
	wait_sock "$SOCK"
	# Three rounds of a second or two at 30 MiB/s: many redraws at 4 a
	# second, from round 1 on with a dirty rate and expected downtime.
	mon_check "$SOCK" "migrate_set_parameter max-bandwidth 30M" "^ok"
	mon_check "$SOCK" "migrate_set_parameter downtime-limit 0" "^ok"
	mon_check "$SOCK" "migrate_set_parameter max-iterations 3" "^ok"
	mon_check "$SOCK" "migrate tcp:127.0.0.1:$port" "^ok"
	wait_status "$pid" 60 0 "source ($name)" "$name"
}

migrate_memtouch tty tty
out=$TMP/tty.out
grep -q "migration completed" "$out" || { cat -A "$out" | tail; fail "no summary on the terminal"; }
n=$(grep -ao $'\r\x1b\\[Kmigrate: round [0-9]*, sent' "$out" | wc -l)
[ "$n" -ge 2 ] || { cat -A "$out" | head -20; fail "the progress line was drawn $n times, want at least 2"; }
grep -aq "dirty [0-9]* pages/s, exp. downtime [0-9.]* ms, eta" "$out" ||
	{ cat -A "$out" | head -20; fail "the progress line lacks its fields"; }
# The summary starts on a line of its own: the line was erased first.
grep -aq $'\r\x1b\\[Kmigration completed' "$out" ||
	{ cat -A "$out" | head -20; fail "the summary does not start on a clean line"; }
note "on a terminal: the line drawn $n times"

migrate_memtouch notty file
grep -q "migration completed" "$TMP/notty.err" || fail "no summary off a terminal"
if grep -aq $'\r\\|\x1b\\[K\\|migrate: round' "$TMP/notty.err"; then
	cat -A "$TMP/notty.err" | head; fail "a progress line was written off a terminal"
fi
echo "progress_line: a line rewritten in place on a terminal, none off one"
