#include "migrate_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "guest_memory.h"
#include "outbuf.h"

/* The summary shows at most this many rounds: the first and last halves. */
#define SUMMARY_ROWS 40
#define MIB (1024.0 * 1024.0)

/* Readers get a const pointer but must still take the lock; the mutex is
 * the one member that changes under a const view. */
static pthread_mutex_t *lock_of(const struct migrate_stats *s)
{
	return (pthread_mutex_t *)&s->lock;
}

int migrate_stats__init(struct migrate_stats *s)
{
	pthread_mutexattr_t attr;
	int ret;

	memset(s, 0, sizeof(*s));
	s->rounds_max = MIGRATE_STATS_MAX_ROUNDS;
	ret = pthread_mutexattr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return -ret;
}

void migrate_stats__free(struct migrate_stats *s)
{
	free(s->rounds_v);
	s->rounds_v = NULL;
	s->rounds_len = s->rounds_cap = 0;
	pthread_mutex_destroy(&s->lock);
}

void migrate_stats__lock(struct migrate_stats *s)
{
	pthread_mutex_lock(&s->lock);
}

void migrate_stats__unlock(struct migrate_stats *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* Clears the previous migration's record, keeping the lock, the status
 * and the rounds bound. */
static void clear_record(struct migrate_stats *s)
{
	size_t max = s->rounds_max;

	free(s->rounds_v);
	memset((char *)s + offsetof(struct migrate_stats, error), 0,
	       sizeof(*s) - offsetof(struct migrate_stats, error));
	s->rounds_max = max;
}

void migrate_stats__set_listener(struct migrate_stats *s, migrate_status_fn fn, void *ctx)
{
	migrate_stats__lock(s);
	s->listener = fn;
	s->listener_ctx = ctx;
	migrate_stats__unlock(s);
}

/* Under the lock, so listeners see the moves in the order they were made. */
static void tell_listener(struct migrate_stats *s, enum migrate_status st)
{
	if (s->listener)
		s->listener(s->listener_ctx, st);
}

int migrate_stats__start(struct migrate_stats *s, const char *uri)
{
	int ret;

	migrate_stats__lock(s);
	ret = migrate_state__begin(&s->state);
	if (!ret) {
		clear_record(s);
		snprintf(s->uri, sizeof(s->uri), "%s", uri ? uri : "");
		s->start_time_unix_us = clock__us(CLOCK_REALTIME);
		s->start_mono_us = clock__us(CLOCK_MONOTONIC);
		tell_listener(s, MIGRATE_STATUS_SETUP);
	}
	migrate_stats__unlock(s);
	return ret;
}

int migrate_stats__move(struct migrate_stats *s, enum migrate_status from,
			enum migrate_status to)
{
	int ret;

	migrate_stats__lock(s);
	ret = migrate_state__move(&s->state, from, to);
	if (!ret && migrate_status__is_final(to) && !s->total_us && s->start_mono_us)
		s->total_us = clock__us(CLOCK_MONOTONIC) - s->start_mono_us;
	if (!ret)
		tell_listener(s, to);
	migrate_stats__unlock(s);
	return ret;
}

int migrate_stats__set_status(struct migrate_stats *s, enum migrate_status st)
{
	int ret;

	migrate_stats__lock(s);
	ret = migrate_stats__move(s, migrate_state__get(&s->state), st);
	migrate_stats__unlock(s);
	return ret;
}

enum migrate_status migrate_stats__status(const struct migrate_stats *s)
{
	return migrate_state__get(&s->state);
}

void migrate_stats__set_error(struct migrate_stats *s, const char *fmt, ...)
{
	va_list ap;

	migrate_stats__lock(s);
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	migrate_stats__unlock(s);
}

void migrate_stats__count_pages(struct migrate_stats *s, uint64_t pages, uint64_t zero_pages,
				uint64_t zero_entries, uint64_t stream_bytes)
{
	migrate_stats__lock(s);
	s->pages_total += pages;
	s->zero_pages_total += zero_pages;
	s->zero_entries_total += zero_entries;
	s->ram_transferred += (pages - zero_pages) * GUEST_PAGE_SIZE;
	s->bytes_total = stream_bytes;
	migrate_stats__unlock(s);
}

void migrate_stats__set_xbzrle(struct migrate_stats *s, const struct xbzrle_counters *now)
{
	migrate_stats__lock(s);
	s->ram_transferred -= now->bytes_saved - s->xbzrle.bytes_saved;
	s->xbzrle = *now;
	migrate_stats__unlock(s);
}

void migrate_stats__set_zstd(struct migrate_stats *s, const struct zstd_counters *now)
{
	migrate_stats__lock(s);
	s->ram_transferred -= (now->raw_bytes - now->sent_bytes) -
			      (s->zstd.raw_bytes - s->zstd.sent_bytes);
	s->zstd = *now;
	migrate_stats__unlock(s);
}

void migrate_stats__count_unread(struct migrate_stats *s, uint64_t pages)
{
	migrate_stats__lock(s);
	s->pages_skipped_unread += pages;
	migrate_stats__unlock(s);
}

void migrate_stats__set_downtime(struct migrate_stats *s, const struct downtime_marks *m)
{
	uint64_t ready = m->ready ? m->ready : m->end;

	migrate_stats__lock(s);
	s->downtime_us = m->end - m->pause;
	s->downtime_pause_us = m->paused - m->pause;
	s->downtime_last_ram_us = m->last_ram - m->paused;
	s->downtime_state_us = m->state - m->last_ram;
	s->downtime_ready_us = ready - m->state;
	s->downtime_resumed_us = m->end - ready;
	s->downtime_resume_us = m->end - m->state;
	migrate_stats__unlock(s);
}

static int grow_rounds(struct migrate_stats *s)
{
	size_t cap = s->rounds_cap ? s->rounds_cap * 2 : 64;
	struct round_stats *v;

	if (cap > s->rounds_max)
		cap = s->rounds_max;
	v = realloc(s->rounds_v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->rounds_v = v;
	s->rounds_cap = cap;
	return 0;
}

int migrate_stats__add_round(struct migrate_stats *s,
			     const struct round_stats *r)
{
	int ret = 0;

	migrate_stats__lock(s);
	if (s->rounds < UINT32_MAX)
		s->rounds++;
	if (s->rounds_len >= s->rounds_max)
		ret = -ENOSPC;
	else if (s->rounds_len == s->rounds_cap)
		ret = grow_rounds(s);
	if (!ret)
		s->rounds_v[s->rounds_len++] = *r;
	migrate_stats__unlock(s);
	return ret;
}

static uint64_t elapsed_locked(const struct migrate_stats *s)
{
	enum migrate_status st = migrate_state__get(&s->state);
	uint64_t now;

	if (migrate_status__is_final(st) || st == MIGRATE_STATUS_NONE || !s->start_mono_us)
		return s->total_us;
	now = clock__us(CLOCK_MONOTONIC);
	return now > s->start_mono_us ? now - s->start_mono_us : 0;
}

uint64_t migrate_stats__elapsed_us(const struct migrate_stats *s)
{
	uint64_t v;

	pthread_mutex_lock(lock_of(s));
	v = elapsed_locked(s);
	pthread_mutex_unlock(lock_of(s));
	return v;
}

/* --- text output ------------------------------------------------------- */

/* Small fixed buffers for numbers inside one printf call. */
struct numtext {
	char s[32];
};

static struct numtext bytes_text(uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	struct numtext t;
	double x = (double)v;
	int i = -1;

	while (x >= 1024.0 && i < 3) {
		x /= 1024.0;
		i++;
	}
	if (i < 0)
		snprintf(t.s, sizeof(t.s), "%" PRIu64 " B", v);
	else
		snprintf(t.s, sizeof(t.s), "%.1f %s", x, units[i]);
	return t;
}

/* "-" for NaN and infinities: unknown, not a number to read. */
static struct numtext fixed_text(double v, int prec)
{
	struct numtext t;

	if (isfinite(v))
		snprintf(t.s, sizeof(t.s), "%.*f", prec, v);
	else
		snprintf(t.s, sizeof(t.s), "-");
	return t;
}

static struct numtext us_text(uint64_t us)
{
	struct numtext t;

	if (us >= 1000000)
		snprintf(t.s, sizeof(t.s), "%.3f s", (double)us / 1e6);
	else
		snprintf(t.s, sizeof(t.s), "%.3f ms", (double)us / 1e3);
	return t;
}

static void info_round(struct outbuf *o, const struct round_stats *r)
{
	outbuf__printf(o, "last round: #%" PRIu32 ", %s, dirty %" PRIu64 ", sent %"
	    PRIu64 " (zero %" PRIu64 "), %s MiB/s, dirty rate %s pages/s, "
	    "log read %s\n", r->index, us_text(r->duration_us).s,
	    r->dirty_pages, r->pages_sent, r->zero_pages,
	    fixed_text(r->bandwidth_bps / MIB, 1).s,
	    fixed_text(r->dirty_rate_pps, 0).s, us_text(r->log_read_us).s);
}

/* The dirty ring's line: its ring-full exits and the vCPUs' wait so far,
 * and each vCPU's share of the last round's dirty pages. */
static void ring_totals(const struct migrate_stats *s, uint64_t *exits, uint64_t *wait_us)
{
	size_t k;

	*exits = *wait_us = 0;
	for (k = 0; k < s->rounds_len; k++) {
		*exits += s->rounds_v[k].ring_full_exits;
		*wait_us += s->rounds_v[k].ring_wait_us;
	}
}

static void info_ring(struct outbuf *o, const struct migrate_stats *s,
		      const struct round_stats *last)
{
	uint64_t exits, wait_us;
	uint32_t i;

	if (!last || !last->nr_vcpus)
		return;
	ring_totals(s, &exits, &wait_us);
	outbuf__printf(o, "dirty ring: %" PRIu64 " ring-full exits, vCPUs waited %s; "
	    "last round's pages by vCPU:", exits, us_text(wait_us).s);
	for (i = 0; i < last->nr_vcpus; i++)
		outbuf__printf(o, " %" PRIu32, last->vcpu_dirty_pages[i]);
	outbuf__printf(o, "\n");
}

/* Percent done and ETA only make sense against what is left now: pre-copy
 * sends more than RAM in total, so transferred/total would pass 100%. */
static void info_ram(struct outbuf *o, const struct migrate_stats *s,
		     const struct round_stats *last)
{
	uint64_t left = s->ram_remaining;
	double bw = last ? last->bandwidth_bps : NAN;

	outbuf__printf(o, "ram: %s transferred, %s remaining",
	    bytes_text(s->ram_transferred).s, bytes_text(left).s);
	if (s->ram_total) {
		if (left > s->ram_total)
			left = s->ram_total;
		outbuf__printf(o, " of %s (%.1f%% done)", bytes_text(s->ram_total).s,
		    100.0 * (double)(s->ram_total - left) /
		    (double)s->ram_total);
	}
	if (migrate_status__is_final(migrate_state__get(&s->state)))
		outbuf__printf(o, "\n");
	else if (isfinite(bw) && bw > 0.0)
		outbuf__printf(o, "\neta: %.3f s at %s MiB/s (remaining / bandwidth; "
		    "new dirty pages come on top)\n", (double)left / bw,
		    fixed_text(bw / MIB, 1).s);
	else
		outbuf__printf(o, "\neta: unknown (no bandwidth measured yet)\n");
}

/* QEMU's HMP lines for block migration, in kbytes as it showed them. */
static void info_disk(struct outbuf *o, const struct migrate_stats *s)
{
	if (s->disk_total)
		outbuf__printf(o, "transferred disk: %" PRIu64 " kbytes\nremaining disk: %" PRIu64
		    " kbytes\ntotal disk: %" PRIu64 " kbytes\n", s->disk_transferred >> 10,
		    s->disk_remaining >> 10, s->disk_total >> 10);
}

struct breakdown_text {
	char s[256];
};

/* The downtime's parts, in order, summing to it. */
static struct breakdown_text breakdown_text(const struct migrate_stats *s)
{
	struct breakdown_text t;

	snprintf(t.s, sizeof(t.s), "pause %s + last pages %s + state %s + ready %s + "
		 "resumed %s", us_text(s->downtime_pause_us).s,
		 us_text(s->downtime_last_ram_us).s, us_text(s->downtime_state_us).s,
		 us_text(s->downtime_ready_us).s, us_text(s->downtime_resumed_us).s);
	return t;
}

/* auto-converge, once it has throttled: the share in force now (0 once
 * the migration ended), the last one, and each vCPU's time slept. */
static void info_throttle(struct outbuf *o, const struct migrate_stats *s)
{
	uint32_t i;

	if (s->dirty_limit_active) {
		outbuf__printf(o, "dirty limit: on; vcpu throttle now:");
		for (i = 0; i < s->nr_throttled_vcpus && i < MIGRATE_STATS_MAX_VCPUS; i++)
			outbuf__printf(o, " %" PRIu32 "=%" PRIu32 "%%", i, s->vcpu_throttle_pct[i]);
		outbuf__printf(o, "\nvcpu throttled:");
		for (i = 0; i < s->nr_throttled_vcpus && i < MIGRATE_STATS_MAX_VCPUS; i++)
			outbuf__printf(o, " %" PRIu32 "=%s", i, us_text(s->vcpu_throttled_us[i]).s);
		outbuf__printf(o, "\n");
		return;
	}
	if (!s->cpu_throttle_steps)
		return;
	outbuf__printf(o, "cpu throttle: %" PRIu32 " %%\n", s->cpu_throttle_pct);
	outbuf__printf(o, "cpu throttle last: %" PRIu32 " %%, raised %" PRIu32 " times\n",
	    s->cpu_throttle_final_pct, s->cpu_throttle_steps);
	outbuf__printf(o, "vcpu throttled:");
	for (i = 0; i < s->nr_throttled_vcpus && i < MIGRATE_STATS_MAX_VCPUS; i++)
		outbuf__printf(o, " %" PRIu32 "=%s", i, us_text(s->vcpu_throttled_us[i]).s);
	outbuf__printf(o, "\n");
}

static void info_end(struct outbuf *o, const struct migrate_stats *s)
{
	if (s->stop_reason != STOP_NONE)
		outbuf__printf(o, "stop reason: %s\n", stop_reason__name(s->stop_reason));
	if (migrate_state__get(&s->state) == MIGRATE_STATUS_COMPLETED)
		outbuf__printf(o, "downtime: %s = %s\n", us_text(s->downtime_us).s,
		    breakdown_text(s).s);
	if (s->link_drain_us)
		outbuf__printf(o, "before the pause: waited %s for the link to carry %s\n",
		    us_text(s->link_drain_us).s, bytes_text(s->link_queued_bytes).s);
	if (s->error[0])
		outbuf__printf(o, "error: %.*s\n", (int)sizeof(s->error), s->error);
}

/* QEMU's 'info migrate' xbzrle lines, and what the deltas saved. */
static void info_xbzrle(struct outbuf *o, const struct migrate_stats *s)
{
	const struct xbzrle_counters *x = &s->xbzrle;
	uint64_t lookups = x->hits + x->cache_miss;

	outbuf__printf(o, "xbzrle: cache %" PRIu64 " bytes, %" PRIu64 " pages as deltas in %"
	    PRIu64 " bytes, saved %" PRIu64 " bytes\n", s->xbzrle_cache_size, x->pages, x->bytes,
	    x->bytes_saved);
	outbuf__printf(o, "xbzrle: %" PRIu64 " hits, %" PRIu64 " misses (miss rate %s), %"
	    PRIu64 " overflows, %" PRIu64 " evictions, %" PRIu64 " not cached, encoding rate %s\n", x->hits,
	    x->cache_miss, fixed_text(lookups ? (double)x->cache_miss / (double)lookups : NAN, 3).s,
	    x->overflow, x->evictions, x->not_cached,
	    fixed_text(x->bytes ? (double)x->pages * GUEST_PAGE_SIZE / (double)x->bytes : NAN, 2).s);
}

/* What zstd did: bytes in and out, the ratio, its CPU time. */
static void info_zstd(struct outbuf *o, const struct migrate_stats *s)
{
	const struct zstd_counters *z = &s->zstd;

	outbuf__printf(o, "zstd: level %" PRIu32 ", %" PRIu64 " page bytes in %" PRIu64
	    " bytes (ratio %s), %" PRIu64 " pages in %" PRIu64 " frames, %" PRIu64
	    " batches sent whole (%" PRIu64 " untried), cpu %s\n", s->zstd_level, z->raw_bytes,
	    z->sent_bytes,
	    fixed_text(z->sent_bytes ? (double)z->raw_bytes / (double)z->sent_bytes : NAN, 2).s,
	    z->pages, z->frames, z->raw_batches, z->skipped, us_text(z->cpu_us).s);
}

void migrate_stats__format_info(const struct migrate_stats *s, char *buf,
				size_t len)
{
	const struct round_stats *last = NULL;
	struct outbuf o;

	outbuf__init(&o, buf, len);
	pthread_mutex_lock(lock_of(s));
	if (s->rounds_len)
		last = &s->rounds_v[s->rounds_len - 1];
	outbuf__printf(&o, "status: %s\n", migrate_status__name(migrate_state__get(&s->state)));
	if (s->uri[0])
		outbuf__printf(&o, "uri: %.*s\n", (int)sizeof(s->uri), s->uri);
	outbuf__printf(&o, "elapsed: %s\n", us_text(elapsed_locked(s)).s);
	if (s->setup_us)
		outbuf__printf(&o, "setup: %s\n", us_text(s->setup_us).s);
	outbuf__printf(&o, "rounds: %" PRIu32 "\n", s->rounds);
	if (s->dirty_log_mode[0])
		outbuf__printf(&o, "dirty log: %.*s\n", (int)sizeof(s->dirty_log_mode),
		    s->dirty_log_mode);
	if (last)
		info_round(&o, last);
	info_ring(&o, s, last);
	info_ram(&o, s, last);
	info_disk(&o, s);
	if (s->pages_total)
		outbuf__printf(&o, "pages: %" PRIu64 " sent, %" PRIu64 " zero in %" PRIu64
		    " entries, of which %" PRIu64 " skipped unread (never populated)\n",
		    s->pages_total, s->zero_pages_total, s->zero_entries_total,
		    s->pages_skipped_unread);
	if (s->xbzrle_on)
		info_xbzrle(&o, s);
	if (s->zstd_on)
		info_zstd(&o, s);
	outbuf__printf(&o, "expected downtime: %s ms\n",
	    fixed_text(last ? last->expected_downtime_ms : NAN, 1).s);
	if (s->forecast.valid)
		outbuf__printf(&o, "forecast after round 0: %" PRIu32 " rounds, %s total, "
		    "%s ms downtime\n", s->forecast.rounds, us_text(s->forecast.total_us).s,
		    fixed_text(s->forecast.downtime_ms, 1).s);
	info_throttle(&o, s);
	info_end(&o, s);
	pthread_mutex_unlock(lock_of(s));
}

static void summary_row(struct outbuf *o, const struct round_stats *r)
{
	outbuf__printf(o, "%6" PRIu32 " %9s %10" PRIu64 " %10" PRIu64 " %9" PRIu64
	    " %8s %8s %10s %9s %7s\n", r->index,
	    fixed_text((double)r->duration_us / 1e3, 1).s, r->dirty_pages,
	    r->pages_sent, r->zero_pages,
	    fixed_text(r->bandwidth_bps / MIB, 1).s,
	    fixed_text(r->link_bps / MIB, 1).s,
	    fixed_text(r->dirty_rate_pps, 0).s,
	    fixed_text(r->expected_downtime_ms, 1).s,
	    fixed_text((double)r->log_read_us / 1e3, 2).s);
}

/* Long migrations show the first and last rounds: the start (the full
 * pass) and the end (convergence or the stall) are what a reader needs. */
static void summary_table(struct outbuf *o, const struct migrate_stats *s)
{
	size_t i, n = s->rounds_len, half = SUMMARY_ROWS / 2;

	if (!n)
		return;
	outbuf__printf(o, "%6s %9s %10s %10s %9s %8s %8s %10s %9s %7s\n", "round", "ms",
	    "dirty", "sent", "zero", "MiB/s", "link", "dirty/s", "exp.dt ms",
	    "log ms");
	for (i = 0; i < n; i++) {
		if (n > SUMMARY_ROWS && i == half) {
			outbuf__printf(o, "%6s (%zu rounds not shown)\n", "...",
			    n - SUMMARY_ROWS);
			i = n - half;
		}
		summary_row(o, &s->rounds_v[i]);
	}
	if (s->rounds > n)
		outbuf__printf(o, "(%" PRIu64 " later rounds not recorded: limit of "
		    "%zu)\n", (uint64_t)s->rounds - n, s->rounds_max);
}

static void summary_forecast(struct outbuf *o, const struct migrate_stats *s)
{
	const struct migrate_forecast *f = &s->forecast;

	if (!f->valid)
		return;
	outbuf__printf(o, "forecast: %" PRIu32 " rounds, %s total, %s ms downtime, %s "
	    "(actual: %" PRIu32 ", %s, %s, %s)\n", f->rounds,
	    us_text(f->total_us).s, fixed_text(f->downtime_ms, 1).s, bytes_text(f->bytes).s,
	    s->rounds, us_text(s->total_us).s, us_text(s->downtime_us).s,
	    bytes_text(s->bytes_total).s);
}

static void summary_totals(struct outbuf *o, const struct migrate_stats *s)
{
	double factor = s->ram_total ?
		(double)s->ram_transferred / (double)s->ram_total : NAN;

	outbuf__printf(o, "migration %s after %s, stop reason: %s\n",
	    migrate_status__name(migrate_state__get(&s->state)), us_text(s->total_us).s,
	    stop_reason__name(s->stop_reason));
	if (s->error[0])
		outbuf__printf(o, "error: %.*s\n", (int)sizeof(s->error), s->error);
	outbuf__printf(o, "setup %s, downtime %s, rounds %" PRIu32 ", cpu %s\n",
	    us_text(s->setup_us).s, us_text(s->downtime_us).s, s->rounds,
	    us_text(s->cpu_time_us).s);
	if (s->downtime_us)
		outbuf__printf(o, "downtime = %s\n", breakdown_text(s).s);
	outbuf__printf(o, "ram %s, page data sent %s (%sx ram), on the wire %s\n",
	    bytes_text(s->ram_total).s, bytes_text(s->ram_transferred).s,
	    fixed_text(factor, 2).s, bytes_text(s->bytes_total).s);
	outbuf__printf(o, "pages sent %" PRIu64 " (zero %" PRIu64 " in %" PRIu64 " entries, of "
	    "which unread %" PRIu64 "), device state %s, dirty log %.*s\n", s->pages_total,
	    s->zero_pages_total, s->zero_entries_total, s->pages_skipped_unread,
	    bytes_text(s->device_state_bytes).s,
	    (int)sizeof(s->dirty_log_mode),
	    s->dirty_log_mode[0] ? s->dirty_log_mode : "-");
	if (s->rounds_len && s->rounds_v[0].nr_vcpus) {
		uint64_t exits, wait_us;

		ring_totals(s, &exits, &wait_us);
		outbuf__printf(o, "dirty ring: %" PRIu64 " ring-full exits, vCPUs waited %s\n",
		    exits, us_text(wait_us).s);
	}
}

void migrate_stats__format_summary(const struct migrate_stats *s, char *buf,
				   size_t len)
{
	struct outbuf o;

	outbuf__init(&o, buf, len);
	pthread_mutex_lock(lock_of(s));
	summary_totals(&o, s);
	info_disk(&o, s);
	if (s->xbzrle_on)
		info_xbzrle(&o, s);
	if (s->zstd_on)
		info_zstd(&o, s);
	summary_forecast(&o, s);
	info_throttle(&o, s);
	summary_table(&o, s);
	pthread_mutex_unlock(lock_of(s));
}
