# Interrupting bench/lab (SIGINT as Ctrl-C sends it, then SIGTERM) in the
# middle of a run leaves no VMM process, network namespace, qdisc or
# temporary directory behind, and the lab exits 130. The run uses a shaped
# 1gbit link (two namespaces, veth, tbf) where namespaces can be made;
# elsewhere that part is skipped visibly and loopback is interrupted.
. tests/integration/lib.bash
require_kvm
python3 -c 'import tomllib' 2>/dev/null || { echo "SKIP: python3 has no tomllib (needs 3.11)"; exit 77; }
if "$VMM" --help 2>&1 | grep -q -- --qmp; then
	system=vmm
elif command -v qemu-system-x86_64 >/dev/null; then
	system=qemu
else
	echo "SKIP: neither vmm with --qmp nor QEMU"
	exit 77
fi
link=1gbit
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
	echo "SKIP (namespace part): not root or no ip/tc; interrupting a loopback run"
	link=loopback
fi
cat >"$TMP/long.toml" <<TOML
[experiment]
name = "interrupt"
warmup = "120s"
[grid]
system = "$system"
guest = { name = "memtouch", ws = "16M", rate = 1000 }
mem = "64M"
link = "$link"
TOML

# leftovers PID: what a lab with that PID left behind, one line each.
leftovers() {
	ps -eo pid=,args= | grep -F "vmmlab-$1" | grep -v grep
	ip netns list 2>/dev/null | grep -F "vmmlab-$1-"
	ls -d "${TMPDIR:-/tmp}"/vmmlab-"$1"-* 2>/dev/null
}

interrupt() {
	local sig=$1 name=lab-$1 pid i ns

	start "$name" bench/lab run "$TMP/long.toml" --out "$TMP/out-$sig" --build "$BUILD"
	pid=$LAST_PID
	wait_for "$TMP/$name.out" '^lab: point 1/1 rep 1/1' 60 || fail "$sig: the run did not start"
	# Wait until the run's source is up (its sockets live in a vmmlab-PID-*
	# temporary directory).
	for ((i = 0; i < 400; i++)); do
		[ "$(ps -eo args= | grep -F "vmmlab-$pid" | grep -vc grep)" -ge 2 ] && break
		sleep 0.05
	done
	[ "$i" -lt 400 ] || fail "$sig: no source and destination processes seen"
	if [ "$link" != loopback ]; then
		[ "$(ip netns list | grep -Fc "vmmlab-$pid-")" -eq 2 ] ||
			fail "$sig: the run's two namespaces do not exist"
		ns=$(ip netns list | grep -F "vmmlab-$pid-" | grep -F -- -src | cut -d' ' -f1)
		ip netns exec "$ns" tc qdisc show dev veth-src | grep -q tbf ||
			fail "$sig: no tbf qdisc on the shaped link"
		note "$sig: 2 namespaces with tbf, $(ps -eo args= | grep -F "vmmlab-$pid" | grep -vc grep) processes"
	fi
	kill "-$sig" "$pid"
	wait_status "$pid" 30 130 "lab after SIG$sig" "$name"
	grep -q "interrupted (SIG$sig)" "$TMP/$name.err" || fail "$sig: no 'interrupted' message"
	sleep 0.2
	if [ -n "$(leftovers "$pid")" ]; then
		leftovers "$pid"
		fail "$sig: the lab left the above behind"
	fi
	note "$sig: nothing left behind"
}

interrupt INT
interrupt TERM
echo "lab interrupt: nothing left behind after SIGINT and SIGTERM ($system, $link)"
