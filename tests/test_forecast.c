/* The forecast runs the real policy over a simple model of later rounds:
 * check it converges when it should, gives up the way the policy would
 * when the guest out-dirties the link, and refuses to guess without rates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migrate_forecast.h"

#define PAGE_BYTES (4096 + 8)
#define MIB (1ULL << 20)

static struct forecast_input base(void)
{
	return (struct forecast_input){
		.pending_pages = 20000, .dirty_rate_pps = 20000, .bandwidth_bps = 1000.0 * MIB,
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

	/* 20000 pages at 1000 MiB/s: 78 ms, within the limit already. */
	migrate_params__defaults(&p);
	forecast__predict(&p, &in, &f);
	assert_true(f.valid);
	assert_int_equal(f.rounds, 2);
	assert_true(f.downtime_ms > 75.0 && f.downtime_ms < 80.0);
}

static void test_round_zero_already_enough(void **state)
{
	struct migrate_params p;
	struct forecast_input in = base();
	struct migrate_forecast f;

	migrate_params__defaults(&p);
	in.pending_pages = 10;
	in.dirty_rate_pps = 0;
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
	in.dirty_rate_pps = 50000;
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
	in.dirty_rate_pps = 1e9;
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
	in.dirty_rate_pps = NAN;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converges_geometrically),
		cmocka_unit_test(test_converges_at_once_on_a_fast_link),
		cmocka_unit_test(test_round_zero_already_enough),
		cmocka_unit_test(test_guest_outruns_the_link),
		cmocka_unit_test(test_max_iterations_bounds_it),
		cmocka_unit_test(test_no_guess_without_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
