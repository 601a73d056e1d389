/* The destination's populating ahead (ram_prefault.h): which chunks of a
 * batch go to the thread, in which order, each once; and the thread
 * populating them in real memory, and nothing else. */
#include "ram_prefault.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#define CHUNK	RAM_PREFAULT_CHUNK
#define PAGE	4096u

/* A fake mapping for pick: nothing is touched. */
static uint8_t *fake_base = (uint8_t *)(uintptr_t)(64ull << 30);

static void fake(struct ram_prefault *pf, uint64_t chunks)
{
	memset(pf, 0, sizeof(*pf));
	pf->lo = fake_base;
	pf->hi = fake_base + chunks * CHUNK;
	pf->named = calloc((chunks + 63) / 64, sizeof(uint64_t));
	assert_non_null(pf->named);
}

static struct iovec run(uint64_t offset, uint64_t len)
{
	return (struct iovec){ .iov_base = fake_base + offset, .iov_len = len };
}

static void test_pick_leaves_the_first_chunk_and_goes_backwards(void **state)
{
	struct ram_prefault pf;
	struct iovec runs[2];
	uint8_t *out[8];

	(void)state;
	fake(&pf, 16);
	/* One run inside one chunk: the receiver's own, nothing to queue. */
	runs[0] = run(CHUNK + 8 * PAGE, 16 * PAGE);
	assert_int_equal(ram_prefault__pick(&pf, runs, 1, out, 8), 0);
	/* 4 MiB from the middle of chunk 2: chunks 2 (own), 3 and 4. */
	runs[0] = run(2 * CHUNK + CHUNK / 2, 2 * CHUNK);
	assert_int_equal(ram_prefault__pick(&pf, runs, 1, out, 8), 2);
	assert_ptr_equal(out[0], fake_base + 4 * CHUNK);
	assert_ptr_equal(out[1], fake_base + 3 * CHUNK);
	/* Two runs over chunks 4-5 and 7: 4 was named, 5 and 7 are new and
	 * the first run's chunk is 4 (named), so both go, 7 first. */
	runs[0] = run(4 * CHUNK + PAGE, CHUNK);
	runs[1] = run(7 * CHUNK, PAGE);
	assert_int_equal(ram_prefault__pick(&pf, runs, 2, out, 8), 2);
	assert_ptr_equal(out[0], fake_base + 7 * CHUNK);
	assert_ptr_equal(out[1], fake_base + 5 * CHUNK);
	/* Each chunk once per migration. */
	assert_int_equal(ram_prefault__pick(&pf, runs, 2, out, 8), 0);
	free(pf.named);
}

static void test_pick_skips_what_is_not_guest_ram(void **state)
{
	struct ram_prefault pf;
	uint8_t tail[64], *out[8];
	struct iovec runs[3];

	(void)state;
	fake(&pf, 4);
	runs[0] = run(0, PAGE);				/* own: chunk 0 */
	runs[1] = run(3 * CHUNK + CHUNK - PAGE, 2 * PAGE);	/* past the end */
	runs[2] = (struct iovec){ .iov_base = tail, .iov_len = sizeof(tail) };
	assert_int_equal(ram_prefault__pick(&pf, runs, 3, out, 8), 0);
	runs[1] = run(3 * CHUNK + CHUNK - PAGE, PAGE);	/* the last page */
	assert_int_equal(ram_prefault__pick(&pf, runs, 3, out, 8), 1);
	assert_ptr_equal(out[0], fake_base + 3 * CHUNK);
	free(pf.named);
	/* Never started: nothing, and no crash. */
	memset(&pf, 0, sizeof(pf));
	assert_int_equal(ram_prefault__pick(&pf, runs, 3, out, 8), 0);
	ram_prefault__ahead(&pf, runs, 3);
	ram_prefault__stop(&pf);
}

static void test_pick_names_what_it_cannot_take(void **state)
{
	struct ram_prefault pf;
	struct iovec r;
	uint8_t *out[2];

	(void)state;
	fake(&pf, 8);
	r = run(0, 6 * CHUNK);	/* own 0, then 5, 4, 3, 2, 1: two fit */
	assert_int_equal(ram_prefault__pick(&pf, &r, 1, out, 2), 2);
	assert_ptr_equal(out[0], fake_base + 5 * CHUNK);
	assert_ptr_equal(out[1], fake_base + 4 * CHUNK);
	/* The rest stays with the receiver, never queued later. */
	assert_int_equal(ram_prefault__pick(&pf, &r, 1, out, 2), 0);
	free(pf.named);
}

static uint64_t resident_pages(uint8_t *p, size_t len)
{
	unsigned char v[CHUNK / PAGE];
	uint64_t n = 0;
	size_t i;

	assert_true(len <= CHUNK);
	assert_int_equal(mincore(p, len, v), 0);
	for (i = 0; i < len / PAGE; i++)
		n += v[i] & 1;
	return n;
}

static void wait_chunks(struct ram_prefault *pf, uint64_t want)
{
	uint64_t n = 0;
	int tries;

	for (tries = 0; tries < 5000 && n < want; tries++) {
		pthread_mutex_lock(&pf->lock);
		n = pf->chunks;
		pthread_mutex_unlock(&pf->lock);
		if (n < want)
			usleep(1000);
	}
	assert_int_equal(n, want);
}

/* Whether this kernel populates on request (Linux 5.14 and later). */
static bool kernel_populates(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	assert_true(p != MAP_FAILED);
	ok = !madvise(p, PAGE, MADV_POPULATE_WRITE) || errno != EINVAL;
	munmap(p, PAGE);
	return ok;
}

static void test_thread_populates_only_the_chunks_named(void **state)
{
	size_t size = 6 * CHUNK;
	struct ram_prefault pf;
	uint8_t *map, *base;
	struct iovec r;

	(void)state;
	if (!kernel_populates()) {
		/* The thread's madvise fails there and the receiver faults
		 * every chunk in itself: nothing of this test holds. */
		print_message("SKIP: this kernel has no MADV_POPULATE_WRITE (Linux 5.14)\n");
		skip();
	}
	map = mmap(NULL, size + CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	assert_true(map != MAP_FAILED);
	base = (uint8_t *)(((uintptr_t)map + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
	assert_int_equal(ram_prefault__start(&pf, base + PAGE, size), -EINVAL);
	ram_prefault__stop(&pf);
	assert_int_equal(ram_prefault__start(&pf, base, size), 0);
	/* The data of chunk 3 as the receiver wrote it before. */
	memset(base + 3 * CHUNK, 0xa5, PAGE);
	r = (struct iovec){ .iov_base = base + CHUNK, .iov_len = 3 * CHUNK };
	ram_prefault__ahead(&pf, &r, 1);
	wait_chunks(&pf, 2);
	assert_int_equal(resident_pages(base + 2 * CHUNK, CHUNK), CHUNK / PAGE);
	assert_int_equal(resident_pages(base + 3 * CHUNK, CHUNK), CHUNK / PAGE);
	/* Only faulted in: what was there stays. */
	assert_int_equal(base[3 * CHUNK], 0xa5);
	assert_int_equal(base[3 * CHUNK + PAGE], 0);
	/* The receiver's own chunk and those never named: untouched. */
	assert_int_equal(resident_pages(base + CHUNK, CHUNK), 0);
	assert_int_equal(resident_pages(base, CHUNK), 0);
	assert_int_equal(resident_pages(base + 5 * CHUNK, CHUNK), 0);
	/* Once finished it takes nothing more. */
	ram_prefault__finish(&pf);
	r = (struct iovec){ .iov_base = base + 5 * CHUNK - PAGE, .iov_len = 2 * PAGE };
	ram_prefault__ahead(&pf, &r, 1);
	ram_prefault__stop(&pf);
	assert_int_equal(pf.chunks, 2);
	assert_int_equal(resident_pages(base + 5 * CHUNK, CHUNK), 0);
	munmap(map, size + CHUNK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_leaves_the_first_chunk_and_goes_backwards),
		cmocka_unit_test(test_pick_skips_what_is_not_guest_ram),
		cmocka_unit_test(test_pick_names_what_it_cannot_take),
		cmocka_unit_test(test_thread_populates_only_the_chunks_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
