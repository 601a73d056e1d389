/* auto-converge's rule (see include/migrate_auto_converge.h). */
#include "migrate_auto_converge.h"

#include <string.h>

#define PCT_MIN 1u
#define PCT_MAX 99u

void auto_converge__init(struct auto_converge *ac, uint64_t now_us, uint64_t bytes_sent)
{
	memset(ac, 0, sizeof(*ac));
	ac->period_start_us = now_us;
	ac->period_start_bytes = bytes_sent;
}

static uint32_t clamp_pct(uint64_t pct, uint32_t max)
{
	if (pct > max)
		pct = max;
	if (pct > PCT_MAX)
		pct = PCT_MAX;
	return pct < PCT_MIN ? PCT_MIN : (uint32_t)pct;
}

/* QEMU truncates the ideal CPU share to an integer the same way. */
static uint64_t tailslow_increment(uint32_t pct, uint64_t increment, uint64_t dirty_bytes,
				   uint64_t threshold_bytes)
{
	uint64_t cpu_now = 100 - pct;
	uint64_t cpu_ideal = (uint64_t)((double)cpu_now *
					((double)threshold_bytes / (double)dirty_bytes));
	uint64_t want = cpu_now > cpu_ideal ? cpu_now - cpu_ideal : 0;

	return want < increment ? want : increment;
}

static void step(struct auto_converge *ac, const struct migrate_params *p,
		 uint64_t dirty_bytes, uint64_t threshold_bytes)
{
	uint64_t inc = p->cpu_throttle_increment;

	if (!ac->pct) {
		ac->pct = clamp_pct(p->cpu_throttle_initial, p->max_cpu_throttle);
	} else {
		if (p->cpu_throttle_tailslow)
			inc = tailslow_increment(ac->pct, inc, dirty_bytes, threshold_bytes);
		ac->pct = clamp_pct(ac->pct + inc, p->max_cpu_throttle);
	}
	ac->steps++;
}

uint32_t auto_converge__after_sync(struct auto_converge *ac, const struct migrate_params *p,
				   const struct auto_converge_sync *s)
{
	uint64_t sent, dirty_bytes, threshold_bytes;

	ac->period_dirty_pages += s->dirty_pages;
	if (s->now_us <= ac->period_start_us + AUTO_CONVERGE_PERIOD_US)
		return ac->pct;
	sent = s->bytes_sent - ac->period_start_bytes;
	dirty_bytes = ac->period_dirty_pages * s->page_size;
	threshold_bytes = sent * p->throttle_trigger_pct / 100;
	if (dirty_bytes > threshold_bytes && ++ac->high_periods >= 2) {
		ac->high_periods = 0;
		step(ac, p, dirty_bytes, threshold_bytes);
	}
	ac->period_start_us = s->now_us;
	ac->period_start_bytes = s->bytes_sent;
	ac->period_dirty_pages = 0;
	return ac->pct;
}
