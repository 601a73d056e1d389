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

#include "blk_dest.h"
#include "blk_section.h"
#include "wire.h"

#define SIZE (2ULL << 20)

static void payload(struct wbuf *w, uint32_t round, uint64_t off, uint8_t v)
{
	struct blk_extent e = { .offset = off, .len = 4096, .round = round };
	uint8_t buf[4096];

	memset(buf, v, sizeof(buf));
	wbuf__reset(w);
	assert_int_equal(blk_section__encode(w, &e, buf), 0);
}

/* Sections land in the image; the round counts catch a missing one and a
 * section of another round. */
static void test_rounds(void **state)
{
	char path[64] = "/tmp/test_blk_dest.XXXXXX", err[256];
	int fd = mkstemp(path);
	uint64_t size = SIZE;
	struct blk_dest d;
	struct wbuf w;
	uint8_t got[4096];

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SIZE), 0);
	assert_int_equal(blk_dest__init(&d, &fd, &size, 1), 0);
	wbuf__init(&w);
	payload(&w, 0, 8192, 0x61);
	assert_int_equal(blk_dest__section(&d, w.data, w.len, err, sizeof(err)), 0);
	assert_int_equal(pread(fd, got, sizeof(got), 8192), (ssize_t)sizeof(got));
	assert_int_equal(got[0], 0x61);
	assert_int_equal(got[4095], 0x61);
	assert_int_equal(blk_dest__end_round(&d, 1, 4096, err, sizeof(err)), 0);

	payload(&w, 0, 0, 0x62);		/* round 0 is closed */
	assert_int_equal(blk_dest__section(&d, w.data, w.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "BLOCK section of round 0 in round 1"));
	payload(&w, 1, 0, 0x62);
	assert_int_equal(blk_dest__section(&d, w.data, w.len, err, sizeof(err)), 0);
	assert_int_equal(blk_dest__end_round(&d, 2, 8192, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "the source sent 2 BLOCK sections of 8192 bytes, 1 of "
			       "4096 arrived"));
	assert_int_equal(d.sections, 2);
	assert_int_equal(d.bytes, 8192);
	assert_int_equal(blk_dest__sync(&d, err, sizeof(err)), 0);
	wbuf__free(&w);
	close(fd);
	unlink(path);
}

/* Holes count as written bytes too: 33 sections of 1 MiB cross the sync
 * threshold once, and the count starts again after it. */
static void test_sync_while_arriving(void **state)
{
	char path[64] = "/tmp/test_blk_dest.XXXXXX", err[256];
	int fd = mkstemp(path);
	uint64_t size = 64ULL << 20, i;
	struct blk_extent e = { .hole = true, .len = 1 << 20 };
	struct blk_dest d;
	struct wbuf w;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(blk_dest__init(&d, &fd, &size, 1), 0);
	wbuf__init(&w);
	for (i = 0; i < 33; i++) {
		e.offset = i << 20;
		wbuf__reset(&w);
		assert_int_equal(blk_section__encode(&w, &e, NULL), 0);
		assert_int_equal(blk_dest__section(&d, w.data, w.len, err, sizeof(err)), 0);
		assert_int_equal(d.unsynced, (i + 1) % 32 << 20);
	}
	wbuf__free(&w);
	close(fd);
	unlink(path);
}

static void test_refuses(void **state)
{
	struct blk_dest d;
	int fds[5] = { 0 };
	uint64_t sizes[5] = { 0 };
	char err[256];

	assert_int_equal(blk_dest__init(&d, fds, sizes, 0), -EINVAL);
	assert_int_equal(blk_dest__init(&d, fds, sizes, 5), -EINVAL);
	sizes[0] = SIZE;
	assert_int_equal(blk_dest__init(&d, fds, sizes, 1), 0);
	assert_int_equal(blk_dest__section(&d, "x", 1, err, sizeof(err)), -EBADMSG);
	assert_int_equal(d.sections, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_sync_while_arriving),
		cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
