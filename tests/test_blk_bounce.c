/* Reads through a bounce buffer: a drive with cache=none (O_DIRECT) and
 * guest buffers O_DIRECT cannot take (misaligned), raw and qcow2. The
 * bytes read must be the image's, and, under `make valgrind`, defined:
 * the kernel fills the bounce buffer through io_uring, which memcheck
 * does not see, so without the backend saying so every byte read looks
 * uninitialised and the comparison below is an error there. The images
 * live beside the test binary (the build directory), where O_DIRECT
 * works, unlike on tmpfs. */
#include <fcntl.h>
#include <libgen.h>
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

#define LEN		(64 * 1024)
#define SKEW		8		/* bytes off O_DIRECT's alignment */
#define NREQ		4

static char dir[512];

struct rig {
	struct blk_backend *b;
	struct blk_io io[NREQ];
	uint8_t *mem[NREQ];
	unsigned int nreq, submitted, ndone;
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

	r->ndone++;
}

static int setup(void **state)
{
	char exe[400];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/test_blk_bounce.XXXXXX", dirname(dirname(exe)));
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

static uint8_t image_byte(uint64_t i)
{
	return (uint8_t)(i / 512 * 13 + i % 241 + 1);
}

/* NULL: the filesystem refuses O_DIRECT. */
static struct rig *rig_open(enum drive_format format, const char *name)
{
	struct drive_config d = { .format = format, .cache = DRIVE_CACHE_NONE };
	struct blk_callbacks cb = { on_kicked, on_done, NULL };
	struct rig *r = calloc(1, sizeof(*r));
	char err[512];

	assert_non_null(r);
	cb.ctx = r;
	snprintf(d.path, sizeof(d.path), "%s/%s", dir, name);
	if (blk_backend__open(&d, &r->b, err, sizeof(err))) {
		if (strstr(err, "refuses O_DIRECT")) {
			free(r);
			return NULL;
		}
		fail_msg("%s", err);
	}
	assert_int_equal(blk_backend__start(r->b, &cb), 0);
	return r;
}

/* A read of LEN bytes at off into a fresh, misaligned buffer in two
 * pieces (of memory never written here: what it holds after is the
 * read's). */
static void add_read(struct rig *r, uint64_t off)
{
	struct blk_io *io = &r->io[r->nreq];
	uint8_t *p;

	assert_int_equal(posix_memalign((void **)&r->mem[r->nreq], 4096, LEN + 4096), 0);
	p = r->mem[r->nreq] + SKEW;
	memset(io, 0, sizeof(*io));
	io->op = BLK_OP_READ;
	io->offset = off;
	io->len = LEN;
	io->iov[0] = (struct iovec){ p, LEN / 4 };
	io->iov[1] = (struct iovec){ p + LEN / 4, LEN - LEN / 4 };
	io->niov = 2;
	r->nreq++;
}

static void run_check(struct rig *r)
{
	uint8_t want[LEN];
	unsigned int i;
	uint64_t j;

	blk_backend__kick(r->b);
	assert_int_equal(blk_backend__drain(r->b), 0);
	assert_int_equal(r->ndone, r->nreq);
	for (i = 0; i < r->nreq; i++) {
		assert_int_equal(r->io[i].result, 0);
		for (j = 0; j < LEN; j++)
			want[j] = image_byte(r->io[i].offset + j);
		assert_memory_equal(r->mem[i] + SKEW, want, LEN);
		free(r->mem[i]);
	}
	blk_backend__close(r->b);
	free(r);
}

static void write_image(const char *name, uint64_t size)
{
	char p[sizeof(dir) + 32];
	uint8_t *b = malloc(size);
	uint64_t i;
	int fd;

	assert_non_null(b);
	for (i = 0; i < size; i++)
		b[i] = image_byte(i);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static void test_raw(void **state)
{
	struct rig *r;

	(void)state;
	write_image("disk.raw", 1024 * 1024);
	r = rig_open(DRIVE_FORMAT_RAW, "disk.raw");
	if (!r)
		skip();
	add_read(r, 0);
	add_read(r, 512 * 1024 + 512);
	run_check(r);
}

/* Data clusters (on the ring) and clusters from the raw base (the
 * synchronous way) in the same bounce buffer. */
static void test_qcow2(void **state)
{
	struct rig *r;

	(void)state;
	if (system("qemu-img --version >/dev/null 2>&1"))
		skip();
	write_image("base.raw", 1024 * 1024);
	sh("cd %s && qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2 1M && "
	   "qemu-img convert -O qcow2 -f raw base.raw data.qcow2", dir);
	r = rig_open(DRIVE_FORMAT_QCOW2, "data.qcow2");
	if (!r)
		skip();
	add_read(r, 0);
	add_read(r, 512 * 1024 + 512);
	run_check(r);
	r = rig_open(DRIVE_FORMAT_QCOW2, "ov.qcow2");
	add_read(r, 4096);
	run_check(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_qcow2),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
