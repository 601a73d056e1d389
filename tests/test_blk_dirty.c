#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "blk_dirty.h"

#define MiB BLK_DIRTY_BLOCK

static struct blk_dirty *make(uint64_t size)
{
	struct blk_dirty *d = NULL;

	assert_int_equal(blk_dirty__create(size, &d), 0);
	return d;
}

/* Takes every dirty block into got[] (in order); returns how many. */
static unsigned int take_all(struct blk_dirty *d, uint64_t *got, unsigned int max)
{
	uint64_t b = 0;
	unsigned int n = 0;

	while (blk_dirty__take_next(d, &b)) {
		assert_true(n < max);
		got[n++] = b++;
	}
	return n;
}

static void test_sizes(void **state)
{
	struct blk_dirty *d = NULL;

	assert_int_equal(blk_dirty__create(0, &d), -EINVAL);
	d = make(1);
	assert_int_equal(blk_dirty__blocks(d), 1);
	blk_dirty__free(d);
	d = make(MiB);
	assert_int_equal(blk_dirty__blocks(d), 1);
	blk_dirty__free(d);
	d = make(MiB + 512);
	assert_int_equal(blk_dirty__blocks(d), 2);
	blk_dirty__free(d);
	d = make(64 * MiB);
	assert_int_equal(blk_dirty__blocks(d), 64);
	assert_int_equal(blk_dirty__count(d), 0);
	blk_dirty__free(d);
}

static void test_mark_ranges(void **state)
{
	struct blk_dirty *d = make(200 * MiB + 4096);
	uint64_t got[256];
	unsigned int n;

	blk_dirty__mark(d, 0, 512);			/* block 0 */
	blk_dirty__mark(d, 2 * MiB - 512, 1024);	/* straddles 1 and 2 */
	blk_dirty__mark(d, 63 * MiB, MiB);		/* exactly 63 */
	blk_dirty__mark(d, 64 * MiB, 0);		/* nothing */
	blk_dirty__mark(d, 200 * MiB, 1 << 30);		/* the tail, clipped */
	blk_dirty__mark(d, 300 * MiB, 512);		/* past the end: ignored */
	assert_int_equal(blk_dirty__count(d), 5);
	n = take_all(d, got, 256);
	assert_int_equal(n, 5);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 2);
	assert_int_equal(got[3], 63);
	assert_int_equal(got[4], 200);
	/* Taking cleared them. */
	assert_int_equal(blk_dirty__count(d), 0);
	assert_int_equal(take_all(d, got, 256), 0);
	blk_dirty__free(d);
}

static void test_mark_all_and_word_edges(void **state)
{
	struct blk_dirty *d = make(130 * MiB);
	uint64_t got[256], b;
	unsigned int n, i;

	blk_dirty__mark_all(d);
	assert_int_equal(blk_dirty__count(d), 130);
	/* Start in the middle: only later blocks are taken. */
	b = 64;
	assert_true(blk_dirty__take_next(d, &b));
	assert_int_equal(b, 64);
	n = take_all(d, got, 256);
	assert_int_equal(n, 129);
	for (i = 0; i < 64; i++)
		assert_int_equal(got[i], i);
	for (; i < n; i++)
		assert_int_equal(got[i], i + 1);
	b = 130;
	assert_false(blk_dirty__take_next(d, &b));
	blk_dirty__free(d);
}

struct writer {
	struct blk_dirty *d;
	uint64_t blocks;
	volatile bool stop;
	unsigned long rounds;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	uint64_t b;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		for (b = 0; b < w->blocks; b += 3)
			blk_dirty__mark(w->d, b * MiB + 512, 512);
		__atomic_add_fetch(&w->rounds, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* A writer thread marks while this thread takes: every block the writer
 * marks shows up, and no block it never marks does. */
static void test_concurrent(void **state)
{
	struct writer w = { .d = make(1000 * MiB), .blocks = 1000 };
	uint64_t seen[1000] = { 0 };
	pthread_t t;
	uint64_t b;
	unsigned long start;
	unsigned int i;

	assert_int_equal(pthread_create(&t, NULL, write_loop, &w), 0);
	/* Until the writer completed two full passes after we began taking. */
	start = __atomic_load_n(&w.rounds, __ATOMIC_ACQUIRE);
	while (__atomic_load_n(&w.rounds, __ATOMIC_ACQUIRE) < start + 2) {
		b = 0;
		while (blk_dirty__take_next(w.d, &b))
			seen[b++]++;
	}
	__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	b = 0;
	while (blk_dirty__take_next(w.d, &b))
		seen[b++]++;
	for (i = 0; i < 1000; i++) {
		if (i % 3 == 0)
			assert_true(seen[i] > 0);
		else
			assert_int_equal(seen[i], 0);
	}
	blk_dirty__free(w.d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_mark_ranges),
		cmocka_unit_test(test_mark_all_and_word_edges),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
