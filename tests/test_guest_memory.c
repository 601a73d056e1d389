/* Guest RAM layout without KVM: RAM page number <-> guest-physical address
 * across the PCI hole (RAM past 3 GiB continues at 4 GiB); which pages of
 * a mapping the host has populated (/proc/self/pagemap). */
#include "guest_memory.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>

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

/* A mapping standing in for guest RAM, aligned on 2 MiB; hugepage picks
 * MADV_HUGEPAGE or MADV_NOHUGEPAGE. */
static struct guest_memory mapped(uint64_t size, bool hugepage)
{
	struct guest_memory mem = { 0 };
	uint8_t *p = mmap(NULL, size + 2 * M, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	mem.map_addr = p;
	mem.map_len = size + 2 * M;
	mem.base = (uint8_t *)(((uintptr_t)p + 2 * M - 1) & ~(uintptr_t)(2 * M - 1));
	mem.size = size;
	assert_int_equal(madvise(mem.base, size, hugepage ? MADV_HUGEPAGE : MADV_NOHUGEPAGE), 0);
	return mem;
}

static bool bit(const uint64_t *bits, uint64_t n)
{
	return bits[n / 64] >> (n % 64) & 1;
}

/* Written and read pages are populated, the rest not; asking twice gives
 * the same answer, so asking populated nothing. The last word is partial
 * (70 pages) and its unused bits stay clear. */
static void test_populated(void **state)
{
	struct guest_memory mem = mapped(70 * PAGE, false);
	uint64_t bits[2], again[2], p;
	char err[256] = "";

	memset(bits, 0xff, sizeof(bits));
	mem.base[3 * PAGE] = 1;
	mem.base[10 * PAGE + 100] = 2;
	mem.base[69 * PAGE + PAGE - 1] = 3;
	assert_int_equal(*(volatile uint8_t *)&mem.base[20 * PAGE], 0);
	assert_int_equal(guest_memory__populated(&mem, bits, err, sizeof(err)), 0);
	for (p = 0; p < 128; p++)
		assert_int_equal(bit(bits, p), p == 3 || p == 10 || p == 20 || p == 69);
	assert_int_equal(guest_memory__populated(&mem, again, err, sizeof(err)), 0);
	assert_memory_equal(bits, again, sizeof(bits));
	munmap(mem.map_addr, mem.map_len);
}

/* A transparent huge page makes all its 512 small pages populated at once;
 * where THP is off, only the one written, and where the kernel uses a
 * smaller large folio (mTHP), the aligned block of that size: so the
 * populated pages are one aligned power-of-two block holding the page
 * written. A 2 MiB extent never touched stays clear in every case. */
static void test_populated_thp(void **state)
{
	struct guest_memory mem = mapped(4 * M, true);
	uint64_t bits[1024 / 64], p, n = 0;
	char err[256] = "";

	mem.base[PAGE + 5] = 1;
	assert_int_equal(guest_memory__populated(&mem, bits, err, sizeof(err)), 0);
	for (p = 0; p < 512; p++)
		n += bit(bits, p);
	assert_true(n >= 1 && n <= 512 && (n & (n - 1)) == 0);
	for (p = 0; p < 512; p++)
		assert_int_equal(bit(bits, p), p / n == 1 / n);
	for (p = 512; p < 1024; p++)
		assert_false(bit(bits, p));
	munmap(mem.map_addr, mem.map_len);
}

/* guest_memory__map: without prealloc no page of RAM exists until it is
 * touched; with it (--mem-prealloc) every one does, before any touch, and
 * the time that took is kept (a VM's build time leaves it out). */
static void test_map_prealloc(void **state)
{
	struct guest_memory mem;
	uint64_t bits[(8 * M / PAGE) / 64], p, n;
	char err[256] = "";
	int pre;

	(void)state;
	for (pre = 0; pre <= 1; pre++) {
		assert_int_equal(guest_memory__map(&mem, 8 * M, pre, err, sizeof(err)), 0);
		assert_non_null(mem.vmm_dirty);
		assert_ptr_equal(mem.slots[0].hva, mem.base);
		assert_int_equal(guest_memory__populated(&mem, bits, err, sizeof(err)), 0);
		for (p = n = 0; p < 8 * M / PAGE; p++)
			n += bit(bits, p);
		assert_int_equal(n, pre ? 8 * M / PAGE : 0);
		guest_memory__destroy(&mem);
		assert_null(mem.map_addr);
	}
	/* A size the layout refuses: nothing mapped, the reason given. */
	assert_int_equal(guest_memory__map(&mem, 8 * M + 1, true, err, sizeof(err)), -EINVAL);
	assert_null(mem.map_addr);
	assert_non_null(strstr(err, "multiple of 4 KiB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_2m),
		cmocka_unit_test(test_3g),
		cmocka_unit_test(test_3g_plus_4k),
		cmocka_unit_test(test_8g),
		cmocka_unit_test(test_populated),
		cmocka_unit_test(test_populated_thp),
		cmocka_unit_test(test_map_prealloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
