#!/usr/bin/env bash
# The VMM-core benchmarks, in ~2.5 minutes: boot time to the first ring-3
# instruction (vmm and QEMU, 1 and 2 vCPUs), memtouch's achieved versus
# requested rate, and the port-I/O exit round trip (vmm and QEMU). Prints
# each run, one key=value summary line per case, and at the end the
# Markdown tables of bench/RESULTS.md. JSON goes to $OUT (default
# build/bench-core). Run from the repository root after `make`; keep the
# machine otherwise idle, the figures are wall-clock times.
#
# Knobs: OUT, BOOT_RUNS (20), MEMTOUCH_REPS (3), PORTIO_RUNS (5),
# NO_QEMU=1 (vmm only).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench-core}
BOOT_RUNS=${BOOT_RUNS:-20}
MEMTOUCH_REPS=${MEMTOUCH_REPS:-3}
PORTIO_RUNS=${PORTIO_RUNS:-5}
QEMU_OPT=()
[ "${NO_QEMU:-0}" = 1 ] && QEMU_OPT=(--no-qemu)

for f in build/vmm build/guests/hello.elf build/guests/memtouch.elf \
	build/guests/portio.elf; do
	if [ ! -e "$f" ]; then
		echo "run-core: $f missing: run make first" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
start=$(date +%s)
echo "== boot: spawn -> first ring-3 instruction ($BOOT_RUNS runs each)"
python3 bench/boot_time.py --runs "$BOOT_RUNS" "${QEMU_OPT[@]}" \
	--json "$OUT/boot.json"
echo "== memtouch: achieved vs requested rate ($MEMTOUCH_REPS runs each)"
python3 bench/memtouch_rate.py --reps "$MEMTOUCH_REPS" --json "$OUT/memtouch.json"
echo "== portio: port-I/O exit round trip ($PORTIO_RUNS runs each)"
python3 bench/portio_exit.py --runs "$PORTIO_RUNS" "${QEMU_OPT[@]}" \
	--json "$OUT/portio.json"
echo "== tables (took $(($(date +%s) - start)) s; JSON in $OUT)"
python3 bench/core_table.py "$OUT"
