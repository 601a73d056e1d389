# Least privilege once vmm runs: no capability and no way to regain one, only
# the system calls on the allow-list (in every thread), and with --runas no
# longer uid 0, so neither /dev/kvm nor root's files can be opened anew; a
# migration between two such vmm's works. No io_uring ring is made once the
# sandbox is in place (a ring's requests bypass seccomp): a drive's ring and
# the saved files' are made before it, and serve a cancelled save, a save
# and a restore.
. tests/integration/lib.bash
require_kvm

note "a system call outside the allow-list ends vmm, naming the call"
VMM_TEST_SANDBOX_PROBE=syscall run_guest 30 "$GUESTS/hello.elf"
expect_status 1 "personality() under the sandbox"
expect_err "the sandbox stopped system call 135 in thread vmm, which is outside vmm's allow-list"
[ ! -s "$TMP/run.out" ] || fail "the guest ran after the probe"

note "a vCPU thread may not make a socket or open a file; the main thread still may"
VMM_TEST_SANDBOX_PROBE=vcpu-socket run_guest 30 "$GUESTS/hello.elf"
expect_status 1 "socket() in a vCPU thread under the sandbox"
expect_err "the sandbox stopped system call 41 in thread vcpu0, which is outside vmm's allow-list for that thread"
[ ! -s "$TMP/run.out" ] || fail "the guest ran after the vCPU probe"
# openat stays allowed in a sanitizer build's vCPU threads (its runtime
# opens /proc to report an error), so only a plain build is asked.
if ! nm "$VMM" 2>/dev/null | grep -q __asan_init; then
	VMM_TEST_SANDBOX_PROBE=vcpu-open:/etc/hostname run_guest 30 "$GUESTS/hello.elf"
	expect_status 1 "open() in a vCPU thread under the sandbox"
	expect_err "the sandbox stopped system call 257 in thread vcpu0"
fi
VMM_TEST_SANDBOX_PROBE=socket run_guest 30 "$GUESTS/hello.elf"
expect_status 0 "socket() in the main thread"
expect_err "VMM_TEST_SANDBOX_PROBE: socket: made"
VMM_TEST_SANDBOX_PROBE=vcpu-open:/etc/hostname run_guest 30 --sandbox off "$GUESTS/hello.elf"
expect_status 0 "open() in a vCPU thread with --sandbox off"
expect_err "open /etc/hostname: opened"

note "no io_uring ring can be made under the sandbox (they all are before it)"
VMM_TEST_SANDBOX_PROBE=uring run_guest 30 "$GUESTS/hello.elf"
expect_status 1 "io_uring_setup() under the sandbox"
expect_err "the sandbox stopped system call 425 in thread vmm, which is outside vmm's allow-list"
VMM_TEST_SANDBOX_PROBE=uring run_guest 30 --sandbox off "$GUESTS/hello.elf"
expect_status 0 "io_uring_setup() with --sandbox off"
expect_err "io_uring_setup: ring made"

note "under the sandbox: a drive, a cancelled save, a save, a restore, all on io_uring"
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
start fsrc env VMM_TEST_SAVE_HOLD=1 "$VMM" -v --mem 32M --monitor "unix:$TMP/f.sock" \
	--drive "file=$IMG" --serial "file:$TMP/fsrc.serial" \
	"$GUESTS/diskverify.elf" -- duration=0 report=0.2 rate=0 ws=2M bs=64K
pid=$LAST_PID
wait_sock "$TMP/f.sock"
wait_for "$TMP/fsrc.serial" "^diskverify: t=" 30 || fail "diskverify did not start"
mon "$TMP/f.sock" "migrate file:$TMP/f.snap" | grep -q '^ok$' || fail "first save refused"
wait_for "$TMP/fsrc.err" "VMM_TEST_SAVE_HOLD: holding" 20 || fail "the first save never began"
mon "$TMP/f.sock" migrate_cancel | grep -q '^ok$' || fail "cancel refused"
mon_wait "$TMP/f.sock" "status: cancelled" 20 || fail "the first save was not cancelled"
# The second save reuses the ring the cancelled one left.
mon "$TMP/f.sock" "migrate file:$TMP/f.snap" | grep -q '^ok$' || fail "second save refused"
wait_status "$pid" 60 0 "the source after its second save" fsrc
grep -Eq "wrote [0-9]+ pages of RAM in .* \(io_uring\)" "$TMP/fsrc.err" ||
	fail "the save did not go through io_uring: $(grep -E 'wrote|io_uring' "$TMP/fsrc.err")"
grep -q "^diskverify: FAIL" "$TMP/fsrc.serial" && fail "a block was wrong before the save"
run_guest_input q 60 -v --incoming "file:$TMP/f.snap" --drive "file=$IMG"
expect_status 0 "diskverify restored under the sandbox"
expect_out "^diskverify: PASS blocks=32 .*\(asked to stop\)"
expect_err "read [0-9]+ pages of .* \(io_uring\)"

note "--sandbox off: the same call goes through and the guest runs"
VMM_TEST_SANDBOX_PROBE=syscall run_guest 30 --sandbox off "$GUESTS/hello.elf"
expect_status 0 "personality() with --sandbox off"
expect_err "personality\(\) was not stopped"
expect_out "hello: cpus=1"

note "bad --runas and --sandbox values are refused before anything starts"
run_guest 30 --runas no-such-user-here "$GUESTS/hello.elf"
expect_status 1 "--runas unknown user"
expect_err "--runas no-such-user-here: no such user"
run_guest 30 --runas root "$GUESTS/hello.elf"
expect_status 1 "--runas root"
expect_err "that is uid 0, which drops nothing"
run_guest 30 --sandbox maybe "$GUESTS/hello.elf"
expect_status 1 "--sandbox maybe"
expect_err "bad --sandbox 'maybe': on or off"

note "every thread runs under the filter, without capabilities"
sock=$TMP/mon.sock
start idle "$VMM" --cpus 2 --monitor "unix:$sock" --serial none "$GUESTS/idle.elf"
pid=$LAST_PID
wait_sock "$sock"
mon_check "$sock" "info status" "VM status: running"
for t in /proc/$pid/task/*; do
	name=$(cat "$t/comm")
	grep -q "^Seccomp:[[:space:]]*2$" "$t/status" || fail "thread $name runs without the filter"
	# vCPU threads stack their narrower filter on the process's one.
	# KVM's own workers in the process (kvm-nx-lpage-recovery) inherit
	# the filters of whichever thread made them, which depends on the
	# kernel: 1 or 2.
	case $name in
	vcpu*) want=2 ;;
	kvm-*) want='[12]' ;;
	*) want=1 ;;
	esac
	grep -q "^Seccomp_filters:[[:space:]]*$want$" "$t/status" ||
		fail "thread $name: $(grep ^Seccomp_filters "$t/status"), want $want"
	grep -q "^CapEff:[[:space:]]*0000000000000000$" "$t/status" || fail "thread $name kept capabilities"
	grep -q "^NoNewPrivs:[[:space:]]*1$" "$t/status" || fail "thread $name may regain privileges"
done
note "stopped and continued (SIGSTOP, SIGCONT), vmm runs on"
# A thread in a timed wait resumes through restart_syscall after SIGCONT.
kill -STOP "$pid"
sleep 0.5
kill -CONT "$pid"
mon_check "$sock" "info status" "VM status: running"
kill -0 "$pid" 2>/dev/null || fail "vmm died after SIGSTOP and SIGCONT: $(tail -n 2 "$TMP/idle.err")"
mon "$sock" quit >/dev/null
wait_status "$pid" 20 0 "idle guest after quit" idle

if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	echo "SKIP: --runas needs root and a user 'nobody'"
	exit 77
fi

note "--runas nobody: uid and groups switched in every thread; root's files stay shut"
start runas env VMM_TEST_SANDBOX_PROBE=open:/etc/shadow,/dev/kvm \
	"$VMM" --runas nobody --monitor "unix:$TMP/runas.sock" --serial none "$GUESTS/idle.elf"
pid=$LAST_PID
wait_sock "$TMP/runas.sock"
wait_for "$TMP/runas.err" "open /dev/kvm" || fail "no probe output"
for t in /proc/$pid/task/*; do
	grep -q "^Uid:[[:space:]]*65534[[:space:]]65534[[:space:]]65534[[:space:]]65534$" "$t/status" ||
		fail "thread $(cat "$t/comm") not uid nobody: $(grep ^Uid "$t/status")"
	grep -q "^Groups:[[:space:]]*$" "$t/status" || fail "supplementary groups kept"
done
grep -q "open /etc/shadow: Permission denied" "$TMP/runas.err" || fail "/etc/shadow: $(cat "$TMP/runas.err")"
# /dev/kvm is closed to nobody unless the machine opened it to everyone.
if [ "$(stat -c %a /dev/kvm | cut -c3)" -lt 6 ]; then
	grep -q "open /dev/kvm: Permission denied" "$TMP/runas.err" || fail "/dev/kvm: $(cat "$TMP/runas.err")"
else
	note "/dev/kvm is open to every user here: not checked"
fi
mon "$TMP/runas.sock" quit >/dev/null
wait_status "$pid" 20 0 "--runas guest after quit" runas

note "--runas nobody on both sides: a verify guest migrates and passes"
out=$TMP/shared
mkdir -m 1777 "$out"
chmod 711 "$TMP"	# nobody may reach $out, nothing else
port=$(free_port)
start_dest dst "$port" --runas nobody --stats-json "$out/dst.json"
dpid=$LAST_PID
start src "$VMM" --runas nobody --mem 64M --migrate-to "tcp:localhost:$port" \
	--migrate-after 1s --stats-json "$out/src.json" "$GUESTS/verify.elf" -- ws=16M rate=1000 duration=3
spid=$LAST_PID
wait_status "$spid" 60 0 "source running as nobody" src
wait_status "$dpid" 60 0 "destination running as nobody" dst
grep -q "verify: PASS" "$TMP/dst.out" || fail "verify did not pass on the destination: $(cat "$TMP/dst.out")"
grep -q '"status": "completed"' "$out/src.json" || fail "the source's statistics were not written"
# The pagemap was opened before the uid changed: untouched RAM went unread.
grep -Eq '"pages_skipped_unread": [1-9]' "$out/src.json" ||
	fail "the source running as nobody read untouched pages: $(grep 'reading every page' "$TMP/src.err")"
echo "sandbox: filter, capabilities and --runas hold"
