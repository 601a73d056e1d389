/* dirty-limit's controller (see include/migrate_dirty_limit.h). */
#include "migrate_dirty_limit.h"

#include <math.h>

#include "vcpu_throttle.h"

uint64_t dirty_limit__cycle_us(uint32_t pct)
{
	if (pct > DIRTY_LIMIT_MAX_PCT)
		pct = DIRTY_LIMIT_MAX_PCT;
	return VCPU_THROTTLE_SLICE_NS / 1000 * 100 / (100 - pct);
}

/* Too short to have seen the vCPU run a burst: it says nothing about a
 * rate lower than the throttle allows. */
static bool too_short_to_lower(uint64_t period_us, uint32_t pct)
{
	return pct && period_us < 2 * dirty_limit__cycle_us(pct);
}

uint32_t dirty_limit__next_pct(const struct dirty_limit_period *p, uint64_t limit_mbps,
			       uint64_t page_size)
{
	uint32_t cur = p->pct > DIRTY_LIMIT_MAX_PCT ? DIRTY_LIMIT_MAX_PCT : p->pct, next;
	double limit = (double)limit_mbps * 1048576.0, rate, share, free_rate, pct;

	if (!p->period_us)
		return cur;
	rate = (double)p->pages * (double)page_size * 1e6 / (double)p->period_us;
	if (cur && rate <= limit && rate >= limit * (100 - DIRTY_LIMIT_TOLERANCE_PCT) / 100)
		return cur;
	share = (100.0 - cur) / 100.0;
	free_rate = rate / share;
	if (free_rate <= limit) {
		next = 0;
	} else {
		/* Round up: a share a hair too big would leave it over the limit. */
		pct = ceil(100.0 * (1.0 - limit / free_rate));
		next = pct > DIRTY_LIMIT_MAX_PCT ? DIRTY_LIMIT_MAX_PCT : (uint32_t)pct;
	}
	return next < cur && too_short_to_lower(p->period_us, cur) ? cur : next;
}

bool dirty_limit__window_done(uint64_t period_us, uint32_t pct, uint32_t next)
{
	return next != pct || !too_short_to_lower(period_us, pct);
}

void dirty_limit__plan(const uint64_t *pages, const uint64_t *period_us, const uint32_t *pct,
		       unsigned int n, uint64_t limit_mbps, uint64_t page_size, uint32_t *next)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct dirty_limit_period p = {
			.pages = pages[i], .period_us = period_us[i], .pct = pct[i],
		};

		next[i] = dirty_limit__next_pct(&p, limit_mbps, page_size);
	}
}
