#!/usr/bin/env bash
# Runs every unit test binary and every integration test, prints one line
# per test and a closing "N passed, N failed, N skipped" line.
# Exit status of a test: 0 pass, 77 skip, anything else fail.
# With REQUIRE_KVM=1 (CI sets it) a skip counts as a failure: nothing may
# pass by skipping.
#
# Tests run TEST_JOBS at a time (default: 2 where the machine has 2 CPUs
# or more, else 1). Most integration tests spend their time waiting on a
# guest's clock, so two at once halve the wall time without starving
# either. A test whose verdict depends on the CPU it gets (a dirty rate
# within a tolerance, a guest's pace, a throttle) says so with a line
# "# exclusive: WHY" and runs alone, after the others. Each running test
# has its own TEST_LANE (0, 1, ...), from which free_port in
# tests/integration/lib.bash takes its own range of ports.
#
# Under the sanitizers (SANITIZE=1, `make asan`) a test that starts no vmm
# (QEMU alone, Python alone) has nothing to find and is left out: it says
# so with a line "# sanitizer: skip, WHY".
set -u
BUILD=${1:-build}
export BUILD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
LOGDIR="$BUILD/test-logs"
mkdir -p "$LOGDIR"

if [ -z "${TEST_JOBS:-}" ]; then
	TEST_JOBS=1
	[ "$(nproc)" -ge 2 ] && TEST_JOBS=2
fi
[[ $TEST_JOBS =~ ^[1-9][0-9]*$ ]] || { echo "TEST_JOBS must be a positive number" >&2; exit 2; }

pass=0 fail=0 skip=0
failed_names=()
declare -A job_name job_start job_lane
lane_free=()
for ((i = 0; i < TEST_JOBS; i++)); do lane_free[i]=1; done

report() {
	local name=$1 rc=$2 took=$3 log="$LOGDIR/$1.log"
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1)); printf 'PASS  %-40s %3ss\n' "$name" "$took"
	elif [ "$rc" -eq 77 ] && [ "${REQUIRE_KVM:-0}" != 1 ]; then
		skip=$((skip + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")"
	else
		fail=$((fail + 1)); failed_names+=("$name")
		printf 'FAIL  %-40s %3ss (exit %d)\n' "$name" "$took" "$rc"
		sed 's/^/      | /' "$log" | tail -n 40
	fi
}

# reap: waits for one running test and reports it.
reap() {
	local pid rc
	wait -n -p pid
	rc=$?
	report "${job_name[$pid]}" "$rc" $((SECONDS - job_start[$pid]))
	lane_free[${job_lane[$pid]}]=1
	unset "job_name[$pid]" "job_start[$pid]" "job_lane[$pid]"
}

# launch NAME CMD...: starts a test in a free lane, waiting for one first
# when all are taken.
launch() {
	local name=$1 lane; shift
	local log="$LOGDIR/$name.log"
	mkdir -p "$(dirname "$log")"
	while :; do
		for lane in "${!lane_free[@]}"; do
			[ "${lane_free[lane]}" = 1 ] && break 2
		done
		reap
	done
	lane_free[lane]=0
	TEST_LANE=$lane "$@" >"$log" 2>&1 </dev/null &
	job_name[$!]=$name job_start[$!]=$SECONDS job_lane[$!]=$lane
}

drain() {
	while [ ${#job_name[@]} -gt 0 ]; do reap; done
}

# Every include points down a floor (README, "Layout").
launch "static/floors" scripts/check-floors.sh

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	launch "unit/$(basename "$t")" "$t"
done

filter=${TESTS:-}
alone=()
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	if [ -n "$filter" ] && [[ ! $n =~ $filter ]]; then continue; fi
	if [ "${SANITIZE:-0}" = 1 ] && grep -q '^# sanitizer: skip' "$t"; then
		printf 'OMIT  %-40s %s\n' "integration/$n" "$(sed -n 's/^# sanitizer: skip, //p' "$t")"
		continue
	fi
	if grep -q '^# exclusive:' "$t"; then
		alone+=("$t")
		continue
	fi
	launch "integration/$n" bash "$t"
done
drain
for t in "${alone[@]}"; do
	launch "integration/$(basename "$t" .sh)" bash "$t"
	drain
done

echo
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
