/* The dirty log's pending set without KVM: a synthetic bitmap, walked with
 * dirty_log__next_dirty, which takes each page off as it returns it. */
#include "dirty_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* A dirty log with only its pending set: what the sender sees. */
static void make_log(struct dirty_log *d, uint64_t nr_pages)
{
	*d = (struct dirty_log){ .vm_fd = -1, .nr_pages = nr_pages };
	d->pending = calloc((nr_pages + 63) / 64, sizeof(uint64_t));
	assert_non_null(d->pending);
}

static void set_pending(struct dirty_log *d, uint64_t page)
{
	d->pending[page / 64] |= 1ULL << (page % 64);
}

static void test_order_and_taking(void **state)
{
	static const uint64_t pages[] = { 0, 1, 63, 64, 65, 1000, 4095, 4096, 9999 };
	struct dirty_log d;
	uint64_t p;
	size_t i;

	make_log(&d, 10000);
	for (i = sizeof(pages) / sizeof(pages[0]); i-- > 0;)
		set_pending(&d, pages[i]);
	assert_int_equal(dirty_log__count_pending(&d), 9);
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		assert_true(dirty_log__next_dirty(&d, &p));
		assert_int_equal(p, pages[i]);
		assert_int_equal(dirty_log__count_pending(&d), 8 - i);
	}
	assert_false(dirty_log__next_dirty(&d, &p));
	assert_false(dirty_log__next_dirty(&d, &p));
	free(d.pending);
}

/* mark_all makes exactly the RAM pages pending, none past the end, also
 * when the page count is not a multiple of 64; the walk restarts. */
static void test_mark_all(void **state)
{
	struct dirty_log d;
	uint64_t p, n = 0, last = 0;

	make_log(&d, 130);
	set_pending(&d, 5);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 5);
	assert_false(dirty_log__next_dirty(&d, &p));
	dirty_log__mark_all(&d);
	assert_int_equal(dirty_log__count_pending(&d), 130);
	while (dirty_log__next_dirty(&d, &p)) {
		assert_int_equal(p, n);
		last = p;
		n++;
	}
	assert_int_equal(n, 130);
	assert_int_equal(last, 129);
	assert_int_equal(dirty_log__count_pending(&d), 0);
	free(d.pending);
}

static void test_empty(void **state)
{
	struct dirty_log d;
	uint64_t p = 77;

	make_log(&d, 64);
	assert_false(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 77);
	free(d.pending);
}

/* take_run: the pending pages right after the one taken, in its word, as
 * far as `allowed` lets them; nothing past a gap, another word or RAM. */
static void test_take_run(void **state)
{
	struct dirty_log d;
	uint64_t p, i;

	make_log(&d, 200);
	dirty_log__mark_all(&d);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 0);
	/* Pages 1..63 all allowed: the rest of the word. */
	assert_int_equal(dirty_log__take_run(&d, 0, ~0ULL), 63);
	assert_int_equal(dirty_log__count_pending(&d), 136);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 64);
	/* Page 70 not allowed (populated, say): 65..69 go, 70 stays. */
	assert_int_equal(dirty_log__take_run(&d, 64, ~(1ULL << (70 - 64))), 5);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 70);
	/* Page 72 not pending: 71 only. */
	d.pending[1] &= ~(1ULL << (72 - 64));
	assert_int_equal(dirty_log__take_run(&d, 70, ~0ULL), 1);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 73);
	/* The last page of a word has no run after it in that word. */
	for (i = 74; i < 127; i++)
		assert_true(dirty_log__next_dirty(&d, &p));
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 127);
	assert_int_equal(dirty_log__take_run(&d, 127, ~0ULL), 0);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 128);
	/* RAM ends at page 199: the run stops there, and a page past RAM
	 * takes nothing. */
	assert_int_equal(dirty_log__take_run(&d, 128, ~0ULL), 63);
	assert_true(dirty_log__next_dirty(&d, &p));
	assert_int_equal(p, 192);
	assert_int_equal(dirty_log__take_run(&d, 192, ~0ULL), 7);
	assert_false(dirty_log__next_dirty(&d, &p));
	assert_int_equal(dirty_log__take_run(&d, 200, ~0ULL), 0);
	free(d.pending);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_taking),
		cmocka_unit_test(test_mark_all),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_take_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
