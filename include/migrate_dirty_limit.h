/* dirty-limit's controller: from each vCPU's pages dirtied in the last
 * period, the throttle (vcpu_throttle.h) to give it next, so that its
 * dirty rate comes down to vcpu-dirty-limit and no lower. Pure, so it is
 * tested without a VM or a dirty ring.
 *
 * A throttled vCPU runs (100 - pct) % of the time; the controller takes
 * its dirty rate to scale with that share, so the rate it would have
 * unthrottled is rate / share, and the share that meets the limit is
 * limit / that. Real guests scale less than linearly (a working set
 * saturates), so one step may fall short; each period measures again
 * and corrects from the share then in force, which converges. A rate
 * already within DIRTY_LIMIT_TOLERANCE_PCT % under the limit keeps its
 * throttle (no hunting around the target); a vCPU whose unthrottled rate
 * is at or under the limit runs free (0 %): one that computes without
 * writing is never slowed.
 */
#ifndef VMM__MIGRATE_DIRTY_LIMIT_H
#define VMM__MIGRATE_DIRTY_LIMIT_H

#include <stdint.h>

#define DIRTY_LIMIT_MAX_PCT 99
#define DIRTY_LIMIT_TOLERANCE_PCT 10

struct dirty_limit_period {
	uint64_t pages;			/* dirtied by the vCPU in the period */
	uint64_t period_us;		/* how long the period was */
	uint32_t pct;			/* the vCPU's throttle during it */
};

/* The vCPU's next throttle, 0..99; limit_mbps in MiB/s (as QEMU's
 * vcpu-dirty-limit), page_size in bytes. A period of 0 us says nothing:
 * the throttle stays. */
uint32_t dirty_limit__next_pct(const struct dirty_limit_period *p, uint64_t limit_mbps,
			       uint64_t page_size);

/* Every vCPU at once: pages[i] and pct[i] for vCPU i over one period;
 * next[i] receives its throttle. */
void dirty_limit__plan(const uint64_t *pages, const uint32_t *pct, unsigned int n,
		       uint64_t period_us, uint64_t limit_mbps, uint64_t page_size,
		       uint32_t *next);

#endif
