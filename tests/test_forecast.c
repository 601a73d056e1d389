/* The forecast runs the real policy over a model of later rounds: check
 * it converges when it should, gives up the way the policy would when the
 * guest out-dirties the link, sees a saturated dirty set stall, keeps
 * max-bandwidth off the downtime, and refuses to guess without rates. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "migrate_forecast.h"
#include "stream.h"

/* What forecast__predict is told a page costs, and what the sums in
 * the comments below are worked with. Not the wire's 4096 +
 * RAM_ENTRY_LEN: forecast__predict_start works with that, and so do the
 * tests of it. */
#define PAGE_BYTES (4096 + 8)
#define WIRE_PAGE_BYTES (4096 + RAM_ENTRY_LEN)
#define MIB (1ULL << 20)

static struct forecast_input base(void)
{
	return (struct forecast_input){
		/* 20000 pages dirtied in a 1 s round 0: 20000 pages/s. */
		.pending_pages = 20000, .window_us = 1000000, .bandwidth_bps = 1000.0 * MIB,
		.page_bytes = PAGE_BYTES, .device_state_bytes = 8192, .ram_size = 512 * MIB,
		.bytes_sent = 300 * MIB, .elapsed_us = 1000000,
	};
}

static void test_converges_geometrically(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	/* 100 MiB/s and 20000 dirty pages/s: each round leaves r = 0.7828 of
	 * the previous one's pages, starting from 20000 (782.8 ms). After
	 * round k the expected downtime is 782.8 r^k ms, first under 300 ms
	 * for k = 4: rounds 0..4, then stop-and-copy. */
	migrate_params__defaults(&p);
	in.bandwidth_bps = 100.0 * MIB;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 6);
	assert_true(f.downtime_ms > 290.0 && f.downtime_ms < 300.0);
	/* 1 s so far + rounds 1..4 (2251 ms) + the downtime (294 ms). */
	assert_true(f.total_us > 3500000 && f.total_us < 3600000);
	assert_true(f.bandwidth_bps == in.bandwidth_bps);
}

static void test_converges_at_once_on_a_fast_link(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	/* 20000 pages at 1000 MiB/s: 78 ms, within the limit already; with
	 * shrink-factor off (QEMU's rule) that is the stop. */
	migrate_params__defaults(&p);
	p.shrink_factor = 0.0;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 2);
	assert_true(f.downtime_ms > 75.0 && f.downtime_ms < 80.0);
	/* By default another round pays while one halves the set: 20000 of
	 * 131072 pages; round 1 (78.3 ms) leaves 1565; round 2 (6.1 ms) 122;
	 * round 3 (0.48 ms) 9, no more than min-dirty-pages: converged,
	 * a pause of 9 pages and the state, 81 us rather than 78 ms. */
	migrate_params__defaults(&p);
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.stop_reason, STOP_CONVERGED);
	assert_int_equal(f.rounds, 5);
	assert_true(fabs(f.downtime_ms - (9.0 * PAGE_BYTES + 8192) / (1000.0 * MIB) * 1e3) < 1e-6);
	assert_true(f.total_us > 1000000 + 84000 && f.total_us < 1000000 + 86000);
}

static void test_round_zero_already_enough(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	migrate_params__defaults(&p);
	in.pending_pages = 10;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 2);	/* round 0, then stop-and-copy */
	assert_true(fabs(f.downtime_ms - (10.0 * PAGE_BYTES + 8192) / (1000.0 * MIB) * 1e3) < 1e-9);
}

static void test_guest_outruns_the_link(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	/* 100 MiB/s link, 50000 pages/s (~195 MiB/s) dirtied: the set grows
	 * until it is all of RAM; the stall rules end it. */
	migrate_params__defaults(&p);
	in.bandwidth_bps = 100.0 * MIB;
	in.pending_pages = 50000;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_true(f.rounds >= 3 && f.rounds <= p.max_iterations + 1);
	assert_true(f.downtime_ms > 300.0);
}

static void test_max_iterations_bounds_it(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	migrate_params__defaults(&p);
	p.max_iterations = 4;
	p.no_progress_rounds = 0;
	p.max_sent_factor = 0;
	p.downtime_limit_ms = 0;
	p.min_dirty_pages = 0;
	in.window_us = 1;	/* 20000 pages in 1 us: 2e10 pages/s */
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 5);	/* rounds 0..3, then stop-and-copy */
}

static void test_no_guess_without_rates(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	migrate_params__defaults(&p);
	in.bandwidth_bps = 0;
	forecast__predict(&p, &in, &f);
	assert_false(f.valid);
	in = base();
	in.window_us = 0;
	forecast__predict(&p, &in, &f);
	assert_false(f.valid);
	in = base();
	in.bandwidth_bps = INFINITY;
	forecast__predict(&p, &in, &f);
	assert_false(f.valid);
	in = base();
	in.ram_size = 0;
	forecast__predict(&p, &in, &f);
	assert_false(f.valid);
}

static void test_fit_ws(void **state)
{
	double ws = 0, rate = 0;

	/* ws 1000 pages written at 1000 pages/s: W(0.5 s) = 1000 (1 - e^-0.5)
	 * = 393.47, W(1 s) = 1000 (1 - e^-1) = 632.12. */
	assert_int_equal(forecast__fit_ws(0.5, 393.469340, 1.0, 632.120559, &ws, &rate), 0);
	assert_true(fabs(ws - 1000.0) < 0.01);
	assert_true(fabs(rate - 1000.0) < 0.01);
	/* Twice the pages in twice the time: no saturation to fit. */
	assert_int_equal(forecast__fit_ws(1.0, 100, 2.0, 200, &ws, &rate), -EDOM);
	/* The same pages at both looks: saturated at once, ws is that set. */
	assert_int_equal(forecast__fit_ws(0.25, 1000, 1.0, 1000, &ws, &rate), 0);
	assert_true(fabs(ws - 1000.0) < 1e-3);
	assert_true(rate * 0.25 / ws > 10);	/* full well before the first look */
	assert_int_equal(forecast__fit_ws(0, 1, 1.0, 2, &ws, &rate), -EDOM);
	assert_int_equal(forecast__fit_ws(1.0, 0, 2.0, 2, &ws, &rate), -EDOM);
	assert_int_equal(forecast__fit_ws(1.0, 5, 2.0, 4, &ws, &rate), -EDOM);
}

static void test_saturated_set_stalls(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;
	double round_s = 25600.0 * PAGE_BYTES / (100.0 * MIB);

	/* A 100 MiB working set (25600 pages), all of it dirty by the look
	 * half-way through round 0: every later round leaves it all dirty
	 * again (1000 ms expected downtime at 100 MiB/s), rounds 1..5 make
	 * no new low and no-progress stops after round 5: rounds 0..5 and
	 * the stop-and-copy. The linear model would have let the set grow. */
	migrate_params__defaults(&p);
	in.bandwidth_bps = 100.0 * MIB;
	in.pending_pages = 25600;
	in.probe_pages = 25600;
	in.probe_us = 500000;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_true(fabs(f.ws_pages - 25600) < 0.01);
	assert_int_equal(f.stop_reason, STOP_NO_PROGRESS);
	assert_int_equal(f.rounds, 7);
	/* 1 s so far, 5 rounds of round_s, then the last 25600 pages. */
	assert_true(fabs((double)f.total_us - (1e6 + 6 * round_s * 1e6 + 8192 / (100.0 * MIB) * 1e6))
		    < 10);
	assert_true(fabs((double)f.bytes - (300.0 * MIB + 6 * 25600.0 * PAGE_BYTES + 8192)) < 2);
}

static void test_max_bandwidth_spares_the_downtime(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	/* Page data goes at 1000 MiB/s, pre-copy held to 100 MiB/s. 20000
	 * pages fit 300 ms at 1000 MiB/s (78 ms): converged after round 0,
	 * as the stop-and-copy is not throttled (shrink-factor off: the
	 * rounds it would add are another test's). */
	migrate_params__defaults(&p);
	p.shrink_factor = 0.0;
	p.max_bandwidth = 100 * MIB;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.stop_reason, STOP_CONVERGED);
	assert_int_equal(f.rounds, 2);
	assert_true(fabs(f.downtime_ms - (20000.0 * PAGE_BYTES + 8192) / (1000.0 * MIB) * 1e3) <
		    1e-9);
	/* Too many for that: the rounds go at 100 MiB/s, 0.78 s each. */
	in.pending_pages = 80000;
	in.probe_pages = 40000;
	in.probe_us = 500000;	/* 40000 then 80000: linear, no fit */
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_true(f.ws_pages == 0);
	assert_true(f.total_us > 1000000 + 3000000);
}

static void test_round0_decision_repeated(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;
	double t1 = 20000.0 * PAGE_BYTES / (1000.0 * MIB);

	/* The policy saw round 0 at 100 MiB/s (its zero-page scan): 782 ms,
	 * go on. Round 1 then sends the 20000 pages at 1000 MiB/s in t1 =
	 * 78.3 ms, while 20000 x t1 = 1565 pages get dirtied: converged
	 * (shrink-factor off, or it would go on draining). */
	migrate_params__defaults(&p);
	p.shrink_factor = 0.0;
	in.round0_bps = 100.0 * MIB;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 3);
	assert_int_equal(f.stop_reason, STOP_CONVERGED);
	assert_true(fabs(f.downtime_ms - ((double)(uint64_t)(20000 * t1) * PAGE_BYTES + 8192) /
					 (1000.0 * MIB) * 1e3) < 1e-6);
}

static void test_from_start(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .w1 = 1000, .t2_us = 1500000, .w2 = 1000,
		.data_pages = 1000, .zero_pages = 15384, .zero_entries = 1, .link_bps = 100.0 * MIB,
	};
	struct migrate_params p;
	struct migrate_forecast f;
	double bytes0 = 1000.0 * WIRE_PAGE_BYTES + 1.0 * RAM_ENTRY_LEN;

	/* The same 1000 pages in both windows: a 1000-page working set.
	 * Round 0 sends 1000 pages of data and the 15384 zero pages after
	 * them as one ZERO_RUN entry (12 bytes) in 39.2 ms at 100 MiB/s, leaving at most those 1000 dirty:
	 * at most 39.3 ms of downtime, converged after round 0
	 * (shrink-factor off; on, it would run rounds while the saturating
	 * set halves). */
	migrate_params__defaults(&p);
	p.shrink_factor = 0.0;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_true(f.valid);
	assert_true(forecast__converges(&f));
	assert_int_equal(f.rounds, 2);
	assert_true(fabs(f.ws_pages - 1000) < 0.01);
	assert_true(f.bytes > bytes0 + 8192 && f.bytes <= bytes0 + 1000.0 * WIRE_PAGE_BYTES + 8192);
	assert_true(f.downtime_ms < 40.0);
	/* At 1 MiB/s a round of 1000 pages lasts 3.9 s and leaves them all
	 * dirty again: no-progress; with stall-action cancel it gives up. */
	s.link_bps = 1.0 * MIB;
	p.stall_action = ON_STALL_CANCEL;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_true(f.valid);
	assert_false(forecast__converges(&f));
	assert_int_equal(f.stop_reason, STOP_NO_PROGRESS);
	assert_int_equal(f.action, POLICY_CANCEL);
	/* No link rate: nothing to say. */
	s.link_bps = 0;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_false(f.valid);
	assert_false(forecast__converges(&f));
}

/* with is without, only total_us later by us: the same rounds, bytes and
 * downtime. */
static void assert_only_later(const struct migrate_forecast *without,
			      const struct migrate_forecast *with, long long us)
{
	assert_true(without->valid && with->valid);
	assert_int_equal(with->rounds, without->rounds);
	assert_int_equal(with->bytes, without->bytes);
	assert_true(fabs(with->downtime_ms - without->downtime_ms) < 1e-9);
	assert_true(llabs((long long)with->total_us - (long long)without->total_us - us) <= 1);
}

/* The setup before round 0 (the handshake, the dirty log's start) is time and
 * nothing else: the same rounds, bytes and downtime, the total later by
 * exactly that much. Without it every loopback forecast came out short. */
static void test_setup_adds_to_the_total(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .w1 = 5000, .t2_us = 1500000, .w2 = 15000,
		.data_pages = 32768, .zero_pages = 98304, .zero_entries = 1, .link_bps = 600.0 * MIB,
	};
	struct migrate_params p;
	struct migrate_forecast without, with;

	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 512 * MIB, 8192, &without);
	s.setup_us = 9000;
	forecast__predict_start(&p, &s, 512 * MIB, 8192, &with);
	assert_true(with.rounds > 2);
	assert_only_later(&without, &with, 9000);
}

/* Round 0 fills the destination's fresh RAM at a rate of its own; the
 * stop-and-copy, into RAM it has touched, goes at the link's. A guest
 * that writes nothing: round 0, then the device state, nothing else. */
static void test_round0_has_its_own_rate(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .t2_us = 1500000,
		.data_pages = 1000, .zero_pages = 15384, .zero_entries = 1,
		.link_bps = 1000.0 * MIB, .round0_bps = 50.0 * MIB,
	};
	struct migrate_params p;
	struct migrate_forecast f;
	double bytes0 = 1000.0 * WIRE_PAGE_BYTES + 1.0 * RAM_ENTRY_LEN;
	double down_s = 8192 / (1000.0 * MIB);

	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 2);
	assert_int_equal(f.bytes, (uint64_t)bytes0 + 8192);
	assert_true(fabs(f.downtime_ms - down_s * 1e3) < 1e-9);
	assert_true(fabs((double)f.total_us - (bytes0 / (50.0 * MIB) + down_s) * 1e6) <= 2);
	/* max-bandwidth throttles round 0 as every pre-copy round. */
	p.max_bandwidth = 10 * MIB;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_true(fabs((double)f.total_us - (bytes0 / (10.0 * MIB) + down_s) * 1e6) <= 2);
	/* None given: round 0 at the link's rate, as before. */
	p.max_bandwidth = 0;
	s.round0_bps = 0;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &f);
	assert_true(fabs((double)f.total_us - (bytes0 / (1000.0 * MIB) + down_s) * 1e6) <= 2);
}

/* Round 0's time on zero pages (the page map, the populated ones' zero
 * test) is time beside its bytes: the same rounds, bytes and downtime for
 * a guest that writes nothing, the total later by exactly that much. */
static void test_zero_scan_adds_to_round0(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .t2_us = 1500000,
		.data_pages = 1000, .zero_pages = 15384, .zero_entries = 1, .link_bps = 1000.0 * MIB,
	};
	struct migrate_params p;
	struct migrate_forecast without, with;

	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &without);
	s.scan_us = 40000;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &with);
	assert_only_later(&without, &with, 40000);
}

/* The switchover's fixed costs, measured on earlier migrations over the
 * link, come on top of everything: the same rounds, bytes and downtime
 * (its data), the total later by exactly that much, for a guest with a
 * working set and for one that writes nothing. */
static void test_switchover_adds_to_total(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .w1 = 1000, .t2_us = 1500000, .w2 = 1000,
		.data_pages = 1000, .zero_pages = 15384, .zero_entries = 1, .link_bps = 100.0 * MIB,
		.setup_us = 800,
	};
	struct migrate_params p;
	struct migrate_forecast without, with;

	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &without);
	s.switchover_us = 2500;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &with);
	assert_only_later(&without, &with, 2500);
	s.w1 = s.w2 = 0;
	s.switchover_us = 0;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &without);
	s.switchover_us = 1700;
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &with);
	assert_only_later(&without, &with, 1700);
}

/* The destination builds its VM beside round 0, and the source pauses
 * only once the last pre-copy round is in the destination's memory: a
 * pre-copy shorter than the build ends when the build does; one longer
 * hides it. A guest that writes nothing: round 0 (about 4.9 ms of bytes
 * and the zero scan here), then the stop-and-copy. */
static void test_dest_build_beside_round0(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .t2_us = 1500000,
		.data_pages = 1000, .zero_pages = 15384, .zero_entries = 1, .link_bps = 1000.0 * MIB,
		.setup_us = 500, .scan_us = 1000,
	};
	struct migrate_params p;
	struct migrate_forecast without, with;
	double precopy_us;

	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &without);
	precopy_us = (double)without.total_us - without.downtime_ms * 1e3 - 500;
	assert_true(precopy_us > 4000 && precopy_us < 6000);
	s.dest_build_us = 2000;		/* hidden by round 0 */
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &with);
	assert_only_later(&without, &with, 0);
	s.dest_build_us = 9000;		/* round 0 waits for the rest */
	forecast__predict_start(&p, &s, 64 * MIB, 8192, &with);
	assert_only_later(&without, &with, (long long)(9000 - precopy_us));
}

/* Three points of W tell a set filled in order from one filled at
 * random: 32768 pages at 30000 pages/s, windows of 0.5 and 1.5 s with a
 * look at 0.75 s into the second. */
static void test_fit_start_tells_order_from_random(void **state)
{
	double ws0 = 32768, r0 = 30000, ws, rate;
	struct forecast_start seq = {
		.t1_us = 500000, .w1 = 15000, .t2_us = 1500000, .w2 = 32768,
		.tm_us = 750000, .wm = 22500,
	};
	struct forecast_start rnd = {
		.t1_us = 500000, .w1 = (uint64_t)(ws0 * -expm1(-r0 * 0.5 / ws0)),
		.t2_us = 1500000, .w2 = (uint64_t)(ws0 * -expm1(-r0 * 1.5 / ws0)),
		.tm_us = 750000, .wm = (uint64_t)(ws0 * -expm1(-r0 * 0.75 / ws0)),
	};
	bool in_order;

	(void)state;
	/* In order: it fills at 30000 pages/s and stops at 32768. */
	forecast__fit_start(&seq, &ws, &rate, &in_order);
	assert_true(in_order);
	assert_true(fabs(ws - 32768) < 1e-9 && fabs(rate - 30000) < 1e-9);
	/* Without the look, the same two points make the exponential (a
	 * working set half as large again). */
	seq.tm_us = seq.wm = 0;
	forecast__fit_start(&seq, &ws, &rate, &in_order);
	assert_false(in_order);
	assert_true(ws > 40000);
	/* At random: the exponential, its own working set found. */
	forecast__fit_start(&rnd, &ws, &rate, &in_order);
	assert_false(in_order);
	assert_true(fabs(ws - ws0) < 0.002 * ws0 && fabs(rate - r0) < 0.002 * r0);
	/* Whole within the first window (a writer as fast as it can): no
	 * rate shows, and the exponential fills the set within a tenth of a
	 * second, as it was. */
	seq.w1 = seq.wm = 32760;
	seq.tm_us = 750000;
	forecast__fit_start(&seq, &ws, &rate, &in_order);
	assert_false(in_order);
	assert_true(rate * 0.1 > ws);
	/* No saturation in the two windows: linear, whatever the look says. */
	rnd.w2 = 3 * rnd.w1;
	forecast__fit_start(&rnd, &ws, &rate, &in_order);
	assert_false(in_order);
	assert_true(ws == 0 && fabs(rate - rnd.w2 / 1.5) < 1e-6);
}

/* A set filled in order as fast as the link carries it stays whole
 * round after round: no-progress ends it, as the delivered grid's 1 GiB
 * guest at 30 K pages/s over 1 Gbit/s did (7 rounds, 7.9 s); the
 * exponential through the same two points creeps to its fixed point and
 * forecast 17 rounds, 12.2 s. */
static void test_a_set_filled_in_order_stalls(void **state)
{
	struct forecast_start s = {
		.t1_us = 500000, .w1 = 15000, .t2_us = 1500000, .w2 = 32768,
		.tm_us = 750000, .wm = 22500,
		.data_pages = 32768, .zero_pages = 229376, .link_bps = 118e6,
	};
	struct migrate_params p;
	struct migrate_forecast f, exp_f;

	(void)state;
	migrate_params__defaults(&p);
	forecast__predict_start(&p, &s, 1024 * MIB, 8192, &f);
	assert_true(f.valid && f.ws_in_order);
	assert_int_equal(f.stop_reason, STOP_NO_PROGRESS);
	assert_int_equal(f.rounds, 2 + p.no_progress_rounds);
	s.tm_us = s.wm = 0;
	forecast__predict_start(&p, &s, 1024 * MIB, 8192, &exp_f);
	assert_true(exp_f.valid && !exp_f.ws_in_order);
	assert_true(exp_f.rounds > f.rounds + 5);
}

static void test_creeping_set_stalls(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	/* Linear, 25000 pages/s against 100 MiB/s: each round leaves 0.978
	 * of the one before (25000 x 4104 / 104857600), 10/11 of a second
	 * of downtime, never under 300 ms in 30 rounds. Steps over 1 %
	 * are progress; the 2.2 % ones here are, so it runs on until
	 * max-sent-factor (3 x 512 MiB) ... */
	migrate_params__defaults(&p);
	in.bandwidth_bps = 100.0 * MIB;
	in.pending_pages = 25000;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.stop_reason, STOP_MAX_SENT);
	/* ... but at 25400 pages/s (0.994 a round) the set is taken as
	 * stalled: no-progress after round 5, not 30 rounds of creeping. */
	in.pending_pages = 25400;
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.stop_reason, STOP_NO_PROGRESS);
	assert_int_equal(f.rounds, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converges_geometrically),
		cmocka_unit_test(test_converges_at_once_on_a_fast_link),
		cmocka_unit_test(test_round_zero_already_enough),
		cmocka_unit_test(test_guest_outruns_the_link),
		cmocka_unit_test(test_max_iterations_bounds_it),
		cmocka_unit_test(test_no_guess_without_rates),
		cmocka_unit_test(test_fit_ws),
		cmocka_unit_test(test_round0_decision_repeated),
		cmocka_unit_test(test_from_start),
		cmocka_unit_test(test_setup_adds_to_the_total),
		cmocka_unit_test(test_dest_build_beside_round0),
		cmocka_unit_test(test_round0_has_its_own_rate),
		cmocka_unit_test(test_zero_scan_adds_to_round0),
		cmocka_unit_test(test_switchover_adds_to_total),
		cmocka_unit_test(test_fit_start_tells_order_from_random),
		cmocka_unit_test(test_a_set_filled_in_order_stalls),
		cmocka_unit_test(test_creeping_set_stalls),
		cmocka_unit_test(test_saturated_set_stalls),
		cmocka_unit_test(test_max_bandwidth_spares_the_downtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
