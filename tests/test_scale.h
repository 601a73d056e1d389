/* Loop sizes of the exhaustive and stress tests. Valgrind runs one thread
 * at a time at tens of times the cost, so under it (`make valgrind`) these
 * loops do a tenth of the work: every path is still walked, only fewer
 * times. The plain and sanitizer builds run them whole. */
#ifndef VMM__TEST_SCALE_H
#define VMM__TEST_SCALE_H

#include <valgrind/valgrind.h>

/* An iteration count: n, or a tenth of it (at least 1) under valgrind. */
static inline long test_count(long n)
{
	return RUNNING_ON_VALGRIND ? (n >= 10 ? n / 10 : 1) : n;
}

/* A stride through a range: step, or ten times it under valgrind. */
static inline long test_stride(long step)
{
	return RUNNING_ON_VALGRIND ? step * 10 : step;
}

#endif
