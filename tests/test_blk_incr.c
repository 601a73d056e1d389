/* Block migration of qcow2 drives, source pass to destination writes,
 * against images qemu-img and qemu-io make: migrate -i sends exactly the
 * overlay's clusters (data, and zero-flagged ones as holes) and the
 * destination's fresh overlay then reads as the source's; a whole copy
 * (-b) of the overlay into an overlay over another base reads the same
 * too; the base's digest is SHA-256 of its bytes. */
#include <errno.h>
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
#include "blk_base.h"
#include "blk_dest.h"
#include "blk_dirty.h"
#include "blk_section.h"
#include "blk_source.h"

#include "test_shell.h"

#define MIB	(1024 * 1024)
#define DISK	(4 * MIB)

static char dir[] = "/tmp/test_blk_incr.XXXXXX";

static struct blk_backend *open_qcow2(const char *name)
{
	struct drive_config d = { .format = DRIVE_FORMAT_QCOW2 };
	struct blk_backend *b;
	char err[512];

	snprintf(d.path, sizeof(d.path), "%s/%s", dir, name);
	if (blk_backend__open(&d, &b, err, sizeof(err)))
		fail_msg("%s", err);
	return b;
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	if (system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1"))
		return -1;
	sh("cd %s && head -c %d /dev/urandom >base.raw && cp base.raw other.raw && "
	   "printf x | dd of=other.raw bs=1 seek=3000000 conv=notrunc status=none && "
	   "qemu-img create -q -f qcow2 -b base.raw -F raw src.qcow2 && "
	   "qemu-io -c 'write -P 0x5a 1M 64K' -c 'write -z 2M 128K' -c 'write -P 7 3M 512' "
	   "-f qcow2 src.qcow2 >/dev/null", dir, DISK);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

/* Every payload of the bulk pass, decoded and written into dst; counts
 * data and hole bytes. */
static void bulk(struct blk_source *s, struct blk_dest *d, uint64_t *data, uint64_t *holes)
{
	const uint64_t size = DISK;
	struct blk_extent e;
	const uint8_t *p;
	struct wbuf w;
	char err[256];
	int ret;

	*data = *holes = 0;
	wbuf__init(&w);
	while ((ret = blk_source__next(s, 0, &w)) == 1) {
		assert_int_equal(blk_section__decode(w.data, w.len, &size, 1, &e, &p, err,
						     sizeof(err)), 0);
		*(e.hole ? holes : data) += e.len;
		/* blk_dest copies the payload aside first; so does this. */
		if (blk_dest__section(d, w.data, w.len, err, sizeof(err)))
			fail_msg("%s", err);
		wbuf__reset(&w);
	}
	assert_int_equal(ret, 0);
	wbuf__free(&w);
}

static void copy_from(const char *from, bool incremental, const char *dst, uint64_t *data,
		      uint64_t *holes)
{
	struct blk_backend *src = open_qcow2(from), *out = open_qcow2(dst);
	struct blk_source_drive sd = { .size = DISK, .fmt = src, .incremental = incremental };
	struct blk_source s;
	struct blk_dest d;
	int fd = blk_backend__fd(out);
	const uint64_t size = DISK;
	char err[256];

	assert_int_equal(blk_dirty__create(DISK, &sd.dirty), 0);
	if (incremental)
		assert_int_equal(blk_backend__fmt_defined(src, &sd.bulk_bytes), 0);
	assert_int_equal(blk_source__init(&s, &sd, 1), 0);
	assert_int_equal(blk_source__total(&s), incremental ? sd.bulk_bytes : DISK);
	assert_int_equal(blk_source__remaining(&s), blk_source__total(&s));
	assert_int_equal(blk_dest__init(&d, &fd, &size, 1), 0);
	d.fmt[0] = out;
	bulk(&s, &d, data, holes);
	assert_int_equal(blk_source__remaining(&s), 0);
	assert_int_equal(blk_dest__sync(&d, err, sizeof(err)), 0);
	/* The sync before READY wrote every table entry the destination's
	 * qcow2 kept in memory: the file alone reads as the source, and
	 * holds no cluster no table points at. */
	sh("cd %s && qemu-img check -U -q %s && qemu-img compare -U -q %s %s", dir, dst, from,
	   dst);
	blk_source__free(&s);
	blk_dirty__free(sd.dirty);
	blk_backend__close(src);
	blk_backend__close(out);
}

static void copy(bool incremental, const char *dst, uint64_t *data, uint64_t *holes)
{
	copy_from("src.qcow2", incremental, dst, data, holes);
}

static void test_incremental(void **state)
{
	uint64_t data, holes;

	sh("cd %s && rm -f dst.qcow2 && qemu-img create -q -f qcow2 -b base.raw -F raw dst.qcow2",
	   dir);
	copy(true, "dst.qcow2", &data, &holes);
	/* The 64 KiB, the cluster holding the 512 bytes; the zeros a hole. */
	assert_int_equal(data, 2 * 65536);
	assert_int_equal(holes, 131072);
	sh("cd %s && qemu-img compare -q src.qcow2 dst.qcow2 && qemu-img check -q dst.qcow2", dir);
}

/* An overlay that holds nothing: -i has nothing to send, and counts so. */
static void test_incremental_empty(void **state)
{
	uint64_t data, holes;

	sh("cd %s && rm -f e.qcow2 e-dst.qcow2 && qemu-img create -q -f qcow2 -b base.raw -F "
	   "raw e.qcow2 && qemu-img create -q -f qcow2 -b base.raw -F raw e-dst.qcow2", dir);
	copy_from("e.qcow2", true, "e-dst.qcow2", &data, &holes);
	assert_int_equal(data + holes, 0);
	sh("cd %s && qemu-img compare -q e.qcow2 e-dst.qcow2", dir);
}

static void test_whole_over_other_base(void **state)
{
	uint64_t data, holes;

	sh("cd %s && rm -f dst2.qcow2 && qemu-img create -q -f qcow2 -b other.raw -F raw "
	   "dst2.qcow2", dir);
	copy(false, "dst2.qcow2", &data, &holes);
	assert_int_equal(data + holes, DISK);
	assert_int_equal(holes, 131072);
	sh("cd %s && qemu-img compare -q src.qcow2 dst2.qcow2 && qemu-img check -q dst2.qcow2",
	   dir);
}

static void test_digest(void **state)
{
	struct blk_backend *b = open_qcow2("src.qcow2");
	uint8_t digest[BLK_BASE_DIGEST_LEN];
	char hex[65], want[80], err[256], cmd[600];
	uint64_t size;
	FILE *f;

	assert_int_equal(blk_base__digest(b, &size, digest, err, sizeof(err)), 0);
	assert_int_equal(size, DISK);
	blk_base__hex(digest, hex);
	snprintf(cmd, sizeof(cmd), "sha256sum <%s/base.raw", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(want, sizeof(want), f));
	pclose(f);
	assert_memory_equal(hex, want, 64);
	blk_backend__close(b);
}

/* A drive's drain (a shared-storage migration's source before the state
 * goes, a save) leaves every table entry in the file: another process
 * reads the image while this one still has it open. */
static void test_drain_writes_tables(void **state)
{
	struct blk_backend *b;
	uint8_t buf[4096];
	unsigned int i;

	sh("cd %s && rm -f dr.qcow2 && qemu-img create -q -f qcow2 -b base.raw -F raw dr.qcow2",
	   dir);
	b = open_qcow2("dr.qcow2");
	memset(buf, 0x3c, sizeof(buf));
	for (i = 0; i < 8; i++)
		assert_int_equal(blk_backend__fmt_write(b, (uint64_t)i * 3 * 65536, buf,
							sizeof(buf)), 0);
	assert_int_equal(blk_backend__drain(b), 0);
	sh("cd %s && qemu-img check -U -q dr.qcow2 && "
	   "qemu-io -r -U -c 'read -P 0x3c 393216 4096' -f qcow2 dr.qcow2 >/dev/null", dir);
	blk_backend__close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_incremental_empty),
		cmocka_unit_test(test_whole_over_other_base),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_drain_writes_tables),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
