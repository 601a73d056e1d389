#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_dirty.h"
#include "blk_image.h"
#include "blk_section.h"
#include "blk_source.h"

#define MiB (1ULL << 20)
#define SIZE0 (3 * MiB + 4096)
#define SIZE1 (64 * 1024)

struct rig {
	char path[4][64];
	int fd[4];		/* 0, 1 source drives; 2, 3 destination */
	struct blk_source_drive d[2];
	struct blk_source s;
};

static int temp_file(char *path, uint64_t size)
{
	int fd;

	snprintf(path, 64, "/tmp/test_blk_source.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void fill(int fd, uint64_t off, size_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);

	memset(buf, v, len);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	free(buf);
}

static int setup(void **state)
{
	struct rig *t = calloc(1, sizeof(*t));
	const uint64_t size[4] = { SIZE0, SIZE1, SIZE0, SIZE1 };
	int i;

	for (i = 0; i < 4; i++)
		t->fd[i] = temp_file(t->path[i], size[i]);
	fill(t->fd[0], MiB - 512, 1024, 0x11);		/* straddles blocks 0, 1 */
	fill(t->fd[0], 3 * MiB, 4096, 0x22);		/* the short last block */
	fill(t->fd[1], 0, SIZE1, 0x33);
	fill(t->fd[2], 0, SIZE0, 0xff);			/* garbage to overwrite */
	fill(t->fd[3], 0, SIZE1, 0xff);
	for (i = 0; i < 2; i++) {
		t->d[i].fd = t->fd[i];
		t->d[i].size = size[i];
		assert_int_equal(blk_dirty__create(size[i], &t->d[i].dirty), 0);
	}
	assert_int_equal(blk_source__init(&t->s, t->d, 2), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct rig *t = *state;
	int i;

	blk_source__free(&t->s);
	for (i = 0; i < 4; i++) {
		close(t->fd[i]);
		unlink(t->path[i]);
	}
	blk_dirty__free(t->d[0].dirty);
	blk_dirty__free(t->d[1].dirty);
	free(t);
	return 0;
}

/* Runs one pass, decoding and applying every payload to the destination
 * images; returns the number of payloads. */
static unsigned int pass(struct rig *t, uint32_t round)
{
	const uint64_t sizes[2] = { SIZE0, SIZE1 };
	struct blk_extent e;
	const uint8_t *data;
	struct wbuf w;
	char err[256];
	unsigned int n = 0;
	int ret;

	wbuf__init(&w);
	while ((ret = blk_source__next(&t->s, round, &w)) == 1) {
		assert_int_equal(blk_section__decode(w.data, w.len, sizes, 2, &e, &data, err,
						     sizeof(err)), 0);
		assert_int_equal(e.round, round);
		assert_int_equal(blk_image__apply(t->fd[2 + e.drive], &e, data, err,
						  sizeof(err)), 0);
		wbuf__reset(&w);
		n++;
	}
	assert_int_equal(ret, 0);
	wbuf__free(&w);
	return n;
}

static void same(struct rig *t, int src, int dst, uint64_t size)
{
	uint8_t *a = malloc(size), *b = malloc(size);

	assert_int_equal(pread(t->fd[src], a, size, 0), (ssize_t)size);
	assert_int_equal(pread(t->fd[dst], b, size, 0), (ssize_t)size);
	assert_memory_equal(a, b, size);
	free(a);
	free(b);
}

/* The bulk pass copies both drives whole; writes after it, marked in the
 * bitmaps, are carried by the dirty pass and nothing else is resent. */
static void test_bulk_then_dirty(void **state)
{
	struct rig *t = *state;

	assert_int_equal(blk_source__total(&t->s), SIZE0 + SIZE1);
	assert_int_equal(blk_source__remaining(&t->s), SIZE0 + SIZE1);
	assert_true(pass(t, 0) >= 5);		/* 4 blocks of drive 0, 1 of drive 1 */
	assert_int_equal(blk_source__remaining(&t->s), 0);
	same(t, 0, 2, SIZE0);
	same(t, 1, 3, SIZE1);

	/* A second bulk call only says the pass is over. */
	assert_int_equal(pass(t, 0), 0);

	fill(t->fd[0], 2 * MiB + 8192, 512, 0x44);
	blk_dirty__mark(t->d[0].dirty, 2 * MiB + 8192, 512);
	fill(t->fd[1], 512, 512, 0x55);
	blk_dirty__mark(t->d[1].dirty, 512, 512);
	assert_int_equal(blk_source__remaining(&t->s), MiB + SIZE1);
	blk_source__begin_dirty_pass(&t->s);
	assert_true(pass(t, 1) >= 2);
	assert_int_equal(blk_source__remaining(&t->s), 0);
	same(t, 0, 2, SIZE0);
	same(t, 1, 3, SIZE1);

	/* Nothing dirty: an empty pass. */
	blk_source__begin_dirty_pass(&t->s);
	assert_int_equal(pass(t, 2), 0);
}

static void test_init_refuses(void **state)
{
	struct blk_source s;
	struct blk_source_drive d[5] = { { 0 } };

	assert_int_equal(blk_source__init(&s, d, 0), -EINVAL);
	assert_int_equal(blk_source__init(&s, d, 5), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bulk_then_dirty, setup, teardown),
		cmocka_unit_test(test_init_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
