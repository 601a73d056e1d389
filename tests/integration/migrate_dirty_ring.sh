# The dirty ring (--dirty-ring): what only the ring has (the other
# migration tests rerun with the ring in migrate_dirty_ring_rerun.sh):
# bad sizes refused, ring-full exits under a
# fast writer with the guest's memory still intact, vCPUs waiting for a
# harvest that never comes (a stopped destination) released by a pause, a
# cancel and quit, and per-vCPU rates from calc-dirty-rate in mode
# dirty-ring.
# exclusive: the vCPUs' rates under calc-dirty-rate and vmm's CPU use while
# they wait are checked against tolerances another test's load would break.
. tests/integration/lib.bash
require_kvm
require_cmd socat
require_cmd python3

# 1024 entries clear KVM's reserve on every host (with Intel's PML too).
RING=1024

note "bad --dirty-ring values are refused, saying what would work"
for bad in 100 1000 255 $((1 << 30)) abc -1; do
	run_guest 20 --dirty-ring "$bad" "$GUESTS/hello.elf"
	expect_status 1 "--dirty-ring $bad"
	expect_err "dirty-ring"
	expect_err "power of two|a number of entries"
done
run_guest 20 --dirty-ring 100 --incoming "tcp:127.0.0.1:$(free_port)"
expect_status 1 "--dirty-ring 100 on a destination"
expect_err "power of two entries from 256"
run_guest 20 --dirty-ring 0 "$GUESTS/hello.elf"
expect_status 0 "--dirty-ring 0 (the bitmap)"

note "a fast writer fills a small ring: vCPUs wait for harvests, memory stays intact"
port=$(free_port)
start_dest dst "$port" --dirty-ring "$RING"
dpid=$LAST_PID
start src "$VMM" --dirty-ring "$RING" --cpus 2 --mem 256M --serial "file:$TMP/src.log" \
	--migrate-to "tcp:127.0.0.1:$port" --migrate-after 1s --stats-json "$TMP/src.json" \
	"$GUESTS/verify.elf" -- ws=64M rate=200000 duration=4
spid=$LAST_PID
wait_status "$spid" 60 0 "source" src
wait_status "$dpid" 60 0 "the guest's verdict on the destination" dst
grep -q "verify: PASS" "$TMP/dst.out" || fail "verify did not pass after ring-full exits"
python3 - "$TMP/src.json" <<'PY' || fail "ring statistics"
import json, sys
st = json.load(open(sys.argv[1]))
rounds = st["rounds"]
exits = sum(r["ring_full_exits"] for r in rounds)
wait_us = sum(r["ring_wait_us"] for r in rounds)
print(f"   {len(rounds)} rounds, {exits} ring-full exits, vCPUs waited {wait_us / 1000:.1f} ms")
assert st["dirty_log_mode"] == "ring", st["dirty_log_mode"]
assert exits > 0, "no ring-full exit"
assert all(len(r["vcpu_dirty_pages"]) == 2 for r in rounds), "a round without 2 vCPU counts"
# Round 0 is found by no read; every later round's pages came from some vCPU.
assert all(sum(r["vcpu_dirty_pages"]) >= r["dirty_pages"] - 64 for r in rounds[1:]), \
    "per-vCPU counts miss pages the round sent"
PY

note "vCPUs waiting for a harvest: no spinning, and stop, cont, migrate_cancel and quit all work"
cpu_ticks() {	# user + system clock ticks of process $1
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
port=$(free_port)
start_dest dst2 "$port"
d2pid=$LAST_PID
start src2 "$VMM" --dirty-ring "$RING" --cpus 2 --mem 256M --serial "file:$TMP/src2.log" \
	--monitor "unix:$TMP/src2.sock" "$GUESTS/verify.elf" -- ws=64M rate=200000 report=1
s2pid=$LAST_PID
wait_sock "$TMP/src2.sock"
wait_for "$TMP/src2.log" "verify: t=" 20 || fail "verify did not start"
# Slow enough to be seen active and then blocked: unthrottled, this guest
# can converge in about 100 ms, before the first 'info migrate' (CI saw
# the second migration complete, and the source end, that way).
mon_check "$TMP/src2.sock" "migrate_set_parameter max-bandwidth 8M" "^ok"
mon_check "$TMP/src2.sock" "migrate tcp:127.0.0.1:$port" "^ok"
mon_wait "$TMP/src2.sock" "status: active" 20 || fail "the migration did not start"
# A destination that reads nothing: the migration thread blocks in a
# send, so nobody harvests, and the vCPUs fill their rings and wait.
kill -STOP "$d2pid"
sleep 2
n=$(grep -c "verify: t=" "$TMP/src2.log")
t0=$(cpu_ticks "$s2pid")
sleep 2
t1=$(cpu_ticks "$s2pid")
[ "$(grep -c "verify: t=" "$TMP/src2.log")" -eq "$n" ] || fail "the guest ran on without a harvest"
hz=$(getconf CLK_TCK)
[ $((t1 - t0)) -lt $((hz / 2)) ] || fail "vmm used $((t1 - t0)) ticks in 2 s while its vCPUs waited"
mon_check "$TMP/src2.sock" "stop" "^ok"
mon_check "$TMP/src2.sock" "info status" "paused"
mon_check "$TMP/src2.sock" "cont" "^ok"
mon_check "$TMP/src2.sock" "migrate_cancel" "^ok"
mon_wait "$TMP/src2.sock" "status: cancelled" 20 || fail "the migration was not cancelled"
# Tracking stopped: the waiters went on, and the guest runs again.
wait_count "$TMP/src2.log" "verify: t=" "$n" 20 || fail "the guest did not run again after the cancel"
kill -KILL "$d2pid"
wait "$d2pid" 2>/dev/null
port=$(free_port)
start_dest dst3 "$port"
d3pid=$LAST_PID
mon_check "$TMP/src2.sock" "migrate tcp:127.0.0.1:$port" "^ok"
mon_wait "$TMP/src2.sock" "status: active" 20 || fail "the second migration did not start"
kill -STOP "$d3pid"
sleep 2
mon "$TMP/src2.sock" "quit" >/dev/null
wait_status "$s2pid" 20 0 "quit while vCPUs wait for a harvest" src2
kill -KILL "$d3pid"
wait "$d3pid" 2>/dev/null
grep -q "FAIL" "$TMP/src2.log" && fail "verify found corruption"

note "calc-dirty-rate mode dirty-ring: one rate per vCPU"
start vm "$VMM" --dirty-ring 4096 --cpus 2 --mem 512M --serial "file:$TMP/vm.log" \
	--qmp "unix:$TMP/vm.qmp" --monitor "unix:$TMP/vm.sock" \
	"$GUESTS/memtouch.elf" -- rate=10000 ws=256M prefill=0
vpid=$LAST_PID
wait_sock "$TMP/vm.qmp"
wait_for "$TMP/vm.log" "memtouch: t=1" 20 || fail "memtouch did not start"
python3 - "$TMP/vm.qmp" <<'PY' || fail "per-vCPU dirty rates"
import sys, time
sys.path.insert(0, "bench")
from qmp import QMP
with QMP(sys.argv[1]) as q:
    q.command("calc-dirty-rate", {"calc-time": 2, "mode": "dirty-ring"})
    deadline = time.monotonic() + 15
    while True:
        r = q.command("query-dirty-rate")
        if r["status"] == "measured" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
print("   " + str({k: r.get(k) for k in ("status", "mode", "dirty-rate", "vcpu-dirty-rate")}))
assert r["status"] == "measured" and r["mode"] == "dirty-ring", r
v = r["vcpu-dirty-rate"]
assert [x["id"] for x in v] == [0, 1], v
# memtouch gives each vCPU half of 10000 pages/s: 19.5 MB/s each.
assert all(16 <= x["dirty-rate"] <= 23 for x in v), v
PY
mon_check "$TMP/vm.sock" "calc-dirty-rate 1" "^measuring"
sleep 2
mon_check "$TMP/vm.sock" "info dirty-rate" "^vCPU 1: [0-9]+ pages"
kill "$vpid"
wait "$vpid" 2>/dev/null

note "mode dirty-ring without --dirty-ring is refused, naming the option"
start plain "$VMM" --qmp "unix:$TMP/plain.qmp" --serial none "$GUESTS/idle.elf"
ppid=$LAST_PID
wait_sock "$TMP/plain.qmp"
python3 - "$TMP/plain.qmp" <<'PY' || fail "dirty-ring refused without the ring"
import sys
sys.path.insert(0, "bench")
from qmp import QMP, QMPError
with QMP(sys.argv[1]) as q:
    try:
        q.command("calc-dirty-rate", {"calc-time": 1, "mode": "dirty-ring"})
        sys.exit("accepted")
    except QMPError as e:
        print("   refused: " + e.desc)
        assert "--dirty-ring" in e.desc, e.desc
PY
kill "$ppid"
wait "$ppid" 2>/dev/null
echo "migrate_dirty_ring: ring-full exits, bad sizes and per-vCPU rates checked"
