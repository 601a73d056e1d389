/* The dirty-trace file: what the writer puts down the reader gets back,
 * bit for bit, and a damaged or truncated file is refused, not misread.
 * With an argument, writes the synthetic trace to that path and exits
 * (the Python reader's test reads it: tests/integration/dirty_trace.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_scale.h"

#include "dirty_trace.h"

/* 3 GiB + 8 MiB + 4 KiB + 12 KiB: two regions around the PCI hole, and a
 * last bitmap word only partly used. */
#define LOW_PAGES (3ULL << 18)
#define HIGH_PAGES (2048ULL + 1 + 3)
#define NR_PAGES (LOW_PAGES + HIGH_PAGES)
#define WORDS ((NR_PAGES + 63) / 64)
#define NR_SLICES 5

static char path[64];

static void make_header(struct dirty_trace_header *h)
{
	memset(h, 0, sizeof(*h));
	h->major = DIRTY_TRACE_MAJOR;
	h->minor = DIRTY_TRACE_MINOR;
	h->page_size = 4096;
	h->log_mode = DIRTY_TRACE_LOG_MANUAL_PROTECT;
	h->ram_size = NR_PAGES * 4096;
	h->interval_us = 100000;
	h->duration_us = 500000;
	h->start_unix_us = 1764512345123456ULL;
	h->nr_regions = 2;
	h->regions[0] = (struct dirty_trace_region){ 0, LOW_PAGES * 4096, 0 };
	h->regions[1] = (struct dirty_trace_region){ 4ULL << 30, HIGH_PAGES * 4096, LOW_PAGES };
}

/* Slice k: nothing (k=0), everything (k=1), or a seeded random pattern
 * whose density grows with k, the last page set in each. */
static void make_bitmap(unsigned int k, uint64_t *bm)
{
	uint64_t i, x = 0x9e3779b97f4a7c15ULL * (k + 1);

	memset(bm, k == 1 ? 0xff : 0, WORDS * 8);
	for (i = 0; k > 1 && i < NR_PAGES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 16 < k)
			bm[i / 64] |= 1ULL << (i % 64);
	}
	if (k)
		bm[(NR_PAGES - 1) / 64] |= 1ULL << ((NR_PAGES - 1) % 64);
	bm[WORDS - 1] &= (1ULL << (NR_PAGES % 64)) - 1;
}

static int write_trace(const char *p)
{
	struct dirty_trace_writer w;
	struct dirty_trace_header h;
	uint64_t *bm = malloc(WORDS * 8);
	char err[256];
	unsigned int k;
	int ret;

	make_header(&h);
	ret = bm ? dirty_trace__create(&w, p, &h, err, sizeof(err)) : -ENOMEM;
	for (k = 0; !ret && k < NR_SLICES; k++) {
		struct dirty_trace_slice s = { .start_us = 100000ULL * k, .duration_us = 100000 + k };

		make_bitmap(k, bm);
		ret = dirty_trace__add_slice(&w, &s, bm, err, sizeof(err));
	}
	if (!ret)
		ret = dirty_trace__finish(&w, 500010, err, sizeof(err));
	if (ret)
		fprintf(stderr, "write_trace: %s\n", err);
	free(bm);
	return ret;
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/test_dirty_trace.%d", (int)getpid());
	return write_trace(path);
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void test_round_trip(void **state)
{
	struct dirty_trace_reader r;
	struct dirty_trace_header want;
	struct dirty_trace_slice s;
	uint64_t *got = malloc(WORDS * 8), *exp = malloc(WORDS * 8);
	char err[256];
	unsigned int k;

	make_header(&want);
	assert_int_equal(dirty_trace__open(&r, path, err, sizeof(err)), 0);
	assert_memory_equal(&r.h, &want, sizeof(want));
	for (k = 0; k < NR_SLICES; k++) {
		assert_int_equal(dirty_trace__next_slice(&r, &s, got, err, sizeof(err)), 1);
		make_bitmap(k, exp);
		assert_memory_equal(got, exp, WORDS * 8);
		assert_int_equal(s.index, k);
		assert_int_equal(s.start_us, 100000ULL * k);
		assert_int_equal(s.duration_us, 100000 + k);
		if (k == 0)
			assert_int_equal(s.dirty_pages, 0);
		if (k == 1)
			assert_int_equal(s.dirty_pages, NR_PAGES);
	}
	assert_int_equal(dirty_trace__next_slice(&r, &s, got, err, sizeof(err)), 0);
	assert_true(r.ended);
	assert_int_equal(r.total_us, 500010);
	assert_int_equal(r.nr_slices, NR_SLICES);
	dirty_trace__close(&r);
	free(got);
	free(exp);
}

/* Reads the whole file at p; returns the first error (or 0). */
static int read_all(const char *p, char *err, size_t errlen)
{
	struct dirty_trace_reader r;
	struct dirty_trace_slice s;
	uint64_t *bm = malloc(WORDS * 8);
	int ret = dirty_trace__open(&r, p, err, errlen);

	while (!ret && (ret = dirty_trace__next_slice(&r, &s, bm, err, errlen)) == 1)
		ret = 0;
	if (r.f)
		dirty_trace__close(&r);
	free(bm);
	return ret;
}

static long file_size(const char *p)
{
	FILE *f = fopen(p, "rb");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

static void flip_byte(const char *p, long off)
{
	FILE *f = fopen(p, "r+b");
	int c;

	assert_non_null(f);
	fseek(f, off, SEEK_SET);
	c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x40, f);
	fclose(f);
}

static void test_every_damaged_byte_refused(void **state)
{
	long n = file_size(path), off;
	char err[256];

	/* Any byte changed anywhere: caught by a check or a checksum. */
	for (off = 0; off < n; off += test_stride(off < 200 ? 1 : 37)) {
		flip_byte(path, off);
		if (read_all(path, err, sizeof(err)) != -EBADMSG)
			fail_msg("a changed byte at %ld went unnoticed (%s)", off, err);
		flip_byte(path, off);
	}
	assert_int_equal(read_all(path, err, sizeof(err)), 0);
}

/* Writes the first len bytes of data to p. */
static void write_prefix(const char *p, const uint8_t *data, long len)
{
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, (size_t)len, f), (size_t)len);
	fclose(f);
}

static void test_truncated_refused(void **state)
{
	long n = file_size(path), cut;
	uint8_t *data = malloc((size_t)n);
	FILE *f = fopen(path, "rb");
	char err[256];

	assert_non_null(f);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (cut = 0; cut < n; cut += test_stride(cut < 100 || cut > n - 100 ? 1 : n / 50)) {
		write_prefix(path, data, cut);
		if (read_all(path, err, sizeof(err)) != -EBADMSG)
			fail_msg("a trace cut at %ld of %ld bytes was read whole", cut, n);
	}
	write_prefix(path, data, n - 1);
	assert_int_equal(read_all(path, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, "truncated"))
		fail_msg("%s", err);
	write_prefix(path, data, n);
	free(data);
	assert_int_equal(read_all(path, err, sizeof(err)), 0);
}

static void test_other_major_refused(void **state)
{
	char err[256];

	flip_byte(path, 8);	/* major 1 -> 0x41 */
	assert_int_equal(read_all(path, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "version"));
	flip_byte(path, 8);
}

static void test_writer_refuses_bad_header(void **state)
{
	struct dirty_trace_reader r;
	struct dirty_trace_writer w;
	struct dirty_trace_header h;
	char err[256];

	make_header(&h);
	h.regions[1].first_page = NR_PAGES;	/* past the end */
	assert_int_equal(dirty_trace__create(&w, path, &h, err, sizeof(err)), -EINVAL);
	make_header(&h);
	h.page_size = 4000;
	assert_int_equal(dirty_trace__create(&w, path, &h, err, sizeof(err)), -EINVAL);
	make_header(&h);
	h.log_mode = DIRTY_TRACE_LOG_RING + 1;
	assert_int_equal(dirty_trace__create(&w, path, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown dirty-log mode"));
	/* The ring's traces are written, and read back as such. */
	make_header(&h);
	h.log_mode = DIRTY_TRACE_LOG_RING;
	assert_int_equal(dirty_trace__create(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(dirty_trace__finish(&w, 1000, err, sizeof(err)), 0);
	assert_int_equal(dirty_trace__open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.h.log_mode, DIRTY_TRACE_LOG_RING);
	dirty_trace__close(&r);
	assert_int_equal(write_trace(path), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_damaged_byte_refused),
		cmocka_unit_test(test_truncated_refused),
		cmocka_unit_test(test_other_major_refused),
		cmocka_unit_test(test_writer_refuses_bad_header),
	};

	if (argc == 2)
		return write_trace(argv[1]) ? 1 : 0;
	return cmocka_run_group_tests(tests, setup, teardown);
}
