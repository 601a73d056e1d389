# Boots every guest under vmm with 1 and 2 vCPUs and checks what it prints
# and its exit status; crashes and bad parameters are reported clearly.
. tests/integration/lib.bash
require_kvm

for cpus in 1 2; do
	note "hello, $cpus vCPU(s)"
	run_guest 60 --cpus $cpus "$GUESTS/hello.elf"
	expect_status 0 "hello --cpus $cpus"
	expect_out "hello: cpus=$cpus ram=256 MiB"
	online=$(grep -c "hello: cpu [0-9]* online" "$TMP/run.out")
	[ "$online" -eq "$cpus" ] || fail "$online CPUs online, expected $cpus"

	note "idle, $cpus vCPU(s)"
	run_guest 60 --cpus $cpus "$GUESTS/idle.elf" -- duration=1
	expect_status 0 "idle"
	expect_out "idle: done"

	note "memtouch, $cpus vCPU(s)"
	run_guest 60 --cpus $cpus --mem 128M "$GUESTS/memtouch.elf" -- rate=2000 ws=16M duration=1 report=1
	expect_status 0 "memtouch"
	expect_out "memtouch: .*rate="

	note "verify, $cpus vCPU(s)"
	run_guest 60 --cpus $cpus --mem 128M "$GUESTS/verify.elf" -- ws=8M rate=1000 duration=1
	expect_status 0 "verify"
	expect_out "verify: PASS"

	note "heartbeat, $cpus vCPU(s)"
	run_guest 60 --cpus $cpus "$GUESTS/heartbeat.elf" -- period=100000 duration=1
	expect_status 0 "heartbeat"
	expect_out "^tick 0 "
	expect_out "^tick 9 "
	expect_out "heartbeat: done"
done

note "RAM above the PCI hole"
run_guest 60 --mem 3200M "$GUESTS/hello.elf"
expect_status 0 "hello --mem 3200M"
expect_out "hello: cpus=1 ram=3200 MiB"

note "a page fault in the guest is reported by its handler"
run_guest 60 "$GUESTS/hello.elf" -- crash=1
expect_status 3 "hello crash=1"
expect_out "EXCEPTION vector=14"

note "a triple fault is reported by vmm with the registers"
run_guest 60 "$GUESTS/hello.elf" -- crash=triple
expect_status 121 "hello crash=triple"
expect_err "guest crashed on vCPU 0: triple fault"
expect_err "RIP="

note "a bad guest parameter"
run_guest 60 "$GUESTS/memtouch.elf" -- pattern=zigzag
expect_status 2 "memtouch pattern=zigzag"
expect_out "bad parameter 'pattern=zigzag'"

note "serial to a file, and none"
run_guest 60 --serial "file:$TMP/serial.log" "$GUESTS/hello.elf"
expect_status 0 "--serial file"
grep -q "hello: cpus=1" "$TMP/serial.log" || fail "serial file lacks the greeting"
[ ! -s "$TMP/run.out" ] || fail "stdout not empty with --serial file"
run_guest 60 --serial none "$GUESTS/hello.elf"
expect_status 0 "--serial none"

note "multiboot modules arrive intact, in order, with their names"
printf 'first module\n' >"$TMP/m1"
head -c 100000 /dev/urandom >"$TMP/m2"
run_guest 60 --initrd "$TMP/m1" --initrd "$TMP/m2" "$GUESTS/hello.elf"
expect_status 0 "hello with two modules"
for i in 1 2; do
	sum=$(python3 -c "import sys; print(sum(open(sys.argv[1],'rb').read()))" "$TMP/m$i")
	size=$(stat -c %s "$TMP/m$i")
	expect_out "^hello: module $((i - 1)) bytes=$size sum=$sum name=$TMP/m$i\$"
done

note "a multiboot module that does not fit"
truncate -s 20M "$TMP/big.mod"
run_guest 60 --mem 16M --initrd "$TMP/big.mod" "$GUESTS/hello.elf"
expect_status 1 "--initrd too big"
expect_err "does not fit"

note "portio: a short port-I/O exit loop"
run_guest 60 "$GUESTS/portio.elf" -- count=1000
expect_status 0 "portio count=1000"
expect_out "^portio: count=1000 ns_per_exit=-?[0-9.]+ loop_ns=[0-9.]+$"
# Port 0x80 belongs to no device: reads all ones, writes dropped, and the
# first access (only) is logged.
expect_err "guest wrote unclaimed port 0x0080"
[ "$(grep -c "unclaimed port 0x0080" "$TMP/run.err")" -eq 1 ] || fail "unclaimed port logged more than once"
run_guest 60 "$GUESTS/portio.elf" -- count=0
expect_status 2 "portio count=0"
expect_out "portio: bad parameter 'count=0'"
echo "boot: all guests ran as expected"
