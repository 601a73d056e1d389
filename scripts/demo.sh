#!/usr/bin/env bash
# The main job on a built-in default: a 512 MiB guest dirtying 20000 pages/s
# of a 256 MiB working set migrates live between two local vmm processes.
# Prints the source's per-round table and summary, then what the guest
# printed on each side. Results (serial logs, JSON, CSV) stay in $OUT.
set -eu
BUILD=${1:-build}
OUT=${OUT:-$BUILD/demo}
VMM=$BUILD/vmm
GUEST=${GUEST:-$BUILD/guests/memtouch.elf}
GUEST_ARGS=${GUEST_ARGS:-"rate=20000 ws=256M duration=8 report=1"}
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}

mkdir -p "$OUT"
rm -f "$OUT"/*
# --mem: the destination makes its VM's shell before it listens.
echo "demo: destination: $VMM --incoming tcp:127.0.0.1:$PORT --mem 512M"
"$VMM" --incoming "tcp:127.0.0.1:$PORT" --mem 512M --serial "file:$OUT/dest-serial.log" \
	--stats-json "$OUT/dest.json" 2>"$OUT/dest.log" &
dest=$!
trap 'kill $dest 2>/dev/null || true' EXIT
# Ready once it says it listens (it logs that line after binding).
for _ in $(seq 200); do
	grep -q "waiting for a migration" "$OUT/dest.log" 2>/dev/null && break
	kill -0 $dest 2>/dev/null || { cat "$OUT/dest.log"; exit 1; }
	sleep 0.05
done
grep -q "waiting for a migration" "$OUT/dest.log" || { echo "demo: the destination did not start"; exit 1; }

echo "demo: source: $VMM --mem 512M $GUEST -- $GUEST_ARGS, migrating after 2s"
echo
set +e
# shellcheck disable=SC2086
"$VMM" --mem 512M --serial "file:$OUT/src-serial.log" \
	--migrate-to "tcp:127.0.0.1:$PORT" --migrate-after 2s \
	--stats-json "$OUT/source.json" --stats-csv "$OUT/rounds.csv" \
	"$GUEST" -- $GUEST_ARGS
src_status=$?
wait $dest
dest_status=$?
set -e
trap - EXIT

echo
echo "demo: guest output on the source (before it left):"
tail -n 4 "$OUT/src-serial.log" | sed 's/^/    /'
echo "demo: guest output on the destination (after it arrived):"
tail -n 4 "$OUT/dest-serial.log" | sed 's/^/    /'
echo
echo "demo: source exit $src_status, destination (the guest's own) exit $dest_status"
echo "demo: statistics in $OUT/source.json, $OUT/dest.json and $OUT/rounds.csv"
[ "$src_status" -eq 0 ] && [ "$dest_status" -eq 0 ]
