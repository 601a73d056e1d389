# bench/lab end to end on bench/experiments/smoke.toml (a heartbeat and a
# memtouch guest, 64 MiB, loopback, once each under vmm and QEMU): every
# run completes and is written with its summary, the client-seen downtime
# of the heartbeat is measured, `table` and `plot` work from the JSON;
# then an idle guest with a 32 MiB disk, migrated with -b by each system.
# vmm always runs; QEMU where it is installed (a SKIP line where not).
. tests/integration/lib.bash
require_kvm
python3 -c 'import tomllib' 2>/dev/null || { echo "SKIP: python3 has no tomllib (needs 3.11)"; exit 77; }
systems=(vmm)
if command -v qemu-system-x86_64 >/dev/null; then
	systems+=(qemu)
else
	echo "SKIP (QEMU half): qemu-system-x86_64 is not installed"
fi
list=$(IFS=,; echo "${systems[*]}")

OUT=$TMP/out
start lab bench/lab run bench/experiments/smoke.toml --out "$OUT" --build "$BUILD" --systems "$list"
wait_status "$LAST_PID" 240 0 "bench/lab run" lab
cat "$TMP/lab.out"
for s in "${systems[@]}"; do
	grep -q "^lab: SKIP system $s" "$TMP/lab.out" && fail "lab skipped $s"
done
n=$(ls "$OUT"/runs/*.json | wc -l)
[ "$n" -eq $((2 * ${#systems[@]})) ] || fail "$n run files, expected $((2 * ${#systems[@]}))"

# Each run: completed, its numbers present, full configuration and host.
python3 - "$OUT" <<'PY' || fail "run JSON incomplete"
import glob, json, sys
bad = 0
for path in sorted(glob.glob(sys.argv[1] + "/runs/*.json")):
    r = json.load(open(path))
    s = r["summary"]
    want = ["total_ms", "downtime_ms", "rounds", "bytes"]
    if r["point"]["guest"]["name"] == "heartbeat":
        want.append("client_downtime_ms")
    missing = [k for k in want if s.get(k) is None]
    problems = []
    if s["status"] != "completed":
        problems.append("status %s: %s" % (s["status"], s.get("error")))
    if missing:
        problems.append("no " + ", ".join(missing))
    if s.get("client_downtime_ms") is not None and s["client_downtime_ms"] <= 0:
        problems.append("client-seen downtime %s ms" % s["client_downtime_ms"])
    for k in ("git_revision", "kernel", "cpu_model", "kvm", "versions"):
        if not r["host"].get(k):
            problems.append("host lacks " + k)
    if not r["samples"] or not r["serial"]["src"] or not r["serial"]["dst"]:
        problems.append("no samples or no guest output from both sides")
    print("%s: %s" % (path.split("/")[-1], "; ".join(problems) or "ok"))
    bad += bool(problems)
sys.exit(1 if bad else 0)
PY

bench/lab table "$OUT" >"$TMP/table.md" || fail "bench/lab table failed"
cat "$TMP/table.md"
rows=$(grep -c '^| \(vmm\|qemu\) |' "$TMP/table.md")
[ "$rows" -eq "$n" ] || fail "table has $rows rows, expected $n"
if python3 -c 'import matplotlib' 2>/dev/null || /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	bench/lab plot "$OUT" >"$TMP/plot.out" || fail "bench/lab plot failed"
	grep -q 'convergence-64M-loopback.png' "$TMP/plot.out" || fail "no convergence figure"
	grep -q 'vs-dirty-rate-64M-loopback.svg' "$TMP/plot.out" || fail "no dirty-rate figure"
else
	echo "SKIP (plots): matplotlib is not installed (scripts/install-deps.sh)"
fi
bench/lab compare "$OUT" "$OUT" >"$TMP/compare.md" || fail "bench/lab compare failed"
grep -q '| 1.00 |' "$TMP/compare.md" || fail "compare of a set with itself: no ratio 1.00"
# A disk (issue 11): an idle guest with a 32 MiB disk migrated with
# migrate -b by each system; the destination's image must read as the
# source's, and the table must have the disk columns.
cat >"$TMP/disk.toml" <<'EOF'
[experiment]
name = "smoke-disk"
warmup = "500ms"
cooldown = "500ms"
timeout = "30s"
sample_interval = "20ms"
[grid]
guest = "idle"
mem = "64M"
params = { max-bandwidth = 134217728 }
disk = { size = "32M", mode = "block" }
EOF
DOUT=$TMP/disk-out
start labdisk bench/lab run "$TMP/disk.toml" --out "$DOUT" --build "$BUILD" --systems "$list"
wait_status "$LAST_PID" 120 0 "bench/lab run (disk)" labdisk
python3 - "$DOUT" <<'PY' || fail "disk runs incomplete"
import glob, json, sys
bad = 0
for path in sorted(glob.glob(sys.argv[1] + "/runs/*.json")):
    r = json.load(open(path))
    s, d = r["summary"], r["summary"].get("disk") or {}
    problems = []
    if s["status"] != "completed":
        problems.append("status %s: %s" % (s["status"], s.get("error")))
    if d.get("identical") is not True:
        problems.append("images differ: %s" % (r.get("disk") or {}).get("compare"))
    # QEMU's figures are its last active sample's: part of the disk (at
    # its 128 MiB/s, 32 MiB take about 250 ms: several 20 ms samples)
    if not d.get("bytes") or d.get("total") != 32 << 20:
        problems.append("disk bytes %s of %s" % (d.get("bytes"), d.get("total")))
    if not any(a in ("--drive", "-drive") for a in r["argv"]["dst"]):
        problems.append("no drive on the destination")
    print("%s: %s" % (path.split("/")[-1], "; ".join(problems) or "ok"))
    bad += bool(problems)
sys.exit(1 if bad else 0)
PY
n=$(ls "$DOUT"/runs/*.json | wc -l)
[ "$n" -eq ${#systems[@]} ] || fail "$n disk run files, expected ${#systems[@]}"
bench/lab table "$DOUT" >"$TMP/disk-table.md" || fail "bench/lab table (disk) failed"
cat "$TMP/disk-table.md"
rows=$(grep -c '| block-32M | - | [0-9.]* | 1/1 |' "$TMP/disk-table.md")
[ "$rows" -eq "$n" ] || fail "table: $rows rows with the disk columns, expected $n"
echo "lab smoke: ${systems[*]} passed"
