#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_dirty.h"
#include "blk_image.h"

#define MiB (1ULL << 20)
#define SIZE (4 * MiB)

static int temp_file(char *path, size_t len, uint64_t size)
{
	int fd;

	snprintf(path, len, "/tmp/test_blk_image.XXXXXX");
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

/* A sparse image: data in block 1 (8 KiB) and all of block 3. */
static int source_image(char *path, size_t len)
{
	int fd = temp_file(path, len, SIZE);

	fill(fd, MiB + 4096, 8192, 0xa1);
	fill(fd, 3 * MiB, MiB, 0xb2);
	assert_int_equal(fsync(fd), 0);
	return fd;
}

/* The extents tile the image, never cross a block, stay sector aligned,
 * and every byte written lies in a data extent; where the filesystem
 * reports holes, the never-written first block is one. */
static void test_walk(void **state)
{
	char path[64];
	int fd = source_image(path, sizeof(path));
	bool sparse = lseek(fd, 0, SEEK_DATA) > 0;
	struct blk_extent e;
	uint64_t pos = 0, data_bytes = 0;

	while (pos < SIZE) {
		assert_int_equal(blk_image__next_extent(fd, SIZE, pos, &e), 0);
		assert_int_equal(e.offset, pos);
		assert_true(e.len > 0 && e.len % 512 == 0);
		assert_int_equal(pos / MiB, (pos + e.len - 1) / MiB);
		if (e.hole) {
			assert_false(pos < MiB + 4096 + 8192 && pos + e.len > MiB + 4096);
			assert_false(pos + e.len > 3 * MiB);
		} else {
			data_bytes += e.len;
		}
		if (sparse && pos == 0)
			assert_true(e.hole && e.len == MiB);
		pos += e.len;
	}
	assert_int_equal(pos, SIZE);
	assert_true(data_bytes >= MiB + 8192);
	if (sparse)
		assert_true(data_bytes < 2 * MiB);
	assert_int_equal(blk_image__next_extent(fd, SIZE, SIZE, &e), -EINVAL);
	assert_int_equal(blk_image__next_extent(fd, SIZE, 100, &e), -EINVAL);
	close(fd);
	unlink(path);
}

/* Walking the source and applying every extent to a destination full of
 * garbage makes the destination byte-identical, holes included. */
static void test_copy(void **state)
{
	char spath[64], dpath[64], err[256];
	int sfd = source_image(spath, sizeof(spath));
	int dfd = temp_file(dpath, sizeof(dpath), SIZE);
	uint8_t *a = malloc(SIZE), *b = malloc(SIZE);
	struct blk_extent e = { 0 };
	uint64_t pos = 0;

	fill(dfd, 0, SIZE, 0xff);
	while (pos < SIZE) {
		assert_int_equal(blk_image__next_extent(sfd, SIZE, pos, &e), 0);
		if (!e.hole)
			assert_int_equal(pread(sfd, a, e.len, (off_t)pos), (ssize_t)e.len);
		assert_int_equal(blk_image__apply(dfd, &e, e.hole ? NULL : a, err,
						  sizeof(err)), 0);
		pos += e.len;
	}
	assert_int_equal(pread(sfd, a, SIZE, 0), (ssize_t)SIZE);
	assert_int_equal(pread(dfd, b, SIZE, 0), (ssize_t)SIZE);
	assert_memory_equal(a, b, SIZE);
	/* Holes stay holes: where the source filesystem has them, the
	 * destination (the same filesystem) is punched back to about the
	 * source's data. */
	if (lseek(sfd, 0, SEEK_DATA) > 0) {
		struct stat st;

		assert_int_equal(fstat(dfd, &st), 0);
		assert_true((uint64_t)st.st_blocks * 512 < 2 * MiB);
	}
	free(a);
	free(b);
	close(sfd);
	close(dfd);
	unlink(spath);
	unlink(dpath);
}

static void test_check_target(void **state)
{
	char err[256] = "";

	assert_int_equal(blk_image__check_target("d.img", SIZE, false, SIZE, err,
						 sizeof(err)), 0);
	assert_int_equal(blk_image__check_target("d.img", 2 * SIZE, false, SIZE, err,
						 sizeof(err)), 0);
	assert_int_equal(blk_image__check_target("d.img", SIZE - 512, false, SIZE, err,
						 sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "d.img has 4193792 bytes, the source's image 4194304"));
	assert_int_equal(blk_image__check_target("d.img", SIZE, true, SIZE, err,
						 sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "readonly=on"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_check_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
