/* The arithmetic and text of calc-dirty-rate; the measuring itself needs
 * /dev/kvm and is tested in tests/integration/qmp.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dirty_rate.h"

static void test_seconds(void **state)
{
	char err[128] = "";

	assert_int_equal(dirty_rate__check_seconds(1, err, sizeof(err)), 0);
	assert_int_equal(dirty_rate__check_seconds(60, err, sizeof(err)), 0);
	assert_int_equal(dirty_rate__check_seconds(0, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "1..60"));
	assert_int_equal(dirty_rate__check_seconds(61, err, sizeof(err)), -ERANGE);
	assert_int_equal(dirty_rate__check_seconds(-1, err, sizeof(err)), -ERANGE);
}

/* 10000 pages in 2 s: 5000 pages/s, 19.53 MiB/s (4 KiB pages). */
static void test_finish(void **state)
{
	struct dirty_rate r = { .status = DIRTY_RATE_MEASURING, .calc_time_s = 2 };

	dirty_rate__finish(&r, 10000, 2000000);
	assert_int_equal(r.status, DIRTY_RATE_MEASURED);
	assert_int_equal(r.pages, 10000);
	assert_true(r.pages_per_s > 4999.99 && r.pages_per_s < 5000.01);
	assert_true(r.mib_per_s > 19.53 && r.mib_per_s < 19.54);
	dirty_rate__finish(&r, 5, 0);
	assert_true(r.pages_per_s == 0.0);
}

static void test_format(void **state)
{
	struct dirty_rate r = { .status = DIRTY_RATE_UNSTARTED };
	char buf[512];

	dirty_rate__format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "status: unstarted\n");
	r.calc_time_s = 2;
	strcpy(r.dirty_log_mode, "plain");
	dirty_rate__finish(&r, 10000, 2000000);
	dirty_rate__format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "status: measured\n"));
	assert_non_null(strstr(buf, "dirty pages: 10000 in 2.000 s (dirty log plain)\n"));
	assert_non_null(strstr(buf, "dirty rate: 5000 pages/s, 19.53 MiB/s\n"));
	r.status = DIRTY_RATE_FAILED;
	strcpy(r.error, "boom");
	dirty_rate__format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "error: boom\n"));
	dirty_rate__format(&r, buf, 8);
	assert_int_equal(strlen(buf), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
