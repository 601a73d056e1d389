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

note "a file whose RAM is past --max-mem is refused before its tables are read"
run_guest 30 --incoming "file:$snap" --max-mem 64M
expect_status 1 "restore --max-mem 64M"
expect_err "saved file: RAM 128 MiB is more than this destination takes: 64 MiB"

note "every damaged byte is refused with a reason, and nothing runs"
# A small file with every section type (an unstarted 2-vCPU guest in
# 16 MiB: 13 sections, 80 KiB), so that each damaged copy is quick to
# refuse. Undamaged, it restores and the guest runs and passes.
small=$TMP/small.snap
run_guest 30 --paused --cpus 2 --mem 16M --migrate-to "file:$small" \
	"$GUESTS/verify.elf" -- ws=4M duration=1
expect_status 0 "save an unstarted guest"
run_guest 30 --incoming "file:$small"
expect_status 0 "restore the unstarted guest"
expect_out "verify: PASS"
# Offsets to damage (FORMAT.md, "Saved file"): in the header, every
# field and a reserved byte and its checksum; the first byte of the bitmap
# and of the page checksum table; a byte of the first page in the RAM
# region; in the state stream after it, the preamble's magic, version and
# flags and, in every section, its type, reserved field, the low and high
# bytes of its length, the first byte of its CRC, and the first, middle
# and last byte of its payload.
offsets=$(python3 - "$small" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
if data[:8] != b"LMIGMAP\n":
    sys.exit("not a saved file with pages at fixed offsets")
(bitmap, _, crcs, _, ram, _, stream, stream_len) = struct.unpack_from("<8Q", data, 40)
first = next(i * 8 + b for i, byte in enumerate(data[bitmap:crcs]) if byte
             for b in range(8) if byte >> b & 1)
offs = [0, 8, 10, 12, 16, 20, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 108, 112, 2000,
        4092, bitmap, crcs, ram + first * 4096 + 100, stream, stream + 8, stream + 12]
types = []
off = stream + 16
while off < len(data):
    kind, _, length = struct.unpack_from("<IIQ", data, off)
    types.append(kind)
    offs += [off, off + 4, off + 8, off + 15, off + 16 + length]
    if length:
        offs += [off + 16, off + 16 + length // 2, off + 15 + length]
    off += 16 + length + 4
if off != len(data) or stream + stream_len != len(data) or types[0] != 0x001 or types[-1] != 0x007:
    sys.exit("not CONFIG ... END, ending at the end of the file")
if 0x002 in types:
    sys.exit("a RAM section in the state stream")
print(" ".join(map(str, sorted(set(offs)))))
PY
) || fail "cannot walk the sections of $small"
n=0
for off in $offsets; do
	cp "$small" "$TMP/bad.snap"
	# XOR with 0xff: the byte always changes, whatever it held.
	byte=$(od -An -tu1 -j "$off" -N 1 "$small")
	printf "\\x$(printf %02x $((byte ^ 0xff)))" |
		dd of="$TMP/bad.snap" bs=1 seek="$off" conv=notrunc status=none
	[ "$(cmp -l "$small" "$TMP/bad.snap" | wc -l)" -eq 1 ] || fail "damage at $off did not change one byte"
	run_guest 30 --incoming "file:$TMP/bad.snap"
	expect_status 1 "damaged at offset $off"
	expect_err "^vmm: error: .*(magic|version|flags|section|checksum|truncated|torn|RAM batch|saved file)"
	[ ! -s "$TMP/run.out" ] || fail "the guest ran from a file damaged at offset $off"
	grep -q "the guest runs here" "$TMP/run.err" && fail "a file damaged at offset $off was loaded"
	n=$((n + 1))
done
note "$n damaged files refused"

note "a file in the sequential stream (as saves were before pages at fixed offsets) restores"
python3 tests/integration/stream_edit.py "$small" "$TMP/seq.snap" sequential ||
	fail "cannot rewrite $small as a sequential stream"
head -c 8 "$TMP/seq.snap" | grep -q "LMIG" && ! head -c 8 "$TMP/seq.snap" | grep -q "LMIGMAP" ||
	fail "the rewritten file does not start with the stream's preamble"
run_guest 30 --incoming "file:$TMP/seq.snap"
expect_status 0 "restore the sequential stream"
expect_out "verify: PASS"

note "a truncated file"
size=$(stat -c %s "$snap")
head -c $((size / 3)) "$snap" >"$TMP/short.snap"
run_guest 30 --incoming "file:$TMP/short.snap"
expect_status 1 "truncated"
expect_err "truncated"

note "another file version (2.0), another stream version: 2.0 (pages copied and checksummed with their section) and 4.0"
cp "$snap" "$TMP/f2.snap"
printf '\x02' | dd of="$TMP/f2.snap" bs=1 seek=8 conv=notrunc status=none
run_guest 30 --incoming "file:$TMP/f2.snap"
expect_status 1 "file version 2"
expect_err "saved file version 2.0, this vmm reads 1.0 to 1.0"
# The state stream begins where the header's stream_offset says.
stream=$(od -An -tu8 -j 88 -N 8 "$snap" | tr -d ' ')
cp "$snap" "$TMP/v2.snap"
printf '\x02\x00\x00\x00' | dd of="$TMP/v2.snap" bs=1 seek=$((stream + 8)) conv=notrunc status=none
run_guest 30 --incoming "file:$TMP/v2.snap"
expect_status 1 "version 2"
expect_err "stream version 2.0, this vmm reads 3.x"
cp "$snap" "$TMP/v4.snap"
printf '\x04\x00\x00\x00' | dd of="$TMP/v4.snap" bs=1 seek=$((stream + 8)) conv=notrunc status=none
run_guest 30 --incoming "file:$TMP/v4.snap"
expect_status 1 "version 4"
expect_err "stream version 4.0, this vmm reads 3.x"

note "not a stream at all"
run_guest 30 --incoming "file:$GUESTS/hello.elf"
expect_status 1 "not a stream"
expect_err "not a vmm migration stream"

note "save through the monitor; the source stops, the file restores"
start src "$VMM" --mem 64M --monitor "unix:$TMP/m.sock" --serial "file:$TMP/src.serial" \
	"$GUESTS/heartbeat.elf" -- period=50000 duration=3
pid=$LAST_PID
wait_sock "$TMP/m.sock"
# Save a guest that has been ticking, so that the ticks must continue
# across the file.
wait_for "$TMP/src.serial" "^tick 10 " 20 || fail "the heartbeat never ticked"
mon "$TMP/m.sock" "migrate file:$TMP/mon.snap" | grep -q '^ok$' || fail "migrate file: refused"
wait_exit $pid 30 || fail "source did not stop after saving"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS after saving"
run_guest 60 --incoming "file:$TMP/mon.snap"
expect_status 0 "restore heartbeat"
cp "$TMP/run.out" "$TMP/dst.serial"
ticks_continuous "$TMP/src.serial" "$TMP/dst.serial" || fail "ticks not continuous across save/restore"
note "a save cancelled while its RAM is written: no file, the guest runs on"
# VMM_TEST_SAVE_HOLD holds the save after its first write until the cancel.
start csrc env VMM_TEST_SAVE_HOLD=1 "$VMM" --mem 64M --monitor "unix:$TMP/c.sock" \
	--serial "file:$TMP/csrc.serial" "$GUESTS/verify.elf" -- ws=16M rate=1000 duration=4
pid=$LAST_PID
wait_sock "$TMP/c.sock"
mon "$TMP/c.sock" "migrate file:$TMP/c.snap" | grep -q '^ok$' || fail "migrate file: refused"
wait_for "$TMP/csrc.err" "VMM_TEST_SAVE_HOLD: holding" 20 || fail "the save never began"
[ -e "$TMP/c.snap.partial" ] || fail "no partial file while saving"
mon "$TMP/c.sock" migrate_cancel | grep -q '^ok$' || fail "cancel refused"
mon_wait "$TMP/c.sock" "status: cancelled" 20 || fail "the save was not cancelled"
[ ! -e "$TMP/c.snap" ] && [ ! -e "$TMP/c.snap.partial" ] || fail "a cancelled save left a file"
wait_exit $pid 30 || fail "the guest did not end after its run"
[ "$EXIT_STATUS" -eq 0 ] || fail "source exit $EXIT_STATUS after a cancelled save"
grep -q "verify: PASS" "$TMP/csrc.serial" || fail "the guest did not pass after the cancel"

note "the saved file: pages at fixed offsets, bounded by RAM, holes where nothing was"
head -c 8 "$snap" | grep -q "LMIGMAP" || fail "not a saved file with pages at fixed offsets"
size=$(stat -c %s "$snap")
alloc=$(($(stat -c %b "$snap") * $(stat -c %B "$snap")))
[ "$size" -le $(((128 + 2) << 20)) ] || fail "file of $size bytes for 128 MiB of RAM"
[ "$alloc" -lt $((64 << 20)) ] || fail "$alloc bytes allocated: the untouched RAM was written"
echo "migrate_file: saved, restored, damage refused, cancel kept the guest"
