# A destination given --mem makes its VM's shell (the KVM VM, its RAM in
# KVM's memory slots) before a source connects, as QEMU's destination is
# built before it listens: what is left for the migration's path is the
# vCPUs and the devices. Without --mem it makes nothing until the source's
# configuration has passed its check. Either way the guest runs on there,
# to its own verdict; a shell that does not fit the source is refused
# and discarded.
. tests/integration/lib.bash
require_kvm

# kvm_vms PID: how many KVM VMs the process holds (its anon_inode:kvm-vm fds).
kvm_vms() {
	find "/proc/$1/fd" -lname 'anon_inode:kvm-vm' 2>/dev/null | wc -l
}

for mem in "--mem 256M" ""; do
	note "destination ${mem:-without --mem}"
	port=$(free_port)
	# shellcheck disable=SC2086
	start_dest dst "$port" $mem --serial "file:$TMP/dst.log"
	dpid=$LAST_PID
	want=0
	[ -n "$mem" ] && want=1
	[ "$(kvm_vms "$dpid")" -eq "$want" ] ||
		fail "destination ${mem:-without --mem} holds $(kvm_vms "$dpid") KVM VMs while it listens, expected $want"
	run_guest 60 --mem 256M --migrate-to "tcp:127.0.0.1:$port" --migrate-after 300ms \
		"$GUESTS/verify.elf" -- ws=16M rate=1000 duration=2
	expect_status 0 "source after the migration"
	wait_status "$dpid" 30 0 "destination ${mem:-without --mem}" dst
	grep -q "verify: PASS" "$TMP/dst.log" || fail "the guest did not pass on the destination"
	[ "$(grep -c "verify: PASS" "$TMP/dst.log")" -eq 1 ] || fail "more than one verdict"
done

note "a shell of another size: refused, nothing built"
port=$(free_port)
start_dest dst "$port" --mem 128M
dpid=$LAST_PID
[ "$(kvm_vms "$dpid")" -eq 1 ] || fail "no shell while listening"
run_guest 60 --mem 256M --migrate-to "tcp:127.0.0.1:$port" --migrate-after 300ms \
	"$GUESTS/verify.elf" -- ws=16M rate=1000 duration=2
expect_status 0 "source after the refusal"
expect_out "verify: PASS"
expect_err "destination refused: source RAM 256 MiB, this VM 128 MiB"
wait_status "$dpid" 10 1 "refusing destination" dst
echo "incoming_shell: a destination with --mem had its VM's shell before the source connected"
