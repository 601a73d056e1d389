/* The vCPU throttles on the source: auto-converge (its rule,
 * auto_converge.c, after every dirty-log sync, one throttle for every
 * vCPU) and dirty-limit (started by the same trigger, as QEMU 8.1 does;
 * then every x-vcpu-dirty-limit-period each vCPU's own throttle from its
 * own dirty rate, dirty_limit.c, counted by the dirty ring), the vCPU
 * throttle they set (vmm/vcpu_throttle.c), and what the statistics say.
 * Every throttle is lifted when the migration ends, however it ends. */
#include "migrate_source.h"

#include <errno.h>

#include "clock.h"
#include "migrate_dirty_limit.h"
#include "migration_internal.h"
#include "vcpu_throttle.h"
#include "vm.h"

void source__throttle_start(struct source_run *r)
{
	unsigned int i;

	auto_converge__init(&r->ac, clock__mono_us(), r->s.bytes_out);
	r->throttle_started = true;
	for (i = 0; i < source__stats_vcpus(r); i++)
		r->slept_base_us[i] = vcpu_throttle__slept_us(r->vm, i);
	migrate_stats__lock(&r->m->stats);
	r->m->stats.nr_throttled_vcpus = source__stats_vcpus(r);
	migrate_stats__unlock(&r->m->stats);
}

void source__throttle_round_begin(struct source_run *r, struct round_stats *rs)
{
	unsigned int i;

	rs->cpu_throttle_pct = vcpu_throttle__max(r->vm);
	rs->nr_throttled_vcpus = source__stats_vcpus(r);
	for (i = 0; i < rs->nr_throttled_vcpus; i++)
		rs->vcpu_throttled_us[i] = vcpu_throttle__slept_us(r->vm, i);
}

/* The migration's totals so far; under the stats lock. */
static void publish_totals(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	unsigned int i;

	for (i = 0; i < source__stats_vcpus(r); i++)
		st->vcpu_throttled_us[i] = vcpu_throttle__slept_us(r->vm, i) - r->slept_base_us[i];
}

void source__throttle_round_end(struct source_run *r, struct round_stats *rs)
{
	unsigned int i;

	for (i = 0; i < rs->nr_throttled_vcpus; i++)
		rs->vcpu_throttled_us[i] = vcpu_throttle__slept_us(r->vm, i) -
					   rs->vcpu_throttled_us[i];
	migrate_stats__lock(&r->m->stats);
	publish_totals(r);
	migrate_stats__unlock(&r->m->stats);
}

/* Each vCPU's throttle into the statistics; under the stats lock. */
static void publish_vcpu_pcts(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	unsigned int i;

	for (i = 0; i < source__stats_vcpus(r); i++)
		st->vcpu_throttle_pct[i] = vcpu_throttle__get(r->vm, i);
	st->cpu_throttle_pct = vcpu_throttle__max(r->vm);
}

int source__dirty_limit_tick(struct source_run *r)
{
	uint64_t pages[MIGRATE_STATS_MAX_VCPUS], period[MIGRATE_STATS_MAX_VCPUS];
	uint64_t now = clock__mono_us();
	uint32_t pct[MIGRATE_STATS_MAX_VCPUS], next[MIGRATE_STATS_MAX_VCPUS];
	unsigned int i, n = source__stats_vcpus(r);
	int got;

	if (!r->dl_active || now - r->dl_last_us < r->params.vcpu_dirty_limit_period_ms * 1000)
		return 0;
	got = dirty_log__vcpu_dirtied(&r->log, pages, n, r->err, sizeof(r->err));
	if (got < 0)
		return source__fail(r, got, "dirty-limit: reading each vCPU's dirty pages");
	r->dl_last_us = now;
	/* Each vCPU's window runs from its last decision: one too short to
	 * have seen a throttled vCPU run goes on counting. */
	for (i = 0; i < (unsigned int)got; i++) {
		pct[i] = vcpu_throttle__get(r->vm, i);
		r->dl_pages[i] += pages[i];
		period[i] = now - r->dl_since_us[i];
	}
	dirty_limit__plan(r->dl_pages, period, pct, (unsigned int)got,
			  r->params.vcpu_dirty_limit_mbps, GUEST_PAGE_SIZE, next);
	for (i = 0; i < (unsigned int)got; i++) {
		if (next[i] != pct[i])
			vcpu_throttle__set(r->vm, i, next[i]);
		if (dirty_limit__window_done(period[i], pct[i], next[i])) {
			r->dl_pages[i] = 0;
			r->dl_since_us[i] = now;
		}
	}
	migrate_stats__lock(&r->m->stats);
	publish_vcpu_pcts(r);
	migrate_stats__unlock(&r->m->stats);
	return 0;
}

/* dirty-limit starts where auto-converge would throttle: from then on
 * the vCPUs' own rates decide (the ring's counts start afresh). */
static bool start_dirty_limit(struct source_run *r)
{
	uint64_t pages[MIGRATE_STATS_MAX_VCPUS];
	struct migrate_stats *st = &r->m->stats;
	unsigned int i;

	if (r->dl_active)
		return false;
	r->dl_active = true;
	r->dl_last_us = clock__mono_us();
	for (i = 0; i < MIGRATE_STATS_MAX_VCPUS; i++) {
		r->dl_pages[i] = 0;
		r->dl_since_us[i] = r->dl_last_us;
	}
	dirty_log__vcpu_dirtied(&r->log, pages, source__stats_vcpus(r), r->err, sizeof(r->err));
	migrate_stats__lock(st);
	st->dirty_limit_active = true;
	migrate_stats__unlock(st);
	return true;
}

bool source__throttle_after_sync(struct source_run *r, uint64_t dirty_pages)
{
	struct migrate_stats *st = &r->m->stats;
	struct auto_converge_sync s = {
		.now_us = clock__mono_us(), .dirty_pages = dirty_pages,
		.bytes_sent = r->s.bytes_out, .page_size = GUEST_PAGE_SIZE,
	};
	uint32_t before = r->ac.pct, pct;

	if (r->params.caps[MIGRATE_CAP_DIRTY_LIMIT]) {
		if (r->dl_active)
			return false;
		pct = auto_converge__after_sync(&r->ac, &r->params, &s);
		return pct != before && start_dirty_limit(r);
	}
	if (!r->params.caps[MIGRATE_CAP_AUTO_CONVERGE])
		return false;
	pct = auto_converge__after_sync(&r->ac, &r->params, &s);
	if (pct == before)
		return false;
	vcpu_throttle__set_all(r->vm, pct);
	migrate_stats__lock(st);
	st->cpu_throttle_pct = pct;
	st->cpu_throttle_final_pct = pct;
	st->cpu_throttle_steps = r->ac.steps;
	migrate_stats__unlock(st);
	return true;
}

void source__throttle_stop(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;

	/* Whoever set it, and whatever is left: the guest runs free. */
	if (r->throttle_started)
		vcpu_throttle__set_all(r->vm, 0);
	migrate_stats__lock(st);
	if (r->throttle_started)
		publish_vcpu_pcts(r);
	st->cpu_throttle_pct = 0;
	/* Before the start (a failed setup) there is nothing of ours. */
	if (r->throttle_started)
		publish_totals(r);
	migrate_stats__unlock(st);
}
