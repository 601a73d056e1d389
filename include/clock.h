/* Microsecond clocks for measurements: CLOCK_MONOTONIC for durations,
 * CLOCK_REALTIME for timestamps a reader compares across machines,
 * CLOCK_THREAD_CPUTIME_ID for a thread's own CPU time. */
#ifndef VMM__CLOCK_H
#define VMM__CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock__us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static inline uint64_t clock__mono_us(void)
{
	return clock__us(CLOCK_MONOTONIC);
}

#endif
