# bench/soak keeps working: its quick mode (two attempts of a few faults:
# a destination killed in round 0 and after GO, the link cut in
# stop-and-copy, migrate_cancel before GO) and two ping-pong hops. Every
# fault must fire, and no attempt may lose the guest (bench/soak exits 1
# on a loss or a failed hop).
. tests/integration/lib.bash
require_kvm

python3 bench/soak --quick --pingpong 2 --build "$BUILD" --json "$TMP/soak.json" \
	>"$TMP/soak.out" 2>"$TMP/soak.err"
st=$?
cat "$TMP/soak.out"
[ "$st" -eq 0 ] || { tail -n 30 "$TMP/soak.err"; fail "bench/soak --quick exited $st"; }
python3 - "$TMP/soak.json" <<'PY' || fail "the JSON does not hold what the table says"
import json, sys
d = json.load(open(sys.argv[1]))
a = d["attempts"]
assert len(a) == 8, len(a)
assert all(r["fired"] for r in a), [r["fault"] for r in a if not r["fired"]]
assert all(r["outcome"] in ("success", "safe") for r in a)
s = d["summary"]
assert sum(t["loss"] for t in s.values()) == 0
assert len(d["pingpong"]) == 2 and all(r["ok"] and not r["corrupt"] for r in d["pingpong"])
PY
grep -Eq '^total +8 +[0-9]+ +[0-9]+ +0 +0$' "$TMP/soak.out" || fail "no total line with 0 losses"
echo "soak_quick: 8 attempts, no loss; 2 ping-pong hops"
