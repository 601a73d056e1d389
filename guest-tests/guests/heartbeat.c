/* heartbeat: CPU 0 prints "tick N t_us=T" every period microseconds, N
 * from 0 without gaps, so a live migration's downtime shows as a gap in the
 * serial timestamps while the numbering runs on. After a stall the next
 * tick comes at once and the schedule restarts from there (no burst of
 * catch-up ticks). Other CPUs sleep.
 */
#include "kit.h"

static uint64_t period_us = 100000;
static uint64_t duration_us = 5000000;

static const struct kit_param params[] = {
	{ .key = "period", .type = KIT_PARAM_UINT, .value = &period_us,
	  .max = 3600ULL * 1000000 },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
};

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t start, end, next, now, n = 0;

	if (cpu)
		return;
	kit__parse_params("heartbeat", params, 2);
	if (!period_us)
		kit__bad_param("heartbeat", "period", "0", "must be at least 1");
	kit__printf("heartbeat: cpus=%u period=%lu us duration=%lu.%03lus\n",
		    ncpus, period_us, duration_us / 1000000,
		    duration_us / 1000 % 1000);
	start = kit__now_us();
	end = duration_us ? start + duration_us : UINT64_MAX;
	for (next = start; next < end; n++) {
		now = kit__now_us();
		if (now < next) {
			kit__sleep_us(next - now);
			now = kit__now_us();
		}
		kit__printf("tick %lu t_us=%lu\n", n, now);
		next += period_us;
		if (next < now)
			next = now;
	}
	kit__printf("heartbeat: done ticks=%lu\n", n);
	kit__exit(KIT_EXIT_OK);
}
