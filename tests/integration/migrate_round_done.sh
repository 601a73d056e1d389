# Stream 3.5: the destination says ROUND_DONE once each pre-copy round is
# in its guest memory, and the source pauses its guest only once the
# rounds before the last are done there (what the destination had still to
# read, a backlog round 0's first touches of fresh memory build, was read
# inside the downtime before: 4-5 ms of a 5 ms downtime on loopback at
# 1 K pages/s). The source's statistics say how many rounds were applied
# at the pause. Through a proxy: a return path held back makes the source
# wait no longer than its bound and still complete; one that leaves out a
# ROUND_DONE fails the migration with the reason, and the guest runs on at
# the source.
. tests/integration/lib.bash
require_kvm
require_cmd socat
PROXY=tests/integration/switch_proxy.py
n=0

# start_pair: a memtouch source with a monitor and a destination.
start_pair() {
	n=$((n + 1))
	sock=$TMP/src$n.sock
	start src$n "$VMM" --mem 256M --serial "file:$TMP/src$n.ser" --monitor "unix:$sock" \
		--stats-json "$TMP/src$n.json" "$GUESTS/memtouch.elf" -- rate=1000 ws=64M
	spid=$LAST_PID
	wait_sock "$sock"
	wait_for "$TMP/src$n.ser" 'memtouch' 20 || fail "memtouch did not start"
	dport=$(free_port)
	start_dest dst$n "$dport" --serial "file:$TMP/dst$n.ser"
	dpid=$LAST_PID
}

# through_proxy ACTION: the migration through switch_proxy.py doing
# ACTION to the ROUND_DONE sections.
through_proxy() {
	local pport; pport=$(free_port)
	start proxy$n python3 "$PROXY" "$pport" "$dport" "$1" ROUND_DONE "$TMP/proxy$n.log"
	ppid=$LAST_PID
	wait_for "$TMP/proxy$n.log" '^listening' 10 || fail "proxy did not listen"
	mon_check "$sock" "migrate tcp:127.0.0.1:$pport" '^ok$'
}

# rounds_at_pause FILE: "applied pre-copy" from the source's statistics.
rounds_at_pause() {
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))
print(s.get("rounds_applied_at_pause"), s["round_count"] - 1)' "$1"
}

# Straight: every pre-copy round applied before the pause.
start_pair
mon_check "$sock" "migrate tcp:127.0.0.1:$dport" '^ok$'
wait_status "$spid" 60 0 "source" src$n
wait_for "$TMP/dst$n.err" "the guest runs here" 10 || fail "the destination does not run the guest"
read -r applied precopy < <(rounds_at_pause "$TMP/src$n.json")
note "straight: $applied of $precopy pre-copy rounds applied at the pause"
[ "$applied" = "$precopy" ] || fail "$applied of $precopy pre-copy rounds applied at the pause"
kill "$dpid"; wait "$dpid" 2>/dev/null

# The return path held back 3 s at the first ROUND_DONE: the source waits
# at most downtime-limit (300 ms) before the pause, then completes.
start_pair
through_proxy delay:3
wait_status "$spid" 60 0 "source (held back)" src$n
read -r applied precopy < <(rounds_at_pause "$TMP/src$n.json")
waited=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["link_drain_us"])' "$TMP/src$n.json")
note "held back: $applied of $precopy rounds applied at the pause, waited $waited us"
[ "$applied" -lt "$precopy" ] || fail "held back, yet every round was applied at the pause"
[ "$waited" -lt 1500000 ] || fail "the source waited $waited us for a held-back return path"
kill "$dpid" "$ppid" 2>/dev/null; wait "$dpid" "$ppid" 2>/dev/null

# The first ROUND_DONE left out: the next says round 1 where round 0 was
# due. The source fails the migration, says why, and its guest runs on.
start_pair
through_proxy omit:0
mon_wait "$sock" "status: (completed|failed)" 60 || fail "omitted: the migration did not end"
mon_check "$sock" "info migrate" "destination says round 1 is done; 0 rounds were done before"
mon_check "$sock" "info status" "running"
wait_status "$dpid" 30 1 "destination (omitted)" dst$n
kill "$spid" "$ppid" 2>/dev/null; wait "$spid" "$ppid" 2>/dev/null
echo "round done: applied before the pause; a held-back return path bounded; a missing ROUND_DONE refused"
