/* The one zero test (lib/mem_zero.c) behind zero pages, file holes, block
 * holes and zero config fields: every byte of the range counts, at every
 * length and alignment, and no byte outside it is read. The ranges below
 * end (or start) at a page the process may not read, so a read past the
 * range crashes the test instead of passing by luck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem_zero.h"

#define MAX_LEN		200
#define MAX_MISALIGN	64
#define PAGE		4096u

/* Two pages of data between two unreadable ones. */
struct guarded {
	uint8_t *map;
	uint8_t *data;		/* 2 * PAGE bytes */
};

static int setup(void **state)
{
	static struct guarded g;

	g.map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.map == MAP_FAILED)
		return -1;
	if (mprotect(g.map, PAGE, PROT_NONE) || mprotect(g.map + 3 * PAGE, PAGE, PROT_NONE))
		return -1;
	g.data = g.map + PAGE;
	*state = &g;
	return 0;
}

static int teardown(void **state)
{
	struct guarded *g = *state;

	return munmap(g->map, 4 * PAGE);
}

/* A different bit at each position, so every bit of every byte counts. */
static uint8_t bit_at(size_t pos)
{
	return (uint8_t)(1u << (pos % 8));
}

/* The range [p, p + len) with non-zero bytes around it (when there is
 * room), zero inside but for one byte at pos, or none when pos == len. */
static void check_range(uint8_t *lo, uint8_t *hi, uint8_t *p, size_t len, size_t pos)
{
	memset(p, 0, len);
	if (p > lo)
		p[-1] = 0xff;
	if (p + len < hi)
		p[len] = 0xff;
	if (pos < len)
		p[pos] = bit_at(pos);
	if (pos < len)
		assert_false(mem__is_zero(p, len));
	else
		assert_true(mem__is_zero(p, len));
	if (pos < len)
		p[pos] = 0;
	if (p > lo)
		p[-1] = 0;
	if (p + len < hi)
		p[len] = 0;
}

static void test_empty_and_one_byte(void **state)
{
	uint8_t one = 1, zero = 0;

	assert_true(mem__is_zero(NULL, 0));
	assert_true(mem__is_zero(&one, 0));
	assert_true(mem__is_zero(&zero, 1));
	assert_false(mem__is_zero(&one, 1));
	one = 0x80;
	assert_false(mem__is_zero(&one, 1));
}

/* Every length 0..200 at every misalignment 0..63 from a 64-byte
 * boundary, ending as close to the unreadable page after it as that
 * alignment allows (right at it for one misalignment per length). */
static void test_lengths_end_at_guard(void **state)
{
	struct guarded *g = *state;
	uint8_t *hi = g->data + 2 * PAGE, *p;
	size_t len, mis, pos;

	for (len = 0; len <= MAX_LEN; len++)
		for (mis = 0; mis < MAX_MISALIGN; mis++) {
			p = hi - len;
			p -= ((uintptr_t)p - mis) % MAX_MISALIGN;
			assert_int_equal((uintptr_t)p % MAX_MISALIGN, mis);
			for (pos = 0; pos <= len; pos++)
				check_range(g->data, hi, p, len, pos);
		}
}

/* The same lengths starting right after the unreadable page before them
 * and at every misalignment from there. */
static void test_lengths_start_at_guard(void **state)
{
	struct guarded *g = *state;
	uint8_t *hi = g->data + 2 * PAGE;
	size_t len, mis, pos;

	for (len = 0; len <= MAX_LEN; len++)
		for (mis = 0; mis < MAX_MISALIGN; mis++)
			for (pos = 0; pos <= len; pos++)
				check_range(g->data, hi, g->data + mis, len, pos);
}

/* A 4 KiB page, aligned as guest RAM's are, non-zero first, last, in the
 * middle, and in each 64-byte block. */
static void test_page(void **state)
{
	struct guarded *g = *state;
	uint8_t *page = g->data + PAGE;
	size_t pos;

	memset(page, 0, PAGE);
	assert_true(mem__is_zero(page, PAGE));
	for (pos = 0; pos < PAGE; pos += 61) {
		page[pos] = 0x80;
		assert_false(mem__is_zero(page, PAGE));
		page[pos] = 0;
	}
	page[0] = 1;
	assert_false(mem__is_zero(page, PAGE));
	page[0] = 0;
	page[PAGE / 2] = 1;
	assert_false(mem__is_zero(page, PAGE));
	page[PAGE / 2] = 0;
	page[PAGE - 1] = 1;
	assert_false(mem__is_zero(page, PAGE));
	/* The byte after it is not its business. */
	assert_true(mem__is_zero(page - PAGE, PAGE));
	page[PAGE - 1] = 0;
}

/* 64 MiB, as an unaligned range with odd ends too: a non-zero byte at
 * either end or anywhere between is found, and all zero is zero. */
static void test_large(void **state)
{
	const size_t size = 64u << 20;
	uint8_t *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const size_t at[] = { 0, 1, 63, 64, 4095, 4096, size / 2 + 17, size - 65,
			      size - 2, size - 1 };
	size_t i;

	assert_true(buf != MAP_FAILED);
	assert_true(mem__is_zero(buf, size));
	assert_true(mem__is_zero(buf + 3, size - 10));
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		buf[at[i]] = 0x40;
		assert_false(mem__is_zero(buf, size));
		if (at[i] >= 3 && at[i] < size - 7)
			assert_false(mem__is_zero(buf + 3, size - 10));
		else
			assert_true(mem__is_zero(buf + 3, size - 10));
		buf[at[i]] = 0;
	}
	assert_int_equal(munmap(buf, size), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_one_byte),
		cmocka_unit_test_setup_teardown(test_lengths_end_at_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lengths_start_at_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page, setup, teardown),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
