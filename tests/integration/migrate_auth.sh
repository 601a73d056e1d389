# Who may send a VM: a destination with --secret-file takes a guest only
# from a source that proves the same secret (and proves it back first);
# a bad peer (wrong or missing secret, junk, connect-and-close, silence)
# is turned away with a message on both sides and the destination goes
# on waiting for the real source; the source's guest is untouched.
. tests/integration/lib.bash
require_kvm

umask 077
printf 'correct horse battery staple\n' >"$TMP/key"
printf 'correct horse battery stapler\n' >"$TMP/wrong"

# src_run PORT [VMM-ARGS...]: a source that migrates a verify guest to
# PORT after 500 ms; its status in $EXIT_STATUS.
src_run() {
	local port=$1; shift
	run_guest 60 "$@" --migrate-to "tcp:127.0.0.1:$port" --migrate-after 500ms \
		"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
}

# arrived DPID: the destination ran the guest to its PASS and exit 0.
arrived() {
	wait_exit "$1" 30 || fail "destination did not finish"
	[ "$EXIT_STATUS" -eq 0 ] || { cat "$TMP/dst.err"; fail "destination exit $EXIT_STATUS"; }
	grep -q "verify: PASS" "$TMP/dst.out" || fail "no verify: PASS on the destination"
}

note "right secret on both sides: migrates"
port=$(free_port)
start_dest dst "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
src_run "$port" --secret-file "$TMP/key"
expect_status 0 "source after migrating"
arrived "$dpid"

note "a bare connect-and-close, then the real source, to the same destination"
port=$(free_port)
start_dest dst "$port"
dpid=$LAST_PID
python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()"
wait_for "$TMP/dst.err" "turned away: .*1 of 10 failed" 20 || fail "connect-and-close not reported"
kill -0 "$dpid" 2>/dev/null || fail "destination ended after a connect-and-close"
src_run "$port"
expect_status 0 "source after a connect-and-close went first"
arrived "$dpid"

note "wrong secret: refused on both sides, then the right source migrates"
port=$(free_port)
start_dest dst "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
src_run "$port" --secret-file "$TMP/wrong"
expect_status 0 "source guest after a wrong secret"
expect_out "verify: PASS"
expect_err "authentication with the destination failed: the destination refused our proof"
wait_for "$TMP/dst.err" "source's proof is wrong: it does not know the secret" 10 ||
	fail "destination did not say why"
kill -0 "$dpid" 2>/dev/null || fail "destination ended after a wrong secret"
note "... the secret-file parameter, over the monitor, overrides a wrong --secret-file"
start src "$VMM" --secret-file "$TMP/wrong" --monitor "unix:$TMP/src.sock" \
	"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
spid=$LAST_PID
wait_sock "$TMP/src.sock"
mon_check "$TMP/src.sock" "migrate_set_parameter secret-file $TMP/key" "^ok"
mon_check "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" "^ok"
wait_exit "$spid" 30 || fail "source did not end"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS"
arrived "$dpid"

note "secret on the destination only"
port=$(free_port)
start_dest dst "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
src_run "$port"
expect_status 0 "source guest without a secret"
expect_out "verify: PASS"
expect_err "destination refused: the source did not authenticate"
wait_for "$TMP/dst.err" "turned away: the source did not authenticate" 10 ||
	fail "destination did not say why"
kill "$dpid"

note "secret on the source only"
port=$(free_port)
start_dest dst "$port"
dpid=$LAST_PID
src_run "$port" --secret-file "$TMP/key"
expect_status 0 "source guest when the destination has no secret"
expect_out "verify: PASS"
expect_err "the destination does not authenticate \(it was started without --secret-file\)"
wait_for "$TMP/dst.err" "turned away: the source wants to authenticate" 10 ||
	fail "destination did not say why"
kill "$dpid"

note "junk and silence are turned away too, and the destination still serves"
port=$(free_port)
start_dest dst "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
printf 'GET / HTTP/1.0\r\n\r\n' | socat -t 2 - "TCP:127.0.0.1:$port" >/dev/null
wait_for "$TMP/dst.err" "turned away: not an authentication message" 20 || fail "junk not reported"
start silent python3 -c "import socket, time
s = socket.create_connection(('127.0.0.1', $port))
time.sleep(60)"
wait_count "$TMP/dst.err" "^vmm: connection from 127.0.0.1" 1 10 || fail "the silent peer was not taken"
note "... a second connection while the silent one is served is refused at once"
second=$(python3 -c "import socket
s = socket.create_connection(('127.0.0.1', $port))
s.settimeout(8)
try:
    print('closed' if s.recv(1) == b'' else 'data')
except socket.timeout:
    print('left waiting')
except ConnectionResetError:
    print('closed')")
[ "$second" = closed ] || fail "a second connection was $second, not refused"
grep -q "refused a connection from 127.0.0.1:[0-9]*: busy with 127.0.0.1:" "$TMP/dst.err" ||
	fail "the destination did not say it refused the second connection"
wait_for "$TMP/dst.err" "turned away: the peer sent nothing in time \\(authentication, waiting for HELLO\\)" 30 ||
	fail "a silent peer was not turned away"
src_run "$port" --secret-file "$TMP/key"
expect_status 0 "source after junk and silence went first"
arrived "$dpid"

note "ten bad peers: the destination gives up"
port=$(free_port)
start_dest dst "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
for i in $(seq 10); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null
done
wait_exit "$dpid" 20 || fail "destination still waits after 10 bad peers"
[ "$EXIT_STATUS" -eq 1 ] || fail "destination exit $EXIT_STATUS after 10 bad peers"
grep -q "gave up after 10 failed connections" "$TMP/dst.err" || fail "no give-up message"

note "a secret file others can read is refused, as ssh refuses a key"
chmod 644 "$TMP/key"
run_guest 10 --incoming "tcp:127.0.0.1:$(free_port)" --secret-file "$TMP/key"
expect_status 1 "a vmm given a readable secret file"
expect_err "permissions 0644 for secret file .* are too open"
chmod 600 "$TMP/key"
note "... and so is an empty one"
: >"$TMP/empty"
run_guest 10 --incoming "tcp:127.0.0.1:$(free_port)" --secret-file "$TMP/empty"
expect_status 1 "a vmm given an empty secret file"
expect_err "secret file .* is empty"
exit 0
