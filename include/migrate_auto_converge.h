/* auto-converge's rule, as QEMU 7.2's (migration/ram.c,
 * migration_trigger_throttle and mig_throttle_guest_down), kept pure so it
 * is tested without a VM.
 *
 * After every dirty-log sync the caller passes the pages that sync found
 * dirty and the bytes sent so far. Syncs are gathered into a period; a
 * period closes at the first sync at least 1 s after it began (QEMU's
 * "more than 1 second"). When a period closes, if the bytes dirtied in it
 * (pages x page size) exceed throttle-trigger-threshold % of the bytes
 * sent in it, the rule counts it; at the second such period (counted
 * since the last step, not necessarily in a row, as QEMU counts) it steps
 * the throttle and the count starts again:
 *   - not throttling yet: cpu-throttle-initial;
 *   - else + cpu-throttle-increment, or with cpu-throttle-tailslow
 *     min(increment, cpu_now - cpu_now * threshold_bytes / dirty_bytes)
 *     where cpu_now = 100 - throttle: only what would bring the dirty rate
 *     down to the threshold;
 * never past max-cpu-throttle, and always within 1..99 (QEMU's bounds).
 * The first period begins when the rule is initialised (the dirty log
 * turned on), so round 0's sync may close it, as QEMU's first sync after
 * its bulk pass does.
 */
#ifndef VMM__MIGRATE_AUTO_CONVERGE_H
#define VMM__MIGRATE_AUTO_CONVERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate_params.h"

#define AUTO_CONVERGE_PERIOD_US 1000000ull

struct auto_converge {
	uint64_t period_start_us;
	uint64_t period_start_bytes;
	uint64_t period_dirty_pages;
	uint32_t high_periods;		/* over the threshold, since the last step */
	uint32_t pct;			/* the throttle in force; 0 = none */
	uint32_t steps;			/* times the throttle was raised */
};

struct auto_converge_sync {
	uint64_t now_us;		/* any monotonic clock, the same each call */
	uint64_t dirty_pages;		/* found by this sync */
	uint64_t bytes_sent;		/* in total, since the start */
	uint64_t page_size;
};

void auto_converge__init(struct auto_converge *ac, uint64_t now_us, uint64_t bytes_sent);

/* One sync. Returns the throttle to be in force from now (ac->pct, which
 * changes only on a step). */
uint32_t auto_converge__after_sync(struct auto_converge *ac, const struct migrate_params *p,
				   const struct auto_converge_sync *s);

#endif
