#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "migrate_dirty_limit.h"

#define PAGE 4096ull
#define MIB_PAGES 256ull	/* pages in a MiB */
#define S 1000000ull

static uint32_t next(uint64_t pages, uint64_t period_us, uint32_t pct, uint64_t limit)
{
	struct dirty_limit_period p = { .pages = pages, .period_us = period_us, .pct = pct };

	return dirty_limit__next_pct(&p, limit, PAGE);
}

/* Under the limit, or computing without writing: never slowed. */
static void test_under_limit_runs_free(void **state)
{
	assert_int_equal(next(0, S, 0, 1), 0);
	assert_int_equal(next(10 * MIB_PAGES, S, 0, 10), 0);
	assert_int_equal(next(5 * MIB_PAGES, S, 0, 10), 0);
	/* throttled, but unthrottled it would be under the limit: freed */
	assert_int_equal(next(2 * MIB_PAGES, S, 50, 10), 0);
	assert_int_equal(next(0, S, 90, 10), 0);
}

/* A vCPU whose rate scales with its share reaches the limit in one step
 * and then keeps it. */
static void test_linear_one_step(void **state)
{
	uint32_t pct = next(100 * MIB_PAGES, S, 0, 10);

	assert_int_equal(pct, 90);
	/* at 90 % it dirties 10 MiB/s: at the limit, kept */
	assert_int_equal(next(10 * MIB_PAGES, S, pct, 10), 90);
	/* the period's length counts: 100 MiB in 2 s is 50 MiB/s */
	assert_int_equal(next(100 * MIB_PAGES, 2 * S, 0, 10), 80);
}

/* A rate that rounding leaves a hair over the limit is rounded toward
 * more throttle, never left over. */
static void test_rounds_up(void **state)
{
	/* 30 MiB/s against 10: 66.7 % -> 67 */
	assert_int_equal(next(30 * MIB_PAGES, S, 0, 10), 67);
}

static void test_caps_and_bad_input(void **state)
{
	/* 10 GiB/s against 1 MiB/s: 99 % at most */
	assert_int_equal(next(10240 * MIB_PAGES, S, 0, 1), 99);
	assert_int_equal(next(10240 * MIB_PAGES, S, 99, 1), 99);
	/* a period of 0 says nothing */
	assert_int_equal(next(1000, 0, 42, 1), 42);
	/* a share above the bound is taken as the bound */
	assert_int_equal(next(0, 0, 150, 1), 99);
}

/* A guest whose rate grows as the square root of its running share (a
 * saturating working set): each period corrects the last, converging
 * within the tolerance under the limit, never hunting above it for long. */
static void test_sublinear_converges(void **state)
{
	double free_mibs = 100.0, limit = 20.0, rate = 0.0;
	uint32_t pct = 0;
	int i;

	for (i = 0; i < 12; i++) {
		rate = free_mibs * sqrt((100.0 - pct) / 100.0);
		pct = next((uint64_t)(rate * MIB_PAGES), S, pct, (uint64_t)limit);
	}
	rate = free_mibs * sqrt((100.0 - pct) / 100.0);
	assert_true(rate <= limit * 1.05);
	assert_true(rate >= limit * (100 - DIRTY_LIMIT_TOLERANCE_PCT - 5) / 100.0);
}

/* Every vCPU on its own: the writer is slowed, the computer is not. */
static void test_plan(void **state)
{
	uint64_t pages[3] = { 100 * MIB_PAGES, 0, 5 * MIB_PAGES };
	uint32_t pct[3] = { 0, 0, 0 }, out[3];

	uint64_t period[3] = { S, S, S };

	dirty_limit__plan(pages, period, pct, 3, 10, PAGE, out);
	assert_int_equal(out[0], 90);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], 0);
}

/* At 99 % a vCPU runs 10 ms a second: a 1 s window can fall between two
 * bursts and see nothing. Such a window never lowers the throttle (it
 * used to free the vCPU, which then dirtied at full speed for a period);
 * a window of two cycles does, and any window may raise it. */
static void test_short_window_never_lowers(void **state)
{
	assert_int_equal(dirty_limit__cycle_us(99), 1000000);
	assert_int_equal(dirty_limit__cycle_us(90), 100000);
	assert_int_equal(dirty_limit__cycle_us(50), 20000);
	assert_int_equal(dirty_limit__cycle_us(0), 10000);
	assert_int_equal(dirty_limit__cycle_us(150), 1000000);

	assert_int_equal(next(0, S, 99, 1), 99);
	assert_int_equal(next(0, 2 * S - 1, 99, 1), 99);
	assert_int_equal(next(0, 2 * S, 99, 1), 0);
	/* 90 %: ten cycles in a second, so a second says enough */
	assert_int_equal(next(0, S, 90, 10), 0);
	/* raised from a short window */
	assert_int_equal(next(100 * MIB_PAGES, S / 10, 50, 10), 99);
	assert_int_equal(next(10 * MIB_PAGES, S / 10, 50, 10), 95);

	/* The window goes on while it is too short to lower the throttle. */
	assert_false(dirty_limit__window_done(S, 99, 99));
	assert_true(dirty_limit__window_done(2 * S, 99, 99));
	assert_true(dirty_limit__window_done(S, 99, 98));
	assert_true(dirty_limit__window_done(S, 0, 0));
	assert_true(dirty_limit__window_done(S, 90, 90));
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_under_limit_runs_free),
		cmocka_unit_test(test_linear_one_step),
		cmocka_unit_test(test_rounds_up),
		cmocka_unit_test(test_caps_and_bad_input),
		cmocka_unit_test(test_sublinear_converges),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_short_window_never_lowers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
