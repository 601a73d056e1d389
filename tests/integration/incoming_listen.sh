# Without a secret, --incoming tcp: listens on loopback only, whatever
# address it was given, and says so; --insecure keeps the address given
# and warns. The listener's address is read from ss, not from vmm.
. tests/integration/lib.bash
require_kvm
require_cmd ss

# listener PORT: the local address of what listens on PORT.
listener() {
	ss -Hltn "sport = :$1" | awk '{print $4}'
}

note "tcp:0:PORT without a secret listens on 127.0.0.1 only"
port=$(free_port)
start dst "$VMM" --incoming "tcp:0:$port"
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
grep -q "no --secret-file: listening on 127.0.0.1:$port only, not on 0" "$TMP/dst.err" ||
	fail "destination did not say it listens on loopback only"
[ "$(listener "$port")" = "127.0.0.1:$port" ] || fail "listens on '$(listener "$port")'"
kill "$dpid"

note "--insecure: tcp:0:PORT listens on every address, with a warning"
port=$(free_port)
start dst "$VMM" --incoming "tcp:0:$port" --insecure
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
grep -q "without a secret (--insecure): anyone who reaches this port can send a VM" \
	"$TMP/dst.err" || fail "no --insecure warning"
[ "$(listener "$port")" = "0.0.0.0:$port" ] || fail "listens on '$(listener "$port")'"
kill "$dpid"

note "with a secret the address given is kept"
port=$(free_port)
(umask 077; echo s3cret >"$TMP/key")
start dst "$VMM" --incoming "tcp:0:$port" --secret-file "$TMP/key"
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
[ "$(listener "$port")" = "0.0.0.0:$port" ] || fail "listens on '$(listener "$port")'"
grep -q "only" "$TMP/dst.err" && fail "a destination with a secret restricted itself"
kill "$dpid"

note "a loopback address is kept as given, without a word"
port=$(free_port)
start dst "$VMM" --incoming "tcp:127.0.0.1:$port"
dpid=$LAST_PID
wait_for "$TMP/dst.err" "waiting for a migration" 10 || fail "destination did not listen"
grep -q "no --secret-file" "$TMP/dst.err" && fail "a loopback listener was warned about"
[ "$(listener "$port")" = "127.0.0.1:$port" ] || fail "listens on '$(listener "$port")'"
kill "$dpid"
exit 0
