/* The scatter-list walks the block devices copy and slice with
 * (lib/iov.c): every offset and length over buffers of uneven sizes, an
 * empty buffer among them, copies in and out and slices checked against
 * the same bytes laid out flat; ranges past the end cut there, with no
 * byte written outside the buffers or past the returned count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "iov.h"

/* Buffers of 3, 0, 5, 1 and 7 bytes: 16 in all, each boundary a corner. */
#define NBUF		5
#define TOTAL		16
#define GUARD		0xee

static const size_t sizes[NBUF] = { 3, 0, 5, 1, 7 };

struct list {
	uint8_t mem[TOTAL + NBUF];	/* each buffer followed by a guard byte */
	struct iovec iov[NBUF];
};

/* The buffers hold flat byte i as i + 1 (never the guard, never 0). */
static void list_fill(struct list *l)
{
	size_t at = 0, flat = 0, i, j;

	memset(l->mem, GUARD, sizeof(l->mem));
	for (i = 0; i < NBUF; i++) {
		l->iov[i] = (struct iovec){ l->mem + at, sizes[i] };
		for (j = 0; j < sizes[i]; j++)
			l->mem[at + j] = (uint8_t)(++flat);
		at += sizes[i] + 1;
	}
}

/* Flat byte i of the list. */
static uint8_t *list_at(struct list *l, size_t i)
{
	size_t b;

	for (b = 0; b < NBUF; b++) {
		if (i < sizes[b])
			return (uint8_t *)l->iov[b].iov_base + i;
		i -= sizes[b];
	}
	return NULL;
}

static void check_guards(const struct list *l)
{
	size_t at = 0, i;

	for (i = 0; i < NBUF; i++) {
		at += sizes[i];
		assert_int_equal(l->mem[at++], GUARD);
	}
}

static uint64_t expect_len(uint64_t pos, uint64_t len)
{
	if (pos >= TOTAL)
		return 0;
	return len < TOTAL - pos ? len : TOTAL - pos;
}

static void test_to_buf(void **state)
{
	struct list l;
	uint8_t buf[TOTAL + 4];
	uint64_t pos, len, i, n;

	(void)state;
	list_fill(&l);
	for (pos = 0; pos <= TOTAL + 1; pos++) {
		for (len = 0; len <= TOTAL + 2; len++) {
			memset(buf, GUARD, sizeof(buf));
			n = iov__to_buf(l.iov, NBUF, pos, buf, len);
			assert_int_equal(n, expect_len(pos, len));
			for (i = 0; i < n; i++)
				assert_int_equal(buf[i], pos + i + 1);
			for (; i < sizeof(buf); i++)
				assert_int_equal(buf[i], GUARD);
		}
	}
	check_guards(&l);
}

static void test_from_buf(void **state)
{
	struct list l;
	uint8_t buf[TOTAL + 2];
	uint64_t pos, len, i, n;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0x80 + i);
	for (pos = 0; pos <= TOTAL + 1; pos++) {
		for (len = 0; len <= TOTAL + 2; len++) {
			list_fill(&l);
			n = iov__from_buf(l.iov, NBUF, pos, buf, len);
			assert_int_equal(n, expect_len(pos, len));
			for (i = 0; i < TOTAL; i++)
				assert_int_equal(*list_at(&l, i), i >= pos && i < pos + n ?
						 0x80 + i - pos : i + 1);
			check_guards(&l);
		}
	}
}

static void test_slice(void **state)
{
	struct list l;
	struct iovec out[NBUF + 1];
	uint64_t pos, len, sum;
	unsigned int k, i;

	(void)state;
	list_fill(&l);
	for (pos = 0; pos <= TOTAL + 1; pos++) {
		for (len = 0; len <= TOTAL + 2; len++) {
			memset(out, 0, sizeof(out));
			k = iov__slice(l.iov, NBUF, pos, len, out);
			assert_true(k <= NBUF - 1);	/* the empty buffer never shows */
			sum = 0;
			for (i = 0; i < k; i++) {
				assert_true(out[i].iov_len > 0);
				/* Each slice is contiguous flat bytes, in order. */
				assert_ptr_equal(out[i].iov_base, list_at(&l, pos + sum));
				assert_ptr_equal((uint8_t *)out[i].iov_base + out[i].iov_len - 1,
						 list_at(&l, pos + sum + out[i].iov_len - 1));
				sum += out[i].iov_len;
			}
			assert_int_equal(sum, expect_len(pos, len));
			assert_null(out[k].iov_base);
		}
	}
}

/* No buffers at all, and a walk of nothing: no byte touched. */
static void test_empty(void **state)
{
	uint8_t buf[4] = { GUARD, GUARD, GUARD, GUARD };
	struct iovec none = { NULL, 0 };
	struct iovec out[1];

	(void)state;
	assert_int_equal(iov__to_buf(NULL, 0, 0, buf, sizeof(buf)), 0);
	assert_int_equal(iov__from_buf(&none, 1, 0, buf, sizeof(buf)), 0);
	assert_int_equal(iov__slice(&none, 1, 0, 4, out), 0);
	assert_int_equal(buf[0], GUARD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_buf),
		cmocka_unit_test(test_from_buf),
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
