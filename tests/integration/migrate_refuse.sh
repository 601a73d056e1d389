# A destination that cannot host the VM refuses it before any RAM is sent,
# with a reason the source reports; the source's guest keeps running and
# finishes with its own verdict.
. tests/integration/lib.bash
require_kvm

refused() {	# refused "DEST ARGS" REGEX
	local dargs=$1 re=$2 port; port=$(free_port)
	note "destination $dargs"
	# shellcheck disable=SC2086
	start_dest dst "$port" $dargs
	local dpid=$LAST_PID
	run_guest 60 --mem 256M --migrate-to "tcp:127.0.0.1:$port" --migrate-after 500ms \
		--stats-json "$TMP/src.json" "$GUESTS/verify.elf" -- ws=16M rate=1000 duration=3
	expect_status 0 "source guest after a refused migration"
	expect_out "verify: PASS"
	expect_err "destination refused: .*$re"
	grep -q '"status": "failed"' "$TMP/src.json" || fail "source JSON does not say failed"
	wait_exit $dpid 10 || fail "refusing destination did not exit"
	[ "$EXIT_STATUS" -eq 1 ] || fail "refusing destination exit $EXIT_STATUS"
	grep -Eq "$re" "$TMP/dst.err" || fail "destination did not print its reason"
}

refused "--mem 128M" "source RAM 256 MiB, this VM 128 MiB"
refused "--cpus 2" "source has 1 vCPU, this VM 2"
refused "--mem 512M --cpus 4" "source RAM 256 MiB, this VM 512 MiB; source has 1 vCPU, this VM 4"
note "--max-mem: a bigger guest is refused before anything is allocated"
refused "--max-mem 128M" "source RAM 256 MiB is more than this destination takes: 128 MiB \(--max-mem\)"
note "without --max-mem the limit is what the host had available (a 1 TiB source, lazily backed)"
if [ "$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)" -lt $((1 << 30)) ]; then
	port=$(free_port)
	start_dest dst "$port"
	dpid=$LAST_PID
	run_guest 60 --mem 1T --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/verify.elf" -- ws=8M duration=2
	if grep -q "cannot\|out of memory" "$TMP/run.err"; then
		note "this host cannot even create a 1 TiB source (overcommit): part skipped"
		kill $dpid
	else
		expect_status 0 "1 TiB source guest after the refusal"
		expect_err "destination refused: source RAM 1048576 MiB is more than this destination takes: [0-9]+ MiB \(MemAvailable at start\)"
		wait_exit $dpid 10 || fail "refusing destination did not exit"
	fi
fi

note "CPU features the destination host lacks are named"
# A test hook hides sse and sse2 (CPUID 1 EDX bits 25, 26: every x86-64
# guest sees them) from the destination's view of its host, as if it ran
# on a CPU without them.
VMM_TEST_HIDE_CPUID=1.0.edx.25,1.0.edx.26 refused "" "this host's CPU lacks: sse, sse2"

note "nobody listening"
port=$(free_port)
run_guest 60 --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/verify.elf" -- ws=8M duration=2
expect_status 0 "source guest when nobody listens"
expect_out "verify: PASS"
expect_err "cannot connect to 127.0.0.1:$port"

note "a peer that is not a vmm"
port=$(free_port)
# It answers, then reads what it is sent, as a server would: a peer that
# exits at once may close (socat: broken pipe on vmm's bytes) before its
# answer is passed on, and vmm then sees only a truncated stream.
start junk socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" \
	SYSTEM:"echo 'HTTP/1.0 400 Bad Request'; cat >/dev/null"
wait_port "$port" 10 || fail "the junk peer does not listen"
run_guest 60 --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/verify.elf" -- ws=8M duration=2
expect_status 0 "source guest with a junk peer"
expect_out "verify: PASS"
expect_err "not a vmm migration stream"

note "--incoming-allow turns strangers away and keeps listening"
port=$(free_port)
start_dest dst "$port" --incoming-allow 127.0.0.2 --incoming-allow ::1
dpid=$LAST_PID
run_guest 60 --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/verify.elf" -- ws=8M duration=2
expect_status 0 "source guest turned away"
expect_out "verify: PASS"
expect_err "migration to tcp:127.0.0.1:$port failed"
grep -q "refused a connection from 127.0.0.1:" "$TMP/dst.err" || fail "destination did not log the stranger"
kill -0 $dpid 2>/dev/null || fail "destination stopped listening after a stranger"
kill $dpid
port=$(free_port)
start_dest dst "$port" --incoming-allow 127.0.0.1
dpid=$LAST_PID
run_guest 60 --migrate-to "tcp:127.0.0.1:$port" "$GUESTS/idle.elf" -- duration=2
expect_status 0 "allowed source"
wait_exit $dpid 30 || fail "allowed destination did not finish the guest"
[ "$EXIT_STATUS" -eq 0 ] || fail "allowed destination exit $EXIT_STATUS"

note "bad migrate commands on the monitor"
start src "$VMM" --monitor "unix:$TMP/m.sock" --serial none "$GUESTS/idle.elf"
wait_sock "$TMP/m.sock"
for bad in "migrate" "migrate foo:bar" "migrate tcp:127.0.0.1:0" "migrate tcp:nohost" "migrate file:"; do
	mon "$TMP/m.sock" "$bad" | grep -q "^error: " || fail "'$bad' not refused"
done
mon "$TMP/m.sock" "migrate_cancel" | grep -q "^error: no migration" || fail "cancel with nothing running"
mon "$TMP/m.sock" "migrate_set_parameter max-iterations 0" | grep -q "^error: max-iterations" || fail "bad parameter value"
mon "$TMP/m.sock" "migrate_set_parameter frobs 1" | grep -q "^error: " || fail "unknown parameter"
mon "$TMP/m.sock" "migrate_set_parameter downtime-limit 50" | grep -q "^ok$" || fail "good parameter"
mon "$TMP/m.sock" "info migrate_parameters" | grep -q "downtime-limit: 50" || fail "parameter not shown"
for bad in "migrate_set_capability" "migrate_set_capability xbzrle" "migrate_set_capability xbzrle yes" \
	   "migrate_set_capability frobs on" "migrate_set_capability xbzrle on extra"; do
	mon "$TMP/m.sock" "$bad" | grep -q "^error: " || fail "'$bad' not refused"
done
mon "$TMP/m.sock" "migrate_set_capability frobs on" | grep -q "unknown capability 'frobs'" ||
	fail "unknown capability not named"
mon "$TMP/m.sock" "migrate_set_capability auto-converge off" | grep -q "^ok$" || fail "capability off"
mon "$TMP/m.sock" "info migrate_capabilities" | grep -q "^auto-converge: off$" || fail "capabilities not shown"
mon "$TMP/m.sock" "migrate_set_parameter cpu-throttle-initial 100" |
	grep -q "^error: cpu-throttle-initial: 100 out of range 1..99" || fail "throttle range"
mon "$TMP/m.sock" "info migrate" | grep -q "status: none" || fail "info migrate before any migration"
mon "$TMP/m.sock" "quit" >/dev/null
echo "migrate_refuse: every refusal named its reason; guests kept running"
