# Shared helpers for integration tests: sourced, never run.
# Tests run from the repository root with BUILD set; each exits 0 (pass),
# 1 (fail) or 77 (skip, with the reason on the last line).
set -u
BUILD=${BUILD:-build}
VMM=$BUILD/vmm
GUESTS=$BUILD/guests
TMP=$(mktemp -d /tmp/vmm-test.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

note() {
	echo "-- $*"
}

require_kvm() {
	if [ ! -c /dev/kvm ] || ! { exec 9<>/dev/kvm; } 2>/dev/null; then
		echo "SKIP: /dev/kvm not available"
		exit 77
	fi
	exec 9>&-
}

# start NAME CMD...: runs CMD in the background, output in $TMP/NAME.{out,err};
# its PID is in $LAST_PID and is killed at exit if still running.
start() {
	local name=$1; shift
	# Emptied here, not only by the child's redirections: a wait_for right
	# after start must not read what an earlier process of that name wrote
	# before the child has opened the files.
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# wait_for FILE REGEX [SECONDS]: waits until a line of FILE matches.
wait_for() {
	local file=$1 re=$2 secs=${3:-20} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "timed out after ${secs}s waiting for /$re/ in $file; it holds:"
	tail -n 20 "$file" 2>/dev/null | sed 's/^/    /'
	return 1
}

# wait_exit PID [SECONDS]: waits for PID to end; its status in $EXIT_STATUS.
wait_exit() {
	local pid=$1 secs=${2:-30} i
	for ((i = 0; i < secs * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			EXIT_STATUS=$?
			return 0
		fi
		sleep 0.05
	done
	echo "process $pid still running after ${secs}s"
	return 1
}

# mon SOCKET COMMAND: one monitor command; prints the reply (with its
# final ok/error line).
mon() {
	printf '%s\n' "$2" | socat -t 10 - "UNIX-CONNECT:$1"
}

# A TCP port nothing listens on now (loopback only).
# Taken at random from this test's lane's own range (TEST_LANE, set by
# tests/run-tests.sh when tests run side by side; 0 otherwise), outside
# the kernel's ephemeral ports (net.ipv4.ip_local_port_range, read here;
# the lanes go below or above it, wherever there is more room, 3000 ports
# each at most): a port the kernel handed out for bind(0) and that was
# closed again could be given to the next outgoing connection of any
# process before the vmm binds it, and two tests running at once never
# draw from the same range.
free_port() {
	python3 - "${TEST_LANE:-0}" <<'PY'
import random, socket, sys
LANES = 4
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_lo, eph_hi = map(int, f.read().split())
except (OSError, ValueError):
    eph_lo, eph_hi = 32768, 60999
below, above = eph_lo - 1024, 65535 - eph_hi
WIDTH = min(3000, max(below, above) // LANES)
if WIDTH < 100:
    sys.exit("no room for %d port ranges outside the ephemeral ports %d-%d"
             % (LANES, eph_lo, eph_hi))
base = eph_lo - LANES * WIDTH if below >= above else eph_hi + 1
lo = base + int(sys.argv[1]) % LANES * WIDTH
for port in random.sample(range(lo, lo + WIDTH), WIDTH):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    sys.exit("no free port in %d-%d" % (lo, lo + WIDTH - 1))
PY
}

# run_guest TIMEOUT VMM-ARGS...: runs vmm in the foreground, output in
# $TMP/run.out/.err, status in $EXIT_STATUS.
run_guest() {
	local t=$1; shift
	timeout --kill-after=5 "$t" "$VMM" "$@" >"$TMP/run.out" 2>"$TMP/run.err" </dev/null
	EXIT_STATUS=$?
}

expect_status() {
	[ "$EXIT_STATUS" -eq "$1" ] || {
		echo "stdout:"; sed 's/^/    /' "$TMP/run.out"
		echo "stderr:"; sed 's/^/    /' "$TMP/run.err"
		fail "$2: exit status $EXIT_STATUS, expected $1"
	}
}

expect_out() {
	grep -Eq -- "$1" "$TMP/run.out" || {
		echo "stdout:"; sed 's/^/    /' "$TMP/run.out"
		echo "stderr:"; sed 's/^/    /' "$TMP/run.err"
		fail "expected /$1/ on stdout"
	}
}

expect_err() {
	grep -Eq -- "$1" "$TMP/run.err" || {
		echo "stderr:"; sed 's/^/    /' "$TMP/run.err"
		fail "expected /$1/ on stderr"
	}
}

# sparse_image PATH: the disk the block-migration tests copy: 64 MiB, raw,
# random data at 5 MiB (3 MiB) and at ~19.5 MiB (12 KiB), holes elsewhere.
sparse_image() {
	truncate -s 64M "$1"
	dd if=/dev/urandom of="$1" bs=1M count=3 seek=5 conv=notrunc status=none
	dd if=/dev/urandom of="$1" bs=4K count=3 seek=5000 conv=notrunc status=none
}

# wait_sock PATH: waits for a unix socket to appear.
wait_sock() {
	local i
	for i in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
	fail "no socket at $1"
}

# start_dest NAME PORT [VMM-ARGS...]: a destination vmm on loopback, output
# in $TMP/NAME.{out,err}; waits until it listens.
start_dest() {
	local name=$1 port=$2; shift 2
	start "$name" "$VMM" --incoming "tcp:127.0.0.1:$port" "$@"
	wait_for "$TMP/$name.err" "waiting for a migration" 10 || fail "destination $name did not listen"
}

# mon_wait SOCKET REGEX [SECONDS]: polls 'info migrate' until it matches.
mon_wait() {
	local sock=$1 re=$2 secs=${3:-30} i out
	for ((i = 0; i < secs * 10; i++)); do
		out=$(mon "$sock" "info migrate" 2>/dev/null)
		grep -Eq -- "$re" <<<"$out" && return 0
		sleep 0.1
	done
	echo "info migrate never matched /$re/; last:"
	sed 's/^/    /' <<<"$out"
	return 1
}

# ticks_continuous FILE...: the heartbeat's tick numbers over the given
# outputs (joined in order, since a line may be split at the switch) run
# 0,1,2,... with none missing or repeated.
ticks_continuous() {
	cat "$@" | grep -o '^tick [0-9]*' | awk '{ if ($2 != n) { print "tick " n " missing or out of order (got " $2 ")"; exit 1 } n++ } END { if (n == 0) { print "no ticks"; exit 1 } }'
}

# require_cmd CMD: skips the test (77) when CMD is not installed.
require_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "SKIP: $1 is not installed"
	exit 77
}

# wait_status PID SECONDS STATUS WHAT [NAME]: waits for PID to end and fails
# unless its exit status is STATUS; NAME's output ($TMP/NAME.{out,err})
# is shown when it does not.
wait_status() {
	local pid=$1 secs=$2 want=$3 what=$4 name=${5:-} problem
	if ! wait_exit "$pid" "$secs"; then
		problem="still running after ${secs}s"
	elif [ "$EXIT_STATUS" -ne "$want" ]; then
		problem="exit status $EXIT_STATUS, expected $want"
	else
		return 0
	fi
	if [ -n "$name" ]; then
		echo "$name stdout:"; tail -n 20 "$TMP/$name.out" | sed 's/^/    /'
		echo "$name stderr:"; tail -n 20 "$TMP/$name.err" | sed 's/^/    /'
	fi
	fail "$what: $problem"
}

# wait_count FILE REGEX N [SECONDS]: waits until more than N lines of FILE
# match (progress past a count taken earlier with grep -c).
wait_count() {
	local file=$1 re=$2 n=$3 secs=${4:-20} i c
	for ((i = 0; i < secs * 20; i++)); do
		c=$(grep -Ec -- "$re" "$file" 2>/dev/null)
		[ "${c:-0}" -gt "$n" ] && return 0
		sleep 0.05
	done
	echo "timed out after ${secs}s waiting for more than $n lines /$re/ in $file"
	return 1
}

# wait_port PORT [SECONDS]: waits until something listens on TCP PORT.
wait_port() {
	local port=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	echo "nothing listens on port $port after ${secs}s"
	return 1
}

# mon_check SOCKET COMMAND REGEX: fails unless a line of the reply to
# COMMAND matches REGEX.
mon_check() {
	local out
	out=$(mon "$1" "$2")
	grep -Eq -- "$3" <<<"$out" || fail "'$2' answered: $out"
}

# run_guest_input TEXT TIMEOUT VMM-ARGS...: run_guest with TEXT on vmm's
# standard input (the guest's COM1 with the default --serial stdio).
run_guest_input() {
	local text=$1 t=$2; shift 2
	printf '%s' "$text" | timeout --kill-after=5 "$t" "$VMM" "$@" >"$TMP/run.out" 2>"$TMP/run.err"
	EXIT_STATUS=$?
}
