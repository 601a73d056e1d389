# tls: keyed by x509 certificates (--tls-creds, as QEMU's tls-creds-x509):
# a verify guest migrates and passes, and a tap on the wire sees none of
# the stream's framing; the destination demands a client certificate from
# its CA, the source checks the server's chain and name. Every bad peer
# (a server or client certificate from another CA, no client certificate,
# a name not in the certificate, an expired certificate) is refused on
# both sides with OpenSSL's reason, the source's guest runs on, and the
# destination goes on waiting for the real source. With a secret as well,
# its exchange still runs inside TLS. A bad directory is a clear error at
# start. The certificates are made here with openssl.
. tests/integration/lib.bash
require_kvm
require_cmd python3
require_cmd openssl

umask 077
TAP="python3 tests/integration/tls_tap.py"
SERIAL=1

# mkca NAME: a self-signed CA, $TMP/NAME.pem and its key $TMP/NAME.key.
mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$TMP/$1.key" -out "$TMP/$1.pem" 2>/dev/null ||
		fail "openssl could not make the CA $1"
}

# mkcert CA NAME SAN [DAYS]: $TMP/NAME-cert.pem (issued by CA, with
# subjectAltName SAN, valid DAYS days; -1: expired a day ago) and its key.
mkcert() {
	local ca=$1 name=$2 san=$3 days=${4:-2}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
		-keyout "$TMP/$name-key.pem" -out "$TMP/$name.csr" 2>/dev/null &&
	printf 'subjectAltName=%s\n' "$san" >"$TMP/$name.ext" &&
	openssl x509 -req -in "$TMP/$name.csr" -CA "$TMP/$ca.pem" -CAkey "$TMP/$ca.key" \
		-set_serial $((SERIAL++)) -days "$days" -extfile "$TMP/$name.ext" \
		-out "$TMP/$name-cert.pem" 2>/dev/null || fail "openssl could not make $name"
}

# creds DIR CA-FILES SERVER CLIENT: a tls-creds directory $TMP/DIR whose
# ca-cert.pem holds CA-FILES (space-separated names), with the server and
# client pairs made by mkcert (- for none).
creds() {
	local dir=$TMP/$1 c
	mkdir -p "$dir"
	: >"$dir/ca-cert.pem"
	for c in $2; do cat "$TMP/$c.pem" >>"$dir/ca-cert.pem"; done
	if [ "$3" != - ]; then
		cp "$TMP/$3-cert.pem" "$dir/server-cert.pem"
		cp "$TMP/$3-key.pem" "$dir/server-key.pem"
	fi
	if [ "$4" != - ]; then
		cp "$TMP/$4-cert.pem" "$dir/client-cert.pem"
		cp "$TMP/$4-key.pem" "$dir/client-key.pem"
	fi
}

mkca ca
mkca other
mkcert ca srv "IP:127.0.0.1,DNS:vmm-dest.test"
mkcert ca cli "DNS:vmm-src.test"
mkcert other othercli "DNS:vmm-src.test"
mkcert ca old "IP:127.0.0.1" -1
creds good ca srv cli
creds wrongca other - othercli		# trusts another CA only
creds othercli "ca other" - othercli	# its certificate from another CA
creds expired ca old -

# x509_dest NAME PORT DIR [ARGS...]: a destination on tls: with DIR.
x509_dest() {
	local name=$1 port=$2 dir=$3; shift 3
	start "$name" "$VMM" --incoming "tls:127.0.0.1:$port" --tls-creds "$TMP/$dir" "$@"
	wait_for "$TMP/$name.err" "waiting for a migration" 10 ||
		fail "destination $name did not listen"
}

# src_run URI [VMM-ARGS...]: a verify guest migrated to URI after 500 ms.
src_run() {
	local uri=$1; shift
	run_guest 60 "$@" --migrate-to "$uri" --migrate-after 500ms \
		"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=3
}

# refused WHAT ERR-REGEX: the source's guest ran on, and it said why.
refused() {
	expect_status 0 "source guest after $1"
	expect_out "verify: PASS"
	expect_err "failed: TLS handshake failed \\($2\\).*nothing of the VM was sent"
}

# arrived PID NAME: the destination ran the guest to a PASS.
arrived() {
	wait_status "$1" 30 0 "destination" "$2"
	grep -q "verify: PASS" "$TMP/$2.out" || fail "no verify: PASS on $2"
}

magic_count() { LC_ALL=C grep -c $'LMIG\r' "$1" || true; }

note "good certificates, through a tap: migrates, and the wire shows no framing"
port=$(free_port); tport=$(free_port)
x509_dest dst "$port" good
dpid=$LAST_PID
start tap1 $TAP "$tport" "$port" "$TMP/tap1.cap"
wait_for "$TMP/tap1.out" "listening" 10 || fail "tap did not listen"
src_run "tls:127.0.0.1:$tport" --tls-creds "$TMP/good"
expect_status 0 "source after an x509 migration"
arrived "$dpid" dst
[ "$(stat -c %s "$TMP/tap1.cap")" -gt 1000000 ] || fail "the tap saw too little"
[ "$(magic_count "$TMP/tap1.cap")" = 0 ] || fail "the stream's magic is visible on the wire"

note "tcp: with --tls-creds on both sides runs TLS (QEMU's rule), beyond loopback"
port=$(free_port); tport=$(free_port)
start dst2 "$VMM" --incoming "tcp:0:$port" --tls-creds "$TMP/good"
dpid=$LAST_PID
wait_for "$TMP/dst2.err" "waiting for a migration on 0.0.0.0:$port" 10 ||
	fail "a destination with certificates did not listen on every address"
grep -q "runs TLS" "$TMP/dst2.err" || fail "the destination did not say tcp: runs TLS"
start tap2 $TAP "$tport" "$port" "$TMP/tap2.cap"
wait_for "$TMP/tap2.out" "listening" 10 || fail "tap did not listen"
src_run "tcp:127.0.0.1:$tport" --tls-creds "$TMP/good"
expect_status 0 "source after a tcp: migration with certificates"
expect_err "runs TLS"
arrived "$dpid" dst2
[ "$(magic_count "$TMP/tap2.cap")" = 0 ] || fail "tcp: with certificates sent the stream in clear"

note "certificates and a secret: the secret's exchange still runs inside TLS"
printf 'correct horse battery staple\n' >"$TMP/key"
printf 'another secret entirely\n' >"$TMP/wrong"
port=$(free_port)
x509_dest dst5 "$port" good --secret-file "$TMP/key"
dpid=$LAST_PID
src_run "tls:127.0.0.1:$port" --tls-creds "$TMP/good" --secret-file "$TMP/wrong"
expect_status 0 "source guest after a wrong secret inside TLS"
expect_err "authentication with the destination failed"
wait_for "$TMP/dst5.err" "turned away: .*does not know the secret" 10 ||
	fail "destination did not refuse the wrong secret"
src_run "tls:127.0.0.1:$port" --tls-creds "$TMP/good" --secret-file "$TMP/key"
expect_status 0 "source with certificates and the secret"
arrived "$dpid" dst5

note "bad peers, each refused on both sides, then the good source, to one destination"
port=$(free_port)
x509_dest dst3 "$port" good
dpid=$LAST_PID
src_run "tls:127.0.0.1:$port" --tls-creds "$TMP/wrongca"
refused "a server certificate from another CA" \
	"certificate verify failed: unable to get local issuer certificate"
wait_for "$TMP/dst3.err" "turned away: TLS handshake failed \(the peer sent .*unknown ca" 10 ||
	fail "destination did not say the source refused its certificate"
src_run "tls:127.0.0.1:$port" --tls-creds "$TMP/othercli"
refused "a client certificate from another CA" "the peer sent .*unknown ca.*"
wait_for "$TMP/dst3.err" "turned away: TLS handshake failed \(certificate verify failed: unable to get local issuer certificate\)" 10 ||
	fail "destination did not name the unknown client CA"
echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$TMP/ca.pem" \
	-tls1_3 >/dev/null 2>&1
wait_for "$TMP/dst3.err" "turned away: TLS handshake failed \(peer did not return a certificate\)" 10 ||
	fail "destination did not name the missing client certificate"
note "... tls-hostname not in the server's subjectAltName (certificates by parameter)"
# The tls-creds parameter is loaded by the monitor's thread and again by
# the migration's, both inside the sandbox.
start src "$VMM" --monitor "unix:$TMP/src.sock" \
	"$GUESTS/verify.elf" -- ws=8M rate=1000 duration=4
spid=$LAST_PID
wait_sock "$TMP/src.sock"
mon_check "$TMP/src.sock" "migrate_set_parameter tls-creds $TMP/good" "^ok"
mon_check "$TMP/src.sock" "migrate_set_parameter tls-hostname wrong.test" "^ok"
mon_check "$TMP/src.sock" "migrate tls:127.0.0.1:$port" "^ok"
wait_for "$TMP/src.err" "failed: TLS handshake failed \(certificate verify failed: hostname mismatch\)" 20 ||
	fail "source did not name the hostname mismatch"
wait_for "$TMP/dst3.err" "4 of 10 failed" 10 || fail "destination did not turn the source away"
note "... the same source with tls-hostname in the certificate (a DNS name) migrates"
mon_check "$TMP/src.sock" "migrate_set_parameter tls-hostname vmm-dest.test" "^ok"
mon_check "$TMP/src.sock" "migrate tls:127.0.0.1:$port" "^ok"
wait_exit "$spid" 30 || fail "source did not end"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS"
arrived "$dpid" dst3

note "an expired server certificate: a warning at start, refused by the source"
port=$(free_port)
x509_dest dst4 "$port" expired
dpid=$LAST_PID
grep -q "server-cert.pem has expired" "$TMP/dst4.err" || fail "no warning of the expired certificate"
src_run "tls:127.0.0.1:$port" --tls-creds "$TMP/good"
refused "an expired certificate" "certificate verify failed: certificate has expired"
wait_for "$TMP/dst4.err" "turned away: TLS handshake failed \(the peer sent .*certificate expired" 10 ||
	fail "destination did not say its certificate was refused"
kill "$dpid"

note "bad directories: a clear error at start, before anything listens"
mkdir -p "$TMP/empty" "$TMP/notpem" "$TMP/mismatch" "$TMP/noca"
creds notpem ca srv cli
echo "not a certificate" >"$TMP/notpem/server-cert.pem"
creds mismatch ca srv cli
cp "$TMP/cli-key.pem" "$TMP/mismatch/server-key.pem"
creds noca "" srv cli
rm "$TMP/noca/ca-cert.pem"
creds unreadable ca srv cli
chmod 000 "$TMP/unreadable/server-key.pem"
check_dir() {
	local dir=$1 re=$2
	run_guest 10 --incoming "tls:127.0.0.1:$(free_port)" --tls-creds "$dir"
	expect_status 1 "a destination with $dir"
	expect_err "$re"
	grep -q "waiting for a migration" "$TMP/run.err" && fail "it listened with $dir"
	sed -n 's/^vmm: error: /    /p' "$TMP/run.err"
}
check_dir "$TMP/nonexistent" "tls-creds .*nonexistent: No such file or directory"
check_dir "$TMP/empty" "empty/ca-cert.pem: No such file or directory"
check_dir "$TMP/noca" "noca/ca-cert.pem: No such file or directory"
check_dir "$TMP/notpem" "notpem/server-cert.pem: no PEM certificate in it"
check_dir "$TMP/mismatch" "mismatch/server-key.pem does not match .*server-cert.pem"
check_dir "$TMP/othercli" "othercli/server-cert.pem: No such file or directory"
if [ "$(id -u)" != 0 ]; then
	check_dir "$TMP/unreadable" "unreadable/server-key.pem: Permission denied"
fi
run_guest 10 --tls-creds "$TMP/wrongca" --migrate-to "tls:127.0.0.1:1" \
	"$GUESTS/verify.elf" -- ws=1M duration=1
expect_status 0 "a source whose own directory is whole (the wrong CA is the peer's business)"
run_guest 10 --tls-creds "$TMP/expired" --migrate-to "tls:127.0.0.1:1" \
	"$GUESTS/verify.elf" -- ws=1M duration=1
expect_status 1 "a source without a client certificate"
expect_err "expired/client-cert.pem: No such file or directory"
mkcert other stray "DNS:x"
creds stray ca - stray
run_guest 10 --tls-creds "$TMP/stray" --migrate-to "tls:127.0.0.1:1" \
	"$GUESTS/verify.elf" -- ws=1M duration=1
expect_status 1 "a client certificate its own CA file does not cover"
expect_err "stray/client-cert.pem is not issued by a CA of ca-cert.pem \(unable to get local issuer certificate\)"
echo "migrate_tls_x509: certificates verified both ways, every bad peer refused with its reason"
