/* The XBZRLE delta codec: what the encoder makes of typical changes, that
 * decoding gives back the page, and that the decoder refuses every
 * malformed delta before it writes a byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xbzrle.h"

#define PAGE XBZRLE_PAGE_SIZE

static uint8_t old_page[PAGE], cur[PAGE], out[2 * PAGE], back[PAGE];

static void fill(uint8_t *p, unsigned seed)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		p[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
}

/* Encodes cur against old_page, checks the delta decodes back to cur;
 * returns its length. */
static int round_trip(void)
{
	char err[256];
	int len = xbzrle__encode(old_page, cur, out, sizeof(out));

	assert_true(len >= 0);
	memcpy(back, old_page, PAGE);
	if (xbzrle__decode(out, (size_t)len, back, err, sizeof(err)))
		fail_msg("own delta refused: %s", err);
	assert_memory_equal(back, cur, PAGE);
	return len;
}

static void test_identical(void **state)
{
	fill(old_page, 1);
	memcpy(cur, old_page, PAGE);
	assert_int_equal(round_trip(), 0);	/* the empty delta */
}

static void test_one_word(void **state)
{
	int i;

	fill(old_page, 2);
	memcpy(cur, old_page, PAGE);
	for (i = 0; i < 8; i++)
		cur[1024 + i] ^= 0x5a;
	/* 1024 unchanged (ULEB128 0x80 0x08), 8 changed, the new bytes. */
	assert_int_equal(round_trip(), 2 + 1 + 8);
	assert_int_equal(out[0], 0x80);
	assert_int_equal(out[1], 0x08);
	assert_int_equal(out[2], 8);
	assert_memory_equal(out + 3, cur + 1024, 8);
}

static void test_all_changed(void **state)
{
	size_t i;

	fill(old_page, 3);
	for (i = 0; i < PAGE; i++)
		cur[i] = (uint8_t)~old_page[i];
	/* u = 0, c = 4096 (0x80 0x20), then the page. */
	assert_int_equal(round_trip(), 1 + 2 + PAGE);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0x80);
	assert_int_equal(out[2], 0x20);
	/* Too long for the cap: the caller sends the page whole. */
	assert_int_equal(xbzrle__encode(old_page, cur, out, PAGE - 256), -ENOSPC);
}

static void test_alternating(void **state)
{
	size_t i;

	fill(old_page, 4);
	memcpy(cur, old_page, PAGE);
	for (i = 1; i < PAGE; i += 2)
		cur[i] ^= 0xff;
	/* 2048 pairs of 1, 1, byte: 3 bytes per changed byte. */
	assert_int_equal(round_trip(), 3 * 2048);
	assert_int_equal(xbzrle__encode(old_page, cur, out, PAGE), -ENOSPC);
}

static void test_runs_at_the_ends(void **state)
{
	fill(old_page, 5);
	memcpy(cur, old_page, PAGE);
	cur[0] ^= 1;
	cur[PAGE - 1] ^= 1;
	/* (0, 1, b) then (4094, 1, b): 4094 is 0xfe 0x1f. */
	assert_int_equal(round_trip(), 3 + 4);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1);
	assert_int_equal(out[3], 0xfe);
	assert_int_equal(out[4], 0x1f);
	assert_int_equal(out[5], 1);
}

static void test_random_changes(void **state)
{
	unsigned seed = 7, k, n, i;

	for (k = 0; k < 2000; k++) {
		fill(old_page, k);
		memcpy(cur, old_page, PAGE);
		n = k % 64;
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			cur[(seed >> 8) % PAGE] ^= (uint8_t)(seed >> 24 | 1);
		}
		round_trip();
	}
}

/* A malformed delta: refused with err naming the rule, the page intact. */
static void refused(const uint8_t *d, size_t len, const char *msg)
{
	char err[256] = "";

	fill(back, 9);
	memcpy(cur, back, PAGE);
	assert_int_equal(xbzrle__decode(d, len, back, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, msg))
		fail_msg("expected \"%s\" in \"%s\"", msg, err);
	assert_memory_equal(back, cur, PAGE);
	assert_int_equal(xbzrle__check(d, len, err, sizeof(err)), -EBADMSG);
}

static void test_refuses_malformed(void **state)
{
	/* A good first pair, then the fault: nothing of the good pair may be
	 * written either. */
	static const uint8_t past_u[] = { 0, 1, 0xaa, 0x80, 0x20, 1, 0xbb };
	static const uint8_t past_c[] = { 0, 1, 0xaa, 0xfe, 0x1f, 2, 0xbb, 0xcc };
	static const uint8_t trunc_uleb[] = { 0, 1, 0xaa, 0x80 };
	static const uint8_t trunc_c[] = { 0, 1, 0xaa, 4 };
	static const uint8_t short_data[] = { 0, 4, 0xaa, 0xbb };
	static const uint8_t trailing[] = { 0, 0x80, 0x20 };
	static const uint8_t zero_u[] = { 0, 1, 0xaa, 0, 1, 0xbb };
	static const uint8_t zero_c[] = { 5, 0 };
	static const uint8_t long_uleb[] = { 0x80, 0x80, 0x01, 1, 0xaa };
	static const uint8_t loose_uleb[] = { 0x85, 0x00, 1, 0xaa };
	static uint8_t after_end[3 + PAGE + 3];

	refused(past_u, sizeof(past_u), "unchanged run of 4096 bytes at page offset 1 ends past the page");
	refused(past_c, sizeof(past_c), "changed run of 2 bytes at page offset 4095 ends past the page");
	refused(trunc_uleb, sizeof(trunc_uleb), "unchanged length at byte 3 is truncated");
	refused(trunc_c, sizeof(trunc_c), "changed length at byte 4 is truncated");
	refused(short_data, sizeof(short_data), "changed run of 4 bytes at page offset 0 has only 2 bytes left");
	/* A changed run announced for the whole page, whose bytes are missing. */
	refused(trailing, sizeof(trailing), "has only 0 bytes left");
	refused(zero_u, sizeof(zero_u), "empty unchanged run at page offset 1");
	refused(zero_c, sizeof(zero_c), "empty changed run at page offset 5");
	refused(long_uleb, sizeof(long_uleb), "longer than 2 bytes");
	refused(loose_uleb, sizeof(loose_uleb), "not in its shortest form");
	/* The whole page changed, then one more pair: bytes after the end. */
	after_end[0] = 0;
	after_end[1] = 0x80;
	after_end[2] = 0x20;
	after_end[3 + PAGE] = 1;
	after_end[3 + PAGE + 1] = 1;
	refused(after_end, sizeof(after_end), "bytes after the run that ends the page");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_one_word),
		cmocka_unit_test(test_all_changed),
		cmocka_unit_test(test_alternating),
		cmocka_unit_test(test_runs_at_the_ends),
		cmocka_unit_test(test_random_changes),
		cmocka_unit_test(test_refuses_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
