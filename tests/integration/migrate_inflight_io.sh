# Port I/O and MMIO in flight when a vCPU is paused must be completed before
# its state is saved: otherwise the destination executes the in/out/mov
# again, a device sees a second access and the guest reads a wrong value.
# ioverify checks every fw_cfg read and every read of the test device's
# counter; it is live-migrated over loopback IO_HOPS times, then saved to a
# file and restored IO_SAVES times in a chain, and at the end asked for its
# verdict: PASS, exit 0, no wrong read. Without the completion of pending
# accesses in vmm/vcpu.c a wrong read came within the first few of either.
# It runs on 2 vCPUs, which also make system calls all the time, each
# counted on both sides: with the kit's system call on int3, which a PVM
# host could lose in a pause (guest-tests/kit/kit_priv.h), one was lost
# within 100 hops in each of 7 runs.
. tests/integration/lib.bash
require_kvm
HOPS=${IO_HOPS:-50}
SAVES=${IO_SAVES:-50}	# at least 1: the last restore gives the verdict
GUEST_ARGS=(duration=0 report=0.1)
[ "$SAVES" -ge 1 ] || fail "IO_SAVES must be at least 1"

# The checker itself: one access made twice, as a replay would, is caught.
for hook in "port:port 0x511 read of fw_cfg signature byte 0: expected=0x51 got=0x45" \
	    "mmio:MMIO 4-byte read of the test device counter: expected=0x0 got=0x1" \
	    "syscall:system call lost on CPU 0: ring 3 made 2, ring 0 received 1"; do
	run_guest 30 --mem 32M "$GUESTS/ioverify.elf" -- duration=2 "misread=${hook%%:*}"
	expect_status 1 "ioverify misread=${hook%%:*}"
	expect_out "^ioverify: FAIL ${hook#*:}"
done

# arrived NAME WHAT: the guest reported from its new home (so it ran and did
# I/O there), and none of its reads so far was wrong.
arrived() {
	wait_for "$TMP/$1.out" "^ioverify: (t=|FAIL)" 20 || fail "$2: the guest made no progress"
	if grep -q "^ioverify: FAIL" "$TMP/$1.out"; then
		sed 's/^/    /' "$TMP/$1.out" | grep FAIL
		fail "wrong read after $2"
	fi
}

# hand_over FROM-NAME FROM-PID URI WHAT: migrates the guest away from FROM;
# FROM must end with status 0 (a guest that failed there ends it with 1).
hand_over() {
	mon "$TMP/$1.sock" "migrate $3" | grep -q '^ok$' || fail "$4: migrate $3 not accepted"
	wait_exit "$2" 30 || fail "$4: the source did not finish"
	if [ "$EXIT_STATUS" -ne 0 ]; then
		grep -h "^ioverify: FAIL" "$TMP/$1.out" && fail "wrong read before $4 completed"
		sed 's/^/    /' "$TMP/$1.err"
		fail "$4: source exit $EXIT_STATUS"
	fi
}

start h0 "$VMM" --mem 32M --cpus 2 --monitor "unix:$TMP/h0.sock" "$GUESTS/ioverify.elf" -- "${GUEST_ARGS[@]}"
holder=h0 pid=$LAST_PID
wait_sock "$TMP/h0.sock"
wait_for "$TMP/h0.out" "checking port I/O and MMIO" 20 || fail "ioverify did not find the test device"
arrived h0 "boot"

for ((i = 1; i <= HOPS; i++)); do
	port=$(free_port)
	start_dest "l$i" "$port" --monitor "unix:$TMP/l$i.sock"
	dpid=$LAST_PID
	hand_over "$holder" "$pid" "tcp:127.0.0.1:$port" "live hop $i"
	arrived "l$i" "live hop $i"
	wait_sock "$TMP/l$i.sock"
	holder=l$i pid=$dpid
done
note "$HOPS live hops, no wrong read"

for ((i = 1; i <= SAVES; i++)); do
	snap=$TMP/s$i.snap
	hand_over "$holder" "$pid" "file:$snap" "save $i"
	rm -f "$TMP/s$((i - 1)).snap"
	[ "$i" -eq "$SAVES" ] && break
	start "r$i" "$VMM" --incoming "file:$snap" --monitor "unix:$TMP/r$i.sock"
	pid=$LAST_PID
	arrived "r$i" "save and restore $i"
	wait_sock "$TMP/r$i.sock"
	holder=r$i
done

# The last restore gets a 'q' on COM1: the guest stops and gives its verdict.
run_guest_input q 60 --incoming "file:$snap"
grep -q "^ioverify: FAIL" "$TMP/run.out" && { grep FAIL "$TMP/run.out"; fail "wrong read after save and restore $SAVES"; }
expect_status 0 "the guest's verdict"
expect_out "^ioverify: PASS t=[0-9.]+s port=[1-9][0-9]* mmio=[1-9][0-9]* syscalls=[1-9][0-9]* wrong=0 \(asked to stop\)"
grep "^ioverify: PASS" "$TMP/run.out"
echo "migrate_inflight_io: $HOPS live hops, $SAVES saves and restores, no wrong read"
