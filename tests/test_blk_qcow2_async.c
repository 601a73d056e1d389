/* A qcow2 drive's requests on its ring: several in flight, each split
 * over data clusters (the ring), zero clusters, the backing file and
 * allocating writes (the synchronous way), a flush after the writes
 * before it, cache=none; the image checked and compared by qemu-img.
 * The images live beside the test binary (the build directory), where
 * O_DIRECT works, unlike on tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_backend.h"
#include "blk_dirty.h"
#include "drive.h"

#include "test_shell.h"

#define KIB		1024
#define MIB		(1024 * KIB)
#define DISK		(4 * MIB)
#define NREQ		16

static char dir[512];

/* Up to NREQ requests, all submitted in one kicked() call, so that the
 * ring holds them at once; done() records the order they complete in. */
struct rig {
	struct blk_backend *b;
	struct blk_io io[NREQ];
	uint8_t *buf[NREQ];
	unsigned int nreq, submitted, ndone;
	int order[NREQ];
	uint8_t *ref;			/* what the disk should hold */
};

static void on_kicked(void *ctx)
{
	struct rig *r = ctx;

	for (; r->submitted < r->nreq; r->submitted++)
		assert_int_equal(blk_backend__submit(r->b, &r->io[r->submitted]), 0);
}

static void on_done(void *ctx, struct blk_io *io)
{
	struct rig *r = ctx;

	r->order[r->ndone++] = (int)(io - r->io);
}

/* The base's byte at i: never zero, differs from sector to sector. */
static uint8_t base_byte(uint64_t i)
{
	return (uint8_t)(i / 512 * 7 + i % 251 + 1);
}

static int setup_dir(void **state)
{
	char exe[400];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (n <= 0 || system("qemu-img --version >/dev/null 2>&1") ||
	    system("qemu-io --version >/dev/null 2>&1"))
		return -1;
	exe[n] = '\0';
	/* build/tests/test_x: the images go in build/. */
	snprintf(dir, sizeof(dir), "%s/test_blk_qcow2_async.XXXXXX", dirname(dirname(exe)));
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

/* base.raw, and ov.qcow2 over it with cluster_size c: [0, 256K) and
 * [1M, 1M+64K) data, [512K, 640K) zero clusters, the rest from the base;
 * with 512-byte clusters also every other cluster of [2M, 2M+64K) data.
 * ref: the disk's bytes. */
static uint8_t *make_images(unsigned int c)
{
	uint8_t *b = malloc(DISK);
	char p[PATH_MAX + 16];
	uint64_t i;
	int fd;

	assert_non_null(b);
	for (i = 0; i < DISK; i++)
		b[i] = base_byte(i);
	snprintf(p, sizeof(p), "%s/base.raw", dir);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, DISK), DISK);
	close(fd);
	sh("cd %s && rm -f ov.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=%u "
	   "-b base.raw -F raw ov.qcow2 4M && qemu-io -f qcow2 -c 'write -P 0xa1 0 256k' "
	   "-c 'write -z 512k 128k' -c 'write -P 0xb2 1M 64k' ov.qcow2 >/dev/null", dir, c);
	memset(b, 0xa1, 256 * KIB);
	memset(b + 512 * KIB, 0, 128 * KIB);
	memset(b + MIB, 0xb2, 64 * KIB);
	if (c != 512)
		return b;
	sh("cd %s && for i in $(seq 0 63); do echo \"write -P 0xc3 $((%d + i * 1024)) 512\"; "
	   "done | qemu-io -f qcow2 ov.qcow2 >/dev/null", dir, 2 * MIB);
	for (i = 0; i < 64; i++)
		memset(b + 2 * MIB + i * 1024, 0xc3, 512);
	return b;
}

static int open_drive(bool none, struct blk_backend **b, char *err, size_t errlen)
{
	struct drive_config d = { .format = DRIVE_FORMAT_QCOW2 };

	d.cache = none ? DRIVE_CACHE_NONE : DRIVE_CACHE_WRITEBACK;
	snprintf(d.path, sizeof(d.path), "%s/ov.qcow2", dir);
	return blk_backend__open(&d, b, err, errlen);
}

/* NULL: cache=none asked on a filesystem that refuses O_DIRECT. */
static struct rig *rig_new_c(bool none, unsigned int cluster)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct blk_callbacks cb = { on_kicked, on_done, r };
	char err[512];
	int ret;

	assert_non_null(r);
	r->ref = make_images(cluster);
	ret = open_drive(none, &r->b, err, sizeof(err));
	if (ret && none && strstr(err, "refuses O_DIRECT")) {
		free(r->ref);
		free(r);
		return NULL;
	}
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(blk_backend__start(r->b, &cb), 0);
	return r;
}

static struct rig *rig_new(bool none)
{
	return rig_new_c(none, 65536);
}

/* A request; its buffer in two iovecs split at sector split (0: one),
 * misaligned by skew bytes (a bounce buffer under cache=none). */
static void add(struct rig *r, enum blk_op op, uint64_t off, uint64_t len, uint64_t split,
		unsigned int skew)
{
	struct blk_io *io = &r->io[r->nreq];
	uint8_t *p = NULL;

	assert_true(r->nreq < NREQ);
	assert_int_equal(posix_memalign((void **)&p, 4096, len + 4096), 0);
	r->buf[r->nreq] = p;
	p += skew;
	memset(io, 0, sizeof(*io));
	io->op = op;
	io->offset = off;
	io->len = op == BLK_OP_FLUSH ? 0 : len;
	if (op == BLK_OP_WRITE) {
		memset(p, 0x30 + r->nreq, len);
		memcpy(r->ref + off, p, len);
	} else {
		memset(p, 0xee, len);	/* none of the disk's bytes here */
	}
	if (op != BLK_OP_FLUSH) {
		io->iov[0] = (struct iovec){ p, split ? split : len };
		io->iov[1] = (struct iovec){ p + split, len - split };
		io->niov = split ? 2 : 1;
	}
	r->nreq++;
}

static void run(struct rig *r)
{
	unsigned int i;

	blk_backend__kick(r->b);
	assert_int_equal(blk_backend__drain(r->b), 0);
	assert_int_equal(r->ndone, r->nreq);
	for (i = 0; i < r->nreq; i++) {
		assert_int_equal(r->io[i].result, 0);
		if (r->io[i].op == BLK_OP_READ)
			assert_memory_equal(r->io[i].iov[0].iov_base, r->ref + r->io[i].offset,
					    r->io[i].len);
	}
}

/* Closed, the image is clean and holds ref. */
static void rig_free_check(struct rig *r)
{
	char p[PATH_MAX + 16];
	unsigned int i;
	int fd;

	blk_backend__close(r->b);
	snprintf(p, sizeof(p), "%s/ref.raw", dir);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, r->ref, DISK), DISK);
	close(fd);
	sh("cd %s && qemu-img check -q ov.qcow2 && "
	   "qemu-img compare -q -f raw -F qcow2 ref.raw ov.qcow2", dir);
	for (i = 0; i < r->nreq; i++)
		free(r->buf[i]);
	free(r->ref);
	free(r);
}

static int index_in_order(const struct rig *r, int req)
{
	unsigned int i;

	for (i = 0; i < r->ndone; i++)
		if (r->order[i] == req)
			return (int)i;
	return -1;
}

/* Reads of data clusters are on the ring together; one read over data,
 * base, zero clusters and base again reads each right. */
static void test_reads_in_flight(void **state)
{
	struct rig *r = rig_new(false);
	unsigned int i;

	(void)state;
	for (i = 0; i < 4; i++)
		add(r, BLK_OP_READ, i * 64 * KIB + 4 * KIB, 32 * KIB, 0, 0);
	add(r, BLK_OP_READ, MIB, 64 * KIB, 8 * KIB, 0);
	add(r, BLK_OP_READ, 192 * KIB, 512 * KIB, 100 * 512, 0);
	add(r, BLK_OP_READ, 3 * MIB, 8 * KIB, 0, 0);	/* base only */
	run(r);
	/* The old synchronous path had none on the ring, one at a time. */
	assert_true(blk_backend__ring_data_max(r->b) >= 2);
	rig_free_check(r);
}

/* Writes into allocated clusters beside reads, two writes allocating
 * one cluster in the same batch, a flush, and a write after it. */
static void writes_and_flush(bool none)
{
	struct rig *r = rig_new(none);
	int flush_at, i;

	if (!r) {
		skip();
		return;
	}
	add(r, BLK_OP_WRITE, 8 * KIB, 4 * KIB, 0, 0);		/* 0: data */
	add(r, BLK_OP_WRITE, 70 * KIB, 8 * KIB, 2 * KIB, none ? 8 : 0);
	add(r, BLK_OP_READ, 128 * KIB, 64 * KIB, 0, none ? 512 : 0);
	add(r, BLK_OP_WRITE, 300 * KIB, 4 * KIB, 0, 0);		/* 3: allocates */
	add(r, BLK_OP_WRITE, 260 * KIB, 4 * KIB, 0, 0);		/* 4: the same */
	add(r, BLK_OP_WRITE, 600 * KIB, 8 * KIB, 0, 0);		/* 5: a zero cluster */
	add(r, BLK_OP_WRITE, MIB, 64 * KIB, 0, none ? 24 : 0);	/* 6: data */
	add(r, BLK_OP_FLUSH, 0, 0, 0, 0);			/* 7 */
	add(r, BLK_OP_WRITE, 16 * KIB, 4 * KIB, 0, 0);		/* 8: after it */
	add(r, BLK_OP_READ, 240 * KIB, 96 * KIB, 16 * KIB, 0);	/* 9: data, new */
	run(r);
	assert_true(blk_backend__ring_data_max(r->b) >= 2);
	flush_at = index_in_order(r, 7);
	for (i = 0; i < 7; i++)
		if (r->io[i].op == BLK_OP_WRITE)
			assert_true(index_in_order(r, i) < flush_at);
	rig_free_check(r);
}

static void test_writes_and_flush(void **state)
{
	(void)state;
	writes_and_flush(false);
}

static void test_cache_none(void **state)
{
	(void)state;
	writes_and_flush(true);
}

/* A request over 64 runs (data, base, data...) goes on the ring, one over
 * more the synchronous way whole: both right. */
static void test_many_runs(void **state)
{
	struct rig *r = rig_new_c(false, 512);
	unsigned int i;

	(void)state;
	add(r, BLK_OP_READ, 2 * MIB, 32 * KIB, 4 * KIB, 0);	/* 64 runs */
	add(r, BLK_OP_READ, 2 * MIB + 31 * KIB + 512, 32 * KIB + 512, 0, 0); /* 65 */
	add(r, BLK_OP_WRITE, 2 * MIB + 96 * KIB, 4 * KIB, 0, 0);	/* base: allocates */
	run(r);
	assert_int_equal(blk_backend__ring_data_max(r->b), 32);
	for (i = 0; i < r->nreq; i++)
		free(r->buf[i]);
	r->nreq = r->submitted = r->ndone = 0;
	add(r, BLK_OP_WRITE, 2 * MIB, 64 * KIB, 0, 0);		/* 128 runs */
	add(r, BLK_OP_READ, 2 * MIB + 96 * KIB, 4 * KIB, 0, 0);	/* written before */
	run(r);
	rig_free_check(r);
}

/* A page holding a table and data would be read and written both
 * buffered and O_DIRECT. */
static void test_cache_none_small_clusters(void **state)
{
	struct blk_backend *b = NULL;
	char err[512];
	uint8_t *ref;

	(void)state;
	ref = make_images(512);
	free(ref);
	assert_int_equal(open_drive(true, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cache=none needs qcow2 clusters of at least"));
	assert_int_equal(open_drive(false, &b, err, sizeof(err)), 0);
	blk_backend__close(b);
}

/* A write through the ring marks its block before the device sees it
 * done; a read does not. */
static void test_dirty_marked(void **state)
{
	struct rig *r = rig_new(false);
	struct blk_dirty *d = NULL;
	uint64_t blk = 0;

	(void)state;
	assert_int_equal(blk_dirty__create(DISK, &d), 0);
	blk_backend__track_dirty(r->b, d);
	add(r, BLK_OP_READ, 0, 4 * KIB, 0, 0);
	add(r, BLK_OP_WRITE, MIB + 4 * KIB, 4 * KIB, 0, 0);
	run(r);
	blk_backend__track_dirty(r->b, NULL);
	assert_int_equal(blk_dirty__count(d), 1);
	assert_true(blk_dirty__take_next(d, &blk));
	assert_int_equal(blk, 1);
	rig_free_check(r);
	blk_dirty__free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_in_flight),
		cmocka_unit_test(test_writes_and_flush),
		cmocka_unit_test(test_cache_none),
		cmocka_unit_test(test_cache_none_small_clusters),
		cmocka_unit_test(test_dirty_marked),
		cmocka_unit_test(test_many_runs),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
