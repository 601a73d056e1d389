/* The dirty ring without KVM: the size rule, the (slot, offset) to RAM
 * page map, and the harvest walk over a ring in ordinary memory. */
#include "dirty_ring.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GFN_BYTES sizeof(struct kvm_dirty_gfn)

static void test_entries_rule(void **state)
{
	char err[256];

	/* A host whose KVM takes up to 16 MiB: 1 M entries of 16 bytes. */
	assert_int_equal(dirty_ring__check_entries(256, 16 << 20, err, sizeof(err)), 0);
	assert_int_equal(dirty_ring__check_entries(1 << 20, 16 << 20, err, sizeof(err)), 0);
	assert_int_equal(dirty_ring__check_entries(128, 16 << 20, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "power of two entries from 256 (one page) to 1048576"));
	assert_non_null(strstr(err, "or 0 for the dirty bitmap"));
	assert_int_equal(dirty_ring__check_entries(1000, 16 << 20, err, sizeof(err)), -EINVAL);
	assert_int_equal(dirty_ring__check_entries(1 << 21, 16 << 20, err, sizeof(err)), -EINVAL);
	assert_int_equal(dirty_ring__check_entries(0, 16 << 20, err, sizeof(err)), -EINVAL);
	assert_int_equal(dirty_ring__check_entries(256, 0, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "no dirty ring"));
	assert_int_equal(DIRTY_RING_MIN_ENTRIES * GFN_BYTES, 4096);
}

/* 4 GiB + 1 GiB of RAM: slot 0 below the hole, slot 1 from 4 GiB. */
static void make_mem(struct guest_memory *mem)
{
	memset(mem, 0, sizeof(*mem));
	assert_int_equal(guest_memory__layout(mem, 4ULL << 30), 0);
	assert_int_equal(mem->nr_slots, 2);
}

static void test_entry_page(void **state)
{
	struct guest_memory mem;
	uint64_t low = (3ULL << 30) / 4096;

	make_mem(&mem);
	assert_int_equal(dirty_ring__entry_page(&mem, 0, 0), 0);
	assert_int_equal(dirty_ring__entry_page(&mem, 0, low - 1), low - 1);
	assert_int_equal(dirty_ring__entry_page(&mem, 0, low), GUEST_NO_PAGE);
	assert_int_equal(dirty_ring__entry_page(&mem, 1, 0), low);
	assert_int_equal(dirty_ring__entry_page(&mem, 1, (1ULL << 30) / 4096 - 1),
			 low + (1ULL << 30) / 4096 - 1);
	assert_int_equal(dirty_ring__entry_page(&mem, 1, (1ULL << 30) / 4096), GUEST_NO_PAGE);
	assert_int_equal(dirty_ring__entry_page(&mem, 2, 0), GUEST_NO_PAGE);
	/* Address space 1 (SMM) holds no RAM of ours. */
	assert_int_equal(dirty_ring__entry_page(&mem, 1u << 16, 0), GUEST_NO_PAGE);
}

static void push(struct dirty_ring *r, uint32_t at, uint32_t slot, uint64_t offset)
{
	struct kvm_dirty_gfn *e = &r->gfns[at & (r->entries - 1)];

	e->slot = slot;
	e->offset = offset;
	e->flags = KVM_DIRTY_GFN_F_DIRTY;
}

static bool bit(const uint64_t *bits, uint64_t page)
{
	return bits[page / 64] >> (page % 64) & 1;
}

static void test_harvest_walk(void **state)
{
	struct guest_memory mem;
	struct dirty_ring r = { .entries = 256 };
	uint64_t *bits = calloc((4ULL << 30) / 4096 / 64, sizeof(uint64_t));
	struct dirty_ring_counts c = { 0 };
	uint64_t low = (3ULL << 30) / 4096;
	uint32_t i;

	make_mem(&mem);
	assert_non_null(bits);
	r.gfns = calloc(r.entries, GFN_BYTES);
	assert_non_null(r.gfns);

	/* Nothing dirty yet: nothing taken, the index stays. */
	assert_int_equal(dirty_ring__harvest(&r, &mem, bits, &c), 0);
	assert_int_equal(r.fetch, 0);

	/* Three dirty, then one KVM has not published (flags 0). */
	push(&r, 0, 0, 5);
	push(&r, 1, 1, 7);
	push(&r, 2, 0, low);		/* past slot 0's end: refused */
	push(&r, 4, 0, 9);		/* after a gap: not reached */
	assert_int_equal(dirty_ring__count(&r), 3);
	assert_int_equal(dirty_ring__harvest(&r, &mem, bits, &c), 3);
	assert_int_equal(c.refused, 1);
	assert_int_equal(c.taken, 3);
	assert_int_equal(c.fresh, 2);
	assert_int_equal(r.fetch, 3);
	assert_true(bit(bits, 5));
	assert_true(bit(bits, low + 7));
	assert_false(bit(bits, 9));
	for (i = 0; i < 3; i++)
		assert_int_equal(r.gfns[i].flags, KVM_DIRTY_GFN_F_RESET);
	assert_int_equal(r.gfns[4].flags, KVM_DIRTY_GFN_F_DIRTY);

	/* Wrap-around: KVM reset the ring and pushed from 250 on, past its
	 * end into entries 0..9 again. */
	memset(r.gfns, 0, r.entries * GFN_BYTES);
	r.fetch = 250;
	for (i = 250; i < 266; i++)
		push(&r, i, 0, 1000 + i);
	assert_int_equal(dirty_ring__harvest(&r, &mem, bits, &c), 16);
	assert_int_equal(r.fetch, 266);
	for (i = 250; i < 266; i++)
		assert_true(bit(bits, 1000 + i));
	assert_int_equal(r.gfns[9].flags, KVM_DIRTY_GFN_F_RESET);
	assert_int_equal(r.gfns[10].flags, 0);
	assert_int_equal(c.refused, 1);
	assert_int_equal(c.fresh, 18);

	/* One page pushed twice (KVM does, for its own page-table writes):
	 * two entries taken, one fresh page. */
	push(&r, 266, 0, 3);
	push(&r, 267, 0, 3);
	c = (struct dirty_ring_counts){ 0 };
	assert_int_equal(dirty_ring__harvest(&r, &mem, bits, &c), 2);
	assert_int_equal(c.fresh, 1);
	assert_true(bit(bits, 3));
	r.fetch = 266;

	/* A full ring is taken once around, never more. */
	memset(r.gfns, 0, r.entries * GFN_BYTES);
	for (i = 266; i < 266 + 256; i++)
		push(&r, i, 0, i);
	assert_int_equal(dirty_ring__count(&r), 256);
	assert_int_equal(dirty_ring__harvest(&r, &mem, bits, &c), 256);
	assert_int_equal(dirty_ring__count(&r), 0);
	free(r.gfns);
	free(bits);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_rule),
		cmocka_unit_test(test_entry_page),
		cmocka_unit_test(test_harvest_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
