# Boots every test guest under QEMU with 1 and 2 CPUs and checks its output
# and exit code, plus the error paths: a bad parameter (exit 2), a ring-3
# page fault (exit 3), a triple fault, a corrupted page found by verify.
# Every check runs and is reported; the test fails if any did.
# ioverify finds no test device under QEMU and checks port I/O alone;
# diskverify and disktouch get a virtio disk (QEMU's transitional device);
# diskverify also runs on 2 CPUs with a write count.
#
# QEMU's tiny qboot firmware boots a multiboot image in ~0.3 s where
# SeaBIOS takes ~5 s here, so every run but one uses qboot when it is
# installed; the one SeaBIOS run keeps the default firmware covered.
# exclusive: the guests' own pace (ticks, pages/s, rewrites) is checked within a few
# per cent of what they were asked for.
# sanitizer: skip, the guests under QEMU alone, no vmm.
. tests/integration/lib.bash
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=${QBOOT:-/usr/share/qemu/qboot.rom}
JOBS=${JOBS:-2}

require_cmd "$QEMU"
require_kvm
for g in hello idle memtouch verify heartbeat portio ioverify diskverify disktouch; do
	[ -f "$GUESTS/$g.elf" ] || fail "$GUESTS/$g.elf missing (run make guests)"
done
FAST_BIOS=()
if [ -f "$QBOOT" ]; then
	FAST_BIOS=(-bios "$QBOOT")
else
	note "$QBOOT not found, every run uses SeaBIOS (slower)"
fi

failures=0
declare -A RUN_PID RUN_RC
RUN_IDS=()

# run ID GUEST CPUS MEM APPEND [seabios|qboot [QEMU-ARGS...]]: boots in the
# background, at most JOBS at once; the serial output goes to $TMP/ID.out,
# QEMU's messages to $TMP/ID.err.
run() {
	local id=$1 guest=$2 cpus=$3 mem=$4 append=$5 fw=("${FAST_BIOS[@]}") extra=()
	local n=${#RUN_IDS[@]}

	[ "${6:-}" = seabios ] && fw=()
	[ $# -gt 6 ] && extra=("${@:7}")
	[ "$n" -ge "$JOBS" ] && reap "${RUN_IDS[n - JOBS]}"
	start "$id" timeout 60 "$QEMU" -accel kvm "${fw[@]}" -m "$mem" -smp "$cpus" \
		-kernel "$GUESTS/$guest.elf" -append "$append" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-serial stdio -display none -monitor none -no-reboot "${extra[@]}"
	RUN_PID[$id]=$LAST_PID
	RUN_IDS+=("$id")
}

# reap ID: waits for run ID to end; QEMU's exit status in RUN_RC[ID].
reap() {
	[ -n "${RUN_RC[$1]:-}" ] && return 0
	wait_exit "${RUN_PID[$1]}" 90 || fail "$1: QEMU still running"
	RUN_RC[$1]=$EXIT_STATUS
}

# missed ID WHAT: one check failed; shows the run's output and counts it.
missed() {
	echo "FAIL $1: $2"
	sed 's/^/    | /' "$TMP/$1.out" 2>/dev/null | tail -n 20
	grep -v 'host doesn.t support requested feature' "$TMP/$1.err" |
		sed 's/^/    ! /' | tail -n 5
	failures=$((failures + 1))
}

# expect_exit ID CODE: QEMU reports a debug-exit write of v as (v << 1) | 1;
# CODE "shutdown" means QEMU's own 0 (a triple fault with -no-reboot).
expect_exit() {
	local want got

	got=${RUN_RC[$1]}
	if [ "$2" = shutdown ]; then
		want=0
	else
		want=$(($2 * 2 + 1))
	fi
	if [ "$got" != "$want" ]; then
		missed "$1" "QEMU exit status $got, expected $want (guest: $2)"
		return 1
	fi
}

# expect_line ID REGEX...: every regex must match some line.
expect_line() {
	local id=$1 re

	shift
	for re in "$@"; do
		if ! grep -Eq -- "$re" "$TMP/$id.out" 2>/dev/null; then
			missed "$id" "no line matches /$re/"
			return 1
		fi
	done
}

# expect_near ID REGEX WANT PERCENT: the number captured by REGEX's first
# group is within PERCENT of WANT.
expect_near() {
	local got

	got=$(sed -nE "s#$2#\\1#p" "$TMP/$1.out" | tail -n 1)
	if [ -z "$got" ] || [ $((got * 100)) -lt $(($3 * (100 - $4))) ] ||
	   [ $((got * 100)) -gt $(($3 * (100 + $4))) ]; then
		missed "$1" "got '${got}' for /$2/, expected $3 +-$4%"
		return 1
	fi
}

check_ticks() {
	local id=$1 n done_n

	n=$(grep -c '^tick ' "$TMP/$id.out")
	done_n=$(sed -nE 's/^heartbeat: done ticks=([0-9]+)\r?$/\1/p' "$TMP/$id.out")
	if [ "$n" != "$done_n" ] ||
	   ! awk '/^tick /{ if ($2 != want) exit 1; want++ }' want=0 "$TMP/$id.out"; then
		missed "$id" "ticks not numbered 0..N-1 without gaps ($n lines, done says '$done_n')"
		return 1
	fi
}

run hello-1 hello 1 256 ""
run hello-2 hello 2 256 "" seabios
run idle-1 idle 1 128 "duration=0.5"
run idle-2 idle 2 128 "duration=1"
run heartbeat-1 heartbeat 1 128 "period=50000 duration=1"
run heartbeat-2 heartbeat 2 128 "period=100000 duration=1"
run memtouch-1 memtouch 1 256 "ws=32M rate=5000 duration=2"
run memtouch-2 memtouch 2 256 "ws=64M rate=20000 pattern=hotcold duration=2"
run verify-1 verify 1 256 "ws=16M duration=1"
run verify-2 verify 2 256 "ws=32M rate=2000 duration=1 report=0.5"
run verify-bad verify 1 128 "ws=8M duration=1 corrupt=stale"
run param-1 memtouch 1 128 "ws=12Q"
run param-2 hello 2 128 "bogus=1"
run crash-pf hello 2 128 "crash=1"
run crash-triple hello 1 128 "crash=triple"
run portio-1 portio 1 128 "count=1000"
run ioverify-1 ioverify 1 64 "duration=1 report=0.5"
truncate -s 16M "$TMP/d1.img" "$TMP/d2.img" "$TMP/d3.img"
run diskverify-1 diskverify 1 64 "duration=1 report=0.5" seabios \
	-drive "file=$TMP/d1.img,if=virtio,format=raw"
run diskverify-2 diskverify 2 64 "writes=100 rate=0 ws=4M bs=64K" qboot \
	-drive "file=$TMP/d3.img,if=virtio,format=raw"
run disktouch-1 disktouch 1 64 "duration=1 ws=8M pattern=hotcold" qboot \
	-drive "file=$TMP/d2.img,if=virtio,format=raw"
for id in "${RUN_IDS[@]}"; do
	reap "$id"
done

expect_exit hello-1 0 && expect_line hello-1 '^hello: cpu 0 online' \
	'^hello: cpus=1 ram=256 MiB'
expect_exit hello-2 0 && expect_line hello-2 '^hello: cpu 0 online' \
	'^hello: cpu 1 online' '^hello: cpus=2 ram=256 MiB'
for id in idle-1 idle-2; do
	expect_exit $id 0 && expect_line $id '^idle: done'
done
expect_exit heartbeat-1 0 && check_ticks heartbeat-1 &&
	expect_near heartbeat-1 '^heartbeat: done ticks=([0-9]+).*' 20 10
expect_exit heartbeat-2 0 && check_ticks heartbeat-2 &&
	expect_near heartbeat-2 '^heartbeat: done ticks=([0-9]+).*' 10 10
expect_exit memtouch-1 0 &&
	expect_line memtouch-1 '^memtouch: t=1\.00s cpu=0 pages=[0-9]+ rate=[0-9]+ pages/s' &&
	expect_near memtouch-1 '^memtouch: done cpus=1 pages=[0-9]+ t=[0-9.]+s rate=([0-9]+) pages/s.*' 5000 3
expect_exit memtouch-2 0 &&
	expect_line memtouch-2 '^memtouch: t=1\.00s cpu=1 ' 'pattern=hotcold' &&
	expect_near memtouch-2 '^memtouch: done cpus=2 pages=[0-9]+ t=[0-9.]+s rate=([0-9]+) pages/s.*' 20000 3
expect_exit verify-1 0 && expect_line verify-1 '^verify: PASS pages=4096 rewrites=[0-9]+ passes=[1-9]'
expect_exit verify-2 0 && expect_line verify-2 '^verify: t=0\.[5-9][0-9]s cpu=1 ' &&
	expect_near verify-2 '^verify: PASS pages=8192 rewrites=([0-9]+) passes=[1-9].*' 2000 5
expect_exit verify-bad 1 && expect_line verify-bad \
	'^verify: FAIL page=0x[0-9a-f]+ word=0 expected=0x[0-9a-f]+ actual=0x[0-9a-f]+ gen=1' \
	'an update was lost'
expect_exit param-1 2 && expect_line param-1 "^memtouch: bad parameter 'ws=12Q': not a size"
expect_exit param-2 2 && expect_line param-2 "^hello: bad parameter 'bogus=1': unknown key"
expect_exit crash-pf 3 &&
	expect_line crash-pf '^EXCEPTION vector=14 error=0x6 rip=0x[0-9a-f]+ cpu=0'
expect_exit crash-triple shutdown && expect_line crash-triple '^hello: cpus=1 '
expect_exit portio-1 0 &&
	expect_line portio-1 '^portio: count=1000 ns_per_exit=-?[0-9.]+ loop_ns=[0-9.]+'
expect_exit ioverify-1 0 && expect_line ioverify-1 \
	'^ioverify: no test device at 0xfef00000 .*checking port I/O only' \
	'^ioverify: t=[0-9.]+s port=[1-9][0-9]* mmio=0 syscalls=[1-9][0-9]* wrong=0' \
	'^ioverify: PASS t=[0-9.]+s port=[1-9][0-9]* mmio=0 syscalls=[1-9][0-9]* wrong=0'
expect_exit diskverify-1 0 && expect_line diskverify-1 \
	'^diskverify: disk 32768 sectors, device 1001 ' '^diskverify: filled 1024 blocks' \
	'^diskverify: PASS blocks=1024 cpus=1 '
# Both CPUs' 100 rewrites each, besides the 64 blocks filled and read back.
expect_exit diskverify-2 0 && expect_line diskverify-2 \
	'^diskverify: .* cpus=2 writes=100$' '^diskverify: PASS blocks=64 cpus=2 writes=264 reads=264$'
expect_exit disktouch-1 0 &&
	expect_line disktouch-1 '^disktouch: t=[0-9]+ ms writes=[1-9][0-9]* rate=[0-9]+/s'

[ $failures -eq 0 ] || fail "$failures check(s) failed"
echo "all guest checks passed"
