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
 *
 * A throttled vCPU runs one slice (vcpu_throttle.h) and then sleeps, so
 * it runs in bursts a cycle apart, slice / share: 1 s at 99 %. A period
 * shorter than two cycles can fall between two bursts and show a rate of
 * nothing; it may raise a throttle but never lower one. The caller keeps
 * counting over a longer window instead (dirty_limit__window_done).
 */
#ifndef VMM__MIGRATE_DIRTY_LIMIT_H
#define VMM__MIGRATE_DIRTY_LIMIT_H

#include <stdbool.h>
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

/* How long a vCPU throttled at pct takes to run one slice and sleep its
 * share: the shortest period that sees it run, in us. */
uint64_t dirty_limit__cycle_us(uint32_t pct);

/* Whether a window of period_us at throttle pct, which gave next, is
 * over: it changed the throttle or was long enough to lower it. Else the
 * caller keeps counting the vCPU's pages over a longer window. */
bool dirty_limit__window_done(uint64_t period_us, uint32_t pct, uint32_t next);

/* Every vCPU at once: pages[i], period_us[i] and pct[i] for vCPU i over
 * its window; next[i] receives its throttle. */
void dirty_limit__plan(const uint64_t *pages, const uint64_t *period_us, const uint32_t *pct,
		       unsigned int n, uint64_t limit_mbps, uint64_t page_size, uint32_t *next);

#endif
