# A destination refuses a stream that is well framed, every checksum right,
# but incomplete or inconsistent: a round's end left out, one device's
# state twice and another's missing, bytes after a vCPU's or the VM's
# state, a device name that would drive the terminal. It names the
# problem, prints nothing raw from the stream, and never runs the guest.
. tests/integration/lib.bash
require_kvm
snap=$TMP/vm.snap
edit() {	# edit OUT EDIT...: a copy of the snapshot, rewritten
	local out=$1; shift
	python3 tests/integration/stream_edit.py "$snap" "$out" "$@" || fail "stream_edit $*"
}
refused() {	# refused FILE REGEX
	run_guest 30 --incoming "file:$1"
	expect_status 1 "restore of $(basename "$1")"
	expect_err "$2"
	! grep -q $'\x1b' "$TMP/run.err" || fail "an escape character reached the terminal"
	! grep -q "verify:" "$TMP/run.out" || fail "the guest ran from $(basename "$1")"
}

note "save a verify guest with 2 vCPUs"
run_guest 60 --cpus 2 --mem 64M --migrate-to "file:$snap" \
	"$GUESTS/verify.elf" -- ws=8M duration=2
expect_status 0 "save"

note "the snapshot, rewritten without an edit, still restores"
edit "$TMP/same.snap"
cmp -s "$snap" "$TMP/same.snap" || fail "stream_edit does not copy faithfully"
run_guest 60 --incoming "file:$TMP/same.snap"
expect_status 0 "restore"
expect_out "verify: PASS"

note "the round's ROUND_END left out (a saved file's RAM is in its RAM region)"
edit "$TMP/noround.snap" drop:ROUND_END:0
refused "$TMP/noround.snap" "END before any ROUND_END"

note "the UART's state twice, fw_cfg's not at all"
edit "$TMP/dev.snap" copy:DEVICE:2:0
refused "$TMP/dev.snap" "device uart16550@0x3f8: state sent twice"

note "a device's state left out"
edit "$TMP/nodev.snap" drop:DEVICE:2
refused "$TMP/nodev.snap" "stream ended without device fw_cfg's state"

note "bytes after a vCPU's and after the VM's state"
edit "$TMP/vcpu.snap" append:VCPU:1:000000
refused "$TMP/vcpu.snap" "VCPU section for vCPU 1: 3 bytes after the state"
edit "$TMP/vm.snap2" append:VM_STATE:0:00
refused "$TMP/vm.snap2" "VM_STATE section: 1 bytes after the state"

note "a device name with a terminal escape is shown escaped"
edit "$TMP/name.snap" rename:DEVICE:0:1b5b324a6576696c
refused "$TMP/name.snap" 'state for device \\x1b\[2Jevil, which CONFIG did not announce'
echo "migrate_stream_strict: every inconsistent stream refused by name"
