#!/usr/bin/env bash
# Runs every unit test binary and every integration test, prints one line
# per test and a closing "N passed, N failed, N skipped" line.
# Exit status of a test: 0 pass, 77 skip, anything else fail.
# With REQUIRE_KVM=1 (CI sets it) a skip counts as a failure: nothing may
# pass by skipping.
set -u
BUILD=${1:-build}
export BUILD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
LOGDIR="$BUILD/test-logs"
mkdir -p "$LOGDIR"

pass=0 fail=0 skip=0
failed_names=()

run_one() {
	local name=$1; shift
	local log="$LOGDIR/$name.log"
	mkdir -p "$(dirname "$log")"
	local start=$SECONDS rc
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	local took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); printf 'PASS  %-40s %3ss\n' "$name" "$took"
	elif [ $rc -eq 77 ] && [ "${REQUIRE_KVM:-0}" != 1 ]; then
		skip=$((skip + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")"
	else
		fail=$((fail + 1)); failed_names+=("$name")
		printf 'FAIL  %-40s %3ss (exit %d)\n' "$name" "$took" "$rc"
		sed 's/^/      | /' "$log" | tail -n 40
	fi
}

# Every include points down a floor (README, "Layout").
run_one "static/floors" scripts/check-floors.sh

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done

filter=${TESTS:-}
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	if [ -n "$filter" ] && [[ ! $n =~ $filter ]]; then continue; fi
	run_one "integration/$n" bash "$t"
done

echo
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
