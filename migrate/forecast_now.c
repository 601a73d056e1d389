/* `forecast` before anything is sent: watch the guest's dirty log over two
 * windows, count RAM's non-zero pages, and run the forecast's model from
 * round 0 on. The dirty log is held as calc-dirty-rate holds it. */
#include "migration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dirty_log.h"
#include "errmsg.h"
#include "guest_memory.h"
#include "mem_zero.h"
#include "migrate_forecast.h"
#include "migration_internal.h"
#include "outbuf.h"
#include "stream.h"
#include "vm.h"
#include "vm_sections.h"

/* As round 0 would: pages the host never populated are zero without a
 * look (reading them would map them, and the migration after this would
 * then have to read them too); the rest are tested where they lie. Timed,
 * as round 0 will spend the same on the pages it finds zero: the look at
 * the page map, and their share of the tests (a data page's test is part
 * of sending it, which the link's rate covers). */
static void count_data(struct guest_memory *mem, struct forecast_start *s)
{
	uint64_t page, n = mem->size / GUEST_PAGE_SIZE, tested = 0, start = clock__mono_us();
	/* Where the second slot starts (past the PCI hole): a run ends there. */
	uint64_t hole = mem->nr_slots > 1 ? mem->slots[1].ram_offset / GUEST_PAGE_SIZE : n;
	bool zero, last_zero;
	uint64_t *populated = calloc((n + 63) / 64, sizeof(uint64_t)), map_us, test_us = 0;
	int pass;
	char why[128];

	if (populated && guest_memory__populated(mem, populated, why, sizeof(why))) {
		free(populated);
		populated = NULL;
	}
	map_us = clock__mono_us() - start;
	/* Twice, the faster pass timed: one pass here now and then took
	 * twice as long as round 0's own. */
	for (pass = 0; pass < 2; pass++) {
		uint64_t t0 = clock__mono_us();

		tested = s->data_pages = s->zero_entries = 0;
		last_zero = false;
		for (page = 0; page < n; page++) {
			zero = true;
			if (!populated || populated[page / 64] >> (page % 64) & 1) {
				tested++;
				zero = mem__is_zero(guest_memory__page_hva(mem, page),
						    RAM_PAGE_SIZE);
			}
			/* A zero page after another (not across the PCI
			 * hole) extends its run; any other starts one. */
			s->data_pages += !zero;
			s->zero_entries += zero && (!last_zero || page == hole);
			last_zero = zero;
		}
		t0 = clock__mono_us() - t0;
		if (!pass || t0 < test_us)
			test_us = t0;
	}
	s->zero_pages = n - s->data_pages;
	s->scan_us = map_us + (tested ? test_us * (tested - s->data_pages) / tested : 0);
	free(populated);
}

/* One window: dirty pages over us, then the pending set emptied. With
 * tm_us, also a look half-way, without taking the pages (*tm_us stays 0
 * where the log allows no such look: the plain dirty log). */
static int window(struct migration *m, struct dirty_log *log, uint64_t us, uint64_t *scratch,
		  uint64_t *t_us, uint64_t *pages, uint64_t *tm_us, uint64_t *wm, char *err,
		  size_t errlen)
{
	uint64_t t0 = clock__mono_us(), waited = 0;
	char why[128];	/* a failed look only costs the third point */
	int64_t n;

	if (tm_us) {
		if (!migration__wait_harvesting(m, log, us / 2))
			return errmsg__fail(-ECANCELED, err, errlen, "the VM ended first");
		waited = us / 2;
		n = dirty_log__peek_count(log, why, sizeof(why));
		if (n > 0) {
			*tm_us = clock__mono_us() - t0;
			*wm = (uint64_t)n;
		}
	}
	if (!migration__wait_harvesting(m, log, us - waited))
		return errmsg__fail(-ECANCELED, err, errlen, "the VM ended first");
	n = dirty_log__sync(log, err, errlen);
	if (n < 0)
		return (int)n;
	*t_us = clock__mono_us() - t0;
	*pages = (uint64_t)n;
	dirty_log__take_pending(log, scratch);
	return 0;
}

/* A quarter of the time, then the rest with a look half-way through it:
 * W at three lengths. */
static int measure(struct migration *m, uint64_t us, struct forecast_now *out, char *err,
		   size_t errlen)
{
	struct dirty_log log = { 0 };
	uint64_t *scratch, start;
	int ret;

	scratch = calloc((m->vm->mem.size / GUEST_PAGE_SIZE + 63) / 64, sizeof(uint64_t));
	if (!scratch)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	start = clock__mono_us();
	ret = dirty_log__start(&log, m->vm,
			       m->force_plain_log, err, errlen);
	out->log_start_us = clock__mono_us() - start;
	if (!ret)
		ret = window(m, &log, us / 4, scratch, &out->start.t1_us, &out->start.w1, NULL,
			     NULL, err, errlen);
	if (!ret)
		ret = window(m, &log, us - us / 4, scratch, &out->start.t2_us, &out->start.w2,
			     &out->start.tm_us, &out->start.wm, err, errlen);
	if (!ret)
		snprintf(out->dirty_log_mode, sizeof(out->dirty_log_mode), "%s",
			 dirty_log__mode_name(&log));
	dirty_log__stop(&log);
	free(scratch);
	return ret;
}

/* The link: asked for, else max-bandwidth, else the last migration's
 * measured rate of page data; none of them known is a refusal. */
static int pick_link(struct migration *m, const struct migrate_params *p, uint64_t bandwidth,
		     struct forecast_now *out, char *err, size_t errlen)
{
	double last;

	migrate_stats__lock(&m->stats);
	last = m->stats.forecast.valid ? m->stats.forecast.bandwidth_bps : 0;
	migrate_stats__unlock(&m->stats);
	if (bandwidth) {
		out->start.link_bps = (double)bandwidth;
		out->link_source = "given";
	} else if (p->max_bandwidth) {
		out->start.link_bps = (double)p->max_bandwidth;
		out->link_source = "max-bandwidth";
	} else if (last > 0) {
		out->start.link_bps = last;
		out->link_source = "the last migration's";
	} else {
		return errmsg__fail(-EINVAL, err, errlen, "no link rate known (no max-bandwidth, "
				    "no migration yet): give one, e.g. forecast 2 1G");
	}
	return 0;
}

int migration__forecast(struct migration *m, const struct forecast_request *req,
			struct forecast_now *out, char *err, size_t errlen)
{
	struct migrate_params p;
	int ret;

	memset(out, 0, sizeof(*out));
	if (req->seconds < FORECAST_MIN_SECONDS || req->seconds > FORECAST_MAX_SECONDS)
		return errmsg__fail(-ERANGE, err, errlen, "seconds %" PRIu32 " out of range %d..%d",
				    req->seconds, FORECAST_MIN_SECONDS, FORECAST_MAX_SECONDS);
	/* Each was measured over one link: without that link's rate beside
	 * it, it would be mixed with another's. */
	if (!req->bandwidth && (req->round0_bandwidth || req->setup_us || req->switchover_us))
		return errmsg__fail(-EINVAL, err, errlen, "round 0's bandwidth, the setup and the "
				    "switchover are taken only with bandwidth: they were measured "
				    "over a link, give its rate");
	migration__get_params(m, &p);
	ret = pick_link(m, &p, req->bandwidth, out, err, errlen);
	if (ret)
		return ret;
	ret = migration__claim_measure(m, err, errlen);
	if (ret)
		return ret;
	ret = measure(m, (uint64_t)req->seconds * 1000000, out, err, errlen);
	if (!ret)
		count_data(&m->vm->mem, &out->start);
	migration__release_measure(m);
	if (ret)
		return ret;
	out->params = p;
	/* The setup is this side starting its dirty log, as long as it took
	 * to start just now, unless earlier migrations measured it whole; a
	 * destination given --mem made this VM's shell before it listened and
	 * completes it beside round 0, as long as that took here. */
	out->req = *req;
	out->start.setup_us = req->setup_us ? req->setup_us : out->log_start_us;
	out->start.dest_build_us = m->vm->build_us;
	out->start.round0_bps = (double)req->round0_bandwidth;
	out->start.switchover_us = req->switchover_us;
	forecast__predict_start(&p, &out->start, m->vm->mem.size,
				vm_sections__state_estimate(m->vm), &out->f);
	if (!out->f.valid)
		return errmsg__fail(-EINVAL, err, errlen, "no forecast: the rates are not usable");
	return 0;
}

void forecast_now__format(const struct forecast_now *n, char *buf, size_t len)
{
	const struct forecast_start *s = &n->start;
	const struct migrate_forecast *f = &n->f;
	struct outbuf o;

	outbuf__init(&o, buf, len);
	outbuf__printf(&o, "dirty pages: %" PRIu64 " in %.3f s, %" PRIu64 " in %.3f s (dirty log %s)\n",
		       s->w1, s->t1_us / 1e6, s->w2, s->t2_us / 1e6, n->dirty_log_mode);
	if (s->tm_us)
		outbuf__printf(&o, "dirty pages: %" PRIu64 " in %.3f s into the second\n", s->wm,
			       s->tm_us / 1e6);
	if (f->ws_pages > 0)
		outbuf__printf(&o, "model: working set %.0f pages written %s at %.0f pages/s\n",
			       f->ws_pages, f->ws_in_order ? "in order" : "at random",
			       f->dirty_rate_pps);
	else
		outbuf__printf(&o, "model: no saturation seen; %.0f pages/s, growing with time\n",
			       f->dirty_rate_pps);
	outbuf__printf(&o, "ram: %" PRIu64 " pages with data, %" PRIu64 " zero in %" PRIu64
		       " run(s); link %.1f MiB/s (%s)", s->data_pages, s->zero_pages,
		       s->zero_entries, s->link_bps / (1024.0 * 1024.0), n->link_source);
	if (s->round0_bps > 0)
		outbuf__printf(&o, ", round 0 %.1f MiB/s (given)", s->round0_bps / (1024.0 * 1024.0));
	outbuf__printf(&o, "; setup %.1f ms (%s); the destination's build "
		       "%.1f ms (vCPUs, devices), beside round 0; round 0's zero pages %.1f ms",
		       s->setup_us / 1e3, n->req.setup_us ? "given" : "starting the dirty log",
		       s->dest_build_us / 1e3, s->scan_us / 1e3);
	if (s->switchover_us)
		outbuf__printf(&o, "; switchover %.1f ms (given)", s->switchover_us / 1e3);
	outbuf__printf(&o, "\n");
	outbuf__printf(&o, "forecast: %" PRIu32 " rounds, %.3f s total, %.1f ms downtime, "
		       "%.1f MiB, stop reason %s\n", f->rounds, f->total_us / 1e6, f->downtime_ms,
		       f->bytes / (1024.0 * 1024.0), stop_reason__name(f->stop_reason));
	if (!forecast__converges(f))
		outbuf__printf(&o, "will not converge under these parameters: %s after round %"
			       PRIu32 ", then %s\n", stop_reason__name(f->stop_reason), f->rounds - 2,
			       f->action == POLICY_CANCEL ? "it gives up (stall-action cancel)" :
			       "the rest is copied with the guest paused");
}
