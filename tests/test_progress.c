/* The progress line's text: every field from the statistics, fields not
 * known yet left out, and never wider than the terminal; the
 * destination's disk line. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "migrate_stats.h"
#include "progress.h"

static struct migrate_stats s;

static int setup(void **state)
{
	return migrate_stats__init(&s) || migrate_stats__start(&s, "tcp:127.0.0.1:1");
}

static int teardown(void **state)
{
	migrate_stats__free(&s);
	return 0;
}

static void test_setup_then_rounds(void **state)
{
	struct round_stats r = {
		.index = 0, .dirty_rate_pps = 20011, .expected_downtime_ms = 3.94,
	};
	char buf[512];

	progress__format(&s, -1, buf, sizeof(buf), 200);
	assert_string_equal(buf, "migrate: setup");
	assert_int_equal(migrate_stats__move(&s, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE), 0);
	s.ram_transferred = 100ULL << 20;
	s.ram_remaining = 50ULL << 20;
	/* round 0 running: no rate measured, no round finished */
	progress__format(&s, -1, buf, sizeof(buf), 200);
	assert_string_equal(buf, "migrate: round 0, sent 100.0 MiB, remaining 50.0 MiB");
	assert_int_equal(migrate_stats__add_round(&s, &r), 0);
	progress__format(&s, 25.0 * 1024 * 1024, buf, sizeof(buf), 200);
	assert_string_equal(buf, "migrate: round 1, sent 100.0 MiB, remaining 50.0 MiB, 25.0 MiB/s, "
			    "dirty 20011 pages/s, exp. downtime 3.9 ms, eta 2.0 s");
	/* cut to the width, so "\r" rewrites the whole of it */
	progress__format(&s, 25.0 * 1024 * 1024, buf, sizeof(buf), 40);
	assert_int_equal(strlen(buf), 39);
	assert_int_equal(migrate_stats__move(&s, MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_STOP_COPY), 0);
	progress__format(&s, 0, buf, sizeof(buf), 200);
	assert_non_null(strstr(buf, "migrate: stop-and-copy, round 1,"));
	assert_null(strstr(buf, "eta"));
}

/* The destination's disk line: nothing without block migration, the share
 * received (rounds after the bulk pass send more than the total) held
 * below 100 until the images are complete. */
static void test_disk_line(void **state)
{
	char buf[128];

	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 200), -1);
	assert_string_equal(buf, "");
	s.disk_total = 64ULL << 20;
	s.disk_remaining = s.disk_total;
	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 200), 0);
	assert_string_equal(buf, "Receiving block device images Completed 0 %");
	s.disk_transferred = 16ULL << 20;
	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 200), 25);
	assert_string_equal(buf, "Receiving block device images Completed 25 %");
	s.disk_transferred = 80ULL << 20;
	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 200), 99);
	s.disk_remaining = 0;
	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 200), 100);
	assert_string_equal(buf, "Receiving block device images Completed 100 %");
	assert_int_equal(progress__format_disk(&s, buf, sizeof(buf), 20), 100);
	assert_int_equal(strlen(buf), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup_then_rounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
