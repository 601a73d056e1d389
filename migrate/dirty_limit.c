/* dirty-limit's controller (see include/migrate_dirty_limit.h). */
#include "migrate_dirty_limit.h"

#include <math.h>

uint32_t dirty_limit__next_pct(const struct dirty_limit_period *p, uint64_t limit_mbps,
			       uint64_t page_size)
{
	uint32_t cur = p->pct > DIRTY_LIMIT_MAX_PCT ? DIRTY_LIMIT_MAX_PCT : p->pct;
	double limit = (double)limit_mbps * 1048576.0, rate, share, free_rate, pct;

	if (!p->period_us)
		return cur;
	rate = (double)p->pages * (double)page_size * 1e6 / (double)p->period_us;
	if (cur && rate <= limit && rate >= limit * (100 - DIRTY_LIMIT_TOLERANCE_PCT) / 100)
		return cur;
	share = (100.0 - cur) / 100.0;
	free_rate = rate / share;
	if (free_rate <= limit)
		return 0;
	/* Round up: a share a hair too big would leave it over the limit. */
	pct = ceil(100.0 * (1.0 - limit / free_rate));
	return pct > DIRTY_LIMIT_MAX_PCT ? DIRTY_LIMIT_MAX_PCT : (uint32_t)pct;
}

void dirty_limit__plan(const uint64_t *pages, const uint32_t *pct, unsigned int n,
		       uint64_t period_us, uint64_t limit_mbps, uint64_t page_size,
		       uint32_t *next)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct dirty_limit_period p = {
			.pages = pages[i], .period_us = period_us, .pct = pct[i],
		};

		next[i] = dirty_limit__next_pct(&p, limit_mbps, page_size);
	}
}
