/* idle: every CPU sleeps (hlt, woken by its LAPIC timer) until duration
 * has passed, then CPU 0 prints "idle: done" and exits 0. duration=0
 * sleeps forever: the guest for measuring migration of an idle VM.
 */
#include "kit.h"

#define WAKE_US		100000	/* a timer-driven loop, not one long hlt */

static uint64_t duration_us;

static const struct kit_param params[] = {
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
};

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t end, now, wakes = 0;

	if (cpu == 0) {
		kit__parse_params("idle", params, 1);
		kit__printf("idle: cpus=%u duration=%lu.%03lus\n", ncpus,
			    duration_us / 1000000, duration_us / 1000 % 1000);
	}
	kit__barrier();
	end = duration_us ? kit__now_us() + duration_us : UINT64_MAX;
	while ((now = kit__now_us()) < end) {
		kit__sleep_us(end - now < WAKE_US ? end - now : WAKE_US);
		wakes++;
	}
	kit__barrier();
	if (cpu == 0) {
		kit__printf("idle: done wakes=%lu\n", wakes);
		kit__exit(KIT_EXIT_OK);
	}
}
