/* The line-stamping writer behind --serial ...,timestamps: every line gets
 * exactly one stamp, taken when its first byte is written, however the
 * bytes are split into writes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "line_stamp.h"

static uint64_t fake_now;

/* Each reading of the clock moves it on, so the output shows when each
 * stamp was taken. */
static uint64_t fake_clock(void)
{
	return fake_now++;
}

struct fixture {
	int fds[2];
	struct line_stamp ls;
};

static int setup(void **state)
{
	static struct fixture f;

	if (pipe(f.fds))
		return -1;
	line_stamp__init(&f.ls, f.fds[1]);
	f.ls.now_us = fake_clock;
	fake_now = 1764512345000001ULL;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fds[0]);
	close(f->fds[1]);
	return 0;
}

static void wr(struct fixture *f, const char *s)
{
	assert_int_equal(line_stamp__write(&f->ls, s, strlen(s)), (ssize_t)strlen(s));
}

static void expect(struct fixture *f, const char *want)
{
	char buf[4096];
	ssize_t n = read(f->fds[0], buf, sizeof(buf) - 1);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_format(void **state)
{
	char buf[LINE_STAMP_MAX];

	assert_int_equal(line_stamp__format(1764512345123456ULL, buf), 20);
	assert_string_equal(buf, "[1764512345.123456] ");
	line_stamp__format(7, buf);
	assert_string_equal(buf, "[0.000007] ");
	line_stamp__format(UINT64_MAX, buf);
	assert_string_equal(buf, "[18446744073709.551615] ");
}

static void test_partial_lines(void **state)
{
	struct fixture *f = *state;

	/* A line written a byte at a time, as the UART does: one stamp, taken
	 * at the first byte. */
	wr(f, "t");
	wr(f, "ic");
	wr(f, "k\n");
	wr(f, "x");
	expect(f, "[1764512345.000001] tick\n[1764512345.000002] x");
	wr(f, "\n");
	expect(f, "\n");
}

static void test_several_lines_one_write(void **state)
{
	struct fixture *f = *state;

	wr(f, "a\nbb\n\nc");
	expect(f, "[1764512345.000001] a\n[1764512345.000002] bb\n"
		  "[1764512345.000003] \n[1764512345.000004] c");
	/* More lines than one batch holds. */
	wr(f, "\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n");
	expect(f, "\n[1764512345.000005] 1\n[1764512345.000006] 2\n[1764512345.000007] 3\n"
		  "[1764512345.000008] 4\n[1764512345.000009] 5\n[1764512345.000010] 6\n"
		  "[1764512345.000011] 7\n[1764512345.000012] 8\n[1764512345.000013] 9\n"
		  "[1764512345.000014] 10\n[1764512345.000015] 11\n[1764512345.000016] 12\n"
		  "[1764512345.000017] 13\n[1764512345.000018] 14\n[1764512345.000019] 15\n"
		  "[1764512345.000020] 16\n[1764512345.000021] 17\n");
}

static void test_cr_lf(void **state)
{
	struct fixture *f = *state;

	/* CR LF ends a line once; a lone CR does not start one. */
	wr(f, "one\r");
	wr(f, "\ntwo\r\n");
	wr(f, "50%\r100%\r\n");
	expect(f, "[1764512345.000001] one\r\n[1764512345.000002] two\r\n"
		  "[1764512345.000003] 50%\r100%\r\n");
}

static void test_error(void **state)
{
	struct line_stamp ls;

	line_stamp__init(&ls, -1);
	assert_int_equal(line_stamp__write(&ls, "x\n", 2), -EBADF);
	assert_false(ls.mid_line);
	assert_int_equal(line_stamp__write(&ls, "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test_setup_teardown(test_partial_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_lines_one_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cr_lf, setup, teardown),
		cmocka_unit_test(test_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
