#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "migrate_auto_converge.h"

#define PAGE 4096ull
#define S 1000000ull	/* one second in us */

struct run {
	struct auto_converge ac;
	struct migrate_params p;
	uint64_t now, sent;
};

static void run_init(struct run *r)
{
	migrate_params__defaults(&r->p);
	r->now = 5 * S;
	r->sent = 0;
	auto_converge__init(&r->ac, r->now, r->sent);
}

/* One sync, us after the last, having sent bytes and found dirty pages. */
static uint32_t sync_after(struct run *r, uint64_t us, uint64_t bytes, uint64_t dirty)
{
	struct auto_converge_sync s = { .dirty_pages = dirty, .page_size = PAGE };

	r->now += us;
	r->sent += bytes;
	s.now_us = r->now;
	s.bytes_sent = r->sent;
	return auto_converge__after_sync(&r->ac, &r->p, &s);
}

/* 1000 pages sent, 600 dirtied: over the default 50 % threshold. */
static uint32_t high_period(struct run *r)
{
	return sync_after(r, 2 * S, 1000 * PAGE, 600);
}

static void test_second_high_period_starts_at_initial(void **state)
{
	struct run r;

	run_init(&r);
	assert_int_equal(high_period(&r), 0);
	assert_int_equal(high_period(&r), 20);
	assert_int_equal(r.ac.steps, 1);
}

static void test_low_periods_never_throttle(void **state)
{
	struct run r;
	int i;

	run_init(&r);
	/* exactly at the threshold is not over it */
	for (i = 0; i < 10; i++)
		assert_int_equal(sync_after(&r, 2 * S, 1000 * PAGE, 500), 0);
}

/* QEMU counts high periods since the last step, not in a row. */
static void test_count_needs_not_be_in_a_row(void **state)
{
	struct run r;

	run_init(&r);
	assert_int_equal(high_period(&r), 0);
	assert_int_equal(sync_after(&r, 2 * S, 1000 * PAGE, 10), 0);
	assert_int_equal(high_period(&r), 20);
}

static void test_increment_and_cap(void **state)
{
	struct run r;
	uint32_t expect[] = { 20, 30, 40, 50, 60, 70, 80, 90, 99, 99 };
	unsigned int i;

	run_init(&r);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		high_period(&r);
		assert_int_equal(high_period(&r), expect[i]);
	}
	run_init(&r);
	r.p.max_cpu_throttle = 45;
	r.p.cpu_throttle_initial = 30;
	r.p.cpu_throttle_increment = 7;
	uint32_t capped[] = { 30, 37, 44, 45, 45 };
	for (i = 0; i < sizeof(capped) / sizeof(capped[0]); i++) {
		high_period(&r);
		assert_int_equal(high_period(&r), capped[i]);
	}
}

/* A period closes only at a sync more than 1 s after it began: short
 * rounds add up. */
static void test_short_syncs_gather_into_a_period(void **state)
{
	struct run r;
	int i;

	run_init(&r);
	/* 10 syncs of 100 ms reach 1 s exactly: not more, still one period */
	for (i = 0; i < 10; i++)
		assert_int_equal(sync_after(&r, S / 10, 100 * PAGE, 60), 0);
	assert_int_equal(r.ac.high_periods, 0);
	assert_int_equal(sync_after(&r, 1, 0, 0), 0);
	assert_int_equal(r.ac.high_periods, 1);
	/* the next period: each sync alone is under, together they are over */
	for (i = 0; i < 10; i++)
		assert_int_equal(sync_after(&r, S / 10, 100 * PAGE, 60), 0);
	assert_int_equal(sync_after(&r, 1, 0, 0), 20);
}

/* tailslow: past the first step, only what brings the dirty rate to the
 * threshold, at most the increment. */
static void test_tailslow(void **state)
{
	struct run r;

	run_init(&r);
	r.p.cpu_throttle_tailslow = true;
	high_period(&r);
	assert_int_equal(high_period(&r), 20);
	/* threshold 500 pages' bytes of 520 dirtied: cpu_now 80, ideal
	 * 80 * 500 / 520 = 76.9 -> 76, so +4 */
	sync_after(&r, 2 * S, 1000 * PAGE, 520);
	assert_int_equal(sync_after(&r, 2 * S, 1000 * PAGE, 520), 24);
	/* far over: the increment bounds it */
	sync_after(&r, 2 * S, 1000 * PAGE, 5000);
	assert_int_equal(sync_after(&r, 2 * S, 1000 * PAGE, 5000), 34);
}

/* Nothing sent in a period and something dirtied is over any threshold. */
static void test_nothing_sent(void **state)
{
	struct run r;

	run_init(&r);
	r.p.throttle_trigger_pct = 100;
	sync_after(&r, 2 * S, 0, 1);
	assert_int_equal(sync_after(&r, 2 * S, 0, 1), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_high_period_starts_at_initial),
		cmocka_unit_test(test_low_periods_never_throttle),
		cmocka_unit_test(test_count_needs_not_be_in_a_row),
		cmocka_unit_test(test_increment_and_cap),
		cmocka_unit_test(test_short_syncs_gather_into_a_period),
		cmocka_unit_test(test_tailslow),
		cmocka_unit_test(test_nothing_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
