/* A drive's ring with room for fewer requests (or pieces of one qcow2
 * request) than the device hands it at once: none fails, each completes
 * with its data, and a qcow2 request that needs more SQEs than the whole
 * ring holds goes the synchronous way instead of waiting for ever. The
 * ring here has 4 entries; the device's holds BLK_MAX_INFLIGHT. */
#include <fcntl.h>
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
#include "drive.h"

#include "test_shell.h"

#define RING		4
#define NREQ		40
#define LEN		4096
#define DISK		(4 * 1024 * 1024)

/* Every request of a round is submitted in one kicked() call (the drain
 * runs one more, which finds nothing left to submit). */
struct rig {
	struct blk_backend *b;
	struct blk_io io[NREQ];
	uint8_t buf[NREQ][LEN * 4];
	unsigned int nreq, submitted, ndone;
	int submit_ret;			/* the first failure, 0: none */
};

static char dir[] = "/tmp/test_blk_ring_full.XXXXXX";

static void on_kicked(void *ctx)
{
	struct rig *r = ctx;
	int ret;

	for (; r->submitted < r->nreq; r->submitted++) {
		ret = blk_backend__submit(r->b, &r->io[r->submitted]);
		if (ret && !r->submit_ret)
			r->submit_ret = ret;
		if (ret)
			r->ndone++;	/* no done() follows a failed submit */
	}
}

static void on_done(void *ctx, struct blk_io *io)
{
	struct rig *r = ctx;

	r->ndone++;
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

static struct rig *rig_open(enum drive_format format, const char *name)
{
	struct drive_config d = { .format = format, .cache = DRIVE_CACHE_WRITEBACK };
	struct rig *r = calloc(1, sizeof(*r));
	struct blk_callbacks cb = { on_kicked, on_done, r };
	char err[512];

	assert_non_null(r);
	snprintf(d.path, sizeof(d.path), "%s/%s", dir, name);
	if (blk_backend__open_ring(&d, RING, &r->b, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(blk_backend__start(r->b, &cb), 0);
	return r;
}

static void add(struct rig *r, enum blk_op op, uint64_t off, uint64_t len, uint8_t fill)
{
	struct blk_io *io = &r->io[r->nreq];

	assert_true(r->nreq < NREQ && len <= sizeof(r->buf[0]));
	memset(io, 0, sizeof(*io));
	memset(r->buf[r->nreq], fill, len);
	io->op = op;
	io->offset = off;
	if (op != BLK_OP_FLUSH) {
		/* Two buffers, so a request is never one flat run. */
		io->iov[0] = (struct iovec){ r->buf[r->nreq], len / 2 };
		io->iov[1] = (struct iovec){ r->buf[r->nreq] + len / 2, len - len / 2 };
		io->niov = 2;
		io->len = len;
	}
	r->nreq++;
}

/* One round: every request submitted at once, all done, none failed. */
static void run(struct rig *r)
{
	unsigned int i;

	r->ndone = 0;
	r->submitted = 0;
	r->submit_ret = 0;
	blk_backend__kick(r->b);
	assert_int_equal(blk_backend__drain(r->b), 0);
	assert_int_equal(r->submit_ret, 0);
	assert_int_equal(r->ndone, r->nreq);
	for (i = 0; i < r->nreq; i++)
		assert_int_equal(r->io[i].result, 0);
}

static uint8_t pattern(unsigned int i)
{
	return (uint8_t)(0x41 + i);
}

/* Ten times the ring's requests of a raw drive in one go, writes and a
 * flush, then reads of all of them. */
static void test_raw(void **state)
{
	struct rig *r;
	unsigned int i, n = NREQ - 1;
	int fd;
	char p[sizeof(dir) + 16];

	(void)state;
	snprintf(p, sizeof(p), "%s/disk.raw", dir);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK), 0);
	close(fd);
	r = rig_open(DRIVE_FORMAT_RAW, "disk.raw");
	for (i = 0; i < n; i++)
		add(r, BLK_OP_WRITE, (uint64_t)i * LEN * 2, LEN, pattern(i));
	add(r, BLK_OP_FLUSH, 0, 0, 0);
	run(r);
	r->nreq = 0;
	for (i = 0; i < n; i++)
		add(r, BLK_OP_READ, (uint64_t)i * LEN * 2, LEN, 0xee);
	run(r);
	for (i = 0; i < n; i++) {
		uint8_t want[LEN];

		memset(want, pattern(i), LEN);
		assert_memory_equal(r->buf[i], want, LEN);
	}
	blk_backend__close(r->b);
	free(r);
}

/* qcow2 with 512-byte clusters, every other one of [0, 64K) allocated
 * (0xc3), the rest zero: a 2 KiB request is two data runs, 8 KiB eight. */
static void make_qcow2(void)
{
	sh("cd %s && qemu-img create -q -f qcow2 -o cluster_size=512 disk.qcow2 4M && "
	   "for i in $(seq 0 63); do echo \"write -P 0xc3 $((i * 1024)) 512\"; done | "
	   "qemu-io -f qcow2 disk.qcow2 >/dev/null", dir);
}

static void check_alternate(const uint8_t *p, uint64_t off, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		assert_int_equal(p[i], (off + i) / 512 % 2 ? 0 : 0xc3);
}

/* Many requests of two data runs each (the ring fills and the requests
 * wait for room), then reads of eight runs, more than the ring holds. */
static void test_qcow2(void **state)
{
	struct rig *r;
	unsigned int i;

	(void)state;
	if (system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1"))
		skip();
	make_qcow2();
	r = rig_open(DRIVE_FORMAT_QCOW2, "disk.qcow2");
	for (i = 0; i < 30; i++)
		add(r, BLK_OP_READ, (uint64_t)i * 2048, 2048, 0xee);
	for (i = 0; i < 8; i++)
		add(r, BLK_OP_READ, (uint64_t)i * 8192, 8192, 0xee);
	run(r);
	for (i = 0; i < r->nreq; i++)
		check_alternate(r->buf[i], r->io[i].offset, r->io[i].len);
	/* Writes over the allocated clusters go on the ring too. */
	r->nreq = 0;
	for (i = 0; i < 8; i++)
		add(r, BLK_OP_WRITE, (uint64_t)i * 8192, 8192, pattern(i));
	add(r, BLK_OP_FLUSH, 0, 0, 0);
	run(r);
	blk_backend__close(r->b);
	free(r);
	sh("cd %s && qemu-img check -q disk.qcow2 && qemu-io -f qcow2 -c 'read -P 0x48 56k 8k' "
	   "disk.qcow2 | grep -q 'read 8192/8192'", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_qcow2),
	};

	/* A request lost on a full ring would leave the drain waiting for
	 * ever: the alarm fails the test instead. */
	alarm(60);
	return cmocka_run_group_tests(tests, setup, teardown);
}
