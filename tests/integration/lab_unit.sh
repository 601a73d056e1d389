# The lab's unit tests (bench/test_lab.py, python3 -m unittest): the
# experiment parser (grid expansion, validation messages, empty grids),
# link presets, serial timing, aggregation, tables, compare, and the vmm
# driver end to end against a fake vmm speaking QMP; the writable working
# set, the offline replay and the forecast's port (bench/test_traces.py).
# No KVM, no network.
# sanitizer: skip, the lab's Python unit tests, no vmm.
. tests/integration/lib.bash
require_cmd python3
# Debian's python3 where it has tomllib: it also sees python3-matplotlib
# (the plot test), which a python3 earlier on PATH may not.
PY=python3
/usr/bin/python3 -c 'import tomllib' 2>/dev/null && PY=/usr/bin/python3
$PY -c 'import tomllib' 2>/dev/null || { echo "SKIP: python3 has no tomllib (needs 3.11)"; exit 77; }
(cd bench && PYTHONDONTWRITEBYTECODE=1 $PY -m unittest -v test_lab) ||
	fail "bench/test_lab.py failed"
(cd bench && PYTHONDONTWRITEBYTECODE=1 $PY -m unittest -v test_traces) ||
	fail "bench/test_traces.py failed"
