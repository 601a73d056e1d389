# --jail DIR: once set up, vmm touches files only beneath DIR, even with
# uid 0 and no --runas. Outside: nothing opens (/etc/hostname, /dev/kvm);
# inside: a save is written and restored. A save outside fails with the
# reason and the guest runs on; a statistics file outside is refused at
# start; `migrate tcp:localhost:PORT` still resolves its name.
. tests/integration/lib.bash
require_kvm

mkdir -p "$TMP/jail" "$TMP/outside"

note "outside the jail nothing opens; inside it does"
VMM_TEST_SANDBOX_PROBE="open:/etc/hostname,/dev/kvm,$TMP/jail" \
	run_guest 20 --jail "$TMP/jail" --mem 64M --serial none --migrate-to "file:$TMP/jail/probe" \
	"$GUESTS/idle.elf"
expect_err "open /etc/hostname: Permission denied"
expect_err "open /dev/kvm: Permission denied"
expect_err "open $TMP/jail: opened"
expect_status 0 "a jailed vmm saving into its jail"
[ -s "$TMP/jail/probe" ] || fail "no save file in the jail"
# The same probe without --jail: what the jail took away was there.
VMM_TEST_SANDBOX_PROBE="open:/etc/hostname" \
	run_guest 20 --mem 64M --serial none --migrate-to "file:$TMP/outside/probe" "$GUESTS/idle.elf"
expect_err "open /etc/hostname: opened"

note "a save and its restore, each vmm jailed"
start src "$VMM" --jail "$TMP/jail" --mem 64M --monitor "unix:$TMP/src.sock" \
	"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
spid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "verify: t=" 20 || fail "guest did not start"
note "... a save outside the jail fails, the guest runs on"
mon "$TMP/src.sock" "migrate file:$TMP/outside/save" | grep -q '^ok$' || fail "migrate not accepted"
mon_wait "$TMP/src.sock" "status: failed" 20 || fail "a save outside the jail did not fail"
mon "$TMP/src.sock" "info migrate" | grep -q "Permission denied" ||
	{ mon "$TMP/src.sock" "info migrate"; fail "the reason was not given"; }
mon "$TMP/src.sock" "info status" | grep -q running || fail "guest not running after a failed save"
[ ! -e "$TMP/outside/save" ] && [ ! -e "$TMP/outside/save.partial" ] || fail "a file appeared outside"
mon "$TMP/src.sock" "migrate file:$TMP/jail/save" | grep -q '^ok$' || fail "migrate not accepted"
wait_status "$spid" 30 0 "source after saving into its jail" src
run_guest 60 --jail "$TMP/jail" --incoming "file:$TMP/jail/save"
expect_status 0 "a jailed restore"
expect_out "verify: PASS"

note "statistics outside the jail are refused at start; a bad jail too"
run_guest 10 --jail "$TMP/jail" --stats-json "$TMP/outside/s.json" "$GUESTS/idle.elf"
expect_status 1 "--stats-json outside --jail"
expect_err "outside --jail"
run_guest 10 --jail "$TMP/nonexistent" "$GUESTS/idle.elf"
expect_status 1 "--jail on a missing directory"
expect_err "not a directory"

note "a jailed source still resolves localhost"
port=$(free_port)
start_dest dst "$port"
dpid=$LAST_PID
run_guest 60 --jail "$TMP/jail" --migrate-to "tcp:localhost:$port" --migrate-after 300ms \
	"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
expect_status 0 "a jailed source migrating to localhost"
wait_status "$dpid" 30 0 "destination" dst
grep -q "verify: PASS" "$TMP/dst.out" || fail "no verify: PASS on the destination"
echo "jail: files only beneath the jail; saves, restores and name lookups work inside it"
