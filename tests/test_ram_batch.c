/* RAM section payloads (stream 3.6): the encoder that sends pages from
 * where they are, a decoder that writes nothing unless the whole entry
 * table is right, per-page CRCs and torn pages, and the destination's
 * reader that puts pages straight into guest memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"
#include "ram_recv.h"
#include "ram_zstd.h"
#include "stream.h"
#include "vm_config.h"
#include "xbzrle_cache.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct vm_config cfg;

/* What the page callback saw. */
struct sink {
	uint32_t calls;
	uint64_t gpa[RAM_BATCH_MAX_PAGES];
	uint8_t first_byte[RAM_BATCH_MAX_PAGES];
	bool zero[RAM_BATCH_MAX_PAGES];
	bool torn[RAM_BATCH_MAX_PAGES];
	int fail_at;		/* return -EIO on this call; -1 = never */
};

static struct sink sink;

static int store_page(void *ctx, uint64_t gpa, const uint8_t *data, bool torn)
{
	struct sink *s = ctx;

	if ((int)s->calls == s->fail_at)
		return -EIO;
	s->gpa[s->calls] = gpa;
	s->zero[s->calls] = !data;
	s->torn[s->calls] = torn;
	s->first_byte[s->calls] = data ? data[0] : 0;
	s->calls++;
	return 0;
}

static int setup(void **state)
{
	vm_config__init(&cfg);
	cfg.ram_size = 5 * MiB;
	cfg.nr_slots = 2;
	cfg.slots[0] = (struct vm_config_slot){ 0, 1 * MiB };
	cfg.slots[1] = (struct vm_config_slot){ 4 * GiB, 4 * MiB };
	cfg.nr_cpus = 1;
	memset(&sink, 0, sizeof(sink));
	sink.fail_at = -1;
	return 0;
}

static int decode(const uint8_t *p, size_t n, struct ram_batch_info *info,
		  char *err, size_t len)
{
	return ram_batch__decode(p, n, &cfg, store_page, &sink, info, err, len);
}

/* The batch's payload in one buffer, as a reader that buffers it sees. */
static void flatten(const struct ram_batch *b, struct wbuf *w)
{
	const struct iovec *iov;
	int i, n;

	wbuf__init(w);
	iov = ram_batch__iov(b, &n);
	for (i = 0; i < n; i++)
		wbuf__put_bytes(w, iov[i].iov_base, iov[i].iov_len);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->len, ram_batch__len(b));
}

/* --- encoder ------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE], zero[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_batch b;
	struct wbuf w;
	char err[256];

	ram_batch__init(&b);
	ram_batch__begin(&b, 5);
	memset(page, 0xab, sizeof(page));
	assert_int_equal(ram_batch__add_page(&b, 0x1000, page), 0);
	/* All zero content goes out as a ZERO entry, without the 4 KiB. */
	assert_int_equal(ram_batch__add_page(&b, 0x2000, zero), 0);
	assert_int_equal(ram_batch__add_zero(&b, 4 * GiB + 4 * MiB - 4096), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.count, 3);
	assert_int_equal(b.nr_zero, 2);
	assert_int_equal(ram_batch__len(&b), 8 + 3 * 12 + RAM_PAGE_SIZE);
	/* The page is sent from where it is, not from a copy. */
	assert_int_equal(b.nr_iov, 2);
	assert_ptr_equal(b.iov[1].iov_base, page);
	flatten(&b, &w);
	assert_int_equal(wire__get_le32(w.data), 5);
	assert_int_equal(wire__get_le32(w.data + 4), 3);
	assert_int_equal(wire__get_le64(w.data + 8), 0x1000 | RAM_FLAG_DATA);
	assert_int_equal(wire__get_le32(w.data + 16), crc32c__extend(0, page, RAM_PAGE_SIZE));
	assert_int_equal(wire__get_le64(w.data + 20), 0x2000 | RAM_FLAG_ZERO);
	assert_int_equal(wire__get_le32(w.data + 28), 0);

	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.round, 5);
	assert_int_equal(info.count, 3);
	assert_int_equal(info.nr_zero, 2);
	assert_int_equal(info.nr_data, 1);
	assert_int_equal(info.nr_torn, 0);
	assert_int_equal(sink.calls, 3);
	assert_int_equal(sink.gpa[0], 0x1000);
	assert_int_equal(sink.first_byte[0], 0xab);
	assert_false(sink.torn[0]);
	assert_true(sink.zero[1]);
	assert_int_equal(sink.gpa[1], 0x2000);
	assert_true(sink.zero[2]);
	assert_int_equal(sink.gpa[2], 4 * GiB + 4 * MiB - 4096);
	wbuf__free(&w);

	/* The next batch starts empty. */
	ram_batch__begin(&b, 6);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(ram_batch__len(&b), 8);
	ram_batch__free(&b);
}

/* Pages adjacent in memory leave as one run; a gap or a zero page in
 * between starts a new one. */
static void test_runs_merged(void **state)
{
	static uint8_t mem[6 * RAM_PAGE_SIZE];
	struct ram_batch b;
	int i;

	for (i = 0; i < 6; i++)
		mem[i * RAM_PAGE_SIZE + 100] = (uint8_t)(i + 1);
	mem[3 * RAM_PAGE_SIZE + 100] = 0;	/* page 3 is zero */
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(ram_batch__add_page(&b, (uint64_t)i << 12,
						     mem + i * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.nr_iov, 3);
	assert_ptr_equal(b.iov[1].iov_base, mem);
	assert_int_equal(b.iov[1].iov_len, 3 * RAM_PAGE_SIZE);
	assert_ptr_equal(b.iov[2].iov_base, mem + 4 * RAM_PAGE_SIZE);
	assert_int_equal(b.iov[2].iov_len, 2 * RAM_PAGE_SIZE);
	ram_batch__free(&b);
}

/* Zero pages adjacent in guest-physical space, told (add_zero) or found
 * (add_page), become one ZERO_RUN entry; a gap, a data page or another
 * slot starts a new entry, and a lone zero page stays a ZERO entry. */
static void test_zero_runs_encoded(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE], zero[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_batch b;
	struct wbuf w;
	char err[256];
	uint64_t gpa;

	memset(page, 0xcd, sizeof(page));
	ram_batch__init(&b);
	ram_batch__begin(&b, 2);
	for (gpa = 0x1000; gpa < 0x4000; gpa += RAM_PAGE_SIZE)
		assert_int_equal(ram_batch__add_zero(&b, gpa), 0);
	assert_int_equal(ram_batch__add_page(&b, 0x4000, zero), 0);	/* found zero */
	assert_int_equal(ram_batch__add_page(&b, 0x5000, page), 0);
	assert_int_equal(ram_batch__add_zero(&b, 0x6000), 0);		/* alone */
	assert_int_equal(ram_batch__add_zero(&b, 0x8000), 0);		/* a gap */
	assert_int_equal(ram_batch__add_zero(&b, 0x9000), 0);
	/* The slot ends at 1 MiB, the next starts at 4 GiB: never one run. */
	assert_int_equal(ram_batch__add_zero(&b, 1 * MiB - RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_zero(&b, 4 * GiB), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.count, 6);
	assert_int_equal(b.nr_run, 2);
	assert_int_equal(b.nr_zero, 3);
	assert_int_equal(b.pages, 10);
	assert_int_equal(b.zero_pages, 9);
	assert_int_equal(ram_batch__len(&b), 8 + 6 * 12 + RAM_PAGE_SIZE);
	flatten(&b, &w);
	assert_int_equal(wire__get_le64(w.data + 8), 0x1000 | RAM_FLAG_ZERO_RUN);
	assert_int_equal(wire__get_le32(w.data + 16), 4);
	assert_int_equal(wire__get_le64(w.data + 20), 0x5000 | RAM_FLAG_DATA);
	assert_int_equal(wire__get_le64(w.data + 32), 0x6000 | RAM_FLAG_ZERO);
	assert_int_equal(wire__get_le32(w.data + 40), 0);
	assert_int_equal(wire__get_le64(w.data + 44), 0x8000 | RAM_FLAG_ZERO_RUN);
	assert_int_equal(wire__get_le32(w.data + 52), 2);
	assert_int_equal(ram_batch__pages(w.data, 8 + 6 * 12), 10);
	assert_int_equal(ram_batch__pages(w.data, 8 + 1 * 12 + 5), 4);	/* whole entries only */
	assert_int_equal(ram_batch__pages(w.data, 4), 0);

	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.count, 6);
	assert_int_equal(info.nr_run, 2);
	assert_int_equal(info.nr_zero, 3);
	assert_int_equal(info.nr_data, 1);
	assert_int_equal(info.pages, 10);
	assert_int_equal(info.zero_pages, 9);
	/* Every page of a run reaches the callback, in order. */
	assert_int_equal(sink.calls, 10);
	assert_int_equal(sink.gpa[0], 0x1000);
	assert_int_equal(sink.gpa[3], 0x4000);
	assert_true(sink.zero[3]);
	assert_int_equal(sink.gpa[4], 0x5000);
	assert_false(sink.zero[4]);
	assert_int_equal(sink.gpa[7], 0x9000);
	assert_int_equal(sink.gpa[9], 4 * GiB);
	wbuf__free(&w);
	ram_batch__free(&b);
}

/* A run grows without an entry, so a full batch still takes the next page
 * of its last run, and nothing else. */
static void test_zero_run_in_full_batch(void **state)
{
	struct ram_batch b;
	uint64_t last;
	uint32_t i;

	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	for (i = 0; i < RAM_BATCH_MAX_PAGES; i++)
		assert_int_equal(ram_batch__add_zero(&b, 4 * GiB + (uint64_t)i * 2 * RAM_PAGE_SIZE),
				 0);
	assert_true(ram_batch__full(&b));
	last = 4 * GiB + (uint64_t)(RAM_BATCH_MAX_PAGES - 1) * 2 * RAM_PAGE_SIZE;
	assert_int_equal(ram_batch__add_zero(&b, last + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_zero(&b, last + 3 * RAM_PAGE_SIZE), -ENOSPC);
	assert_int_equal(ram_batch__add_zero(&b, last + 2 * RAM_PAGE_SIZE), 0);
	assert_int_equal(b.count, RAM_BATCH_MAX_PAGES);
	assert_int_equal(b.pages, RAM_BATCH_MAX_PAGES + 2);
	assert_int_equal(b.nr_run, 1);
	/* Not begun, or not aligned: refused as any other page. */
	assert_int_equal(ram_batch__add_zero(&b, last + 3 * RAM_PAGE_SIZE + 1), -EINVAL);
	ram_batch__free(&b);
	assert_int_equal(ram_batch__add_zero(&b, 0x1000), -EINVAL);
}

/* add_zeros is add_zero n times over: it joins the last run where it can,
 * else makes one entry; all or nothing. */
static void test_zero_runs_added_whole(void **state)
{
	struct ram_batch_info info;
	struct ram_batch b;
	struct wbuf w;
	char err[256];
	uint32_t i;

	ram_batch__init(&b);
	assert_int_equal(ram_batch__add_zeros(&b, 0x1000, 3), -EINVAL);	/* none begun */
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_zeros(&b, 0x1000, 0), -EINVAL);
	assert_int_equal(ram_batch__add_zeros(&b, 0x1001, 2), -EINVAL);
	assert_int_equal(ram_batch__add_zeros(&b, 0x1000, 1), 0);	/* a ZERO */
	assert_int_equal(ram_batch__add_zeros(&b, 0x2000, 63), 0);	/* joins it */
	assert_int_equal(ram_batch__add_zeros(&b, 0x50000, 64), 0);	/* a new run */
	assert_int_equal(ram_batch__add_zero(&b, 0x90000), 0);		/* joins it */
	assert_int_equal(b.count, 2);
	assert_int_equal(b.nr_run, 2);
	assert_int_equal(b.nr_zero, 0);
	assert_int_equal(b.pages, 129);
	assert_int_equal(b.zero_pages, 129);
	/* A run past UINT32_MAX pages: refused whole. */
	assert_int_equal(ram_batch__add_zeros(&b, 0x91000, UINT32_MAX - 65 + 1), -EINVAL);
	assert_int_equal(b.pages, 129);
	assert_int_equal(ram_batch__finish(&b), 0);
	flatten(&b, &w);
	assert_int_equal(wire__get_le64(w.data + 8), 0x1000 | RAM_FLAG_ZERO_RUN);
	assert_int_equal(wire__get_le32(w.data + 16), 64);
	assert_int_equal(wire__get_le64(w.data + 20), 0x50000 | RAM_FLAG_ZERO_RUN);
	assert_int_equal(wire__get_le32(w.data + 28), 65);
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.pages, 129);
	wbuf__free(&w);
	/* A full batch takes more only on its last run. */
	ram_batch__begin(&b, 0);
	for (i = 0; i < RAM_BATCH_MAX_PAGES; i++)
		assert_int_equal(ram_batch__add_zeros(&b, (uint64_t)i << 16, 2), 0);
	assert_int_equal(ram_batch__add_zeros(&b, 0xfff0000, 2), -ENOSPC);
	assert_int_equal(ram_batch__add_zeros(&b, ((uint64_t)(RAM_BATCH_MAX_PAGES - 1) << 16) +
						  2 * RAM_PAGE_SIZE, 5), 0);
	assert_int_equal(b.pages, 2 * RAM_BATCH_MAX_PAGES + 5);
	ram_batch__free(&b);
}

static void test_encoder_limits(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_batch b;
	struct wbuf w;
	char err[256];
	uint32_t i;

	ram_batch__init(&b);
	/* Not begun: refused, not a crash. */
	assert_int_equal(ram_batch__add_zero(&b, 0), -EINVAL);
	assert_int_equal(ram_batch__add_page(&b, 0, page), -EINVAL);
	assert_int_equal(ram_batch__finish(&b), -EINVAL);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_zero(&b, 0x1001), -EINVAL);
	assert_int_equal(ram_batch__add_page(&b, 0x10, page), -EINVAL);
	page[0] = 1;
	for (i = 0; i < RAM_BATCH_MAX_PAGES; i++) {
		assert_false(ram_batch__full(&b));
		/* 256 pages fill slot 0, the rest go to slot 1 */
		assert_int_equal(ram_batch__add_page(&b, i < 256 ? (uint64_t)i << 12 :
						     4 * GiB + ((uint64_t)(i - 256) << 12),
						     page), 0);
	}
	assert_true(ram_batch__full(&b));
	assert_int_equal(ram_batch__add_page(&b, 0, page), -ENOSPC);
	assert_int_equal(ram_batch__add_zero(&b, 0), -ENOSPC);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(ram_batch__len(&b), RAM_BATCH_MAX_BYTES - RAM_ZSTD_PREFIX_LEN);
	flatten(&b, &w);
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(sink.calls, RAM_BATCH_MAX_PAGES);
	assert_int_equal(info.nr_data, RAM_BATCH_MAX_PAGES);
	wbuf__free(&w);
	ram_batch__free(&b);
}

/* --- decoder: every rule, and nothing written on failure ----------------- */

static uint8_t good_page[RAM_PAGE_SIZE];

/* A batch whose first two entries are good (a DATA page, then a ZERO
 * page), so a decoder that wrote as it went would be caught, then the
 * `extra` entries; then `data_pages` pages of data. */
static void build(struct wbuf *w, uint32_t count, const uint64_t *extra, size_t n,
		  size_t data_bytes)
{
	size_t i;

	memset(good_page, 0x5a, sizeof(good_page));
	wbuf__init(w);
	wbuf__put_u32(w, 1);
	wbuf__put_u32(w, count);
	wbuf__put_u64(w, 0x3000 | RAM_FLAG_DATA);
	wbuf__put_u32(w, crc32c__extend(0, good_page, RAM_PAGE_SIZE));
	wbuf__put_u64(w, 0x4000 | RAM_FLAG_ZERO);
	wbuf__put_u32(w, 0);
	for (i = 0; i < n; i++) {
		wbuf__put_u64(w, extra[i]);
		wbuf__put_u32(w, 0);
	}
	for (i = 0; i + RAM_PAGE_SIZE <= data_bytes; i += RAM_PAGE_SIZE)
		wbuf__put_bytes(w, good_page, RAM_PAGE_SIZE);
	wbuf__put_bytes(w, good_page, data_bytes - i);
}

static void expect_refused(struct wbuf *w, const char *msg)
{
	char err[256];

	assert_int_equal(w->err, 0);
	assert_int_equal(decode(w->data, w->len, NULL, err, sizeof(err)),
			 -EBADMSG);
	if (!strstr(err, msg))
		fail_msg("expected \"%s\" in \"%s\"", msg, err);
	assert_int_equal(sink.calls, 0);
	wbuf__free(w);
}

/* One extra entry after the two good ones, one page of data. */
static void refused_entry(uint64_t word, const char *msg)
{
	struct wbuf w;

	build(&w, 3, &word, 1, RAM_PAGE_SIZE);
	expect_refused(&w, msg);
}

static void test_refuses_unaligned_gpa(void **state)
{
	refused_entry(0x5800 | RAM_FLAG_ZERO | 0x800,
		      "RAM batch entry 2: 0x5801 has bits 0x800 set below the page boundary");
}

static void test_refuses_outside_slots(void **state)
{
	refused_entry((1 * MiB) | RAM_FLAG_ZERO,	/* just past slot 0 */
		      "RAM batch entry 2: gpa 0x100000 is outside guest RAM");
	refused_entry((4 * GiB + 4 * MiB) | RAM_FLAG_ZERO,
		      "gpa 0x100400000 is outside guest RAM");
	refused_entry((2 * GiB) | RAM_FLAG_ZERO,	/* between the slots */
		      "gpa 0x80000000 is outside guest RAM");
	refused_entry(0xfffffffffffff000ull | RAM_FLAG_ZERO, "outside guest RAM");
}

static void test_refuses_flags(void **state)
{
	refused_entry(0x5000 | RAM_FLAG_ZERO | RAM_FLAG_DATA,
		      "RAM batch entry 2 (gpa 0x5000): flags 0x3, exactly one of ZERO, DATA, XBZRLE, ZSTD and ZERO_RUN must be set");
	refused_entry(0x5000, "flags 0x0, exactly one");
	refused_entry(0x5000 | RAM_FLAG_ZERO | RAM_FLAG_XBZRLE, "flags 0x5, exactly one");
	refused_entry(0x5000 | RAM_FLAG_ZERO | RAM_FLAG_ZERO_RUN, "flags 0x11, exactly one");
	refused_entry(0x5000 | 0x20, "an unknown flag");
	refused_entry(0x5000 | RAM_FLAG_ZSTD | RAM_FLAG_DATA, "flags 0xa, exactly one");
}

/* One ZERO_RUN entry of `pages` from gpa after the two good entries. */
static void refused_run(uint64_t gpa, uint32_t pages, const char *msg)
{
	struct wbuf w;

	wbuf__init(&w);
	memset(good_page, 0x5a, sizeof(good_page));
	wbuf__put_u32(&w, 1);
	wbuf__put_u32(&w, 3);
	wbuf__put_u64(&w, 0x3000 | RAM_FLAG_DATA);
	wbuf__put_u32(&w, crc32c__extend(0, good_page, RAM_PAGE_SIZE));
	wbuf__put_u64(&w, 0x4000 | RAM_FLAG_ZERO);
	wbuf__put_u32(&w, 0);
	wbuf__put_u64(&w, gpa | RAM_FLAG_ZERO_RUN);
	wbuf__put_u32(&w, pages);
	wbuf__put_bytes(&w, good_page, RAM_PAGE_SIZE);
	expect_refused(&w, msg);
}

/* A run is two pages or more, starts in a slot and ends in the same one:
 * the rest of the slot bounds it, whatever the u32 says. */
static void test_refuses_zero_runs(void **state)
{
	refused_run(0x5000, 1, "RAM batch entry 2 (gpa 0x5000): a ZERO_RUN of 1 page(s), at least 2 (one zero page is a ZERO entry)");
	refused_run(0x5000, 0, "a ZERO_RUN of 0 page(s), at least 2");
	refused_run(1 * MiB - RAM_PAGE_SIZE, 2,
		    "RAM batch entry 2 (gpa 0xff000): a ZERO_RUN of 2 pages runs past its RAM slot's end (1 pages left in it)");
	refused_run(0x5000, 0xffffffff, "a ZERO_RUN of 4294967295 pages runs past its RAM slot's end (251 pages left in it)");
	refused_run(4 * GiB + 4 * MiB - 2 * RAM_PAGE_SIZE, 3, "runs past its RAM slot's end (2 pages left in it)");
	refused_run(2 * MiB, 2, "RAM batch entry 2: gpa 0x200000 is outside guest RAM");
	/* Up to the slot's last page is right. */
	{
		struct ram_batch_info info;
		struct wbuf w;
		char err[256];

		wbuf__init(&w);
		wbuf__put_u32(&w, 1);
		wbuf__put_u32(&w, 1);
		wbuf__put_u64(&w, (4 * GiB) | RAM_FLAG_ZERO_RUN);
		wbuf__put_u32(&w, 4 * MiB / RAM_PAGE_SIZE);
		assert_int_equal(ram_batch__check(w.data, w.len, w.len, &cfg, &info, err,
						  sizeof(err)), 0);
		assert_int_equal(info.pages, 4 * MiB / RAM_PAGE_SIZE);
		assert_int_equal(info.zero_pages, 4 * MiB / RAM_PAGE_SIZE);
		wbuf__free(&w);
	}
}

static void test_refuses_zero_with_crc(void **state)
{
	struct wbuf w;

	build(&w, 2, NULL, 0, RAM_PAGE_SIZE);
	wire__le32(w.data + 8 + 12 + 8, 0x1234);
	expect_refused(&w, "RAM batch entry 1 (gpa 0x4000): a ZERO page with CRC 0x00001234, must be 0");
}

static void test_refuses_count(void **state)
{
	struct wbuf w;

	build(&w, RAM_BATCH_MAX_PAGES + 1, NULL, 0, RAM_PAGE_SIZE);
	expect_refused(&w, "RAM batch: 1025 pages, at most 1024");
	build(&w, 0xffffffff, NULL, 0, RAM_PAGE_SIZE);
	expect_refused(&w, "at most 1024");
}

static void test_refuses_length(void **state)
{
	uint64_t data = 0x5000 | RAM_FLAG_DATA;
	struct wbuf w;

	/* count says more entries than the payload holds */
	build(&w, 400, NULL, 0, RAM_PAGE_SIZE);
	expect_refused(&w, "RAM batch: an entry table of 400 entries does not fit a payload of 4128 bytes");
	/* a DATA page cut short */
	build(&w, 3, &data, 1, RAM_PAGE_SIZE + RAM_PAGE_SIZE / 2);
	expect_refused(&w, "RAM batch: 2 DATA entries need 8192 page bytes, the payload has 6144");
	/* count says fewer entries: the rest is read as page bytes */
	build(&w, 1, NULL, 0, RAM_PAGE_SIZE);
	expect_refused(&w, "1 DATA entries need 4096 page bytes, the payload has 4108");
	/* page data no entry owns */
	build(&w, 2, NULL, 0, 2 * RAM_PAGE_SIZE);
	expect_refused(&w, "1 DATA entries need 4096 page bytes, the payload has 8192");
	/* shorter than the header */
	build(&w, 2, NULL, 0, 0);
	w.len = 7;
	expect_refused(&w, "shorter than its 8-byte header");
}

/* A page whose bytes do not match its CRC is stored and reported torn;
 * the rest of the batch is not affected. */
static void test_torn_page_decoded(void **state)
{
	uint64_t data = 0x5000 | RAM_FLAG_DATA;
	struct ram_batch_info info;
	struct wbuf w;
	char err[256];

	build(&w, 3, &data, 1, 2 * RAM_PAGE_SIZE);
	wire__le32(w.data + 8 + 24 + 8, crc32c__extend(0, good_page, RAM_PAGE_SIZE));
	w.data[w.len - 1] ^= 1;	/* the second page changed after its CRC */
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_torn, 1);
	assert_int_equal(sink.calls, 3);
	assert_false(sink.torn[0]);
	assert_false(sink.torn[1]);
	assert_true(sink.torn[2]);
	wbuf__free(&w);
}

static void test_callback_error_and_args(void **state)
{
	struct wbuf w;
	char err[256];

	build(&w, 2, NULL, 0, RAM_PAGE_SIZE);
	sink.fail_at = 1;
	assert_int_equal(decode(w.data, w.len, NULL, err, sizeof(err)), -EIO);
	assert_string_equal(err, "RAM batch entry 1 (gpa 0x4000): storing the page failed (-5)");
	assert_int_equal(ram_batch__decode(w.data, w.len, NULL, store_page,
					   &sink, NULL, err, sizeof(err)), -EINVAL);
	wbuf__free(&w);
}

/* --- through a stream, into guest memory ---------------------------------- */

/* The destination's guest memory: the test config's two slots, laid out
 * one after the other. */
static uint8_t *guest;

static uint8_t *guest_hva(void *ctx, uint64_t gpa)
{
	(void)ctx;
	return gpa < 4 * GiB ? guest + gpa : guest + 1 * MiB + (gpa - 4 * GiB);
}

struct pipe_ends {
	int fd;
	struct stream src, dst;
	struct section sec;
	struct ram_recv rr;
};

static void open_ends(struct pipe_ends *p)
{
	char err[256];

	guest = calloc(1, 5 * MiB);
	assert_non_null(guest);
	p->fd = memfd_create("test_ram_batch", 0);
	assert_true(p->fd >= 0);
	stream__init(&p->src, p->fd, STREAM_SOURCE);
	assert_int_equal(stream__write_preamble(&p->src), 0);
	assert_int_equal(stream__send(&p->src, SECTION_CONFIG, "", 0), 0);
	stream__init(&p->dst, p->fd, STREAM_DEST);
	section__init(&p->sec);
	assert_int_equal(ram_recv__init(&p->rr, &cfg, guest_hva, NULL), 0);
	assert_int_equal(lseek(p->fd, 0, SEEK_SET), 0);
	assert_int_equal(stream__read_preamble(&p->dst, err, sizeof(err)), 0);
	assert_int_equal(stream__recv(&p->dst, &p->sec, err, sizeof(err)), 0);
}

static void close_ends(struct pipe_ends *p)
{
	ram_recv__free(&p->rr);
	section__free(&p->sec);
	close(p->fd);
	free(guest);
}

/* Appends a RAM section; the reader goes on from where it was. */
static void send_iov(struct pipe_ends *p, const struct iovec *iov, int n)
{
	off_t at = lseek(p->fd, 0, SEEK_CUR);

	assert_true(lseek(p->fd, 0, SEEK_END) >= 0);
	assert_int_equal(stream__sendv(&p->src, SECTION_RAM, iov, n), 0);
	assert_int_equal(lseek(p->fd, at, SEEK_SET), at);
}

static void send_batch(struct pipe_ends *p, struct ram_batch *b)
{
	const struct iovec *iov;
	int n;

	iov = ram_batch__iov(b, &n);
	send_iov(p, iov, n);
}

static void send_buf(struct pipe_ends *p, struct wbuf *w)
{
	struct iovec iov = { w->data, w->len };

	send_iov(p, &iov, 1);
}

static int recv_batch(struct pipe_ends *p, struct ram_batch_info *info, char *err, size_t len)
{
	int ret = stream__recv_head(&p->dst, &p->sec, err, len);

	if (ret)
		return ret;
	assert_int_equal(p->sec.type, SECTION_RAM);
	return ram_recv__section(&p->rr, &p->dst, &p->sec, info, err, len);
}

/* The zero-copy path end to end: pages leave from source memory and land
 * in the destination's, where the entries say. */
static void test_into_guest_memory(void **state)
{
	static uint8_t src[3 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];

	open_ends(&p);
	memset(src, 7, sizeof(src));
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 0x7000, src), 0);
	assert_int_equal(ram_batch__add_page(&b, 0x8000, src + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_zero(&b, 0x9000), 0);
	assert_int_equal(ram_batch__add_page(&b, 4 * GiB, src + 2 * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_data, 3);
	assert_int_equal(info.nr_torn, 0);
	assert_int_equal(guest[0x7000], 7);
	assert_int_equal(guest[0x8fff], 7);
	assert_int_equal(guest[0x9000], 0);
	assert_int_equal(guest[1 * MiB], 7);
	assert_int_equal(guest[1 * MiB + RAM_PAGE_SIZE], 0);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);
	close_ends(&p);
}

/* Pages scattered in memory on both sides, more runs than one readv or
 * sendmsg takes: every page lands where its entry says; a stream cut
 * inside the page data is "truncated", naming how far it got. */
static void test_scattered_pages(void **state)
{
	enum { N = 300 };
	static uint8_t src[2 * N * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];
	off_t end;
	int k;

	open_ends(&p);
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	for (k = 0; k < N; k++) {
		src[2 * k * RAM_PAGE_SIZE + 9] = (uint8_t)(k % 255 + 1);
		assert_int_equal(ram_batch__add_page(&b, 4 * GiB + 2ull * k * RAM_PAGE_SIZE,
						     src + 2 * k * RAM_PAGE_SIZE), 0);
	}
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.nr_iov, N + 1);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_data, N);
	assert_int_equal(info.nr_torn, 0);
	for (k = 0; k < N; k++) {
		assert_int_equal(guest[1 * MiB + 2 * k * RAM_PAGE_SIZE + 9], k % 255 + 1);
		assert_int_equal(guest[1 * MiB + (2 * k + 1) * RAM_PAGE_SIZE + 9], 0);
	}

	/* The same batch again, cut 1000 bytes into its page data. */
	send_batch(&p, &b);
	end = lseek(p.fd, 0, SEEK_END);
	assert_int_equal(ftruncate(p.fd, end - 4 - (off_t)(N * RAM_PAGE_SIZE) + 1000), 0);
	assert_int_equal(lseek(p.fd, end - (off_t)ram_batch__len(&b) - 20, SEEK_SET),
			 end - (off_t)ram_batch__len(&b) - 20);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "truncated stream in section RAM pages (got 1000 of 1228800 bytes)");
	close_ends(&p);
}

/* The guest writes a page between its CRC and the send: the destination
 * finds it torn, keeps it torn until an intact copy arrives, and refuses
 * to end the stream while it is torn. */
/* A ZERO_RUN at the destination: pages that held data are zeroed, torn
 * marks cleared (counted right across bitmap words), and pages never
 * written are left alone (fresh memory reads as zero; here a marker shows
 * that nothing touched them). Refused in a stream older than 3.6. */
static void test_zero_run_into_guest_memory(void **state)
{
	static uint8_t src[4 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];
	uint64_t gpa;

	open_ends(&p);
	memset(src, 6, sizeof(src));
	/* Pages 62 and 63 intact, 64 and 130 torn (three bitmap words). */
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 62 * 0x1000ull, src), 0);
	assert_int_equal(ram_batch__add_page(&b, 63 * 0x1000ull, src + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_page(&b, 64 * 0x1000ull, src + 2 * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_page(&b, 130 * 0x1000ull, src + 3 * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	src[2 * RAM_PAGE_SIZE + 5] = 1;
	src[3 * RAM_PAGE_SIZE + 5] = 1;
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(p.rr.torn_now, 2);
	guest[100 * 0x1000 + 9] = 0xee;	/* never sent: must stay as it is */
	guest[140 * 0x1000 + 9] = 0xee;	/* past the run */

	/* One run over pages 63..131: page 62 keeps its data. */
	ram_batch__begin(&b, 0);
	for (gpa = 63 * 0x1000ull; gpa <= 131 * 0x1000ull; gpa += RAM_PAGE_SIZE)
		assert_int_equal(ram_batch__add_zero(&b, gpa), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.count, 1);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.pages, 69);
	assert_int_equal(info.zero_pages, 69);
	assert_int_equal(p.rr.torn_now, 0);
	assert_int_equal(p.rr.torn_total, 2);
	assert_int_equal(guest[62 * 0x1000], 6);
	assert_int_equal(guest[63 * 0x1000], 0);
	assert_int_equal(guest[64 * 0x1000 + 5], 0);
	assert_int_equal(guest[130 * 0x1000 + 5], 0);
	assert_int_equal(guest[100 * 0x1000 + 9], 0xee);
	assert_int_equal(guest[140 * 0x1000 + 9], 0xee);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);
	/* Every page of the run counts as received: a delta may follow. */
	assert_true(p.rr.seen[1] == ~0ull);
	assert_true(p.rr.seen[2] & 1ull << (131 - 128));
	assert_false(p.rr.seen[2] & 1ull << (132 - 128));

	/* The same run in a 3.5 stream is refused, and writes nothing. */
	guest[63 * 0x1000] = 0x77;
	p.dst.minor_in = 5;
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "RAM batch: ZERO_RUN entries in a stream of version 3.5 (they came with 3.6)");
	assert_int_equal(guest[63 * 0x1000], 0x77);
	ram_batch__free(&b);
	close_ends(&p);
}

static void test_torn_between_crc_and_send(void **state)
{
	static uint8_t src[2 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];

	open_ends(&p);
	memset(src, 3, sizeof(src));
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 0x2000, src), 0);
	assert_int_equal(ram_batch__add_page(&b, 0x3000, src + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	src[RAM_PAGE_SIZE + 17] = 4;	/* the guest, after the CRC */
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_torn, 1);
	assert_int_equal(p.rr.torn_total, 1);
	assert_int_equal(p.rr.torn_now, 1);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "END: 1 page(s) arrived torn (data not matching its CRC) and were never sent again intact, the first at gpa 0x3000");

	/* The next round sends it again, intact: repaired. */
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 0x3000, src + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_torn, 0);
	assert_int_equal(p.rr.torn_now, 0);
	assert_int_equal(p.rr.torn_total, 1);
	assert_int_equal(guest[0x3000 + 17], 4);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);

	/* Torn again, then sent as a ZERO page: that repairs it too, and the
	 * old data is cleared. */
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 0x3000, src + RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	src[RAM_PAGE_SIZE] = 9;
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(p.rr.torn_now, 1);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_zero(&b, 0x3000), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(p.rr.torn_now, 0);
	assert_int_equal(guest[0x3000 + 17], 0);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);
	close_ends(&p);
}

/* A bad entry table is refused before a page byte is read: guest memory
 * is untouched. */
static void test_bad_table_writes_nothing(void **state)
{
	struct pipe_ends p;
	struct wbuf w;
	char err[256];
	uint64_t outside = (2 * GiB) | RAM_FLAG_ZERO;

	open_ends(&p);
	build(&w, 3, &outside, 1, RAM_PAGE_SIZE);
	send_buf(&p, &w);
	assert_int_equal(stream__recv_head(&p.dst, &p.sec, err, sizeof(err)), 0);
	assert_int_equal(ram_recv__section(&p.rr, &p.dst, &p.sec, NULL, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "gpa 0x80000000 is outside guest RAM"));
	assert_int_equal(guest[0x3000], 0);
	wbuf__free(&w);
	close_ends(&p);
}

/* The section CRC covers the entry table, so a page CRC changed on the
 * way is a checksum mismatch, not a torn page. */
static void test_table_checksum(void **state)
{
	struct pipe_ends p;
	struct wbuf w;
	char err[256];
	uint8_t byte;

	open_ends(&p);
	build(&w, 2, NULL, 0, RAM_PAGE_SIZE);
	send_buf(&p, &w);
	/* Flip a bit of the DATA entry's CRC in the stream. */
	assert_int_equal(pread(p.fd, &byte, 1, 16 + 4 + 16 + 8 + 8), 1);
	byte ^= 1;
	assert_int_equal(pwrite(p.fd, &byte, 1, 16 + 4 + 16 + 8 + 8), 1);
	assert_int_equal(recv_batch(&p, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "section RAM: checksum mismatch"));
	wbuf__free(&w);
	close_ends(&p);
}

/* --- XBZRLE entries ------------------------------------------------------- */

/* The source's cache, a batch, the stream and the destination's reader
 * together, over several rounds: guest memory on both sides must agree
 * after each. 48 pages share a 32-slot cache, sent forward in odd rounds
 * and backward in even ones, so pages evict those of an earlier round,
 * hit, overflow, turn zero and back. */
static void test_xbzrle_end_to_end(void **state)
{
	enum { N = 48 };
	static uint8_t src[N * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct xbzrle_cache c;
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];
	unsigned pass, k, i, seed = 1;

	open_ends(&p);
	assert_int_equal(xbzrle_cache__create(&c, 32 * RAM_PAGE_SIZE), 0);
	ram_batch__init(&b);
	xbzrle_cache__attach(&c, &b);
	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + (i >> 12) + 1);
	for (pass = 1; pass <= 6; pass++) {
		for (k = 0; k < N; k++) {
			uint8_t *pg = src + (size_t)k * RAM_PAGE_SIZE;

			seed = seed * 1103515245 + 12345;
			pg[seed % RAM_PAGE_SIZE] ^= 0x11;	/* one byte */
			pg[0] += (uint8_t)pass;			/* runs at both ends */
			pg[RAM_PAGE_SIZE - 1] ^= (uint8_t)pass;
		}
		memset(src + 5 * RAM_PAGE_SIZE, pass & 1 ? 0 : 0x42, RAM_PAGE_SIZE);	/* zero, back */
		for (i = 0; i < RAM_PAGE_SIZE; i++)	/* all of it changed: whole */
			src[20 * RAM_PAGE_SIZE + i] ^= 0xff;
		ram_batch__begin(&b, pass);
		for (i = 0; i < N; i++) {
			k = pass & 1 ? i : N - 1 - i;
			assert_int_equal(xbzrle_cache__add(&c, &b, k, (uint64_t)k * RAM_PAGE_SIZE,
							   src + (size_t)k * RAM_PAGE_SIZE), 0);
		}
		assert_int_equal(ram_batch__finish(&b), 0);
		send_batch(&p, &b);
		if (recv_batch(&p, &info, err, sizeof(err)))
			fail_msg("pass %u: %s", pass, err);
		xbzrle_cache__batch_done(&c);
		assert_int_equal(info.nr_delta, b.nr_delta);
		assert_memory_equal(guest, src, sizeof(src));
	}
	assert_true(c.n.pages > 0);
	assert_true(c.n.overflow > 0);
	assert_true(c.n.cache_miss > 0);
	assert_true(c.n.evictions > 0);
	assert_true(c.n.not_cached > 0);
	assert_int_equal(p.rr.delta_pages, c.n.pages);
	/* Each delta saved what its entry says. */
	assert_int_equal(c.n.bytes_saved, c.n.pages * RAM_PAGE_SIZE - c.n.bytes);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);
	xbzrle_cache__destroy(&c);
	close_ends(&p);
}

/* Two pages of one slot: in one round the first sent keeps it and the
 * second goes whole, uncached; in the next the first hits. Without the
 * rule, pages sent in page order evict each other every round. */
static void test_xbzrle_round_keeps_slot(void **state)
{
	static uint8_t pg[2][RAM_PAGE_SIZE];
	static uint8_t area[RAM_BATCH_DELTA_MAX];
	struct xbzrle_cache c;
	struct ram_batch b;
	int round;

	assert_int_equal(xbzrle_cache__create(&c, 4 * RAM_PAGE_SIZE), 0);
	memset(pg, 0x5a, sizeof(pg));
	ram_batch__init(&b);
	ram_batch__set_delta_area(&b, area, sizeof(area));
	for (round = 1; round <= 3; round++) {
		ram_batch__begin(&b, (uint32_t)round);
		pg[0][100] = pg[1][100] = (uint8_t)round;
		assert_int_equal(xbzrle_cache__add(&c, &b, 1, 0x1000, pg[0]), 0);
		assert_int_equal(xbzrle_cache__add(&c, &b, 5, 0x5000, pg[1]), 0);
		xbzrle_cache__batch_done(&c);
	}
	assert_non_null(xbzrle_cache__lookup(&c, 1));
	assert_null(xbzrle_cache__lookup(&c, 5));
	assert_int_equal(c.n.hits, 2);		/* page 1 in rounds 2 and 3 */
	assert_int_equal(c.n.pages, 2);
	assert_int_equal(c.n.cache_miss, 4);	/* page 1 once, page 5 each round */
	assert_int_equal(c.n.not_cached, 3);
	assert_int_equal(c.n.evictions, 0);
	/* A later round may evict a tenant of an earlier one. */
	ram_batch__begin(&b, 4);
	assert_int_equal(xbzrle_cache__add(&c, &b, 5, 0x5000, pg[1]), 0);
	assert_int_equal(c.n.evictions, 1);
	assert_non_null(xbzrle_cache__lookup(&c, 5));
	xbzrle_cache__destroy(&c);
}

static uint32_t crc_of(const uint8_t *page)
{
	return crc32c__extend(0, page, RAM_PAGE_SIZE);
}

/* Sends one delta for gpa; returns what the reader made of it. */
static int send_delta(struct pipe_ends *p, uint64_t gpa, const uint8_t *d, size_t len,
		      uint32_t crc, char *err, size_t errlen)
{
	static uint8_t area[RAM_PAGE_SIZE];
	struct ram_batch b;

	ram_batch__init(&b);
	ram_batch__set_delta_area(&b, area, sizeof(area));
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_delta(&b, gpa, d, len, crc), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(p, &b);
	return recv_batch(p, NULL, err, errlen);
}

static void send_whole(struct pipe_ends *p, uint64_t gpa, const uint8_t *page)
{
	struct ram_batch b;
	char err[256];

	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, gpa, page), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(p, &b);
	assert_int_equal(recv_batch(p, NULL, err, sizeof(err)), 0);
}

/* A delta is only meaningful against the page the source cached: one for
 * a page never received, or held torn, or whose result does not match
 * its CRC, fails the stream and leaves guest memory as it was. */
static void test_xbzrle_refused_base(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE], want[RAM_PAGE_SIZE];
	static const uint8_t d[] = { 0, 1, 0x77 };	/* byte 0 becomes 0x77 */
	struct pipe_ends p;
	struct ram_batch b;
	char err[256];

	open_ends(&p);
	memset(want, 0, sizeof(want));
	want[0] = 0x77;
	assert_int_equal(send_delta(&p, 0x5000, d, sizeof(d), crc_of(want), err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "entry 0 (gpa 0x5000): an XBZRLE delta for a page this side never received"));
	assert_int_equal(guest[0x5000], 0);
	close_ends(&p);

	/* Torn: the page changed between its CRC and the send. */
	open_ends(&p);
	memset(page, 3, sizeof(page));
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_page(&b, 0x5000, page), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	page[9] = 4;
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, NULL, err, sizeof(err)), 0);
	assert_int_equal(p.rr.torn_now, 1);
	assert_int_equal(send_delta(&p, 0x5000, d, sizeof(d), crc_of(want), err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "a page this side holds torn"));
	assert_int_equal(guest[0x5000], 3);
	close_ends(&p);

	/* Intact, but not the copy the source holds: the CRC says so. */
	open_ends(&p);
	memset(page, 3, sizeof(page));
	send_whole(&p, 0x5000, page);
	assert_int_equal(send_delta(&p, 0x5000, d, sizeof(d), crc_of(want), err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "does not match its CRC"));
	assert_int_equal(guest[0x5000], 3);
	/* The right CRC: applied. */
	memcpy(want, page, sizeof(want));
	want[0] = 0x77;
	assert_int_equal(send_delta(&p, 0x5000, d, sizeof(d), crc_of(want), err, sizeof(err)), 0);
	assert_memory_equal(guest + 0x5000, want, RAM_PAGE_SIZE);
	/* A ZERO page is a base too: the empty delta of a zero page. */
	ram_batch__begin(&b, 0);
	assert_int_equal(ram_batch__add_zero(&b, 0x6000), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, NULL, err, sizeof(err)), 0);
	memset(want, 0, sizeof(want));
	assert_int_equal(send_delta(&p, 0x6000, d, 0, crc_of(want), err, sizeof(err)), 0);
	close_ends(&p);
}

/* XBZRLE came with 3.1: a 3.0 stream that carries it is refused. */
static void test_xbzrle_needs_31(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE];
	struct pipe_ends p;
	char err[256];

	open_ends(&p);
	send_whole(&p, 0x5000, page);
	p.dst.minor_in = 0;
	assert_int_equal(send_delta(&p, 0x5000, page, 0, crc_of(page), err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "XBZRLE entries in a stream of version 3.0"));
	close_ends(&p);
}

/* One XBZRLE entry (gpa 0x5000) and a delta area of the bytes given. */
static void build_delta_batch(struct wbuf *w, const uint8_t *area, size_t len)
{
	wbuf__init(w);
	wbuf__put_u32(w, 1);
	wbuf__put_u32(w, 1);
	wbuf__put_u64(w, 0x5000 | RAM_FLAG_XBZRLE);
	wbuf__put_u32(w, 0x1234);
	wbuf__put_bytes(w, area, len);
}

/* The delta area must hold exactly the entries' deltas, each well formed
 * and at most 4094 bytes; checked whole before anything is stored. */
static void test_xbzrle_refused_area(void **state)
{
	static const uint8_t trailing[] = { 3, 0, 0, 1, 0xaa, 0xee };
	static const uint8_t past[] = { 9, 0, 0, 1, 0xaa };
	static const uint8_t bad_delta[] = { 3, 0, 0, 0, 0xaa };
	static const uint8_t half_len[] = { 3 };
	static uint8_t too_long[2 + 4095];
	struct wbuf w;

	build_delta_batch(&w, trailing, sizeof(trailing));
	expect_refused(&w, "RAM batch: 1 bytes after the last delta");
	build_delta_batch(&w, past, sizeof(past));
	expect_refused(&w, "a delta of 9 bytes at byte 2 of the delta area runs past its end");
	build_delta_batch(&w, bad_delta, sizeof(bad_delta));
	expect_refused(&w, "xbzrle delta: empty changed run at page offset 0");
	/* Shorter than a delta's length: the payload cannot be framed. */
	build_delta_batch(&w, half_len, sizeof(half_len));
	expect_refused(&w, "1 XBZRLE entries 2..4096 delta bytes, the payload has 1");
	too_long[0] = 0xff;
	too_long[1] = 0x0f;
	build_delta_batch(&w, too_long, sizeof(too_long));
	expect_refused(&w, "1 XBZRLE entries 2..4096 delta bytes, the payload has 4097");
	build_delta_batch(&w, too_long, sizeof(too_long) - 1);
	expect_refused(&w, "a delta of 4095 bytes at byte 2 of the delta area, at most 4094");
}


/* --- zstd pages (stream 3.2) --------------------------------------------- */

/* n pages at gpa 0x10000.., page k filled with byte k+1 (compressible), or
 * with noise when random is set (not compressible). */
static void fill_pages(uint8_t *mem, uint32_t n, bool random)
{
	uint32_t k, x = 12345;
	size_t i;

	for (k = 0; k < n; k++)
		for (i = 0; i < RAM_PAGE_SIZE; i++) {
			x = x * 1103515245u + 12345u;
			mem[(size_t)k * RAM_PAGE_SIZE + i] = random ? (uint8_t)(x >> 16) :
							      (uint8_t)(k + 1);
		}
}

static void zstd_batch(struct ram_zstd *z, struct ram_batch *b, const uint8_t *mem, uint32_t n)
{
	uint32_t k;

	ram_batch__init(b);
	ram_batch__begin(b, 2);
	for (k = 0; k < n; k++)
		assert_int_equal(ram_batch__add_page(b, 0x10000 + (uint64_t)k * RAM_PAGE_SIZE,
						     mem + (size_t)k * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_batch__add_zero(b, 0x9000), 0);
	assert_int_equal(ram_zstd__finish(z, b), 0);
}

/* Compressible pages go as one frame far smaller than the pages; the
 * decoder gets every page back, none torn, the CRCs those of the pages. */
static void test_zstd_roundtrip(void **state)
{
	static uint8_t mem[64 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_zstd z;
	struct ram_batch b;
	struct wbuf w;
	char err[256];
	uint32_t k;

	fill_pages(mem, 64, false);
	assert_int_equal(ram_zstd__create(&z, 0), -EINVAL);
	assert_int_equal(ram_zstd__create(&z, 21), -EINVAL);
	assert_int_equal(ram_zstd__create(&z, 1), 0);
	zstd_batch(&z, &b, mem, 64);
	assert_int_equal(b.nr_zstd, 64);
	assert_int_equal(b.nr_data, 0);
	assert_true(ram_batch__len(&b) < 64 * 12 + 8 + 12 + 4096);
	assert_int_equal(z.n.frames, 1);
	assert_int_equal(z.n.pages, 64);
	assert_int_equal(z.n.raw_bytes, 64 * RAM_PAGE_SIZE);
	assert_true(z.n.sent_bytes < z.n.raw_bytes / 10);
	flatten(&b, &w);
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_zstd, 64);
	assert_int_equal(info.nr_zero, 1);
	assert_int_equal(info.nr_torn, 0);
	assert_int_equal(sink.calls, 65);
	for (k = 0; k < 64; k++) {
		assert_int_equal(sink.gpa[k], 0x10000 + (uint64_t)k * RAM_PAGE_SIZE);
		assert_int_equal(sink.first_byte[k], k + 1);
		assert_false(sink.torn[k]);
	}
	assert_true(sink.zero[64]);
	wbuf__free(&w);
	ram_batch__free(&b);
	ram_zstd__destroy(&z);
}

/* Noise does not compress: the batch goes as DATA pages, as before. */
static void test_zstd_no_win(void **state)
{
	static uint8_t mem[8 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_zstd z;
	struct ram_batch b;
	struct wbuf w;
	char err[256];

	fill_pages(mem, 8, true);
	assert_int_equal(ram_zstd__create(&z, 3), 0);
	zstd_batch(&z, &b, mem, 8);
	assert_int_equal(b.nr_zstd, 0);
	assert_int_equal(b.nr_data, 8);
	assert_int_equal(z.n.raw_batches, 1);
	assert_int_equal(z.n.sent_bytes, z.n.raw_bytes);
	flatten(&b, &w);
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_data, 8);
	wbuf__free(&w);
	ram_batch__free(&b);
	ram_zstd__destroy(&z);
}

/* Batches that do not compress back the compressor off: after a loss
 * the next 1, then 2, then 4 ... batches go whole untried; a win ends it. */
static void test_zstd_backoff(void **state)
{
	static uint8_t noise[2 * RAM_PAGE_SIZE], plain[2 * RAM_PAGE_SIZE];
	struct ram_zstd z;
	struct ram_batch b;
	const uint8_t *tried = (const uint8_t *)"TSTSSTSSSSTTS";
	size_t i;

	fill_pages(noise, 2, true);
	fill_pages(plain, 2, false);
	assert_int_equal(ram_zstd__create(&z, 1), 0);
	for (i = 0; tried[i]; i++) {
		uint64_t before = z.n.skipped;
		/* noise 6 times, then plain 5 times (4 skipped, the 5th wins),
		 * then noise again: tried at once */
		const uint8_t *mem = i < 6 || i >= 11 ? noise : plain;

		zstd_batch(&z, &b, mem, 2);
		if (z.n.skipped != before + (tried[i] == 'S'))
			fail_msg("batch %zu: expected %s", i, tried[i] == 'S' ? "skipped" : "tried");
		ram_batch__free(&b);
	}
	assert_int_equal(z.n.frames, 1);
	assert_int_equal(z.n.skipped, 8);
	assert_int_equal(z.n.raw_batches, 12);
	assert_int_equal(z.n.raw_bytes, 13 * 2 * RAM_PAGE_SIZE);
	ram_zstd__destroy(&z);
}

/* Into guest memory through the destination's reader, with an XBZRLE
 * delta in the same batch: deltas stay deltas, whole pages are compressed. */
static void test_zstd_with_xbzrle(void **state)
{
	static uint8_t mem[4 * RAM_PAGE_SIZE], page[RAM_PAGE_SIZE], area[RAM_PAGE_SIZE];
	static uint8_t delta[RAM_PAGE_SIZE], xarea[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct ram_zstd z;
	struct ram_batch b;
	char err[256];
	int dlen;

	open_ends(&p);
	send_whole(&p, 0x5000, page);
	fill_pages(mem, 4, false);
	/* the page at 0x5000 becomes all 9s, as a delta */
	memset(area, 9, 100);
	dlen = xbzrle__encode(page, area, delta, sizeof(delta));
	assert_true(dlen > 0);
	assert_int_equal(ram_zstd__create(&z, 1), 0);
	ram_batch__init(&b);
	ram_batch__set_delta_area(&b, xarea, sizeof(xarea));
	ram_batch__begin(&b, 1);
	assert_int_equal(ram_batch__add_page(&b, 0x10000, mem), 0);
	assert_int_equal(ram_batch__add_delta(&b, 0x5000, delta, (size_t)dlen, crc_of(area)), 0);
	assert_int_equal(ram_batch__add_page(&b, 4 * GiB, mem + 3 * RAM_PAGE_SIZE), 0);
	assert_int_equal(ram_zstd__finish(&z, &b), 0);
	assert_int_equal(b.nr_zstd, 2);
	send_batch(&p, &b);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), 0);
	assert_int_equal(info.nr_zstd, 2);
	assert_int_equal(info.nr_delta, 1);
	assert_int_equal(guest[0x10000], 1);
	assert_int_equal(guest[0x10fff], 1);
	assert_int_equal(guest[0x5000], 9);
	assert_int_equal(guest[0x5100], 0);
	assert_int_equal(guest[1 * MiB], 4);
	assert_int_equal(p.rr.zstd_pages, 2);
	assert_int_equal(ram_recv__check_end(&p.rr, err, sizeof(err)), 0);
	ram_batch__free(&b);
	ram_zstd__destroy(&z);
	close_ends(&p);
}

/* One ZSTD entry per page of src (n pages) at gpa 0x10000.., the given
 * CRCs (NULL: the right ones), then the tail bytes as given. */
static void build_zstd_batch(struct wbuf *w, const uint8_t *src, uint32_t n,
			     const uint32_t *crcs, const void *tail, size_t len)
{
	uint32_t k;

	wbuf__init(w);
	wbuf__put_u32(w, 1);
	wbuf__put_u32(w, n);
	for (k = 0; k < n; k++) {
		wbuf__put_u64(w, (0x10000 + (uint64_t)k * RAM_PAGE_SIZE) | RAM_FLAG_ZSTD);
		wbuf__put_u32(w, crcs ? crcs[k] :
			      crc32c__extend(0, src + (size_t)k * RAM_PAGE_SIZE, RAM_PAGE_SIZE));
	}
	wbuf__put_bytes(w, tail, len);
}

/* A frame of the first m pages of src, behind its u32 length. */
static size_t make_frame(uint8_t *out, size_t cap, const uint8_t *src, uint32_t m, bool size)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t n;

	assert_non_null(c);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, size);
	n = ZSTD_compress2(c, out + 4, cap - 4, src, (size_t)m * RAM_PAGE_SIZE);
	assert_false(ZSTD_isError(n));
	ZSTD_freeCCtx(c);
	wire__le32(out, (uint32_t)n);
	return n + 4;
}

static void zstd_refused(const uint8_t *src, uint32_t n, const uint32_t *crcs,
			   const void *tail, size_t len, const char *words)
{
	struct ram_batch_info info;
	struct wbuf w;
	char err[256] = "";

	build_zstd_batch(&w, src, n, crcs, tail, len);
	sink.calls = 0;
	assert_int_equal(decode(w.data, w.len, &info, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, words))
		fail_msg("expected '%s' in: %s", words, err);
	assert_int_equal(sink.calls, 0);
	wbuf__free(&w);
}

/* Every malformed frame is refused with its reason, and nothing is stored. */
static void test_zstd_refusals(void **state)
{
	static uint8_t src[4 * RAM_PAGE_SIZE], t[2 * RAM_PAGE_SIZE];
	uint32_t crcs[4] = { 0 };
	size_t n;

	fill_pages(src, 4, false);
	n = make_frame(t, sizeof(t), src, 4, true);
	zstd_refused(src, 4, crcs, t, n, "decompresses to CRC");
	/* the length field: 0, beyond 4096 x entries, beyond the payload */
	wire__le32(t, 0);
	zstd_refused(src, 4, NULL, t, n, "must be 1..16384");
	wire__le32(t, 4 * RAM_PAGE_SIZE + 1);
	zstd_refused(src, 4, NULL, t, n, "must be 1..16384");
	wire__le32(t, (uint32_t)n);
	zstd_refused(src, 4, NULL, t, n, "runs past the payload's end");
	/* a tail shorter than the length and one byte of frame */
	zstd_refused(src, 4, NULL, t, 4, "4 ZSTD and 0 XBZRLE entries 5..");
	/* a frame of 3 pages for 4 entries */
	n = make_frame(t, sizeof(t), src, 3, true);
	zstd_refused(src, 4, NULL, t, n, "declares 12288 bytes, its 4 ZSTD entries need 16384");
	/* no declared size */
	n = make_frame(t, sizeof(t), src, 4, false);
	zstd_refused(src, 4, NULL, t, n, "declares no size");
	/* not zstd at all */
	memset(t + 4, 0x55, 16);
	wire__le32(t, 16);
	zstd_refused(src, 4, NULL, t, 20, "is not a zstd frame");
	/* a frame cut short, and one with a byte after it */
	n = make_frame(t, sizeof(t), src, 4, true);
	wire__le32(t, (uint32_t)(n - 4 - 3));
	zstd_refused(src, 4, NULL, t, n - 3, "malformed");
	wire__le32(t, (uint32_t)(n - 4 + 1));
	t[n] = 0;
	zstd_refused(src, 4, NULL, t, n + 1, "1 bytes after the zstd frame");
}

/* A frame whose blocks are corrupt is refused (by zstd or by the CRC);
 * a stream of version 3.1 may not carry ZSTD entries at all. */
static void test_zstd_corrupt_and_version(void **state)
{
	static uint8_t src[4 * RAM_PAGE_SIZE], t[5 * RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct pipe_ends p;
	struct wbuf w;
	char err[256];
	size_t n, at;
	int bad = 0;

	fill_pages(src, 4, true);
	memset(src, 1, 2 * RAM_PAGE_SIZE);
	n = make_frame(t, sizeof(t), src, 4, true);
	for (at = 12; at < n; at += 97) {
		t[at] ^= 0x5a;
		build_zstd_batch(&w, src, 4, NULL, t, n);
		sink.calls = 0;
		if (decode(w.data, w.len, &info, err, sizeof(err)) == -EBADMSG) {
			bad++;
			assert_int_equal(sink.calls, 0);
		}
		wbuf__free(&w);
		t[at] ^= 0x5a;
	}
	assert_true(bad > 0);

	open_ends(&p);
	p.dst.minor_in = 1;
	n = make_frame(t, sizeof(t), src, 4, true);
	build_zstd_batch(&w, src, 4, NULL, t, n);
	send_buf(&p, &w);
	assert_int_equal(recv_batch(&p, &info, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "ZSTD entries in a stream of version 3.1 (they came with 3.2)"));
	assert_int_equal(guest[0x10000], 0);
	wbuf__free(&w);
	close_ends(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_roundtrip, setup),
		cmocka_unit_test_setup(test_runs_merged, setup),
		cmocka_unit_test_setup(test_zero_runs_encoded, setup),
		cmocka_unit_test_setup(test_zero_run_in_full_batch, setup),
		cmocka_unit_test_setup(test_zero_runs_added_whole, setup),
		cmocka_unit_test_setup(test_encoder_limits, setup),
		cmocka_unit_test_setup(test_refuses_unaligned_gpa, setup),
		cmocka_unit_test_setup(test_refuses_outside_slots, setup),
		cmocka_unit_test_setup(test_refuses_flags, setup),
		cmocka_unit_test_setup(test_refuses_zero_runs, setup),
		cmocka_unit_test_setup(test_refuses_zero_with_crc, setup),
		cmocka_unit_test_setup(test_refuses_count, setup),
		cmocka_unit_test_setup(test_refuses_length, setup),
		cmocka_unit_test_setup(test_torn_page_decoded, setup),
		cmocka_unit_test_setup(test_callback_error_and_args, setup),
		cmocka_unit_test_setup(test_into_guest_memory, setup),
		cmocka_unit_test_setup(test_xbzrle_end_to_end, setup),
		cmocka_unit_test_setup(test_xbzrle_round_keeps_slot, setup),
		cmocka_unit_test_setup(test_xbzrle_refused_base, setup),
		cmocka_unit_test_setup(test_xbzrle_needs_31, setup),
		cmocka_unit_test_setup(test_xbzrle_refused_area, setup),
		cmocka_unit_test_setup(test_zstd_roundtrip, setup),
		cmocka_unit_test_setup(test_zstd_no_win, setup),
		cmocka_unit_test_setup(test_zstd_backoff, setup),
		cmocka_unit_test_setup(test_zstd_with_xbzrle, setup),
		cmocka_unit_test_setup(test_zstd_refusals, setup),
		cmocka_unit_test_setup(test_zstd_corrupt_and_version, setup),
		cmocka_unit_test_setup(test_scattered_pages, setup),
		cmocka_unit_test_setup(test_zero_run_into_guest_memory, setup),
		cmocka_unit_test_setup(test_torn_between_crc_and_send, setup),
		cmocka_unit_test_setup(test_bad_table_writes_nothing, setup),
		cmocka_unit_test_setup(test_table_checksum, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
