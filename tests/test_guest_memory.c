/* Guest RAM layout without KVM: RAM page number <-> guest-physical address
 * across the PCI hole (RAM past 3 GiB continues at 4 GiB). */
#include "guest_memory.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define K 1024ULL
#define M (K * K)
#define G (K * M)
#define PAGE GUEST_PAGE_SIZE

static struct guest_memory layout(uint64_t size)
{
	struct guest_memory mem = { 0 };

	assert_int_equal(guest_memory__layout(&mem, size), 0);
	return mem;
}

/* Each page maps to a gpa and back to itself. */
static void roundtrip(const struct guest_memory *mem, uint64_t page, uint64_t gpa)
{
	assert_int_equal(guest_memory__page_gpa(mem, page), gpa);
	assert_int_equal(guest_memory__gpa_page(mem, gpa), page);
	/* Any address inside the page finds the same page. */
	assert_int_equal(guest_memory__gpa_page(mem, gpa + PAGE - 1), page);
}

static void test_2m(void **state)
{
	struct guest_memory mem = layout(2 * M);

	assert_int_equal(mem.nr_slots, 1);
	roundtrip(&mem, 0, 0);
	roundtrip(&mem, 511, 2 * M - PAGE);
	assert_int_equal(guest_memory__page_gpa(&mem, 512), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 2 * M), GUEST_NO_PAGE);
}

/* Exactly up to the hole: one slot, nothing at 4 GiB. */
static void test_3g(void **state)
{
	struct guest_memory mem = layout(3 * G);
	uint64_t last = 3 * G / PAGE - 1;

	assert_int_equal(mem.nr_slots, 1);
	roundtrip(&mem, last, 3 * G - PAGE);
	assert_int_equal(guest_memory__page_gpa(&mem, last + 1), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 3 * G), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 4 * G), GUEST_NO_PAGE);
}

/* One page past 3 GiB: it lives at 4 GiB, and the hole holds no RAM. */
static void test_3g_plus_4k(void **state)
{
	struct guest_memory mem = layout(3 * G + 4 * K);
	uint64_t first_high = 3 * G / PAGE;

	assert_int_equal(mem.nr_slots, 2);
	roundtrip(&mem, first_high - 1, 3 * G - PAGE);
	roundtrip(&mem, first_high, 4 * G);
	assert_int_equal(guest_memory__page_gpa(&mem, first_high + 1), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 3 * G), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 4 * G - PAGE), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 4 * G + PAGE), GUEST_NO_PAGE);
}

static void test_8g(void **state)
{
	struct guest_memory mem = layout(8 * G);
	uint64_t pages = 8 * G / PAGE, p;

	assert_int_equal(mem.nr_slots, 2);
	roundtrip(&mem, 0, 0);
	roundtrip(&mem, 3 * G / PAGE, 4 * G);
	roundtrip(&mem, pages - 1, 9 * G - PAGE);
	assert_int_equal(guest_memory__page_gpa(&mem, pages), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 9 * G), GUEST_NO_PAGE);
	assert_int_equal(guest_memory__gpa_page(&mem, 3 * G + 512 * M), GUEST_NO_PAGE);
	/* Every 4099th page: strictly increasing gpas that map back. */
	for (p = 1; p < pages; p += 4099) {
		uint64_t gpa = guest_memory__page_gpa(&mem, p);

		assert_true(gpa > guest_memory__page_gpa(&mem, p - 1));
		assert_int_equal(guest_memory__gpa_page(&mem, gpa), p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_2m),
		cmocka_unit_test(test_3g),
		cmocka_unit_test(test_3g_plus_4k),
		cmocka_unit_test(test_8g),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
