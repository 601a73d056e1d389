#include "migrate_forecast.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "migrate_policy.h"
#include "stream.h"

#define PAGE_SIZE 4096

/* With x = exp(-rate t1 / ws) and m = t2 / t1, w2 / w1 = (1 - x^m) / (1 - x),
 * which rises from 1 (x -> 0: saturated at once) to m (x -> 1: linear). */
static double ratio_of(double x, double m)
{
	return (1.0 - pow(x, m)) / (1.0 - x);
}

int forecast__fit_ws(double t1, double w1, double t2, double w2, double *ws, double *rate)
{
	double m, q, lo = 1e-9, hi = 1.0 - 1e-9, x = 0;
	int i;

	if (!(t1 > 0) || !(t2 > t1) || !(w1 > 0) || !(w2 >= w1) || !isfinite(t2) ||
	    !isfinite(w2))
		return -EDOM;
	m = t2 / t1;
	q = w2 / w1;
	if (q >= 0.99 * m)
		return -EDOM;	/* as linear as it can be measured */
	if (q <= ratio_of(lo, m)) {
		x = lo;		/* saturated already at t1 */
	} else {
		for (i = 0; i < 100; i++) {
			x = (lo + hi) / 2;
			if (ratio_of(x, m) < q)
				lo = x;
			else
				hi = x;
		}
	}
	*ws = w1 / (1.0 - x);
	*rate = -log(x) * *ws / t1;
	return 0;
}

struct dirty_model {
	double ws;		/* pages; 0 = linear */
	double rate;		/* pages/s */
	bool in_order;		/* min(rate t, ws) */
	double ram_pages;
};

static double dirtied_by(double ws, double rate, bool in_order, double t)
{
	if (!(ws > 0))
		return rate * t;
	return in_order ? fmin(rate * t, ws) : ws * -expm1(-rate * t / ws);
}

static double dirtied(const struct dirty_model *dm, double t)
{
	return fmin(dirtied_by(dm->ws, dm->rate, dm->in_order, t), dm->ram_pages);
}

void forecast__fit_start(const struct forecast_start *s, double *ws, double *rate,
			 bool *in_order)
{
	double t1 = (double)s->t1_us / 1e6, t2 = (double)s->t2_us / 1e6;
	double tm = (double)s->tm_us / 1e6, wm = (double)s->wm, seq_rate;

	*in_order = false;
	if (forecast__fit_ws(t1, (double)s->w1, t2, (double)s->w2, ws, rate)) {
		*ws = 0;
		*rate = t2 > 0 ? (double)s->w2 / t2 : 0;
		return;
	}
	/* A first window that already held (nearly) the whole set shows
	 * no rate to fill it at: the exponential, which then fills it at
	 * once, is the one that says so. */
	if (!(tm > 0 && tm < t2 && s->wm) || !((double)s->w1 < 0.9 * (double)s->w2))
		return;
	seq_rate = (double)s->w1 / t1;
	if (fabs(dirtied_by((double)s->w2, seq_rate, true, tm) - wm) <
	    fabs(dirtied_by(*ws, *rate, false, tm) - wm)) {
		*in_order = true;
		*ws = (double)s->w2;
		*rate = seq_rate;
	}
}

static void fit_model(const struct forecast_input *in, struct dirty_model *dm,
		      struct migrate_forecast *out)
{
	double t2 = (double)in->window_us / 1e6;

	dm->ram_pages = (double)(in->ram_size / PAGE_SIZE);
	dm->in_order = false;
	if (in->ws_pages > 0) {
		dm->ws = out->ws_pages = in->ws_pages;
		dm->rate = out->dirty_rate_pps = in->write_rate_pps;
		dm->in_order = out->ws_in_order = in->ws_in_order;
		return;
	}
	dm->ws = 0;
	dm->rate = t2 > 0 ? (double)in->pending_pages / t2 : 0;
	if (in->probe_us && in->probe_pages &&
	    !forecast__fit_ws((double)in->probe_us / 1e6, (double)in->probe_pages, t2,
			      (double)in->pending_pages, &dm->ws, &dm->rate))
		out->ws_pages = dm->ws;
	out->dirty_rate_pps = dm->rate;
}

void forecast__predict(const struct migrate_params *p, const struct forecast_input *in,
		       struct migrate_forecast *out)
{
	struct migrate_policy pol;
	struct policy_decision d = { .reason = STOP_NONE };
	struct policy_input pin;
	struct dirty_model dm;
	double pages = (double)in->pending_pages, t, total_us, sent, round_bw, next;
	uint32_t k;

	memset(out, 0, sizeof(*out));
	out->bandwidth_bps = in->bandwidth_bps;
	if (!in->window_us || !isfinite(in->bandwidth_bps) || in->bandwidth_bps <= 0 ||
	    !in->page_bytes || !in->ram_size)
		return;
	fit_model(in, &dm, out);
	if (!isfinite(dm.rate))
		return;
	/* Pre-copy rounds are throttled; the stop-and-copy is not. */
	round_bw = p->max_bandwidth ? fmin(in->bandwidth_bps, (double)p->max_bandwidth) :
				      in->bandwidth_bps;
	total_us = (double)in->elapsed_us;
	sent = (double)in->bytes_sent;

	/* Round 0 has run: the policy first sees it, as it did for real. */
	policy__init(&pol, p);
	pin = (struct policy_input){
		.round = 0, .dirty_pages = in->pending_pages, .page_size = PAGE_SIZE,
		.round_pages = in->ram_size / PAGE_SIZE,
		.bandwidth_bps = in->round0_bps > 0 && isfinite(in->round0_bps) ?
			in->round0_bps : in->bandwidth_bps,
		.bytes_sent_total = in->bytes_sent,
		.ram_size = in->ram_size, .device_state_bytes = in->device_state_bytes,
	};
	for (k = 0;; k++) {
		if (policy__decide(&pol, &pin, &d) || d.action != POLICY_CONTINUE)
			break;
		t = pages * (double)in->page_bytes / round_bw;
		total_us += t * 1e6;
		sent += pages * (double)in->page_bytes;
		next = dirtied(&dm, t);
		/* A model creeping to its fixed point would make a tiny new
		 * low every round, which the real dirty set, a little noisy,
		 * does not: within 1 % it is the same set (no progress). */
		if (fabs(next - pages) >= 0.01 * pages)
			pages = next;
		pin.round = k + 1;
		pin.round_pages = pin.dirty_pages;
		pin.bandwidth_bps = in->bandwidth_bps;
		pin.dirty_pages = (uint64_t)pages;
		pin.bytes_sent_total = sent > (double)UINT64_MAX ? UINT64_MAX : (uint64_t)sent;
	}
	if (d.reason == STOP_ERROR)
		return;
	out->valid = true;
	out->rounds = k + 2;	/* rounds 0..k, then stop-and-copy */
	out->stop_reason = d.reason;
	out->action = d.action;
	out->downtime_ms = ((double)pin.dirty_pages * (double)in->page_bytes +
			    (double)in->device_state_bytes) / in->bandwidth_bps * 1e3;
	out->total_us = (uint64_t)(total_us + out->downtime_ms * 1e3);
	sent += (double)pin.dirty_pages * (double)in->page_bytes + (double)in->device_state_bytes;
	out->bytes = sent > (double)UINT64_MAX ? UINT64_MAX : (uint64_t)sent;
}

void forecast__predict_start(const struct migrate_params *p, const struct forecast_start *s,
			     uint64_t ram_size, uint64_t device_state_bytes,
			     struct migrate_forecast *out)
{
	struct forecast_input in = { 0 };
	struct dirty_model dm = { .ram_pages = (double)(ram_size / PAGE_SIZE) };
	double bw = s->link_bps, bw0 = s->round0_bps > 0 ? s->round0_bps : bw, bytes0, t0;
	double precopy_us;

	memset(out, 0, sizeof(*out));
	if (!(bw > 0) || !isfinite(bw) || !isfinite(bw0) || !s->t2_us)
		return;
	/* Round 0: every page, zero ones as an entry per run, into the
	 * destination's fresh RAM; throttled as every pre-copy round. */
	bytes0 = (double)s->data_pages * (PAGE_SIZE + RAM_ENTRY_LEN) +
		 (double)s->zero_entries * RAM_ENTRY_LEN;
	t0 = bytes0 / (p->max_bandwidth ? fmin(bw0, (double)p->max_bandwidth) : bw0) +
	     (double)s->scan_us / 1e6;
	forecast__fit_start(s, &dm.ws, &dm.rate, &dm.in_order);
	/* What round 0 would leave dirty; the rest is forecast__predict's. */
	in.window_us = (uint64_t)(t0 * 1e6) + 1;
	in.pending_pages = (uint64_t)dirtied(&dm, (double)in.window_us / 1e6);
	in.ws_pages = dm.ws;
	in.write_rate_pps = dm.rate;
	in.ws_in_order = dm.in_order;
	in.bandwidth_bps = bw;
	/* After round 0 the engine's policy sees round 0's rate (less
	 * its throttled sleeps), and so does the forecast's. */
	in.round0_bps = bw0;
	in.page_bytes = PAGE_SIZE + RAM_ENTRY_LEN;
	in.device_state_bytes = device_state_bytes;
	in.ram_size = ram_size;
	in.bytes_sent = (uint64_t)bytes0;
	/* The dirty model's clock starts with round 0, the total's at
	 * `migrate`: the guest dirties nothing the setup has to send. */
	in.elapsed_us = s->setup_us + in.window_us;
	forecast__predict(p, &in, out);
	/* The source pauses its guest once the destination holds the last
	 * pre-copy round, so not before the destination's build is done. */
	precopy_us = (double)out->total_us - out->downtime_ms * 1e3 - (double)s->setup_us;
	if (out->valid && (double)s->dest_build_us > precopy_us)
		out->total_us += (uint64_t)((double)s->dest_build_us - precopy_us);
	if (out->valid)
		out->total_us += s->switchover_us;
}

bool forecast__converges(const struct migrate_forecast *f)
{
	return f->valid && (f->stop_reason == STOP_CONVERGED ||
			    f->stop_reason == STOP_MIN_DIRTY);
}
