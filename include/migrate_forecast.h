/* A forecast of the rest of a pre-copy migration, made once round 0 has
 * measured what it depends on (how the guest dirties memory and how fast
 * page data goes out), to be compared with what then happens.
 *
 * The model: each later round sends what the previous one left dirty, in
 * (pages x page_bytes) / rate seconds, where rate is the rate of sending
 * page data (round 0's batches of mostly data pages: its zero-page scan
 * would make the rounds after it look slow), held to max-bandwidth. The
 * guest meanwhile dirties W(t) distinct pages. A guest writing `rate`
 * pages/s at random over a working set of ws pages dirties
 *     W(t) = ws * (1 - exp(-rate * t / ws)),
 * which saturates at ws (a page written twice counts once). ws and rate
 * are fitted to two points of W taken in round 0 (a look at the dirty log
 * part-way, and its read at the end); where no such fit is possible (the
 * plain dirty log, no look, or no sign of saturation) W(t) = rate x t,
 * capped at RAM. After each simulated round the real convergence policy
 * decides, with the downtime at the unthrottled rate as for real, so the
 * forecast stops for the same reasons, in the same order, as the
 * migration will. A predicted set within 1 % of the round before counts
 * as the same set: a smooth model creeping to its fixed point would
 * otherwise make a tiny new low every round, where a real dirty set at
 * that point wanders and the no-progress rule fires.
 */
#ifndef VMM__MIGRATE_FORECAST_H
#define VMM__MIGRATE_FORECAST_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate_params.h"
#include "migrate_stats.h"

struct forecast_input {
	uint64_t pending_pages;		/* dirty after round 0: W(window_us) */
	uint64_t window_us;		/* round 0, up to that dirty-log read */
	uint64_t probe_pages;		/* W(probe_us), probe_us < window_us */
	uint64_t probe_us;		/* 0 = no look part-way */
	/* A model fitted elsewhere (forecast__predict_start); used as it is
	 * when ws_pages > 0, instead of a fit to the points above. */
	double ws_pages;
	double write_rate_pps;
	bool ws_in_order;		/* min(rate t, ws), not the exponential */
	double bandwidth_bps;		/* page data, not throttled, bytes/s */
	/* What the policy was given after round 0 (its link rate, zero-page
	 * scan included), so the forecast repeats that decision; 0 = use
	 * bandwidth_bps. */
	double round0_bps;
	uint64_t page_bytes;		/* bytes on the wire per page sent */
	uint64_t device_state_bytes;
	uint64_t ram_size;
	uint64_t bytes_sent;		/* so far (for max-sent-factor) */
	uint64_t elapsed_us;		/* so far: setup and round 0 */
};

/* Fits W(t) = ws (1 - exp(-rate t / ws)) through (t1, w1) and (t2, w2),
 * 0 < t1 < t2, 0 < w1 <= w2. Returns 0 with *ws (pages) and *rate
 * (pages/s), or -EDOM when the points show no saturation (w2/w1 within
 * 1 % of t2/t1, or above) or are not usable. */
int forecast__fit_ws(double t1, double w1, double t2, double w2, double *ws, double *rate);

/* A forecast before anything is sent (`forecast` in the monitor): the
 * dirty log watched over two windows of different lengths, with a look
 * half-way through the second, gives three points of W(t); round 0 is
 * predicted from the RAM's non-zero pages, after a setup of setup_us (the
 * migration's clock starts at `migrate`). The destination completes its
 * VM (vCPUs, devices; given --mem, it made the KVM VM and its memory
 * slots before it listened) while round 0 starts: a fixed cost that no
 * rate scales, which a pre-copy shorter than it waits for before the
 * pause. Round 0 may have a rate of its own: it fills the
 * destination's fresh RAM, which a destination on a busy host (or on
 * loopback, sharing the CPUs) may do several times slower than it takes
 * pages into RAM it has touched, as every later round and the
 * stop-and-copy do. */
struct forecast_start {
	uint64_t t1_us, w1;		/* the short window and its dirty pages */
	uint64_t t2_us, w2;		/* the long one */
	/* A look part-way through the long window (0: none): a third point
	 * of W, which tells a set filled in order from one filled at random
	 * (forecast__fit_start). */
	uint64_t tm_us, wm;
	uint64_t data_pages;		/* RAM pages not zero now */
	uint64_t zero_pages;
	/* The entries round 0 sends the zero pages in: one per run of them
	 * adjacent in guest-physical space (ZERO_RUN, stream 3.6). */
	uint64_t zero_entries;
	double link_bps;		/* the unthrottled rate */
	double round0_bps;		/* round 0's, unthrottled; 0 = link_bps */
	uint64_t setup_us;		/* from `migrate` to round 0; 0 = unknown */
	uint64_t dest_build_us;		/* the destination's vCPUs and devices */
	/* After the last pre-copy round, beside its pages' time on the link:
	 * the wait before the pause, pausing, the state, READY, GO and
	 * RESUMED; fixed costs a destination shows, known only from earlier
	 * migrations over the same link (0: none counted). */
	uint64_t switchover_us;
	/* Round 0's time on pages that hold zeros, beside its bytes: the
	 * look at which pages the host populated, and the zero test of the
	 * populated ones (all of RAM with --mem-prealloc). No rate scales
	 * it; count_data makes the same look and times it. */
	uint64_t scan_us;
};

/* The dirty model of a forecast before anything is sent, from s's points
 * of W: the exponential through (t1, w1) and (t2, w2), as
 * forecast__fit_ws; none (*ws 0, linear at w2 / t2) when they show no
 * saturation. A guest that writes its set in order fills it at its rate,
 * then W stops growing: min(rate t, ws), which fits the same two points
 * with rate w1 / t1 and ws w2. Where the look part-way (tm, wm) lies
 * nearer that model's W(tm) than the exponential's, *in_order is true,
 * *ws is w2 and *rate w1 / t1; never when w1 is 90 % of w2 or more (the
 * set was whole within the first window: no rate to fill it at shows). */
void forecast__fit_start(const struct forecast_start *s, double *ws, double *rate,
			 bool *in_order);

/* Predicts the whole migration from those measurements; as
 * forecast__predict, total_us from the start of the migration. */
void forecast__predict_start(const struct migrate_params *p, const struct forecast_start *s,
			     uint64_t ram_size, uint64_t device_state_bytes,
			     struct migrate_forecast *out);
/* True when the forecast ends by converged or min-dirty-pages. The other
 * ends (max-iterations, no-progress, max-sent-factor) mean the migration
 * will not converge under these parameters: it gives up, or copies the
 * rest with a downtime over the limit. */
bool forecast__converges(const struct migrate_forecast *f);

/* Fills out (out->valid false when a rate is unknown or not finite).
 * rounds counts every round, round 0 and the stop-and-copy included, as
 * the statistics do; total_us is from the start of the migration, bytes
 * everything on the wire. */
void forecast__predict(const struct migrate_params *p, const struct forecast_input *in,
		       struct migrate_forecast *out);

#endif
