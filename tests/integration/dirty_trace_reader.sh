# The Python reader of dirty traces (bench/dirty_trace.py) reads, bit for
# bit, a trace written by the C writer (the synthetic one of
# tests/test_dirty_trace.c), and refuses a damaged or truncated one.
. tests/integration/lib.bash
python3 bench/test_dirty_trace.py "$BUILD/tests/test_dirty_trace" 2>&1 || fail "Python reader test"
python3 bench/dirty_trace.py summary /nonexistent 2>"$TMP/err" && fail "summary of a missing file succeeded"
grep -q "dirty_trace: /nonexistent" "$TMP/err" || fail "no message for a missing file"
echo "dirty_trace_reader: the Python reader reads what the C writer wrote"
