# The monitor answers every command with output and an ok/error line, and
# never crashes on bad input.
. tests/integration/lib.bash
require_kvm
sock=$TMP/mon.sock
start vmm "$VMM" --cpus 2 --monitor "unix:$sock" --serial none "$GUESTS/idle.elf"
pid=$LAST_PID
wait_sock "$sock"

check() {	# check COMMAND REGEX
	mon_check "$sock" "$1" "$2"
}

# Once running, vmm holds no capability and cannot regain one.
grep -q "^CapEff:[[:space:]]*0000000000000000$" /proc/$pid/status || fail "capabilities kept: $(grep Cap /proc/$pid/status)"
grep -q "^CapPrm:[[:space:]]*0000000000000000$" /proc/$pid/status || fail "permitted capabilities kept"
grep -q "^NoNewPrivs:[[:space:]]*1$" /proc/$pid/status || fail "no_new_privs not set"
for t in /proc/$pid/task/*; do
	grep -q "^CapEff:[[:space:]]*0000000000000000$" "$t/status" || fail "thread $(cat "$t/comm") kept capabilities"
done

check "help" "info registers"
check "help" "^ok$"
check "info status" "VM status: running"
check "stop" "^ok$"
check "info status" "VM status: paused"
check "info registers" "vCPU 1 "
check "info registers 0" "RIP="
check "info registers 7" "^error: no vCPU '7'"
check "info registers x" "^error: no vCPU 'x'"
check "cont" "^ok$"
check "info status" "VM status: running"
check "stop" "^ok$"
check "stop" "^ok$"
check "cont" "^ok$"
check "info status" "VM status: running"
check "cont" "^ok$"
check "bogus" "^error: unknown command 'bogus'"
check "stop now" "^error: 'stop' takes no arguments"
check "info" "^error: unknown command 'info'"
long=$(head -c 6000 /dev/zero | tr '\0' 'a')
check "$long" "^error: line too long"
check "info status" "running"
# Garbage bytes must not hurt it.
head -c 2000 /dev/urandom | socat -t 2 - "UNIX-CONNECT:$sock" >/dev/null 2>&1 || true
check "info status" "running"
note "clients that misbehave"
python3 tests/integration/monitor_clients.py nul "$sock" || fail "NUL and empty lines"
python3 tests/integration/monitor_clients.py nonreader "$sock" || fail "a client that never reads"
python3 tests/integration/monitor_clients.py idle "$sock" || fail "idle clients"
check "calc-dirty-rate 0" "^error: calc-time 0 out of range 1..60"
check "calc-dirty-rate x" "^error: usage: calc-dirty-rate SECONDS"
check "info dirty-rate" "status: unstarted"
check "calc-dirty-rate 1" "^ok$"
check "calc-dirty-rate 1" "^error: the dirty rate is already being measured"
check "info dirty-rate" "status: measuring"
sleep 1.2
for i in $(seq 50); do
	mon "$sock" "info dirty-rate" | grep -q "status: measured" && break
	sleep 0.1
done
check "info dirty-rate" "^dirty pages: [0-9]+ in 1\.[0-9]{3} s"
check "quit" "^ok$"
wait_status $pid 10 0 "quit" vmm
[ ! -e "$sock" ] || fail "socket left behind"
note "--paused: nothing runs until cont"
start paused "$VMM" --paused --monitor "unix:$TMP/p.sock" "$GUESTS/hello.elf"
pid=$LAST_PID
wait_sock "$TMP/p.sock"
# Not a readiness wait: it gives a guest that wrongly runs the time to
# print something (hello prints within ~60 ms of its start), so that the
# empty output below means something. No line can say "nothing ran".
sleep 0.3
mon_check "$TMP/p.sock" "info status" "VM status: paused"
[ ! -s "$TMP/paused.out" ] || fail "the guest ran while paused"
mon_check "$TMP/p.sock" "cont" "^ok$"
wait_status $pid 10 0 "hello after cont" paused
grep -q "hello: cpus=1" "$TMP/paused.out" || fail "hello printed nothing after cont"
echo "monitor: all commands answered"
