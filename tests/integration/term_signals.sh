# SIGTERM, SIGINT and SIGHUP end vmm as `quit` does, as they end QEMU:
# exit status 0, the drives flushed and closed. A qcow2 overlay keeps the
# table entries of new clusters in memory until a flush (disktouch never
# flushes): killed outright, vmm would leave those clusters leaked and the
# guest's writes unreachable; ended by SIGTERM, the image checks clean.
# A destination still waiting ends as on `quit` (status 0, nothing ran),
# even when started as a background job of a script (SIGINT ignored, as
# a shell starts such jobs); a QMP client sees SHUTDOWN with reason
# host-signal. `nohup` keeps SIGHUP ignored. A second signal while vmm is
# still ending (held there by a vCPU stuck writing its serial line to a
# pipe nobody reads) ends it at once, by that signal.
. tests/integration/lib.bash
require_kvm
require_cmd qemu-img
require_cmd python3

note "SIGTERM: a qcow2 overlay's new clusters reach its tables"
qemu-img create -q -f raw "$TMP/base.img" 64M
qemu-img create -q -f qcow2 -b "$TMP/base.img" -F raw "$TMP/ov.qcow2"
start src "$VMM" --mem 64M --serial "file:$TMP/src.ser" \
	--drive "file=$TMP/ov.qcow2,format=qcow2" \
	"$GUESTS/disktouch.elf" -- rate=2000 ws=16M pattern=random duration=0 report=0.5
spid=$LAST_PID
wait_for "$TMP/src.ser" "disktouch: t=1" 30 || fail "disktouch did not report"
kill -TERM "$spid"
wait_status "$spid" 30 0 "vmm after SIGTERM" src
grep -q "SIGTERM: ending as 'quit' does" "$TMP/src.err" || fail "no word of the signal"
check=$(qemu-img check "$TMP/ov.qcow2" 2>&1) || { echo "$check"; fail "qemu-img check"; }
grep -q "No errors were found on the image" <<<"$check" || { echo "$check"; fail "not clean"; }
grep -qi "leak" <<<"$check" && { echo "$check"; fail "clusters leaked: table entries lost"; }
# "N/M = P% allocated": clusters the tables point at.
allocated=$(sed -n 's|^\([0-9]*\)/[0-9]* = .* allocated.*|\1|p' <<<"$check")
[ "${allocated:-0}" -gt 0 ] || { echo "$check"; fail "no cluster of the overlay is reachable from its tables"; }
note "the overlay: $allocated cluster(s) of the guest's writes reachable, no leak"

note "SIGINT to a destination started as a script's background job"
port=$(free_port)
# A non-interactive shell starts background jobs with SIGINT ignored.
bash -c "\"$VMM\" --incoming tcp:127.0.0.1:$port >\"$TMP/dst.out\" 2>\"$TMP/dst.err\" </dev/null & echo \$! >\"$TMP/dst.pid\"; wait"&
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
dpid=$(cat "$TMP/dst.pid")
kill -INT "$dpid"
for ((i = 0; i < 200; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && { kill -9 "$dpid"; fail "SIGINT did not end a waiting destination"; }
grep -q "SIGINT: ending as 'quit' does" "$TMP/dst.err" || { cat "$TMP/dst.err"; fail "no word of SIGINT"; }
grep -q "quit while a migration was incoming" "$TMP/dst.err" || { cat "$TMP/dst.err"; fail "not ended as quit"; }

note "SIGHUP with QMP: SHUTDOWN host-signal; under nohup SIGHUP is ignored"
start q "$VMM" --mem 32M --serial none --qmp "unix:$TMP/q.qmp" "$GUESTS/idle.elf"
qpid=$LAST_PID
wait_sock "$TMP/q.qmp"
python3 tests/integration/qmp_check.py signal "$TMP/q.qmp" "$qpid" HUP || fail "QMP on SIGHUP"
wait_status "$qpid" 20 0 "vmm after SIGHUP" q
start n nohup "$VMM" --mem 32M --serial none --monitor "unix:$TMP/n.sock" "$GUESTS/idle.elf"
npid=$LAST_PID
wait_sock "$TMP/n.sock"
kill -HUP "$npid"
sleep 1
kill -0 "$npid" 2>/dev/null || fail "SIGHUP ended a vmm started under nohup"
kill -TERM "$npid"
wait_status "$npid" 20 0 "vmm under nohup after SIGTERM" n
note "a second SIGTERM while vmm is still ending ends it at once, by the signal"
# The guest's serial line goes to a FIFO that a holder keeps open and never
# reads: once the pipe is full the vCPU waits in write() for good, so the
# quit the first SIGTERM starts cannot finish (the vCPU never comes back
# to be stopped) and vmm is held in its ending until the second one.
mkfifo "$TMP/ser.fifo"
start holder python3 -c '
import fcntl, os, struct, sys, termios, time
fd = os.open(sys.argv[1], os.O_RDWR)	# a reader, so the writer may open
print("open", flush=True)
cap = fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, bytes(4)))[0] < cap:
    time.sleep(0.05)
print("full", flush=True)
time.sleep(600)
' "$TMP/ser.fifo"
hpid=$LAST_PID
wait_for "$TMP/holder.out" "^open$" 10 || fail "the FIFO's holder did not start"
start twice "$VMM" --mem 32M --serial "file:$TMP/ser.fifo" \
	"$GUESTS/heartbeat.elf" -- period=1 duration=600
tpid=$LAST_PID
# Full: the guest prints without pause, so its next byte blocks the vCPU.
wait_for "$TMP/holder.out" "^full$" 30 || fail "the guest did not fill the serial pipe"
kill -TERM "$tpid"
wait_for "$TMP/twice.err" "SIGTERM: ending as 'quit' does" 10 || fail "no word of the first SIGTERM"
sleep 1
kill -0 "$tpid" 2>/dev/null || { cat "$TMP/twice.err"; fail "vmm ended on the first SIGTERM: nothing held it"; }
kill -TERM "$tpid"
wait_status "$tpid" 10 $((128 + 15)) "vmm after a second SIGTERM" twice
grep -q "SIGTERM again: ending at once, nothing flushed" "$TMP/twice.err" ||
	{ cat "$TMP/twice.err"; fail "no word of the second SIGTERM"; }
kill "$hpid"

echo "term_signals: SIGTERM, SIGINT and SIGHUP end vmm as quit does, a second one at once; the qcow2 tables hold every new cluster"
