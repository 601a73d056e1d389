/* Block migration's bulk pass (blk_source: SEEK_DATA/SEEK_HOLE walk,
 * pread, CRC32C, BLOCK encoding) against a plain sequential read of the
 * same image in 1 MiB preads (what dd bs=1M does), alternated in one run
 * so both see the same page-cache state and machine load. Nothing is
 * sent: this is the source's cost per byte, the upper bound of the bulk
 * phase before the link.
 *
 *   cc -O2 -Iinclude -D_GNU_SOURCE bench/blk_bulk.c build/libvmm.a \
 *      -o build/blk_bulk -lzstd -lisal -luring && build/blk_bulk IMAGE [REPS]
 *
 * Prints one line per run: MB/s (10^6 bytes of image per wall second).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blk_dirty.h"
#include "blk_source.h"
#include "wire.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double plain_read(int fd, uint64_t size, uint8_t *buf)
{
	double t = now_s();
	uint64_t off;

	for (off = 0; off < size; off += BLK_DIRTY_BLOCK)
		if (pread(fd, buf, BLK_DIRTY_BLOCK, (off_t)off) < 0)
			exit(1);
	return (double)size / (now_s() - t) / 1e6;
}

static double bulk_pass(int fd, uint64_t size, uint64_t *payload)
{
	struct blk_source_drive d = { .fd = fd, .size = size };
	struct blk_source s;
	struct wbuf w;
	double t;
	int ret;

	if (blk_dirty__create(size, &d.dirty) || blk_source__init(&s, &d, 1))
		exit(1);
	wbuf__init(&w);
	*payload = 0;
	t = now_s();
	while ((ret = blk_source__next(&s, 0, &w)) == 1) {
		*payload += w.len;
		wbuf__reset(&w);
	}
	t = now_s() - t;
	if (ret)
		exit(1);
	wbuf__free(&w);
	blk_source__free(&s);
	blk_dirty__free(d.dirty);
	return (double)size / t / 1e6;
}

int main(int argc, char **argv)
{
	int reps = argc > 2 ? atoi(argv[2]) : 3, i, fd;
	uint8_t *buf = malloc(BLK_DIRTY_BLOCK);
	uint64_t size, payload;
	struct stat st;

	if (argc < 2 || (fd = open(argv[1], O_RDONLY)) < 0 || fstat(fd, &st) || !buf) {
		fprintf(stderr, "usage: blk_bulk IMAGE [REPS]\n");
		return 2;
	}
	size = (uint64_t)st.st_size / 512 * 512;
	plain_read(fd, size, buf);	/* warm the page cache for both */
	for (i = 0; i < reps; i++) {
		double r = plain_read(fd, size, buf);
		double b = bulk_pass(fd, size, &payload);

		printf("run=%d image_bytes=%llu allocated_bytes=%llu payload_bytes=%llu "
		       "read_MBps=%.0f bulk_MBps=%.0f\n", i, (unsigned long long)size,
		       (unsigned long long)st.st_blocks * 512,
		       (unsigned long long)payload, r, b);
	}
	return 0;
}
