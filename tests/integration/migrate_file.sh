# Save to a file and restore from it; a damaged file is refused with a
# clear reason and never runs.
. tests/integration/lib.bash
require_kvm
snap=$TMP/vm.snap

note "save a running verify guest"
run_guest 60 --cpus 2 --mem 128M --migrate-to "file:$snap" --migrate-after 1s \
	--stats-json "$TMP/save.json" "$GUESTS/verify.elf" -- ws=16M rate=1000 duration=3
expect_status 0 "save"
[ -s "$snap" ] || fail "no snapshot written"
[ ! -e "$snap.partial" ] || fail "partial file left behind"
grep -q '"status": "completed"' "$TMP/save.json" || fail "save JSON not completed"

note "restore it: the guest runs on and passes"
run_guest 60 --incoming "file:$snap"
expect_status 0 "restore"
expect_out "verify: PASS"

note "a restore with a mismatching --mem is refused"
run_guest 30 --incoming "file:$snap" --mem 256M
expect_status 1 "restore --mem 256M"
expect_err "source RAM 128 MiB, this VM 256 MiB"

note "a flipped byte is caught by the checksum"
size=$(stat -c %s "$snap")
for off in 40 $((size / 2)) $((size - 3)); do
	cp "$snap" "$TMP/bad.snap"
	printf '\x5a' | dd of="$TMP/bad.snap" bs=1 seek=$off conv=notrunc status=none
	cmp -s "$snap" "$TMP/bad.snap" && continue	# the byte was already 0x5a
	run_guest 30 --incoming "file:$TMP/bad.snap"
	expect_status 1 "corrupt at $off"
	expect_err "checksum|bad|malformed"
done

note "a truncated file"
head -c $((size / 3)) "$snap" >"$TMP/short.snap"
run_guest 30 --incoming "file:$TMP/short.snap"
expect_status 1 "truncated"
expect_err "truncated"

note "another stream version"
cp "$snap" "$TMP/v2.snap"
printf '\x02' | dd of="$TMP/v2.snap" bs=1 seek=8 conv=notrunc status=none
run_guest 30 --incoming "file:$TMP/v2.snap"
expect_status 1 "version 2"
expect_err "version"

note "not a stream at all"
run_guest 30 --incoming "file:$GUESTS/hello.elf"
expect_status 1 "not a stream"
expect_err "not a vmm migration stream"

note "save through the monitor; the source stops, the file restores"
start src "$VMM" --mem 64M --monitor "unix:$TMP/m.sock" --serial "file:$TMP/src.serial" \
	"$GUESTS/heartbeat.elf" -- period=50000 duration=3
pid=$LAST_PID
wait_sock "$TMP/m.sock"
sleep 1
mon "$TMP/m.sock" "migrate file:$TMP/mon.snap" | grep -q '^ok$' || fail "migrate file: refused"
wait_exit $pid 30 || fail "source did not stop after saving"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS after saving"
run_guest 60 --incoming "file:$TMP/mon.snap"
expect_status 0 "restore heartbeat"
cp "$TMP/run.out" "$TMP/dst.serial"
ticks_continuous "$TMP/src.serial" "$TMP/dst.serial" || fail "ticks not continuous across save/restore"
echo "migrate_file: saved, restored, damage refused"
