# The QMP monitor (--qmp): the protocol and its errors, run states and
# their events, calc-dirty-rate against memtouch's rate, and a migration
# driven only through QMP; then the same migration driver against a QEMU
# pair with the same guest, so one script drives both systems.
. tests/integration/lib.bash
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=${QBOOT:-/usr/share/qemu/qboot.rom}
CHECK="python3 tests/integration/qmp_check.py"

require_kvm
require_cmd python3
GUEST=$GUESTS/memtouch.elf
ARGS=(rate=5000 ws=64M report=100)

note "protocol, run states, events"
start src "$VMM" --mem 128M --serial "file:$TMP/src.serial" --qmp "unix:$TMP/src.qmp" \
	--monitor "unix:$TMP/src.mon" "$GUEST" -- "${ARGS[@]}"
SRC=$LAST_PID
wait_sock "$TMP/src.qmp"
[ "$(stat -c %a "$TMP/src.qmp")" = 600 ] || fail "QMP socket mode $(stat -c %a "$TMP/src.qmp")"
$CHECK protocol "$TMP/src.qmp" || fail "protocol"
mon "$TMP/src.mon" 'info status' | grep -q 'running' || fail "text monitor beside QMP"
$CHECK slots "$TMP/src.qmp" || fail "client slots"

note "calc-dirty-rate on memtouch rate=5000"
$CHECK dirty-rate "$TMP/src.qmp" 5000 || fail "dirty rate"

note "vmm -> vmm through QMP"
port=$(free_port)
start dst "$VMM" --incoming "tcp:127.0.0.1:$port" --serial "file:$TMP/dst.serial" \
	--qmp "unix:$TMP/dst.qmp" --monitor "unix:$TMP/dst.mon"
DST=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
$CHECK migrate "$TMP/src.qmp" "$TMP/dst.qmp" "tcp:127.0.0.1:$port" $((128 << 20)) ||
	{ sed 's/^/    src: /' "$TMP/src.err"; sed 's/^/    dst: /' "$TMP/dst.err"; fail "vmm migration"; }
wait_exit "$SRC" 10 || fail "source did not end on quit"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS"
[ ! -e "$TMP/src.qmp" ] || fail "QMP socket left behind"

note "the destination migrates the guest on, and waits in postmigrate too"
port=$(free_port)
start third "$VMM" --incoming "tcp:127.0.0.1:$port" --serial "file:$TMP/third.serial" \
	--qmp "unix:$TMP/third.qmp"
THIRD=$LAST_PID
wait_for "$TMP/third.err" "waiting for a migration" 10 || fail "third vmm did not listen"
$CHECK migrate "$TMP/dst.qmp" "$TMP/third.qmp" "tcp:127.0.0.1:$port" $((128 << 20)) keep-source ||
	{ sed 's/^/    dst: /' "$TMP/dst.err"; sed 's/^/    third: /' "$TMP/third.err"; fail "vmm migration on"; }
note "the text monitor's quit ends its postmigrate wait, as QMP's quit does"
mon "$TMP/dst.mon" quit >/dev/null
wait_exit "$DST" 10 || fail "destination did not end on the text monitor's quit"
[ "$EXIT_STATUS" -eq 0 ] || fail "destination exit $EXIT_STATUS"
$CHECK quit "$TMP/third.qmp" || fail "quit"
wait_exit "$THIRD" 10 || fail "third vmm did not end on quit"
[ "$EXIT_STATUS" -eq 0 ] || fail "third vmm exit $EXIT_STATUS"

if ! command -v "$QEMU" >/dev/null; then
	note "SKIP the QEMU half: $QEMU not installed"
	exit 0
fi
note "QEMU -> QEMU through the same driver"
FW=()
[ -f "$QBOOT" ] && FW=(-bios "$QBOOT")
qemu_vm() {
	local name=$1; shift
	start "$name" "$QEMU" -accel kvm "${FW[@]}" -m 128M -kernel "$GUEST" \
		-append "${ARGS[*]}" -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-serial "file:$TMP/$name.serial" -display none -monitor none -no-reboot \
		-qmp "unix:$TMP/$name.qmp,server=on,wait=off" "$@"
}
port=$(free_port)
qemu_vm qdst -incoming "tcp:127.0.0.1:$port"
QDST=$LAST_PID
qemu_vm qsrc
QSRC=$LAST_PID
wait_sock "$TMP/qsrc.qmp"
wait_sock "$TMP/qdst.qmp"
wait_for "$TMP/qsrc.serial" "memtouch: " 30 || fail "QEMU guest did not start"
$CHECK migrate "$TMP/qsrc.qmp" "$TMP/qdst.qmp" "tcp:127.0.0.1:$port" $((128 << 20)) ||
	{ sed 's/^/    src: /' "$TMP/qsrc.err"; sed 's/^/    dst: /' "$TMP/qdst.err"; fail "QEMU migration"; }
wait_exit "$QSRC" 10 || fail "QEMU source did not end on quit"
$CHECK quit "$TMP/qdst.qmp" || fail "QEMU quit"
wait_exit "$QDST" 10 || fail "QEMU destination did not end on quit"
echo "PASS"
