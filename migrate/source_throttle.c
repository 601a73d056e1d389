/* auto-converge on the source: the rule (auto_converge.c) after every
 * dirty-log sync, the vCPU throttle it sets (vmm/vcpu_throttle.c), and
 * what the statistics say about both. The throttle is lifted when the
 * migration ends, however it ends. */
#include "migrate_source.h"

#include "clock.h"
#include "migration_internal.h"
#include "vcpu_throttle.h"
#include "vm.h"

static unsigned int nr_vcpus(const struct source_run *r)
{
	return r->vm->nr_cpus < MIGRATE_STATS_MAX_VCPUS ? r->vm->nr_cpus :
							   MIGRATE_STATS_MAX_VCPUS;
}

void source__throttle_start(struct source_run *r)
{
	unsigned int i;

	auto_converge__init(&r->ac, clock__mono_us(), r->s.bytes_out);
	r->throttle_started = true;
	for (i = 0; i < nr_vcpus(r); i++)
		r->slept_base_us[i] = vcpu_throttle__slept_us(r->vm, i);
	migrate_stats__lock(&r->m->stats);
	r->m->stats.nr_throttled_vcpus = nr_vcpus(r);
	migrate_stats__unlock(&r->m->stats);
}

void source__throttle_round_begin(struct source_run *r, struct round_stats *rs)
{
	unsigned int i;

	rs->cpu_throttle_pct = vcpu_throttle__max(r->vm);
	rs->nr_throttled_vcpus = nr_vcpus(r);
	for (i = 0; i < rs->nr_throttled_vcpus; i++)
		rs->vcpu_throttled_us[i] = vcpu_throttle__slept_us(r->vm, i);
}

/* The migration's totals so far; under the stats lock. */
static void publish_totals(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	unsigned int i;

	for (i = 0; i < nr_vcpus(r); i++)
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

bool source__throttle_after_sync(struct source_run *r, uint64_t dirty_pages)
{
	struct migrate_stats *st = &r->m->stats;
	struct auto_converge_sync s = {
		.now_us = clock__mono_us(), .dirty_pages = dirty_pages,
		.bytes_sent = r->s.bytes_out, .page_size = GUEST_PAGE_SIZE,
	};
	uint32_t before = r->ac.pct, pct;

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

	if (r->ac.pct)
		vcpu_throttle__set_all(r->vm, 0);
	migrate_stats__lock(st);
	st->cpu_throttle_pct = 0;
	/* Before the start (a failed setup) there is nothing of ours. */
	if (r->throttle_started)
		publish_totals(r);
	migrate_stats__unlock(st);
}
