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

/* The ring's per-vCPU counts: one line each, and their MiB/s. */
static void test_format_vcpus(void **state)
{
	struct dirty_rate r = { .calc_time_s = 1, .mode = DIRTY_RATE_MODE_RING, .nr_vcpus = 2,
				.vcpu_pages = { 2560, 0 } };
	char buf[512];

	strcpy(r.dirty_log_mode, "ring");
	dirty_rate__finish(&r, 2560, 1000000);
	dirty_rate__format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "calc-time: 1 s, mode dirty-ring\n"));
	assert_non_null(strstr(buf, "vCPU 0: 2560 pages, 10.00 MiB/s\n"));
	assert_non_null(strstr(buf, "vCPU 1: 0 pages, 0.00 MiB/s\n"));
	assert_true(dirty_rate__vcpu_mib_per_s(&r, 0) > 9.99 && dirty_rate__vcpu_mib_per_s(&r, 0) < 10.01);
	assert_true(dirty_rate__vcpu_mib_per_s(&r, 2) == 0.0);
	assert_string_equal(dirty_rate__mode_name(DIRTY_RATE_MODE_BITMAP), "dirty-bitmap");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_vcpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
