# The switchover never leaves the guest running in two places. A proxy
# (switch_proxy.py) between source and destination delays each message of
# the switchover (END, READY, GO, RESUMED) past the deadline, drops the
# link at it, or dribbles it; each time the guest, a heartbeat on plain
# serial files, must tick on at most one side afterwards, and the
# operator's instructions must hold (`cont` on a paused source once the
# destination is dead; `quit` when the guest runs there). Then
# migrate_cancel in every phase, a FIFO file target, and quit with a
# stuck peer or file.
. tests/integration/lib.bash
require_kvm
require_cmd socat

PROXY=tests/integration/switch_proxy.py
DTMAX=2000	# downtime-max for these tests, ms
HOLD=5		# a delay well past it, s
n=0

ticks() {
	grep -c '^tick ' "$1" 2>/dev/null || true
}

# where_runs: which sides' heartbeat advances over a window: src, dst,
# none or both.
where_runs() {
	local s0 d0 s1 d1 w=""
	s0=$(ticks "$TMP/src$n.ser"); d0=$(ticks "$TMP/dst$n.ser")
	sleep 1.5
	s1=$(ticks "$TMP/src$n.ser"); d1=$(ticks "$TMP/dst$n.ser")
	[ "$s1" -gt "$s0" ] && w=src
	if [ "$d1" -gt "$d0" ]; then
		[ -n "$w" ] && w=both || w=dst
	fi
	echo "${w:-none}"
}

# start_pair DOWNTIME_MAX: a heartbeat source with a monitor and a
# destination, both writing the guest's serial output to files.
start_pair() {
	n=$((n + 1))
	sock=$TMP/src$n.sock
	start src$n "$VMM" --mem 32M --serial "file:$TMP/src$n.ser" --monitor "unix:$sock" \
		--stats-json "$TMP/src$n.json" \
		"$GUESTS/heartbeat.elf" -- period=100000 duration=0
	spid=$LAST_PID
	wait_sock "$sock"
	wait_for "$TMP/src$n.ser" '^tick 3 ' 20 || fail "the heartbeat never started"
	mon "$sock" "migrate_set_parameter downtime-max $1" | grep -q '^ok$' || fail "set downtime-max"
	dport=$(free_port)
	start_dest dst$n "$dport" --serial "file:$TMP/dst$n.ser"
	dpid=$LAST_PID
}

# through_proxy ACTION SECTION: starts the proxy and the migration through it.
through_proxy() {
	local pport; pport=$(free_port)
	plog=$TMP/proxy$n.log
	start proxy$n python3 "$PROXY" "$pport" "$dport" "$1" "$2" "$plog"
	ppid=$LAST_PID
	wait_for "$plog" '^listening' 10 || fail "proxy did not listen"
	mon "$sock" "migrate tcp:127.0.0.1:$pport" | grep -q '^ok$' || fail "migrate not accepted"
}

end_pair() {
	kill "$spid" "$dpid" "$ppid" 2>/dev/null
	wait "$spid" "$dpid" "$ppid" 2>/dev/null
}

# scenario ACTION SECTION SOURCE_STATUS RUNS DEST_EXIT: DEST_EXIT is the
# destination's exit status, or - when it runs the guest.
scenario() {
	local action=$1 section=$2 want=$3 runs=$4 dexit=$5 w
	start_pair $DTMAX
	note "$action at $section: source $want, guest on $runs"
	through_proxy "$action" "$section"
	mon_wait "$sock" "status: $want" 30 || fail "$action $section: source status"
	if [ "$dexit" != - ]; then
		wait_status "$dpid" 70 "$dexit" "$action $section: destination" "dst$n"
		grep -q "discarded" "$TMP/dst$n.err" || fail "$action $section: destination did not say it discarded the VM"
	fi
	# Every held message has gone wherever it could go.
	wait_for "$plog" '^done' $((HOLD + 20)) || fail "$action $section: proxy never finished"
	w=$(where_runs)
	[ "$w" = both ] && fail "$action $section: the guest runs on both sides"
	[ "$w" = "$runs" ] || fail "$action $section: guest runs on '$w', expected '$runs'"
	if [ "$want" = handover-unconfirmed ]; then
		mon "$sock" "info status" | grep -q paused || fail "$action $section: source not paused"
		mon "$sock" "info migrate" | grep -q '^error: GO sent, no RESUMED' ||
			fail "$action $section: info migrate does not say why"
		grep -q '"status": "handover-unconfirmed"' "$TMP/src$n.json" ||
			fail "$action $section: the stats JSON does not say so"
		grep -q "'cont' resumes the guest here" "$TMP/src$n.err" ||
			fail "$action $section: no instructions for the operator"
		mon "$sock" "migrate tcp:127.0.0.1:$dport" | grep -q '^error: the last handover is unconfirmed' ||
			fail "$action $section: migrate not refused while unconfirmed"
		if [ "$runs" = none ]; then
			# The destination is known dead: cont brings the guest back.
			mon "$sock" cont | grep -q '^ok$' || fail "$action $section: cont refused"
			w=$(where_runs)
			[ "$w" = src ] || fail "$action $section: after cont the guest runs on '$w'"
		else
			# It runs there: quit ends the paused source.
			mon "$sock" quit >/dev/null
			wait_status "$spid" 10 0 "$action $section: source after quit" "src$n"
		fi
	fi
	end_pair
}

scenario "delay:$HOLD" END failed src 1
scenario drop END failed src 1
scenario "delay:$HOLD" READY failed src 1
scenario drop READY failed src 1
scenario "delay:$HOLD" GO handover-unconfirmed dst -
scenario drop GO handover-unconfirmed none 1
scenario "delay:$HOLD" RESUMED handover-unconfirmed dst -
scenario drop RESUMED handover-unconfirmed dst -

note "a READY dribbled a byte at a time is as late as a silent one"
start_pair $DTMAX
through_proxy dribble:0.5 READY
mon_wait "$sock" "status: failed" 30 || fail "dribbled READY: source status"
grep -q '^passed READY' "$plog" && fail "dribbled READY: the source waited for every byte"
mon "$sock" "info status" | grep -q running || fail "dribbled READY: guest not running on the source"
wait_status "$dpid" 70 1 "dribbled READY: destination" "dst$n"
end_pair

note "the whole-migration timeout abandons a migration that is too slow"
start_pair $DTMAX
# 32 MiB of mostly zero pages is about 70 KiB on the wire: 4 s at 16K.
for p in "max-bandwidth 16K" "timeout 1"; do
	mon "$sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "set $p"
done
mon "$sock" "migrate tcp:127.0.0.1:$dport" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$sock" "status: failed" 30 || fail "timeout: source status"
mon "$sock" "info migrate" | grep -q "timeout was reached" || fail "timeout: reason"
wait_status "$dpid" 70 1 "timeout: destination" "dst$n"
w=$(where_runs)
[ "$w" = src ] || fail "timeout: guest runs on '$w'"
end_pair

note "migrate_cancel while the source waits for READY: the guest stays here"
start_pair 30000
through_proxy delay:20 READY
wait_for "$plog" '^holding READY' 30 || fail "READY never came"
mon "$sock" migrate_cancel | grep -q '^ok$' || fail "cancel refused"
mon_wait "$sock" "status: cancelled" 10 || fail "cancel before GO: status"
wait_status "$dpid" 70 1 "cancel before GO: destination" "dst$n"
w=$(where_runs)
[ "$w" = src ] || fail "cancel before GO: guest runs on '$w'"
end_pair

note "migrate_cancel while the source waits for RESUMED: paused, never resumed"
start_pair 30000
through_proxy delay:20 RESUMED
wait_for "$plog" '^holding RESUMED' 30 || fail "RESUMED never came"
mon "$sock" migrate_cancel | grep -q '^ok$' || fail "cancel refused"
mon_wait "$sock" "status: handover-unconfirmed" 10 || fail "cancel after GO: status"
w=$(where_runs)
[ "$w" = dst ] || fail "cancel after GO: guest runs on '$w'"
mon "$sock" quit >/dev/null
wait_status "$spid" 10 0 "cancel after GO: source after quit" "src$n"
end_pair

note "a FIFO file target: no reader fails at once, a stuck one is cancelled"
start_pair $DTMAX
kill "$dpid" 2>/dev/null
mkfifo "$TMP/snap.partial"
mon "$sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "migrate to a FIFO not accepted"
mon_wait "$sock" "status: failed" 10 || fail "FIFO without a reader: no failure"
mon "$sock" "info migrate" | grep -q "FIFO with no reader" || fail "FIFO without a reader: reason"
# A reader that never reads: the writer fills the pipe and waits. (A
# failed save removes PATH.partial, FIFO or not: make it again.)
mkfifo "$TMP/snap.partial"
exec 8<>"$TMP/snap.partial"
mon "$sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "migrate to a FIFO not accepted"
mon_wait "$sock" "status: stop-copy" 10 || fail "FIFO save did not start"
mon "$sock" migrate_cancel | grep -q '^ok$' || fail "cancel of a FIFO save refused"
mon_wait "$sock" "status: cancelled" 10 || fail "FIFO save not cancelled"
mon "$sock" "info status" | grep -q running || fail "guest not running after the cancelled save"
note "quit during a save to a stuck FIFO ends the process"
exec 8<&-
mkfifo "$TMP/snap.partial"
exec 8<>"$TMP/snap.partial"
mon "$sock" "migrate file:$TMP/snap" | grep -q '^ok$' || fail "migrate to a FIFO not accepted"
mon_wait "$sock" "status: stop-copy" 10 || fail "FIFO save did not start"
mon "$sock" quit >/dev/null
wait_status "$spid" 10 0 "quit during a stuck FIFO save" "src$n"
exec 8<&-
end_pair

note "cancel, then quit, with a destination that accepts and never answers"
start_pair $DTMAX
kill "$dpid" 2>/dev/null
port=$(free_port)
start mute python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("listening", flush=True)
c, _ = s.accept(); time.sleep(120)' "$port"
wait_for "$TMP/mute.out" listening 10 || fail "mute peer did not listen"
mon "$sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$sock" "status: setup" 10 || fail "migration to the mute peer did not start"
mon "$sock" migrate_cancel | grep -q '^ok$' || fail "cancel in the handshake refused"
mon_wait "$sock" "status: cancelled" 10 || fail "cancel in the handshake: status"
mon "$sock" "info status" | grep -q running || fail "cancel in the handshake: guest not running"
mon "$sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$sock" "status: setup" 10 || fail "migration to the mute peer did not start"
mon "$sock" quit >/dev/null
wait_status "$spid" 10 0 "quit with a mute peer" "src$n"
end_pair

echo "migrate_switchover: the guest ran in at most one place every time"
