# tls: the migration stream encrypted (TLS 1.3, the shared secret as the
# key). A verify guest migrates and passes; an observer on the wire sees
# none of the stream's framing (it does over tcp:, through the same tap);
# a byte changed on the wire ends the migration, the destination discards
# what it built and the guest runs on at the source; a wrong secret, a
# tcp: peer and a missing secret are refused with the reason, and the
# destination keeps waiting for the real source.
. tests/integration/lib.bash
require_kvm
require_cmd python3

umask 077
printf 'correct horse battery staple\n' >"$TMP/key"
printf 'another secret entirely\n' >"$TMP/wrong"
TAP="python3 tests/integration/tls_tap.py"

# tls_dest NAME PORT: a destination listening on tls: with the key.
tls_dest() {
	start "$1" "$VMM" --incoming "tls:127.0.0.1:$2" --secret-file "$TMP/key"
	wait_for "$TMP/$1.err" "waiting for a migration" 10 || fail "destination $1 did not listen"
}

# src_run URI [VMM-ARGS...]: a verify guest migrated to URI after 500 ms.
src_run() {
	local uri=$1; shift
	run_guest 60 "$@" --migrate-to "$uri" --migrate-after 500ms \
		"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
}

# tap NAME LISTEN DEST [flip:N]: the relay, capturing into $TMP/NAME.cap.
tap() {
	start "$1" $TAP "$2" "$3" "$TMP/$1.cap" ${4:-}
	wait_for "$TMP/$1.out" "listening" 10 || fail "tap $1 did not listen"
}

# The stream's preamble magic, as grep -c counts it in a capture.
magic_count() { LC_ALL=C grep -c $'LMIG\r' "$1" || true; }

note "tls: through a tap: migrates, and the wire shows no framing"
port=$(free_port); tport=$(free_port)
tls_dest dst "$port"
dpid=$LAST_PID
tap tap1 "$tport" "$port"
src_run "tls:127.0.0.1:$tport" --secret-file "$TMP/key"
expect_status 0 "source after a tls: migration"
wait_status "$dpid" 30 0 "destination" dst
grep -q "verify: PASS" "$TMP/dst.out" || fail "no verify: PASS on the destination"
[ "$(stat -c %s "$TMP/tap1.cap")" -gt 1000000 ] || fail "the tap saw too little"
[ "$(magic_count "$TMP/tap1.cap")" = 0 ] || fail "the stream's magic is visible on a tls: wire"

note "... while over tcp: the same tap sees the stream"
port=$(free_port); tport=$(free_port)
start_dest dst2 "$port" --secret-file "$TMP/key"
dpid=$LAST_PID
tap tap2 "$tport" "$port"
src_run "tcp:127.0.0.1:$tport" --secret-file "$TMP/key"
expect_status 0 "source after a tcp: migration"
wait_status "$dpid" 30 0 "destination" dst2
[ "$(magic_count "$TMP/tap2.cap")" != 0 ] || fail "the tap's check proves nothing: no magic over tcp:"

note "one byte changed on the wire: the migration fails, the guest stays"
port=$(free_port); tport=$(free_port)
tls_dest dst3 "$port"
dpid=$LAST_PID
tap tap3 "$tport" "$port" flip:2000000
src_run "tls:127.0.0.1:$tport" --secret-file "$TMP/key"
expect_status 0 "source guest after a damaged stream"
expect_out "verify: PASS"
expect_err "migration to tls:.* failed"
wait_exit "$dpid" 30 || fail "destination still running after a damaged stream"
[ "$EXIT_STATUS" -eq 1 ] || fail "destination exit $EXIT_STATUS after a damaged stream"
grep -q "discarded" "$TMP/dst3.err" || { cat "$TMP/dst3.err"; fail "destination did not discard"; }
grep -q "tls: a record from the peer failed its check" "$TMP/dst3.err" ||
	fail "destination did not name the damaged record"
sed -n 's/^vmm: error: /    destination: /p' "$TMP/dst3.err"
sed -n 's/^vmm: error: /    source: /p' "$TMP/run.err"

note "wrong secret, a tcp: source, then the right source, to one destination"
port=$(free_port)
tls_dest dst4 "$port"
dpid=$LAST_PID
src_run "tls:127.0.0.1:$port" --secret-file "$TMP/wrong"
expect_status 0 "source guest after a wrong secret"
expect_err "TLS handshake failed.*another secret"
wait_for "$TMP/dst4.err" "turned away: TLS handshake failed" 10 || fail "destination did not say why"
src_run "tcp:127.0.0.1:$port" --secret-file "$TMP/key"
expect_status 0 "source guest after a tcp: attempt"
expect_err "nothing of the VM was sent"
wait_for "$TMP/dst4.err" "2 of 10 failed" 10 || fail "tcp: source not turned away"
src_run "tls:127.0.0.1:$port" --secret-file "$TMP/key"
expect_status 0 "the right source"
wait_status "$dpid" 30 0 "destination after two bad peers" dst4
grep -q "verify: PASS" "$TMP/dst4.out" || fail "no verify: PASS after two bad peers"

note "a tls: source to a tcp: destination; no secret at all"
port=$(free_port)
start_dest dst5 "$port" --secret-file "$TMP/key" --monitor "unix:$TMP/dst5.sock"
dpid=$LAST_PID
src_run "tls:127.0.0.1:$port" --secret-file "$TMP/key"
expect_status 0 "source guest after a tcp: destination"
expect_err "TLS handshake failed"
wait_for "$TMP/dst5.err" "the peer speaks TLS" 10 || fail "tcp: destination did not name TLS"
src_run "tls:127.0.0.1:$port"
expect_status 0 "source guest without a secret"
expect_err "tls: needs a secret"
run_guest 10 --incoming "tls:127.0.0.1:$(free_port)"
expect_status 1 "a tls: destination without a secret"
expect_err "needs --secret-file"
mon "$TMP/dst5.sock" quit >/dev/null
wait_exit "$dpid" 10 || fail "destination did not quit"
echo "migrate_tls: encrypted, tamper-evident, and every bad peer refused with its reason"
