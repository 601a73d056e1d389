#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

#define SENTINEL 0xdeadbeefULL

struct u64_case {
	const char *in;
	int ret;
	uint64_t want;
};

/* Every failure must leave *out alone. */
static void check_size(const struct u64_case *c)
{
	uint64_t v = SENTINEL;
	int ret = parse__size(c->in, &v);

	if (ret != c->ret || v != (c->ret ? SENTINEL : c->want))
		fail_msg("parse__size(\"%s\") = %d, %llu; want %d, %llu",
			 c->in, ret, (unsigned long long)v, c->ret,
			 (unsigned long long)c->want);
}

static void test_size(void **state)
{
	static const struct u64_case cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "4096", 0, 4096 },
		{ "007", 0, 7 },
		{ "1K", 0, 1024 },
		{ "1k", 0, 1024 },
		{ "1KiB", 0, 1024 },
		{ "64M", 0, 64ULL << 20 },
		{ "512m", 0, 512ULL << 20 },
		{ "3MiB", 0, 3ULL << 20 },
		{ "2G", 0, 2ULL << 30 },
		{ "1GiB", 0, 1ULL << 30 },
		{ "5t", 0, 5ULL << 40 },
		{ "1TiB", 0, 1ULL << 40 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16777215T", 0, 16777215ULL << 40 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999999", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1 K", -EINVAL, 0 },
		{ "1KB", -EINVAL, 0 },
		{ "1MB", -EINVAL, 0 },
		{ "1kib", -EINVAL, 0 },
		{ "1Ki", -EINVAL, 0 },
		{ "1KK", -EINVAL, 0 },
		{ "1P", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
		{ "99999999999999999999999x", -EINVAL, 0 },
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_size(&cases[i]);
	assert_int_equal(parse__size(NULL, &v), -EINVAL);
}

static void check_duration(const struct u64_case *c)
{
	uint64_t v = SENTINEL;
	int ret = parse__duration_us(c->in, &v);

	if (ret != c->ret || v != (c->ret ? SENTINEL : c->want))
		fail_msg("parse__duration_us(\"%s\") = %d, %llu; want %d, %llu",
			 c->in, ret, (unsigned long long)v, c->ret,
			 (unsigned long long)c->want);
}

static void test_duration(void **state)
{
	static const struct u64_case cases[] = {
		{ "0", 0, 0 },
		{ "000", 0, 0 },
		{ "0.0", 0, 0 },
		{ "0s", 0, 0 },
		{ "2s", 0, 2000000 },
		{ "500ms", 0, 500000 },
		{ "100us", 0, 100 },
		{ "1.5s", 0, 1500000 },
		{ "0.25s", 0, 250000 },
		{ "0.1s", 0, 100000 },
		{ "0.000001s", 0, 1 },
		{ "1.000000000s", 0, 1000000 },
		{ "1.5ms", 0, 1500 },
		{ "0.001ms", 0, 1 },
		{ "3.000us", 0, 3 },
		{ "18446744073709551615us", 0, UINT64_MAX },
		{ "18446744073709s", 0, 18446744073709000000ULL },
		{ "18446744073709.551615s", 0, UINT64_MAX },
		{ "18446744073709.551616s", -ERANGE, 0 },
		{ "18446744073710s", -ERANGE, 0 },
		{ "18446744073709551616us", -ERANGE, 0 },
		{ "99999999999999999999999s", -ERANGE, 0 },
		{ "0.0000001s", -EINVAL, 0 },
		{ "1.5us", -EINVAL, 0 },
		{ "0.0001ms", -EINVAL, 0 },
		{ "300", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "ms", -EINVAL, 0 },
		{ ".5s", -EINVAL, 0 },
		{ "1.s", -EINVAL, 0 },
		{ "1.5.5s", -EINVAL, 0 },
		{ "1..5s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 },
		{ " 1s", -EINVAL, 0 },
		{ "1s ", -EINVAL, 0 },
		{ "1 s", -EINVAL, 0 },
		{ "1S", -EINVAL, 0 },
		{ "1sec", -EINVAL, 0 },
		{ "1m", -EINVAL, 0 },
		{ "1ns", -EINVAL, 0 },
		{ "1e3ms", -EINVAL, 0 },
		{ "1s500ms", -EINVAL, 0 },
		{ "99999999999999999999x", -EINVAL, 0 },
		{ "0.5", -EINVAL, 0 },
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_duration(&cases[i]);
	assert_int_equal(parse__duration_us(NULL, &v), -EINVAL);
}

static void test_u64(void **state)
{
	uint64_t v = SENTINEL;

	assert_int_equal(parse__u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse__u64("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse__u64("18446744073709551615", 0, UINT64_MAX, &v),
			 0);
	assert_true(v == UINT64_MAX);
	v = SENTINEL;
	assert_int_equal(parse__u64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(parse__u64("4", 5, 10, &v), -ERANGE);
	assert_int_equal(parse__u64("18446744073709551616", 0, UINT64_MAX, &v),
			 -ERANGE);
	assert_int_equal(parse__u64("", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64("+1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64("1K", 0, 10000, &v), -EINVAL);
	assert_int_equal(parse__u64("0x1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64("1.0", 0, 10, &v), -EINVAL);
	assert_int_equal(parse__u64(NULL, 0, 10, &v), -EINVAL);
	assert_true(v == SENTINEL);
}

static void test_double(void **state)
{
	static const char *const bad[] = {
		"", "-", ".", "1.", ".5", "1e", "1e+", "+1", " 1", "1 ",
		"nan", "NaN", "inf", "-inf", "infinity", "0x1p3", "1,5",
		"1.5.5", "--1", "1e5x", "e5",
	};
	double v = 42.0;
	size_t i;

	assert_int_equal(parse__double("3", 0, 10, &v), 0);
	assert_true(v == 3.0);
	assert_int_equal(parse__double("2.5", 0, 10, &v), 0);
	assert_true(v == 2.5);
	assert_int_equal(parse__double("-1.25", -2, 10, &v), 0);
	assert_true(v == -1.25);
	assert_int_equal(parse__double("1e2", 0, 1000, &v), 0);
	assert_true(v == 100.0);
	assert_int_equal(parse__double("1.5E-1", 0, 1, &v), 0);
	assert_true(v == 0.15);
	assert_int_equal(parse__double("0", 0, 0, &v), 0);
	assert_true(v == 0.0);
	v = 42.0;
	assert_int_equal(parse__double("10.5", 0, 10, &v), -ERANGE);
	assert_int_equal(parse__double("-0.5", 0, 10, &v), -ERANGE);
	assert_int_equal(parse__double("1e400", -1e308, 1e308, &v), -ERANGE);
	assert_int_equal(parse__double("1e-400", -1, 1, &v), -ERANGE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse__double(bad[i], -1e9, 1e9, &v) != -EINVAL)
			fail_msg("parse__double(\"%s\") accepted", bad[i]);
	assert_int_equal(parse__double(NULL, 0, 1, &v), -EINVAL);
	assert_true(v == 42.0);
}

static void good_host(const char *in, const char *host, uint16_t port)
{
	char h[64];
	uint16_t p = 0;
	int ret = parse__host_port(in, h, sizeof(h), &p);

	if (ret || strcmp(h, host) || p != port)
		fail_msg("parse__host_port(\"%s\") = %d \"%s\" %u", in, ret,
			 ret ? "" : h, p);
}

static void test_host_port(void **state)
{
	static const char *const bad[] = {
		"", ":", ":8888", "host", "host:", "host:0", "host:65536",
		"host:-1", "host:+80", "host:80x", "host: 80", " host:80",
		"ho st:80", "::1:8888", "[::1]", "[::1]8888", "[::1]:",
		"[]:80", "[abc]:80", "[::1:80", "::1]:80", "[::g]:80",
		"[fe80::1%]:80", "[fe80::1%e th]:80",
		"host:99999999999999999999",
		"a/b:80", "host:80:80", "[::1]:80:80",
	};
	char h[64] = "untouched";
	char small[8];
	uint16_t p = 7;
	size_t i;

	good_host("127.0.0.1:8888", "127.0.0.1", 8888);
	good_host("localhost:1", "localhost", 1);
	good_host("my-host.example_x:65535", "my-host.example_x", 65535);
	good_host("0:8888", "0.0.0.0", 8888);
	good_host("[::1]:8888", "::1", 8888);
	good_host("[::]:80", "::", 80);
	good_host("[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4", 80);
	good_host("[fe80::1%eth0]:80", "fe80::1%eth0", 80);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse__host_port(bad[i], h, sizeof(h), &p) == 0)
			fail_msg("parse__host_port(\"%s\") accepted", bad[i]);
	assert_string_equal(h, "untouched");
	assert_int_equal(p, 7);
	assert_int_equal(parse__host_port("host:0", h, sizeof(h), &p), -ERANGE);
	assert_int_equal(parse__host_port("a b:1", h, sizeof(h), &p), -EINVAL);
	/* The host must fit with its NUL: 7 characters fit in 8. */
	assert_int_equal(parse__host_port("abcdefg:1", small, 8, &p), 0);
	assert_string_equal(small, "abcdefg");
	assert_int_equal(parse__host_port("abcdefgh:1", small, 8, &p), -ERANGE);
	assert_int_equal(parse__host_port("0:1", small, 7, &p), -ERANGE);
	assert_int_equal(parse__host_port("x:1", h, 0, &p), -ERANGE);
	assert_int_equal(parse__host_port(NULL, h, sizeof(h), &p), -EINVAL);
}

/* Every byte value in every position of short strings: nothing crashes,
 * and whatever is accepted is accepted consistently. */
static void test_no_crash(void **state)
{
	char s[4] = { 0 };
	char h[16];
	uint64_t v;
	double d;
	uint16_t p;
	int a, b;

	for (a = 1; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			s[0] = (char)a;
			s[1] = (char)b;
			s[2] = 's';
			parse__size(s, &v);
			parse__duration_us(s, &v);
			parse__u64(s, 0, UINT64_MAX, &v);
			parse__double(s, -1e9, 1e9, &d);
			parse__host_port(s, h, sizeof(h), &p);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_no_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
