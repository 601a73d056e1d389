# dirty-limit: with the dirty ring, a 2-vCPU guest whose vCPU 0 rewrites
# its working set faster than a throttled link carries it and whose vCPU 1
# computes without writing. Once auto-converge's trigger fires, each vCPU
# is throttled by its own dirty rate: vCPU 0 is, vCPU 1 never is, and
# every throttle is lifted at the end. Whether vCPU 0's throttle makes the
# set fit depends on how cheap this host's write faults are (a guest that
# rewrites a small set touches all of it in one slice of a 99 % throttle
# where faults cost ~1 us), so the stall rule stops and copies here, and
# bench/ measures convergence. Without the ring the capability is
# refused, naming the option; beside auto-converge too. A destination
# waiting for its guest takes it by the ring it was started with.
# exclusive: the throttle engages only on a vCPU that reaches its dirty rate.
. tests/integration/lib.bash
require_kvm

note "refused without the dirty ring, and beside auto-converge"
start plain "$VMM" --mem 32M --monitor "unix:$TMP/plain.sock" --serial none "$GUESTS/idle.elf"
wait_sock "$TMP/plain.sock"
mon "$TMP/plain.sock" "migrate_set_capability dirty-limit on" |
	grep -q "^error: dirty-limit needs the dirty ring: start vmm with --dirty-ring" ||
	fail "dirty-limit accepted without the ring"
mon "$TMP/plain.sock" quit >/dev/null
# A destination started with the ring accepts it before its guest has
# arrived (it is for later migrations out of there), one without refuses.
port=$(free_port)
start_dest ringdst "$port" --dirty-ring 4096 --monitor "unix:$TMP/ringdst.sock"
wait_sock "$TMP/ringdst.sock"
out=$(mon "$TMP/ringdst.sock" "migrate_set_capability dirty-limit on")
[ "$out" = ok ] || fail "a waiting destination with --dirty-ring refused dirty-limit: $out"
mon "$TMP/ringdst.sock" quit >/dev/null
port=$(free_port)
start_dest plaindst "$port" --monitor "unix:$TMP/plaindst.sock"
wait_sock "$TMP/plaindst.sock"
mon "$TMP/plaindst.sock" "migrate_set_capability dirty-limit on" |
	grep -q "^error: dirty-limit needs the dirty ring" || fail "a waiting destination without the ring accepted dirty-limit"
mon "$TMP/plaindst.sock" quit >/dev/null

start src "$VMM" --mem 64M --cpus 2 --dirty-ring 65536 --monitor "unix:$TMP/src.sock" \
	--stats-json "$TMP/src.json" "$GUESTS/memtouch.elf" -- writers=1 ws=8M rate=20000
spid=$LAST_PID
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "memtouch: t=.* cpu=1 loops=" 20 || fail "guest did not start"
mon "$TMP/src.sock" "migrate_set_capability auto-converge on" | grep -q '^ok$' || fail "auto-converge"
mon "$TMP/src.sock" "migrate_set_capability dirty-limit on" |
	grep -q "^error: auto-converge and dirty-limit cannot both be on" || fail "the pair accepted"
mon "$TMP/src.sock" "migrate_set_capability auto-converge off" | grep -q '^ok$' || fail "off"
mon "$TMP/src.sock" "migrate_set_capability dirty-limit on" | grep -q '^ok$' || fail "dirty-limit"
# 8 MiB rewritten at 20000 pages/s against 8 MiB/s (2048 pages/s): the
# trigger fires after two periods of more dirtied than sent; 1 MB/s is 256
# pages/s per vCPU, far under vCPU 0's rate and far over vCPU 1's.
for p in "max-bandwidth 8M" "downtime-limit 0" "min-dirty-pages 256" "no-progress-rounds 6" \
	"stall-action stop-copy" "vcpu-dirty-limit 1" "x-vcpu-dirty-limit-period 200"; do
	mon "$TMP/src.sock" "migrate_set_parameter $p" | grep -q '^ok$' || fail "set $p"
done

note "dirty-limit: vCPU 0 throttled, vCPU 1 free, throttles lifted"
port=$(free_port)
start_dest dst "$port" --monitor "unix:$TMP/dst.sock"
dpid=$LAST_PID
mon "$TMP/src.sock" "migrate tcp:127.0.0.1:$port" | grep -q '^ok$' || fail "migrate not accepted"
wait_status "$spid" 120 0 "source after a dirty-limited migration" src
read -r active t0 t1 pcts < <(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["dirty_limit_active"], *s["vcpu_throttled_us"], ",".join(map(str, s["vcpu_throttle_pct"])))' \
	"$TMP/src.json") || fail "no statistics"
[ "$active" = True ] || fail "dirty-limit never started"
[ "$t0" -gt 0 ] || fail "vCPU 0 was never throttled"
[ "$t1" = 0 ] || fail "the computing vCPU 1 was throttled for $t1 us"
[ "$pcts" = 0,0 ] || fail "a throttle was left on: $pcts"
wait_for "$TMP/dst.out" "cpu=1 loops=" 20 || fail "guest not running on the destination"
mon "$TMP/dst.sock" quit >/dev/null
wait_exit "$dpid" 10 || fail "destination did not quit"
echo "migrate_dirty_limit: vCPU 0 throttled ${t0} us, vCPU 1 never; throttles lifted"
