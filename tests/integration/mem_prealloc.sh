# --mem-prealloc: all of guest RAM allocated when it is made, not at the
# first touch. A booting VM holds its RAM resident from the start; a
# destination makes and allocates it before it listens (so it needs
# --mem), receives a migration into it with every page intact, and
# refuses a stream whose RAM differs from it, as --mem always did.
. tests/integration/lib.bash
require_kvm
require_cmd socat

# rss_mib PID: resident memory of a process, MiB.
rss_mib() {
	awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$1/status"
}

note "a destination with --mem-prealloc but no --mem is refused"
run_guest 20 --incoming "tcp:127.0.0.1:$(free_port)" --mem-prealloc
expect_status 1 "--mem-prealloc --incoming without --mem"
expect_err "mem-prealloc with --incoming needs --mem"

note "a booting guest: its 128 MiB resident from the start"
start idle "$VMM" --mem 128M --mem-prealloc --serial "file:$TMP/idle.ser" \
	--monitor "unix:$TMP/idle.sock" "$GUESTS/idle.elf"
ipid=$LAST_PID
wait_sock "$TMP/idle.sock"
rss=$(rss_mib "$ipid")
note "   resident: $rss MiB"
[ "$rss" -ge 128 ] || fail "an idle guest with --mem-prealloc holds $rss MiB, not its 128"
mon_check "$TMP/idle.sock" "quit" ""
wait_status "$ipid" 20 0 "idle guest" idle

note "a destination: RAM allocated before it listens, a migration into it"
port=$(free_port)
start_dest dst "$port" --mem 256M --mem-prealloc --serial "file:$TMP/dst.ser"
dpid=$LAST_PID
grep -q "preallocated 256 MiB of guest RAM" "$TMP/dst.err" || fail "no preallocation line"
before=$(rss_mib "$dpid")
note "   destination resident before the migration: $before MiB"
[ "$before" -ge 256 ] || fail "the destination holds $before MiB before the migration, not 256"
start src "$VMM" --mem 256M --serial "file:$TMP/src.ser" --monitor "unix:$TMP/src.sock" \
	"$GUESTS/verify.elf" -- ws=128M rate=2000 duration=4 tally=1
spid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.ser" "verify: t=1" 20 || fail "verify did not start"
mon_check "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" "^ok"
wait_status "$spid" 60 0 "source" src
# The VM took the preallocated RAM: the guest's 128 MiB working set
# landed in it, not in new RAM beside it.
rss=$(rss_mib "$dpid")
note "   destination resident with the guest running there: $rss MiB"
[ $((rss - before)) -lt 64 ] ||
	fail "the destination grew from $before to $rss MiB: its VM made new RAM beside the preallocated"
wait_status "$dpid" 60 0 "destination" dst
grep -q "verify: PASS" "$TMP/dst.ser" || fail "verify did not pass on the preallocated destination"

note "a preallocated destination of another size refuses the stream"
port=$(free_port)
start_dest dst2 "$port" --mem 128M --mem-prealloc --serial "file:$TMP/dst2.ser"
d2pid=$LAST_PID
start src2 "$VMM" --mem 256M --serial "file:$TMP/src2.ser" --monitor "unix:$TMP/src2.sock" \
	"$GUESTS/idle.elf"
s2pid=$LAST_PID
wait_sock "$TMP/src2.sock"
mon "$TMP/src2.sock" "migrate tcp:127.0.0.1:$port" >/dev/null
wait_status "$d2pid" 30 1 "destination of 128 MiB" dst2
grep -q "source RAM 256 MiB, this VM 128 MiB" "$TMP/dst2.err" || fail "the refusal does not say why: $(tail -2 "$TMP/dst2.err")"
mon_wait "$TMP/src2.sock" "failed" 30 || fail "the source did not report the failure"
mon_check "$TMP/src2.sock" "quit" ""
wait_status "$s2pid" 20 0 "source after the refusal" src2
echo "mem_prealloc: RAM resident from the start, a migration into it intact, a wrong size refused"
