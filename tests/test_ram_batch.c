/* RAM section payloads: the encoder, and a decoder that writes nothing
 * unless the whole batch is right. */
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

#include "stream.h"
#include "vm_config.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct vm_config cfg;

/* What the page callback saw. */
struct sink {
	uint32_t calls;
	uint64_t gpa[RAM_BATCH_MAX_PAGES];
	uint8_t first_byte[RAM_BATCH_MAX_PAGES];
	bool zero[RAM_BATCH_MAX_PAGES];
	int fail_at;		/* return -EIO on this call; -1 = never */
};

static struct sink sink;

static int store_page(void *ctx, uint64_t gpa, const uint8_t *data)
{
	struct sink *s = ctx;

	if ((int)s->calls == s->fail_at)
		return -EIO;
	s->gpa[s->calls] = gpa;
	s->zero[s->calls] = !data;
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

/* --- encoder ------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE], zero[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_batch b;
	char err[256];

	ram_batch__init(&b);
	ram_batch__begin(&b, 5);
	memset(page, 0xab, sizeof(page));
	assert_int_equal(ram_batch__add_page(&b, 0x1000, page), 0);
	/* All zero content goes out as a ZERO entry, without the 4 KiB. */
	assert_int_equal(ram_batch__add_page(&b, 0x2000, zero), 0);
	assert_int_equal(ram_batch__add_zero(&b, 4 * GiB + 4 * MiB - 4096), 0);
	page[4095] = 1;
	memset(page, 0, 4095);	/* non-zero only in its last byte */
	assert_int_equal(ram_batch__add_page(&b, 4 * GiB, page), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.count, 4);
	assert_int_equal(b.nr_zero, 2);
	assert_int_equal(b.buf.len, 8 + 4 * 8 + 2 * RAM_PAGE_SIZE);
	assert_int_equal(wire__get_le32(b.buf.data), 5);
	assert_int_equal(wire__get_le32(b.buf.data + 4), 4);
	assert_int_equal(wire__get_le64(b.buf.data + 8), 0x1000 | RAM_FLAG_DATA);

	assert_int_equal(decode(b.buf.data, b.buf.len, &info, err, sizeof(err)), 0);
	assert_int_equal(info.round, 5);
	assert_int_equal(info.count, 4);
	assert_int_equal(info.nr_zero, 2);
	assert_int_equal(info.nr_data, 2);
	assert_int_equal(sink.calls, 4);
	assert_int_equal(sink.gpa[0], 0x1000);
	assert_int_equal(sink.first_byte[0], 0xab);
	assert_true(sink.zero[1]);
	assert_int_equal(sink.gpa[1], 0x2000);
	assert_true(sink.zero[2]);
	assert_int_equal(sink.gpa[2], 4 * GiB + 4 * MiB - 4096);
	assert_false(sink.zero[3]);
	assert_int_equal(sink.gpa[3], 4 * GiB);

	/* The buffer is reused by the next batch. */
	ram_batch__begin(&b, 6);
	assert_int_equal(ram_batch__finish(&b), 0);
	assert_int_equal(b.buf.len, 8);
	ram_batch__free(&b);
}

static void test_encoder_limits(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE];
	struct ram_batch_info info;
	struct ram_batch b;
	char err[256];
	uint32_t i;

	ram_batch__init(&b);
	/* Not begun: refused, not a crash. */
	assert_int_equal(ram_batch__add_zero(&b, 0), -EINVAL);
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
	assert_int_equal(b.buf.len, RAM_BATCH_MAX_BYTES);
	assert_int_equal(decode(b.buf.data, b.buf.len, &info, err, sizeof(err)), 0);
	assert_int_equal(sink.calls, RAM_BATCH_MAX_PAGES);
	assert_int_equal(info.nr_data, RAM_BATCH_MAX_PAGES);
	ram_batch__free(&b);
}

/* --- decoder: every rule, and nothing written on failure ----------------- */

/* A batch with two good pages first, so a decoder that wrote as it went
 * would be caught, then whatever the case adds. */
static void good_start(struct wbuf *w, uint32_t count)
{
	static uint8_t page[RAM_PAGE_SIZE];

	memset(page, 0x5a, sizeof(page));
	wbuf__init(w);
	wbuf__put_u32(w, 1);
	wbuf__put_u32(w, count);
	wbuf__put_u64(w, 0x3000 | RAM_FLAG_DATA);
	wbuf__put_bytes(w, page, sizeof(page));
	wbuf__put_u64(w, 0x4000 | RAM_FLAG_ZERO);
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

static void test_refuses_unaligned_gpa(void **state)
{
	struct wbuf w;

	good_start(&w, 3);
	wbuf__put_u64(&w, 0x5800 | RAM_FLAG_ZERO);
	expect_refused(&w, "RAM batch entry 2: 0x5801 has bits 0x800 set below the page boundary");
}

static void test_refuses_outside_slots(void **state)
{
	struct wbuf w;

	good_start(&w, 3);
	wbuf__put_u64(&w, (1 * MiB) | RAM_FLAG_ZERO);	/* just past slot 0 */
	expect_refused(&w, "RAM batch entry 2: gpa 0x100000 is outside guest RAM");
	good_start(&w, 3);
	wbuf__put_u64(&w, (4 * GiB + 4 * MiB) | RAM_FLAG_ZERO);
	expect_refused(&w, "gpa 0x100400000 is outside guest RAM");
	good_start(&w, 3);
	wbuf__put_u64(&w, (2 * GiB) | RAM_FLAG_ZERO);	/* between the slots */
	expect_refused(&w, "gpa 0x80000000 is outside guest RAM");
	good_start(&w, 3);
	wbuf__put_u64(&w, 0xfffffffffffff000ull | RAM_FLAG_ZERO);
	expect_refused(&w, "outside guest RAM");
}

static void test_refuses_flags(void **state)
{
	struct wbuf w;

	good_start(&w, 3);
	wbuf__put_u64(&w, 0x5000 | RAM_FLAG_ZERO | RAM_FLAG_DATA);
	expect_refused(&w, "RAM batch entry 2 (gpa 0x5000): both ZERO and DATA, exactly one must be set");
	good_start(&w, 3);
	wbuf__put_u64(&w, 0x5000);
	expect_refused(&w, "neither ZERO nor DATA");
	good_start(&w, 3);
	wbuf__put_u64(&w, 0x5000 | 0x4);
	expect_refused(&w, "an unknown flag");
}

static void test_refuses_count(void **state)
{
	struct wbuf w;

	good_start(&w, RAM_BATCH_MAX_PAGES + 1);
	expect_refused(&w, "RAM batch: 1025 pages, at most 1024");
	good_start(&w, 0xffffffff);
	expect_refused(&w, "at most 1024");
}

static void test_refuses_length(void **state)
{
	static uint8_t half[RAM_PAGE_SIZE / 2];
	struct wbuf w;

	/* count says more entries than there are */
	good_start(&w, 3);
	expect_refused(&w, "RAM batch: payload ends at entry 2 of 3");
	/* a DATA page cut short */
	good_start(&w, 3);
	wbuf__put_u64(&w, 0x5000 | RAM_FLAG_DATA);
	wbuf__put_bytes(&w, half, sizeof(half));
	expect_refused(&w, "payload ends inside the data of entry 2");
	/* bytes after the last entry (count says fewer) */
	good_start(&w, 1);
	expect_refused(&w, "RAM batch: 8 bytes after the last of 1 entries");
	/* a ZERO entry followed by page data it does not own */
	good_start(&w, 2);
	wbuf__put_bytes(&w, half, sizeof(half));
	expect_refused(&w, "2048 bytes after the last of 2 entries");
	/* shorter than the header */
	good_start(&w, 2);
	w.len = 7;
	expect_refused(&w, "shorter than its 8-byte header");
}

static void test_callback_error_and_args(void **state)
{
	struct wbuf w;
	char err[256];

	good_start(&w, 2);
	sink.fail_at = 1;
	assert_int_equal(decode(w.data, w.len, NULL, err, sizeof(err)), -EIO);
	assert_string_equal(err, "RAM batch entry 1 (gpa 0x4000): storing the page failed (-5)");
	assert_int_equal(ram_batch__decode(w.data, w.len, NULL, store_page,
					   &sink, NULL, err, sizeof(err)), -EINVAL);
	wbuf__free(&w);
}

/* A RAM section through a real stream: the payload that comes out is the
 * payload that went in. */
static void test_through_stream(void **state)
{
	static uint8_t page[RAM_PAGE_SIZE];
	struct stream src, dst;
	struct section sec;
	struct ram_batch b;
	char err[256];
	int fd = memfd_create("test_ram_batch", 0);

	assert_true(fd >= 0);
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	memset(page, 7, sizeof(page));
	assert_int_equal(ram_batch__add_page(&b, 0x7000, page), 0);
	assert_int_equal(ram_batch__finish(&b), 0);
	stream__init(&src, fd, STREAM_SOURCE);
	assert_int_equal(stream__write_preamble(&src), 0);
	assert_int_equal(stream__send(&src, SECTION_CONFIG, "", 0), 0);
	assert_int_equal(stream__send(&src, SECTION_RAM, b.buf.data, b.buf.len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	stream__init(&dst, fd, STREAM_DEST);
	section__init(&sec);
	assert_int_equal(stream__read_preamble(&dst, err, sizeof(err)), 0);
	assert_int_equal(stream__recv(&dst, &sec, err, sizeof(err)), 0);
	assert_int_equal(stream__recv(&dst, &sec, err, sizeof(err)), 0);
	assert_int_equal(sec.type, SECTION_RAM);
	assert_int_equal(decode(sec.payload, sec.len, NULL, err, sizeof(err)), 0);
	assert_int_equal(sink.calls, 1);
	assert_int_equal(sink.first_byte[0], 7);
	section__free(&sec);
	ram_batch__free(&b);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_roundtrip, setup),
		cmocka_unit_test_setup(test_encoder_limits, setup),
		cmocka_unit_test_setup(test_refuses_unaligned_gpa, setup),
		cmocka_unit_test_setup(test_refuses_outside_slots, setup),
		cmocka_unit_test_setup(test_refuses_flags, setup),
		cmocka_unit_test_setup(test_refuses_count, setup),
		cmocka_unit_test_setup(test_refuses_length, setup),
		cmocka_unit_test_setup(test_callback_error_and_args, setup),
		cmocka_unit_test_setup(test_through_stream, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
