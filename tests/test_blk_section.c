#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blk_section.h"
#include "wire.h"

static const uint64_t sizes[2] = { 8ULL << 20, 4096 };

static int decode(const struct wbuf *w, struct blk_extent *e, const uint8_t **data,
		  char *err, size_t errlen)
{
	err[0] = '\0';
	return blk_section__decode(w->data, w->len, sizes, 2, e, data, err, errlen);
}

static void encode(struct wbuf *w, const struct blk_extent *e, const void *data)
{
	wbuf__init(w);
	assert_int_equal(blk_section__encode(w, e, data), 0);
}

static void test_round_trip(void **state)
{
	struct blk_extent in = { .drive = 0, .offset = 7 << 20, .len = 1 << 20, .round = 3 };
	struct blk_extent out;
	uint8_t *buf = malloc(in.len);
	const uint8_t *data;
	struct wbuf w;
	char err[256];
	uint32_t i;

	for (i = 0; i < in.len; i++)
		buf[i] = (uint8_t)(i * 7);
	encode(&w, &in, buf);
	assert_int_equal(w.len, BLK_SECTION_HDR + in.len);
	assert_int_equal(wire__get_le64(w.data + 8), 7 << 20);	/* layout */
	assert_int_equal(wire__get_le32(w.data + 16), 1 << 20);
	assert_int_equal(decode(&w, &out, &data, err, sizeof(err)), 0);
	assert_int_equal(out.drive, 0);
	assert_false(out.hole);
	assert_int_equal(out.offset, in.offset);
	assert_int_equal(out.len, in.len);
	assert_int_equal(out.round, 3);
	assert_memory_equal(data, buf, in.len);
	wbuf__free(&w);
	free(buf);
}

static void test_hole(void **state)
{
	struct blk_extent in = { .drive = 1, .hole = true, .offset = 512, .len = 3584 };
	struct blk_extent out;
	const uint8_t *data = (const uint8_t *)1;
	struct wbuf w;
	char err[256];

	encode(&w, &in, NULL);
	assert_int_equal(w.len, BLK_SECTION_HDR);
	assert_int_equal(decode(&w, &out, &data, err, sizeof(err)), 0);
	assert_true(out.hole);
	assert_null(data);
	assert_int_equal(out.len, 3584);
	/* A hole's checksum must be 0. */
	wire__le32(w.data + 24, 1);
	assert_int_equal(decode(&w, &out, &data, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "hole with a checksum"));
	wbuf__free(&w);
}

static void test_encoder_refuses(void **state)
{
	struct blk_extent e = { .len = 0 };
	uint8_t buf[512] = { 0 };
	struct wbuf w;

	wbuf__init(&w);
	assert_int_equal(blk_section__encode(&w, &e, buf), -EINVAL);
	e.len = 100;
	assert_int_equal(blk_section__encode(&w, &e, buf), -EINVAL);
	e.len = 512;
	e.offset = 1;
	assert_int_equal(blk_section__encode(&w, &e, buf), -EINVAL);
	e.offset = UINT64_MAX - 511;
	assert_int_equal(blk_section__encode(&w, &e, buf), -EINVAL);
	e.offset = 0;
	e.len = BLK_SECTION_MAX_LEN + 512;
	assert_int_equal(blk_section__encode(&w, &e, buf), -EINVAL);
	e.len = 512;
	assert_int_equal(blk_section__encode(&w, &e, NULL), -EINVAL);
	assert_int_equal(w.len, 0);
	wbuf__free(&w);
}

/* A valid 512-byte extent of drive 0, one field then overwritten. */
static void refused(size_t at, unsigned int width, uint64_t v, size_t cut, const char *says)
{
	struct blk_extent e = { .offset = 4096, .len = 512 }, out;
	uint8_t buf[512];
	const uint8_t *data;
	struct wbuf w;
	char err[256];

	memset(buf, 0x5a, sizeof(buf));
	encode(&w, &e, buf);
	if (width == 4)
		wire__le32(w.data + at, (uint32_t)v);
	else if (width == 8)
		wire__le64(w.data + at, v);
	else if (width == 1)
		w.data[at] ^= (uint8_t)v;
	err[0] = '\0';
	assert_int_equal(blk_section__decode(w.data, w.len - cut, sizes, 2, &out, &data, err,
					     sizeof(err)), -EBADMSG);
	if (!strstr(err, says))
		fail_msg("error \"%s\" does not say \"%s\"", err, says);
	wbuf__free(&w);
}

static void test_every_field_checked(void **state)
{
	refused(0, 4, 2, 0, "drive 2, but 2 drive(s)");
	refused(0, 4, UINT32_MAX, 0, "drive 4294967295");
	refused(4, 4, 2, 0, "unknown flags");
	refused(4, 4, 1, 0, "its header says 32");		/* hole with data */
	refused(8, 8, 4097, 0, "offset not a multiple");
	refused(8, 8, 8ULL << 20, 0, "past its end");
	refused(8, 8, UINT64_MAX - 511, 0, "past its end");
	refused(16, 4, 0, 0, "length not a multiple");
	refused(16, 4, 511, 0, "length not a multiple");
	refused(16, 4, BLK_SECTION_MAX_LEN + 512, 0, "length not a multiple");
	refused(16, 4, 1024, 0, "its header says 1056");	/* longer than sent */
	refused(28, 4, 1, 0, "reserved");
	refused(24, 4, 0, 0, "checksum differs");
	refused(BLK_SECTION_HDR + 100, 1, 1, 0, "checksum differs");
	refused(0, 0, 0, 1, "its header says 544");		/* payload cut */
	refused(0, 0, 0, 512 + 1, "shorter than its 32-byte header");
}

static void test_drive_end(void **state)
{
	struct blk_extent e = { .drive = 1, .offset = 3584, .len = 512 }, out;
	uint8_t buf[512] = { 1 };
	const uint8_t *data;
	struct wbuf w;
	char err[256];

	encode(&w, &e, buf);		/* the last sector of drive 1 */
	assert_int_equal(decode(&w, &out, &data, err, sizeof(err)), 0);
	wbuf__free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hole),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_every_field_checked),
		cmocka_unit_test(test_drive_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
