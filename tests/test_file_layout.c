/* The saved file's layout (FORMAT.md, "Saved file"): what the writer
 * encodes the reader decodes, and every field a reader must not trust is
 * refused with a message naming it. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "file_layout.h"
#include "wire.h"

#define PAGES 1000	/* not a multiple of 8: the bitmap's last byte is partial */

static uint8_t hdr[FILE_HEADER_LEN];
static char err[512];

static struct file_layout sample(void)
{
	struct file_layout l;

	file_layout__init(&l, PAGES);
	l.present_pages = 3;
	l.stream_len = 5000;
	l.bitmap_crc = 0x11223344;
	l.crc_table_crc = 0x55667788;
	return l;
}

static uint64_t file_size(const struct file_layout *l)
{
	return l->stream_offset + l->stream_len;
}

/* Re-seals the header after a field was changed, so the field's own
 * check, not the checksum, must refuse it. */
static void reseal(void)
{
	wire__le32(hdr + FILE_HEADER_LEN - 4, crc32c__extend(0, hdr, FILE_HEADER_LEN - 4));
}

static void test_geometry(void **state)
{
	struct file_layout l;

	file_layout__init(&l, PAGES);
	assert_int_equal(l.bitmap_offset, 4096);
	assert_int_equal(l.bitmap_len, 4096);
	assert_int_equal(l.crc_offset, 8192);
	assert_int_equal(l.crc_len, 4096);
	assert_int_equal(l.ram_offset, 1 << 20);
	assert_int_equal(l.ram_len, PAGES * 4096ULL);
	assert_int_equal(l.stream_offset, (1 << 20) + PAGES * 4096ULL);
	/* 1 TiB: the tables still fit before the RAM region, aligned. */
	file_layout__init(&l, FILE_MAX_PAGES);
	assert_int_equal(l.bitmap_len, 32ULL << 20);
	assert_int_equal(l.crc_len, 1ULL << 30);
	assert_int_equal(l.ram_offset % FILE_RAM_ALIGN, 0);
	assert_true(l.ram_offset >= l.crc_offset + l.crc_len);
}

static void test_round_trip(void **state)
{
	struct file_layout l = sample(), back;

	file_layout__encode(&l, hdr);
	assert_true(file_layout__is_mapped(hdr, sizeof(hdr)));
	assert_int_equal(file_layout__decode(hdr, sizeof(hdr), file_size(&l), &back, err,
					     sizeof(err)), 0);
	/* Field by field: the struct's padding is nobody's. */
	assert_int_equal(back.major, l.major);
	assert_int_equal(back.minor, l.minor);
	assert_int_equal(back.nr_pages, l.nr_pages);
	assert_int_equal(back.present_pages, l.present_pages);
	assert_int_equal(back.bitmap_offset, l.bitmap_offset);
	assert_int_equal(back.bitmap_len, l.bitmap_len);
	assert_int_equal(back.crc_offset, l.crc_offset);
	assert_int_equal(back.crc_len, l.crc_len);
	assert_int_equal(back.ram_offset, l.ram_offset);
	assert_int_equal(back.ram_len, l.ram_len);
	assert_int_equal(back.stream_offset, l.stream_offset);
	assert_int_equal(back.stream_len, l.stream_len);
	assert_int_equal(back.bitmap_crc, l.bitmap_crc);
	assert_int_equal(back.crc_table_crc, l.crc_table_crc);
}

static void refused(uint64_t size, int want, const char *text)
{
	struct file_layout back;

	assert_int_equal(file_layout__decode(hdr, sizeof(hdr), size, &back, err, sizeof(err)),
			 want);
	if (!strstr(err, text))
		fail_msg("'%s' does not say '%s'", err, text);
}

/* A field set to a value the layout does not allow, the header resealed. */
static void bad_u64(size_t off, uint64_t v, const char *text)
{
	struct file_layout l = sample();

	file_layout__encode(&l, hdr);
	wire__le64(hdr + off, v);
	reseal();
	refused(file_size(&l), -EBADMSG, text);
}

static void test_every_field_refused(void **state)
{
	struct file_layout l = sample();
	uint64_t size = file_size(&l);

	bad_u64(24, 0, "0 pages of RAM");
	bad_u64(24, FILE_MAX_PAGES + 1, "pages of RAM, must be 1 to");
	bad_u64(32, PAGES + 1, "1001 pages present of 1000");
	bad_u64(40, 8192, "header field bitmap_offset is 8192");
	bad_u64(48, 0, "header field bitmap_len is 0");
	bad_u64(56, 4096, "header field crc_offset is 4096");
	bad_u64(64, 8192, "header field crc_len is 8192");
	bad_u64(72, 4096, "header field ram_offset is 4096");
	bad_u64(80, 4096, "header field ram_len is 4096");
	bad_u64(88, 0, "header field stream_offset is 0");
	bad_u64(96, 15, "state stream of 15 bytes");
	bad_u64(96, FILE_MAX_STREAM + 1, "state stream of");
	/* header length, page size, flags, reserved bytes */
	file_layout__encode(&l, hdr);
	wire__le32(hdr + 12, 512);
	reseal();
	refused(size, -EBADMSG, "header length 512 and page size 4096");
	file_layout__encode(&l, hdr);
	wire__le32(hdr + 16, 8192);
	reseal();
	refused(size, -EBADMSG, "page size 8192");
	file_layout__encode(&l, hdr);
	wire__le32(hdr + 20, 1);
	reseal();
	refused(size, -EBADMSG, "flags 0x1");
	file_layout__encode(&l, hdr);
	hdr[3000] = 1;
	reseal();
	refused(size, -EBADMSG, "reserved header byte 3000");
}

static void test_magic_version_checksum(void **state)
{
	struct file_layout l = sample();
	uint64_t size = file_size(&l);

	file_layout__encode(&l, hdr);
	hdr[0] ^= 0xff;
	refused(size, -EBADMSG, "bad magic");
	assert_false(file_layout__is_mapped(hdr, sizeof(hdr)));
	/* The version is read before the checksum, which another version
	 * may keep elsewhere. */
	file_layout__encode(&l, hdr);
	hdr[8] = 2;
	refused(size, -EPROTONOSUPPORT, "saved file version 2.0, this vmm reads 1.0 to 1.0");
	file_layout__encode(&l, hdr);
	hdr[10] = 1;
	refused(size, -EPROTONOSUPPORT, "saved file version 1.1");
	file_layout__encode(&l, hdr);
	hdr[200] ^= 1;
	refused(size, -EBADMSG, "header checksum");
}

static void test_file_size(void **state)
{
	struct file_layout l = sample();

	file_layout__encode(&l, hdr);
	refused(file_size(&l) - 1, -EBADMSG, "(truncated or extended)");
	refused(file_size(&l) + 4096, -EBADMSG, "(truncated or extended)");
	refused(100, -EBADMSG, "shorter than its 4096-byte header");
	assert_int_equal(file_layout__decode(hdr, 100, file_size(&l), &l, err, sizeof(err)),
			 -EBADMSG);
}

/* Tables for pages 0, 7 and 999 present. */
static void make_tables(struct file_layout *l, uint8_t *bitmap, uint8_t *crcs)
{
	memset(bitmap, 0, l->bitmap_len);
	memset(crcs, 0, l->crc_len);
	bitmap[0] = 0x81;
	bitmap[999 / 8] |= 1 << (999 % 8);
	wire__le32(crcs, 1);
	wire__le32(crcs + 7 * 4, 2);
	wire__le32(crcs + 999 * 4, 3);
	l->present_pages = 3;
	l->bitmap_crc = crc32c__extend(0, bitmap, l->bitmap_len);
	l->crc_table_crc = crc32c__extend(0, crcs, l->crc_len);
}

static void tables_refused(struct file_layout *l, uint8_t *bitmap, uint8_t *crcs, bool reseal_t,
			   const char *text)
{
	if (reseal_t) {
		l->bitmap_crc = crc32c__extend(0, bitmap, l->bitmap_len);
		l->crc_table_crc = crc32c__extend(0, crcs, l->crc_len);
	}
	assert_int_equal(file_layout__check_tables(l, bitmap, crcs, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, text))
		fail_msg("'%s' does not say '%s'", err, text);
}

static void test_tables(void **state)
{
	struct file_layout l;
	uint8_t bitmap[4096], crcs[4096];

	file_layout__init(&l, PAGES);
	make_tables(&l, bitmap, crcs);
	assert_int_equal(file_layout__check_tables(&l, bitmap, crcs, err, sizeof(err)), 0);
	assert_true(file_layout__present(bitmap, 999));
	assert_false(file_layout__present(bitmap, 998));

	bitmap[1] = 1;
	tables_refused(&l, bitmap, crcs, false, "bitmap checksum");
	make_tables(&l, bitmap, crcs);
	crcs[100] = 1;
	tables_refused(&l, bitmap, crcs, false, "page checksum table's checksum");
	make_tables(&l, bitmap, crcs);
	bitmap[1000 / 8] |= 1 << (1000 % 8);	/* page 1000: past the last */
	tables_refused(&l, bitmap, crcs, true, "bitmap marks a page past the last of 1000");
	make_tables(&l, bitmap, crcs);
	bitmap[200] = 1;			/* padding */
	tables_refused(&l, bitmap, crcs, true, "bitmap marks a page past the last");
	make_tables(&l, bitmap, crcs);
	bitmap[0] |= 2;
	tables_refused(&l, bitmap, crcs, true, "bitmap marks 4 pages, the header counts 3");
	make_tables(&l, bitmap, crcs);
	wire__le32(crcs + 5 * 4, 9);
	tables_refused(&l, bitmap, crcs, true, "page 5 is absent but has a checksum");
	make_tables(&l, bitmap, crcs);
	wire__le32(crcs + 1000 * 4, 9);
	tables_refused(&l, bitmap, crcs, true, "page 1000 is absent but has a checksum");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_field_refused),
		cmocka_unit_test(test_magic_version_checksum),
		cmocka_unit_test(test_file_size),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
