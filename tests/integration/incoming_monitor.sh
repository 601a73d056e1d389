# A destination's monitor and QMP answer while it waits for its guest and
# while the guest arrives: 'info status' says inmigrate, whatever would
# touch the VM being built is refused, and 'quit' or 'migrate_cancel' end
# the incoming migration with the guest left on the source.
. tests/integration/lib.bash
require_kvm
require_cmd python3

note "while waiting: the monitor answers, the VM is not touched, quit ends the wait"
port=$(free_port)
start dst "$VMM" --incoming "tcp:127.0.0.1:$port" --monitor "unix:$TMP/dst.mon"
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
wait_sock "$TMP/dst.mon"
mon_check "$TMP/dst.mon" "info status" "^VM status: inmigrate"
mon_check "$TMP/dst.mon" "info registers" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "stop" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "cont" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "migrate tcp:127.0.0.1:1" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "calc-dirty-rate 1" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "record-dirty $TMP/t.trace 1s 100ms" "^error: the guest is still arriving"
mon_check "$TMP/dst.mon" "info migrate" "^ok$"
mon_check "$TMP/dst.mon" "quit" "^ok$"
wait_status "$dpid" 10 0 "quit while waiting" dst
grep -q "quit while a migration was incoming" "$TMP/dst.err" || fail "no word on the quit"

note "while waiting: migrate_cancel ends the wait, as a failure"
start dst2 "$VMM" --incoming "tcp:127.0.0.1:$port" --monitor "unix:$TMP/dst2.mon"
dpid=$LAST_PID
wait_sock "$TMP/dst2.mon"
mon_check "$TMP/dst2.mon" "migrate_cancel" "^ok$"
wait_status "$dpid" 10 1 "migrate_cancel while waiting" dst2
grep -q "cancelled while waiting for a source" "$TMP/dst2.err" || fail "no word on the cancel"

note "while waiting: QMP quit ends the wait too"
start dst3 "$VMM" --incoming "tcp:127.0.0.1:$port" --qmp "unix:$TMP/dst3.qmp"
dpid=$LAST_PID
wait_sock "$TMP/dst3.qmp"
python3 tests/integration/qmp_check.py quit "$TMP/dst3.qmp" || fail "QMP quit"
wait_status "$dpid" 10 0 "QMP quit while waiting" dst3

note "while the guest arrives: quit on the destination leaves it running on the source"
start src "$VMM" --mem 256M --monitor "unix:$TMP/src.mon" --serial "file:$TMP/src.serial" \
	"$GUESTS/verify.elf" -- ws=128M rate=1000 duration=0 report=1
spid=$LAST_PID
wait_sock "$TMP/src.mon"
start dst4 "$VMM" --incoming "tcp:127.0.0.1:$port" --monitor "unix:$TMP/dst4.mon"
dpid=$LAST_PID
wait_sock "$TMP/dst4.mon"
# 128 MiB of data at 8 MiB/s: the quit lands in round 0.
wait_for "$TMP/src.serial" "verify: t=" 20 || fail "verify did not start"
mon_check "$TMP/src.mon" "migrate_set_parameter max-bandwidth 8M" "^ok$"
mon_check "$TMP/src.mon" "migrate tcp:127.0.0.1:$port" "^ok$"
mon_wait "$TMP/src.mon" "status: active" 10 || fail "migration never active"
wait_for "$TMP/dst4.err" "migration from" 10 || fail "destination never served the source"
mon_check "$TMP/dst4.mon" "info status" "^VM status: inmigrate"
mon_check "$TMP/dst4.mon" "quit" "^ok$"
wait_status "$dpid" 10 0 "quit while receiving" dst4
mon_wait "$TMP/src.mon" "status: failed" 20 || fail "the source did not see the migration fail"
mon_check "$TMP/src.mon" "info status" "VM status: running"
ticks=$(grep -c "verify: t=" "$TMP/src.serial")
wait_count "$TMP/src.serial" "verify: t=" $((ticks + 2)) 10 || fail "the guest does not run on the source"
grep -q "verify: FAIL" "$TMP/src.serial" && fail "verify failed on the source"
mon "$TMP/src.mon" quit >/dev/null
wait_status "$spid" 10 0 "source quit" src
grep -q "migrate_cancel" "$TMP/dst4.err" && fail "a quit was reported as a migrate_cancel"
echo "incoming_monitor: the destination answers and can be stopped while its guest arrives"
