# The engine's per-round dirty rate against the rate the guest was asked
# for and the rate it reports achieving. memtouch writes one word per page
# sequentially over a 256 MiB working set at RATE pages/s; the migration
# is throttled (max-bandwidth = 2 x RATE x 4108 bytes: a page and its
# entry) so each round lasts about half the one before, starting near a
# second, and the working set is never wrapped within a round (RATE x
# round < 65536 pages): every page written in a round is a distinct page,
# so the count the dirty log gives, over the round's length, is the rate.
#
# Rounds shorter than MIN_ROUND_US, or expected to hold fewer than
# MIN_PAGES pages, are not counted: a round's rate is a count over an
# interval, and its edges are off by up to the guest's batch (memtouch
# writes in bursts a millisecond apart), the few pages of the guest's own
# bookkeeping (stack, counters), and the time between a round's start and
# the log read that opened it; over 400 pages and 200 ms that stays under
# 2%, over 50 pages and 20 ms it would not.
# exclusive: each round's dirty rate is checked within a tolerance of the guest's.
. tests/integration/lib.bash
require_kvm
require_cmd socat

MIN_ROUND_US=200000
MIN_PAGES=400
SOCK=$TMP/mon.sock

measure_rate() {	# measure_rate RATE
	local rate=$1 port bw
	port=$(free_port)
	bw=$((2 * rate * 4108))
	start_dest dst "$port"
	local dpid=$LAST_PID
	rm -f "$SOCK"
	start src "$VMM" --mem 512M --serial "file:$TMP/src.log" --monitor "unix:$SOCK" \
		--stats-json "$TMP/src.json" "$GUESTS/memtouch.elf" -- rate="$rate" ws=256M prefill=0
	local spid=$LAST_PID
	wait_sock "$SOCK"
	wait_for "$TMP/src.log" "memtouch: t=1" 20 || fail "memtouch did not start"
	local p
	for p in "max-bandwidth $bw" "max-iterations 5" "downtime-limit 0" \
		"no-progress-rounds 0" "max-sent-factor 0"; do
		mon_check "$SOCK" "migrate_set_parameter $p" "^ok"
	done
	mon_check "$SOCK" "migrate tcp:127.0.0.1:$port" "^ok"
	wait_status "$spid" 120 0 "source (rate $rate)" src
	kill "$dpid" 2>/dev/null
	python3 - "$TMP/src.json" "$TMP/src.log" "$rate" "$MIN_ROUND_US" "$MIN_PAGES" <<'PY' ||
import json, re, sys
js, log, rate, min_us, min_pages = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
st = json.load(open(js))
achieved = [int(m.group(1)) for m in re.finditer(r"memtouch: t=\S+ cpu=0 pages=\d+ rate=(\d+)", open(log).read())]
# the first report covers the start (prefill off, but page tables warm up)
achieved = achieved[1:] or achieved
ach = sum(achieved) / len(achieved)
counted, bad = 0, []
for r in st["rounds"]:
    d, dr = r["duration_us"], r["dirty_rate_pps"]
    if dr is None or d < min_us or rate * d / 1e6 < min_pages or r["index"] == st["round_count"] - 1:
        note = "not counted"
    else:
        counted += 1
        err_req, err_ach = (dr - rate) / rate, (dr - ach) / ach
        note = f"{err_req * 100:+.2f}% of requested, {err_ach * 100:+.2f}% of achieved"
        if abs(err_req) > 0.05 or abs(err_ach) > 0.05:
            bad.append(f"round {r['index']}: {dr:.0f} pages/s")
    print(f"   round {r['index']}: {d / 1000:8.1f} ms, dirty rate "
          f"{'-' if dr is None else f'{dr:.0f}'} pages/s; {note}")
print(f"-- rate {rate}: memtouch achieved {ach:.0f} pages/s; {counted} rounds counted")
if counted < 2:
    sys.exit("fewer than 2 rounds long enough to count")
if bad:
    sys.exit("dirty rate off by more than 5%: " + "; ".join(bad))
PY
	fail "rate $rate: the engine's dirty rate"
}

measure_rate 2000
measure_rate 10000
measure_rate 30000
echo "measure_dirty_rate: the reported dirty rate is within 5% of the guest's"
