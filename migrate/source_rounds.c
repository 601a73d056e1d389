/* The pre-copy rounds of the migration thread: send what is pending, read
 * the dirty log, ask the convergence policy whether to go on. The
 * stop-and-copy round (source_stop.c) is one more round of the same kind. */
#include "migrate_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_dirty.h"
#include "clock.h"
#include "migrate_forecast.h"
#include "migration_internal.h"
#include "vm.h"
#include "vm_sections.h"
#include "ram_zstd.h"
#include "xbzrle_cache.h"

/* Sleeps as needed to keep the average rate under max-bandwidth, and
 * counts the microseconds slept in r->bw_slept_us, so a round can tell
 * the link's rate apart whatever slept: its RAM batches or its disk
 * blocks. */
static void throttle(struct source_run *r)
{
	uint64_t bw = r->params.max_bandwidth, sent, due_us, now, t0;
	char err[128];

	if (!bw || r->paused_by_us)
		return;		/* never stretch the downtime */
	sent = r->s.bytes_out - r->limit_start_bytes;
	due_us = (uint64_t)((double)sent * 1e6 / (double)bw);
	t0 = clock__mono_us();
	now = t0 - r->limit_start_us;
	if (due_us <= now)
		return;
	/* A harvest that fails here fails again, with its reason, at the
	 * round's sync. */
	dirty_log__sleep_us(&r->log, due_us - now < 1000000 ? due_us - now : 1000000,
			    err, sizeof(err));
	r->bw_slept_us += clock__mono_us() - t0;
}

void source__throttle_block(struct source_run *r)
{
	throttle(r);
}

/* A batch of mostly data pages times the sending of page data, which the
 * forecast needs apart from round 0's zero-page scan. */
static void time_batch(struct source_run *r, size_t len)
{
	uint64_t now = clock__mono_us();

	if (r->batch.zero_pages * 2 < r->batch.pages) {
		r->data_bytes += len;
		r->data_us += now - r->batch_start_us;
	}
}

/* Part-way through round 0, the pages dirtied so far: with those at the
 * round's end, two points of the guest's dirty set against time. */
static void probe_round0(struct source_run *r, const struct round_stats *rs, uint64_t left)
{
	char err[128];	/* a failed look only costs the fit */
	int64_t n;

	if (rs->index || r->probe_us || left > rs->dirty_pages / 4 * 3)
		return;
	n = dirty_log__peek_count(&r->log, err, sizeof(err));
	if (n > 0) {
		r->probe_pages = (uint64_t)n;
		r->probe_us = clock__mono_us() - (r->m->stats.start_mono_us + rs->start_us);
	}
}

static int flush_batch(struct source_run *r, struct round_stats *rs)
{
	const struct iovec *iov;
	uint64_t before = r->s.bytes_out;
	int iovcnt, ret;

	if (!r->batch.count)
		return 0;
	/* With zstd, whole pages go compressed from a snapshot, where that
	 * is smaller; else from guest memory to the socket, uncopied. */
	ret = r->zstd ? ram_zstd__finish(r->zstd, &r->batch) : ram_batch__finish(&r->batch);
	if (ret)
		return source__fail(r, ret, "building a RAM section: %s", strerror(-ret));
	iov = ram_batch__iov(&r->batch, &iovcnt);
	ret = source__sendv(r, SECTION_RAM, iov, iovcnt);
	if (ret)
		return ret;
	time_batch(r, r->s.bytes_out - before);
	rs->pages_sent += r->batch.pages;
	rs->zero_pages += r->batch.zero_pages;
	rs->zero_entries += r->batch.nr_zero + r->batch.nr_run;
	/* Per batch, so 'info migrate' moves during a long round. */
	migrate_stats__count_pages(&r->m->stats, r->batch.pages, r->batch.zero_pages,
				   r->batch.nr_zero + r->batch.nr_run, r->s.bytes_out);
	if (r->xbzrle) {
		xbzrle_cache__batch_done(r->xbzrle);
		migrate_stats__set_xbzrle(&r->m->stats, &r->xbzrle->n);
	}
	if (r->zstd)
		migrate_stats__set_zstd(&r->m->stats, &r->zstd->n);
	ram_batch__begin(&r->batch, rs->index);
	/* A vCPU whose dirty ring is full waits for this: harvest now, not
	 * at the round's end (the pages wait for the next sync). */
	if (dirty_log__harvest_wanted(&r->log)) {
		ret = dirty_log__harvest(&r->log, r->err, sizeof(r->err));
		if (ret)
			return source__fail(r, ret, "harvesting the dirty ring");
	}
	throttle(r);
	ret = source__dirty_limit_tick(r);
	r->batch_start_us = clock__mono_us();
	return ret;
}

/* RAM pages are numbered in the host mapping's order, and the first slot
 * ends at the PCI hole: a 64-page word of a page bitmap holds pages of one
 * slot only, adjacent in guest-physical space. */
_Static_assert(GUEST_PCI_HOLE_START / GUEST_PAGE_SIZE % 64 == 0,
	       "a bitmap word spans the PCI hole");

/* Sends every pending page: one round's RAM. */
static int send_pending(struct source_run *r, struct round_stats *rs)
{
	struct guest_memory *mem = &r->vm->mem;
	uint64_t page, left = rs->dirty_pages, unread = 0, n;
	uint64_t *populated = source__populated_pages(r, rs);
	int ret;

	ram_batch__begin(&r->batch, rs->index);
	while (dirty_log__next_dirty(&r->log, &page)) {
		if (populated && !(populated[page / 64] >> (page % 64) & 1)) {
			/* The untouched pages after it in its word go with it,
			 * a word at a time: an idle guest's round 0 is a
			 * million of them per 4 GiB. */
			n = 1 + dirty_log__take_run(&r->log, page, ~populated[page / 64]);
			ret = ram_batch__add_zeros(&r->batch,
						   guest_memory__page_gpa(mem, page), n);
			unread += n;
			left -= n - 1;
		} else if (r->xbzrle && rs->index) {
			/* Past round 0 (QEMU's bulk stage), from a snapshot. */
			ret = xbzrle_cache__add(r->xbzrle, &r->batch, page,
						guest_memory__page_gpa(mem, page),
						guest_memory__page_hva(mem, page));
		} else {
			ret = ram_batch__add_page(&r->batch, guest_memory__page_gpa(mem, page),
						  guest_memory__page_hva(mem, page));
		}
		if (ret) {
			ret = source__fail(r, ret, "adding a page to a RAM section: %s", strerror(-ret));
			goto out;
		}
		left--;
		if (ram_batch__full(&r->batch)) {
			ret = flush_batch(r, rs);
			if (ret)
				goto out;
			source__publish_progress(r, left);
			probe_round0(r, rs, left);
			if (source__cancelled(r)) {
				ret = source__fail(r, -ECANCELED, "cancelled");
				goto out;
			}
			if (left <= r->round_cut_pages) {
				rs->pages_left = left;
				break;
			}
		}
	}
	ret = flush_batch(r, rs);
out:
	free(populated);
	migrate_stats__count_unread(&r->m->stats, unread);
	return ret;
}

int source__send_round_end(struct source_run *r, uint32_t round, uint64_t pages, uint64_t bytes)
{
	struct round_end_msg msg = { .round = round, .pages = pages, .bytes = bytes };

	return source__send_end_of_round(r, &msg);
}

int source__send_end_of_round(struct source_run *r, const struct round_end_msg *msg)
{
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_round_end(&b, msg);
	ret = b.err ? source__fail(r, b.err, "out of memory") :
		      source__send(r, SECTION_ROUND_END, b.data, b.len);
	wbuf__free(&b);
	if (!ret)
		r->rounds_ended = msg->round + 1;
	return ret;
}

unsigned int source__stats_vcpus(const struct source_run *r)
{
	return r->vm->nr_cpus < MIGRATE_STATS_MAX_VCPUS ? r->vm->nr_cpus :
							   MIGRATE_STATS_MAX_VCPUS;
}

void source__vcpu_counts(struct source_run *r, struct round_stats *rs)
{
	uint64_t n[MIGRATE_STATS_MAX_VCPUS];
	unsigned int i;

	if (!r->log.ring)
		return;
	rs->nr_vcpus = source__stats_vcpus(r);
	dirty_log__take_vcpu_pages(&r->log, n, rs->nr_vcpus);
	for (i = 0; i < rs->nr_vcpus; i++)
		rs->vcpu_dirty_pages[i] = (uint32_t)n[i];
}

/* What the round added to the xbzrle counters. */
static void xbzrle_round(struct xbzrle_counters *d, const struct xbzrle_counters *a,
			 const struct xbzrle_counters *b)
{
	d->pages = b->pages - a->pages;
	d->bytes = b->bytes - a->bytes;
	d->hits = b->hits - a->hits;
	d->cache_miss = b->cache_miss - a->cache_miss;
	d->overflow = b->overflow - a->overflow;
	d->evictions = b->evictions - a->evictions;
	d->not_cached = b->not_cached - a->not_cached;
	d->bytes_saved = b->bytes_saved - a->bytes_saved;
}

/* What the round added to the zstd counters. */
static void zstd_round(struct zstd_counters *d, const struct zstd_counters *a,
		       const struct zstd_counters *b)
{
	d->raw_bytes = b->raw_bytes - a->raw_bytes;
	d->sent_bytes = b->sent_bytes - a->sent_bytes;
	d->pages = b->pages - a->pages;
	d->frames = b->frames - a->frames;
	d->raw_batches = b->raw_batches - a->raw_batches;
	d->skipped = b->skipped - a->skipped;
	d->cpu_us = b->cpu_us - a->cpu_us;
}

/* round-end fit: the pages that would fit the downtime limit at the last
 * round's link rate. A round whose whole dirty set fits already is sent
 * whole (cutting it would only make rounds of one batch), and so are
 * round 0 (the full pass the forecast measures) and the stop-and-copy. */
static uint64_t round_cut(const struct source_run *r, const struct round_stats *rs)
{
	double fit;

	if (!r->params.round_end_fit || !rs->index || r->paused_by_us ||
	    !r->params.downtime_limit_ms || !(r->last_link_bps > 0))
		return 0;
	fit = r->last_link_bps * (double)r->params.downtime_limit_ms / 1000.0 /
	      (GUEST_PAGE_SIZE + RAM_ENTRY_LEN);
	return fit < (double)rs->dirty_pages ? (uint64_t)fit : 0;
}

/* One round: send what is pending, then record it. */
int source__run_round(struct source_run *r, uint32_t index, struct round_stats *rs)
{
	struct migrate_stats *st = &r->m->stats;
	uint64_t t0 = clock__mono_us(), bytes0 = r->s.bytes_out, slept0 = r->bw_slept_us;
	struct xbzrle_counters x0 = r->xbzrle ? r->xbzrle->n : (struct xbzrle_counters){ 0 };
	struct zstd_counters z0 = r->zstd ? r->zstd->n : (struct zstd_counters){ 0 };
	struct round_end_msg end = { .round = index };
	uint64_t ram0, d0;
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->index = index;
	rs->start_us = t0 - st->start_mono_us;
	rs->dirty_pages = dirty_log__count_pending(&r->log);
	source__vcpu_counts(r, rs);
	r->round_cut_pages = round_cut(r, rs);
	r->batch_start_us = t0;
	r->data_bytes = r->data_us = 0;
	source__throttle_round_begin(r, rs);
	rs->dirty_blocks = source_blk__remaining(r) / BLK_DIRTY_BLOCK;
	/* The disk's part first (source_blk.c says why). */
	d0 = clock__mono_us();
	ret = source_blk__send_round(r, index, &end.block_sections, &end.block_bytes);
	rs->disk_bytes = end.block_bytes;
	rs->disk_us = clock__mono_us() - d0;
	/* The forecast times page data only. */
	r->batch_start_us = clock__mono_us();
	ram0 = r->s.bytes_out;
	if (!ret)
		ret = send_pending(r, rs);
	if (!ret) {
		end.pages = rs->pages_sent;
		end.bytes = r->s.bytes_out - ram0;
		ret = source__send_end_of_round(r, &end);
	}
	if (ret)
		return ret;
	rs->bytes = r->s.bytes_out - bytes0;
	if (r->xbzrle)
		xbzrle_round(&rs->xbzrle, &x0, &r->xbzrle->n);
	if (r->zstd)
		zstd_round(&rs->zstd, &z0, &r->zstd->n);
	rs->duration_us = clock__mono_us() - t0;
	rs->throttle_us = r->bw_slept_us - slept0;
	rs->bandwidth_bps = rs->duration_us ? rs->bytes * 1e6 / rs->duration_us : 0;
	rs->link_bps = rs->duration_us > rs->throttle_us ?
		rs->bytes * 1e6 / (double)(rs->duration_us - rs->throttle_us) : 0;
	r->last_link_bps = rs->link_bps;
	source__throttle_round_end(r, rs);
	migrate_stats__lock(st);
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
	return 0;
}

/* Reads the dirty log after a round; fills the round's dirty rate and
 * log-read time. Returns pages now pending, or -errno. The rate counts
 * only pages the read added (those a cut round left pending were dirty
 * before it), over the time since the read before: the pages it adds
 * were dirtied then, the moments between that read and the round's
 * start included. */
static int64_t sync_after(struct source_run *r, struct round_stats *rs)
{
	int64_t n = dirty_log__sync(&r->log, r->err, sizeof(r->err));
	uint64_t now = clock__mono_us(), since = now - r->log_read_mono_us;

	if (n < 0)
		return n;
	r->log_read_mono_us = now;
	rs->log_get_us = r->log.last_get_us;
	rs->log_clear_us = r->log.last_clear_us;
	rs->log_read_us = rs->log_get_us + rs->log_clear_us;
	rs->ring_full_exits = r->log.last_full_exits;
	rs->ring_wait_us = r->log.last_wait_us;
	rs->dirty_rate_pps = since ? (double)((uint64_t)n - rs->pages_left) * 1e6 / since : 0;
	source__publish_progress(r, (uint64_t)n);
	return n;
}

/* Round 0 has measured both rates: predict the rest, to be compared with
 * what happens (the summary and the JSON show both). */
static void record_forecast(struct source_run *r, const struct round_stats *rs, uint64_t pending)
{
	struct migrate_stats *st = &r->m->stats;
	struct forecast_input in = {
		.pending_pages = pending,
		.window_us = clock__mono_us() - (st->start_mono_us + rs->start_us),
		.probe_pages = r->probe_pages, .probe_us = r->probe_us,
		/* Without a data batch (all zero pages), the link's rate. */
		.bandwidth_bps = r->data_us ? r->data_bytes * 1e6 / (double)r->data_us : rs->link_bps,
		.round0_bps = rs->link_bps,
		/* Each page costs its entry in the RAM section too. */
		.page_bytes = GUEST_PAGE_SIZE + RAM_ENTRY_LEN,
		.device_state_bytes = vm_sections__state_estimate(r->vm),
		.ram_size = r->vm->mem.size, .bytes_sent = r->s.bytes_out,
		.elapsed_us = clock__mono_us() - st->start_mono_us,
	};
	struct migrate_forecast f;

	forecast__predict(&r->params, &in, &f);
	migrate_stats__lock(st);
	st->forecast = f;
	migrate_stats__unlock(st);
}

int source__precopy(struct source_run *r, uint32_t *rounds)
{
	struct migrate_stats *st = &r->m->stats;
	struct policy_decision d = { 0 };
	struct round_stats rs;
	uint32_t k;
	bool raised;
	int64_t n;
	int ret;

	for (k = 0;; k++) {
		ret = source__run_round(r, k, &rs);
		if (ret)
			return ret;
		n = sync_after(r, &rs);
		if (n < 0)
			return source__fail(r, (int)n, "reading the dirty log");
		ret = source__take_round_done(r, 0, 0);
		if (ret)
			return ret;
		/* As QEMU's rule: what the guest dirtied, not what a cut
		 * round carried over. */
		raised = source__throttle_after_sync(r, (uint64_t)n - rs.pages_left);
		r->link_queued = source__link_queued(r);
		r->drain_link = policy__drain_pays(rs.dirty_rate_pps, GUEST_PAGE_SIZE,
						   rs.link_bps);
		struct policy_input in = {
			.round = k, .dirty_pages = (uint64_t)n, .page_size = GUEST_PAGE_SIZE,
			.round_pages = rs.pages_sent, .carried_pages = rs.pages_left,
			/* The stop-and-copy is not throttled: its rate, not
			 * the average under max-bandwidth, sets the downtime. */
			.bandwidth_bps = rs.link_bps, .bytes_sent_total = r->s.bytes_out,
			.ram_size = r->vm->mem.size,
			.device_state_bytes = vm_sections__state_estimate(r->vm),
			/* The disk's dirty blocks go in the downtime too. */
			.disk_dirty_bytes = source_blk__remaining(r),
			.disk_size = source_blk__total(r),
			.link_queued_bytes = r->drain_link ? 0 : r->link_queued,
			.throttle_raised = raised,
		};
		ret = policy__decide(&r->policy, &in, &d);
		rs.expected_downtime_ms = d.expected_downtime_ms;
		migrate_stats__add_round(st, &rs);
		if (k == 0)
			record_forecast(r, &rs, (uint64_t)n);
		if (ret)
			return source__fail(r, ret, "convergence policy refused its input");
		if (source__cancelled(r))
			return source__fail(r, -ECANCELED, "cancelled");
		if (d.action == POLICY_CANCEL) {
			migrate_stats__lock(st);
			st->stop_reason = d.reason;
			migrate_stats__unlock(st);
			/* Not the user's cancel: the migration failed, by rule. */
			return source__fail(r, -EAGAIN, "gave up after round %u: %s (stall-action cancel)",
				    k, stop_reason__name(d.reason));
		}
		if (d.action == POLICY_STOP_COPY)
			break;
	}
	migrate_stats__lock(st);
	st->stop_reason = d.reason;
	migrate_stats__unlock(st);
	*rounds = k + 1;
	return 0;
}

