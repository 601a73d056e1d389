# `forecast` before anything is sent (monitor and QMP x-vmm-forecast): it
# refuses without a link rate, fits the working set of a memtouch guest
# that rewrites 4 MiB (1024 pages) at random, predicts a convergence on a
# fast link and "will not converge" on a slow one, and sends nothing.
# exclusive: the forecast's rounds and working set follow the measured rates.
. tests/integration/lib.bash
require_kvm

start src "$VMM" --mem 64M --monitor "unix:$TMP/src.sock" --qmp "unix:$TMP/src.qmp" \
	"$GUESTS/memtouch.elf" -- ws=4M rate=20000 pattern=random report=1
wait_sock "$TMP/src.sock"
wait_for "$TMP/src.out" "memtouch: t=" 20 || fail "guest did not start"

out=$(mon "$TMP/src.sock" "forecast 1")
grep -q "no link rate known.*give one" <<<"$out" || { echo "$out"; fail "no refusal without a link"; }
mon "$TMP/src.sock" "forecast 1 1G 0 3ms 1ms 9" | grep -q "usage: forecast" || fail "extra argument taken"
mon "$TMP/src.sock" "forecast 1 0 1G" | grep -q "only with bandwidth" || fail "round 0 rate without a link taken"
mon "$TMP/src.sock" "forecast 1 0 0 3ms" | grep -q "only with bandwidth" || fail "a setup without a link taken"
mon "$TMP/src.sock" "forecast 1 0 0 0 1ms" | grep -q "only with bandwidth" || fail "a switchover without a link taken"
mon "$TMP/src.sock" "forecast 1 1G 0 3" | grep -q "usage: forecast" || fail "a setup without a unit taken"
mon "$TMP/src.sock" "forecast 1 1G 0 0 -1ms" | grep -q "usage: forecast" || fail "a negative switchover taken"
mon "$TMP/src.sock" "forecast 0 1G" | grep -q "usage: forecast" || fail "0 seconds taken"

note "a fast link: converges"
out=$(mon "$TMP/src.sock" "forecast 2 1G")
echo "$out" | sed 's/^/    /'
grep -q "^forecast: [0-9]* rounds, .* stop reason converged" <<<"$out" || fail "no convergence forecast"
grep -q "will not converge" <<<"$out" && fail "said it would not converge"
grep -q "; setup [0-9.]* ms (starting the dirty log); the destination's build [0-9.]* ms (vCPUs, devices), beside round 0; round 0's zero pages [0-9.]* ms$" <<<"$out" ||
	fail "no setup or zero-page estimate"

note "round 0 at a rate of its own"
out=$(mon "$TMP/src.sock" "forecast 1 1G 100M")
grep -q "link 1024.0 MiB/s (given), round 0 100.0 MiB/s (given); setup" <<<"$out" ||
	{ echo "$out"; fail "round 0's rate not taken"; }
# The guest's own pages beside its 1024: its stack, page tables, the UART.
ws=$(sed -n 's/^model: working set \([0-9]*\) pages.*/\1/p' <<<"$out")
[ -n "$ws" ] && [ "$ws" -ge 1000 ] && [ "$ws" -le 1200 ] || fail "working set '$ws', expected ~1024"

note "a setup and a switchover measured before, given"
out=$(mon "$TMP/src.sock" "forecast 1 1G 0 3ms 2.5ms")
grep -q "; setup 3.0 ms (given); the destination's build .*; switchover 2.5 ms (given)$" <<<"$out" ||
	{ echo "$out"; fail "the given setup and switchover not taken"; }

note "a slow link, stall-action cancel: will not converge"
mon "$TMP/src.sock" "migrate_set_parameter stall-action cancel" | grep -q '^ok$' || fail "set"
out=$(mon "$TMP/src.sock" "forecast 1 1M")
grep -q "^will not converge under these parameters: no-progress after round [0-9]*, then it gives up" \
	<<<"$out" || { echo "$out"; fail "no 'will not converge'"; }

note "QMP x-vmm-forecast"
python3 - "$TMP/src.qmp" <<'PY' || fail "x-vmm-forecast"
import os, sys
sys.path.insert(0, os.path.join("bench"))
from qmp import QMP, QMPError
with QMP(sys.argv[1]) as q:
    r = q.command("x-vmm-forecast", {"seconds": 1, "bandwidth": 1 << 30})
    assert r["converges"] is True and r["stop-reason"] == "converged", r
    # round 0, then rounds while the set halves (shrink-factor), the pause
    assert 2 <= r["rounds"] <= 6 and r["bandwidth-source"] == "given", r
    assert 1000 <= r["working-set-pages"] <= 1200, r
    # saturated at once: either fill fits, and both forecast alike
    assert r["working-set-order"] in ("random", "in-order"), r
    # the dirty log's start before round 0; the destination builds this VM
    assert 0 < r["setup-time"] < 1000 and r["total-time"] >= r["setup-time"], r
    # beside round 0, as long as it took here (total-time: whole ms)
    assert 0 < r["build-time"] < 1000 and r["total-time"] + 1 > r["build-time"], r
    assert 0 <= r["zero-scan-time"] < 1000, r
    assert r["total-time"] == r["total-time-us"] // 1000 and r["switchover-time"] == 0, r
    # measured before over the link: in place of the dirty log's start,
    # and on top of everything
    g = q.command("x-vmm-forecast", {"seconds": 1, "bandwidth": 1 << 30,
                                     "setup-us": 7000, "switchover-us": 2500})
    assert g["setup-time"] == 7.0 and g["switchover-time"] == 2.5, g
    assert g["total-time-us"] >= 9500 + g["downtime"] * 1000, g
    for bad, why in (({"setup-us": 5}, "only with bandwidth"),
                     ({"round0-bandwidth": 1 << 20}, "only with bandwidth"),
                     ({"bandwidth": 1 << 30, "switchover-us": -1}, ">= 0")):
        try:
            q.command("x-vmm-forecast", dict(bad, seconds=1))
            sys.exit("x-vmm-forecast took %s" % bad)
        except QMPError as e:
            assert why in str(e), (bad, e)
    # 64 MiB at 10 MiB/s: round 0 alone takes over 0.5 s (some pages zero)
    r0 = q.command("x-vmm-forecast", {"seconds": 1, "bandwidth": 1 << 30,
                                      "round0-bandwidth": 10 << 20})
    assert r0["total-time"] > r["total-time"] + 100, (r0, r)
    r = q.command("x-vmm-forecast", {"seconds": 1, "bandwidth": 1 << 20})
    assert r["converges"] is False and r["stop-reason"] == "no-progress", r
    try:
        q.command("x-vmm-forecast", {"seconds": 1})
        sys.exit("no refusal without a link")
    except QMPError as e:
        assert "give one" in str(e), e
PY

# Nothing was sent: no migration ever started.
mon "$TMP/src.sock" "info migrate" | grep -q "^status: none" || fail "a migration started"
echo "forecast: refusal, fit, convergence and non-convergence as expected; nothing sent"
