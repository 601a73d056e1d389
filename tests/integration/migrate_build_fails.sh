# A destination answers ACCEPT once CONFIG passes its check, and builds the
# VM while round 0 streams in. When that build fails (here: its address
# space is capped below the guest's RAM, so mapping the RAM fails), it
# says why in a FAILED; the source prints the reason and its guest runs on
# to its own verdict.
# sanitizer: skip, RLIMIT_AS cannot cap a process whose sanitizer maps terabytes of shadow memory
. tests/integration/lib.bash
require_kvm
require_cmd prlimit

port=$(free_port)
# 512 MiB of address space: the vmm itself needs a few tens, the 1 GiB
# guest's RAM does not fit. prlimit execs the vmm: $LAST_PID is its PID.
start dst prlimit --as=$((512 << 20)) "$VMM" --incoming "tcp:127.0.0.1:$port" --serial none
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
run_guest 60 --mem 1G --migrate-to "tcp:127.0.0.1:$port" --migrate-after 500ms \
	--stats-json "$TMP/src.json" "$GUESTS/verify.elf" -- ws=16M rate=1000 duration=3
expect_status 0 "source guest after the destination failed to build"
expect_out "verify: PASS"
expect_err "destination failed: .*(Cannot allocate memory|out of memory)"
grep -q '"status": "failed"' "$TMP/src.json" || fail "source JSON does not say failed"
wait_status $dpid 10 1 "destination that could not build the VM" dst
grep -Eq "Cannot allocate memory|out of memory" "$TMP/dst.err" ||
	fail "destination did not print why its build failed"
# It had accepted: the failure came after ACCEPT, not as a refusal.
if grep -q "destination refused" "$TMP/run.err"; then
	fail "the build's failure came as a refusal, before ACCEPT"
fi
echo "migrate_build_fails: the destination's build failed after ACCEPT; the source said why and ran on"
