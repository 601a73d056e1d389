#!/bin/bash
# Block migration's bulk phase through the engine (migrate -b over
# loopback, an idle guest, an image of random data: every byte travels)
# against the disk's own read rate, alternated in one run so both see the
# same machine: dd with iflag=direct (the disk) and without (the page
# cache), then the migration with cache=none (the bulk pass reads the
# disk) and cache=writeback (it reads the page cache). The bulk rate is
# round 0's disk_bytes / disk_us from the source's statistics (reading,
# checksumming, sending and the destination's writes, which the link's
# back-pressure makes the source wait for).
#
#   bench/blk_migrate.sh [SIZE_MIB [REPS]]     (BUILD=build by default)
#
# Prints one line per measurement, MB/s = 10^6 image bytes per second.
set -eu
BUILD=${BUILD:-build}
SIZE=${1:-512}
REPS=${2:-2}
VMM=$BUILD/vmm
dir=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# dd's own rate line, in MB/s.
dd_rate() {
	dd if="$dir/src.img" of=/dev/null bs=1M "$@" 2>&1 | tail -1 |
		awk '{ for (i = 1; i < NF; i++) if ($(i+1) ~ /^[kMG]B\/s$/) { r = $i; u = $(i+1) }
		       m = u == "GB/s" ? 1000 : u == "kB/s" ? 0.001 : 1; printf "%.0f", r * m }'
}

migrate_rate() {
	local cache=$1 p i
	rm -f "$dir/dst.img" "$dir/src.json" "$dir/src.sock"
	truncate -s "${SIZE}M" "$dir/dst.img"
	p=$(port)
	"$VMM" --incoming "tcp:127.0.0.1:$p" --drive "file=$dir/dst.img,cache=$cache" \
		>"$dir/dst.out" 2>"$dir/dst.err" </dev/null &
	pids+=($!)
	local dst=$!
	"$VMM" --mem 64M --monitor "unix:$dir/src.sock" --stats-json "$dir/src.json" \
		--drive "file=$dir/src.img,cache=$cache" "$BUILD/guests/idle.elf" \
		>"$dir/src.out" 2>"$dir/src.err" </dev/null &
	pids+=($!)
	local src=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$dir/src.sock" ] && grep -q "waiting for a migration" "$dir/dst.err" 2>/dev/null && break
		sleep 0.1
	done
	printf 'migrate -b tcp:127.0.0.1:%s\n' "$p" | socat -t 10 - "UNIX-CONNECT:$dir/src.sock" >/dev/null
	wait "$src"
	sleep 0.5
	kill "$dst" 2>/dev/null || true
	wait "$dst" 2>/dev/null || true
	cmp -s "$dir/src.img" "$dir/dst.img" || { echo "images differ" >&2; exit 1; }
	python3 - "$dir/src.json" <<'PY'
import json, sys
r0 = json.load(open(sys.argv[1]))["rounds"][0]
print(f'{r0["disk_bytes"] / r0["disk_us"]:.0f} ({r0["disk_bytes"]} bytes in {r0["disk_us"]} us)')
PY
}

dd if=/dev/urandom of="$dir/src.img" bs=1M count="$SIZE" status=none
echo "image: $SIZE MiB of random data; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= REPS; r++)); do
	echo "rep $r: dd direct (the disk) MB/s: $(dd_rate iflag=direct)"
	echo "rep $r: migrate -b cache=none, bulk MB/s: $(migrate_rate none)"
	echo "rep $r: dd cached (page cache) MB/s: $(dd_rate)"
	echo "rep $r: migrate -b cache=writeback, bulk MB/s: $(migrate_rate writeback)"
done
