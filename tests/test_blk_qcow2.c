/* The qcow2 backend against images qemu-img and qemu-io make, and images
 * with header bytes patched to what the subset refuses. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_qcow2.h"

#include "test_shell.h"

#define MIB		(1024 * 1024)
#define DISK		(4 * MIB)

static char dir[] = "/tmp/test_blk_qcow2.XXXXXX";

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* The base's byte at i: never zero, differs from sector to sector. */
static uint8_t base_byte(uint64_t i)
{
	return (uint8_t)(i / 512 * 7 + i % 251 + 1);
}

static void make_base(void)
{
	uint8_t *b = malloc(DISK);
	char p[512];
	uint64_t i;
	int fd;

	for (i = 0; i < DISK; i++)
		b[i] = base_byte(i);
	path_of(p, sizeof(p), "base.raw");
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, DISK), DISK);
	close(fd);
	free(b);
}

static struct qcow2 *open_img(const char *name, bool ro, int *fd, char *err, size_t errlen,
			      int *ret)
{
	struct qcow2 *q = NULL;
	char p[512];

	path_of(p, sizeof(p), name);
	*fd = open(p, ro ? O_RDONLY : O_RDWR);
	assert_true(*fd >= 0);
	err[0] = '\0';
	*ret = qcow2__open(*fd, p, ro, &q, err, errlen);
	return q;
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	if (system("qemu-img --version >/dev/null 2>&1") != 0)
		return -1;
	make_base();
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

/* qemu-io's writes read back through the overlay, the rest from the base. */
static void test_read_overlay(void **state)
{
	uint8_t *got = malloc(DISK);
	struct qcow2 *q;
	char err[512];
	uint64_t i;
	int fd, ret;

	sh("cd %s && qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2 && "
	   "qemu-io -c 'write -P 0xab 65536 4096' -c 'write -z 1048576 65536' "
	   "-f qcow2 ov.qcow2 >/dev/null", dir);
	q = open_img("ov.qcow2", true, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(qcow2__size(q), DISK);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	for (i = 0; i < DISK; i++) {
		uint8_t want = base_byte(i);

		if (i >= 65536 && i < 65536 + 4096)
			want = 0xab;
		else if (i >= 1048576 && i < 1048576 + 65536)
			want = 0;
		if (got[i] != want)
			fail_msg("byte %llu: %#x, want %#x", (unsigned long long)i, got[i], want);
	}
	qcow2__close(q);
	close(fd);
	free(got);
}

static void write_pattern(struct qcow2 *q, uint8_t *want, uint64_t off, size_t len,
			  uint8_t v)
{
	uint8_t *b = malloc(len);

	memset(b, v, len);
	assert_int_equal(qcow2__write(q, off, b, len), 0);
	memset(want + off, v, len);
	free(b);
}

/* Our writes (partial clusters copied on write from the base, a run across
 * clusters, a second L2 table with 4 KiB clusters): qemu-img check finds
 * nothing wrong and convert gives back the bytes written. */
static void check_our_writes(const char *create_opts, const char *backing)
{
	uint8_t *want = malloc(DISK), *got = malloc(DISK);
	struct qcow2 *q;
	char err[512], p[512];
	uint64_t i;
	int fd, ret;

	for (i = 0; i < DISK; i++)
		want[i] = base_byte(i);
	sh("cd %s && rm -f w.qcow2 && qemu-img create -q -f qcow2 %s -b %s w.qcow2", dir,
	   create_opts, backing);
	q = open_img("w.qcow2", false, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	write_pattern(q, want, 512, 512, 0x11);
	write_pattern(q, want, 3 * 65536 - 1024, 70000 / 512 * 512, 0x22);
	write_pattern(q, want, DISK - 4096, 4096, 0x33);
	write_pattern(q, want, 1024, 512, 0x44);	/* into a cluster we own */
	/* 512 clusters of 512 B: new refcount blocks on the way. */
	write_pattern(q, want, 2 * MIB, 256 * 1024, 0x55);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	assert_int_equal(qcow2__flush(q), 0);
	qcow2__close(q);
	close(fd);
	sh("cd %s && qemu-img check -q w.qcow2 && qemu-img convert -O raw w.qcow2 w.raw", dir);
	path_of(p, sizeof(p), "w.raw");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, DISK), DISK);
	close(fd);
	assert_memory_equal(got, want, DISK);
	free(want);
	free(got);
}

static void test_write_64k(void **state)
{
	check_our_writes("", "base.raw -F raw");
}

static void test_write_4k_v2(void **state)
{
	check_our_writes("-o cluster_size=4096,compat=0.10", "base.raw -F raw");
}

static void test_write_512_qcow2_base(void **state)
{
	sh("cd %s && rm -f b2.qcow2 && qemu-img convert -O qcow2 base.raw b2.qcow2", dir);
	check_our_writes("-o cluster_size=512", "b2.qcow2 -F qcow2");
}

/* A qcow2 over a qcow2 over the raw base reads the base's bytes. */
static void test_chain(void **state)
{
	uint8_t *got = malloc(DISK);
	struct qcow2 *q;
	char err[512];
	uint64_t i;
	int fd, ret;

	sh("cd %s && rm -f mid.qcow2 top.qcow2 && "
	   "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
	   "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2", dir);
	q = open_img("top.qcow2", false, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	for (i = 0; i < DISK; i++)
		assert_int_equal(got[i], base_byte(i));
	qcow2__close(q);
	close(fd);
	free(got);
}

static void patch(const char *name, long off, const void *bytes, size_t n)
{
	char p[512];
	int fd;

	path_of(p, sizeof(p), name);
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
	close(fd);
}

static void refused(const char *name, const char *needle)
{
	struct qcow2 *q;
	char err[512];
	int fd, ret;

	q = open_img(name, false, &fd, err, sizeof(err), &ret);
	assert_null(q);
	assert_true(ret < 0);
	if (!strstr(err, needle))
		fail_msg("%s: \"%s\" lacks \"%s\"", name, err, needle);
	close(fd);
}

static void fresh(const char *name, const char *opts)
{
	sh("cd %s && rm -f %s && qemu-img create -q -f qcow2 %s %s 4M", dir, name, opts, name);
}

static void test_refusals(void **state)
{
	const uint8_t v4[4] = { 0, 0, 0, 4 }, cb22[4] = { 0, 0, 0, 22 };
	const uint8_t crypt[4] = { 0, 0, 0, 1 }, corrupt[1] = { 2 };
	const uint8_t far[8] = { 0, 0, 0, 1, 0, 0, 0, 0 }, snap[4] = { 0, 0, 0, 1 };

	fresh("z.qcow2", "-o compression_type=zstd");
	refused("z.qcow2", "compressed clusters are not supported");
	fresh("x.qcow2", "-o extended_l2=on");
	refused("x.qcow2", "extended L2 entries");
	fresh("d.qcow2", "-o data_file=d.data");
	refused("d.qcow2", "external data files are not supported");
	fresh("r.qcow2", "-o refcount_bits=8");
	refused("r.qcow2", "refcount order 3");
	fresh("v.qcow2", "");
	patch("v.qcow2", 4, v4, 4);
	refused("v.qcow2", "version 4");
	fresh("c.qcow2", "");
	patch("c.qcow2", 20, cb22, 4);
	refused("c.qcow2", "cluster bits 22");
	fresh("e.qcow2", "");
	patch("e.qcow2", 32, crypt, 4);
	refused("e.qcow2", "encrypted images are not supported");
	fresh("k.qcow2", "");
	patch("k.qcow2", 79, corrupt, 1);
	refused("k.qcow2", "marked corrupt");
	fresh("l.qcow2", "");
	patch("l.qcow2", 40, far, 8);
	refused("l.qcow2", "L1 table offset");
	fresh("t.qcow2", "");
	patch("t.qcow2", 48, far, 8);
	refused("t.qcow2", "refcount table");
	fresh("s.qcow2", "");
	patch("s.qcow2", 60, snap, 4);
	refused("s.qcow2", "internal snapshots");
}

/* A real internal snapshot: refused writable, read-only reads the active
 * image (written after the snapshot), not the snapshot's. */
static void test_snapshot_readonly(void **state)
{
	struct qcow2 *q;
	char err[512];
	uint8_t buf[512];
	int fd, ret;

	fresh("n.qcow2", "");
	sh("cd %s && qemu-io -c 'write -P 1 0 512' -f qcow2 n.qcow2 >/dev/null && "
	   "qemu-img snapshot -c s1 n.qcow2 && "
	   "qemu-io -c 'write -P 2 0 512' -f qcow2 n.qcow2 >/dev/null", dir);
	refused("n.qcow2", "internal snapshots are present (1)");
	q = open_img("n.qcow2", true, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(qcow2__read(q, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 2);
	assert_int_equal(buf[511], 2);
	assert_int_equal(qcow2__write(q, 0, buf, sizeof(buf)), -EROFS);
	qcow2__close(q);
	close(fd);
}

/* An L2 entry pointing outside the file: refused at open, with where. */
static void test_bad_l2_entry(void **state)
{
	const uint8_t far[8] = { 0x80, 0, 0, 0x10, 0, 0, 0, 0 };
	struct qcow2 *q;
	char err[512];
	int fd, ret;

	fresh("b.qcow2", "");
	sh("cd %s && qemu-io -c 'write -P 1 0 512' -f qcow2 b.qcow2 >/dev/null", dir);
	/* qemu-img puts the first L2 table at cluster 4 of a fresh image. */
	patch("b.qcow2", 4 * 65536, far, 8);
	q = open_img("b.qcow2", false, &fd, err, sizeof(err), &ret);
	assert_null(q);
	if (ret != -EINVAL || !strstr(err, "L2 entry 0x8000001000000000 at 0x40000"))
		fail_msg("%d: %s", ret, err);
	close(fd);
}

/* zlib-compressed clusters carry no feature bit: found in the L2 tables. */
static void test_compressed_clusters(void **state)
{
	sh("cd %s && rm -f cz.qcow2 && qemu-img convert -c -O qcow2 base.raw cz.qcow2", dir);
	refused("cz.qcow2", "compressed clusters are not supported");
}

/* Seeded byte flips in a small-cluster image's metadata: every open either
 * refuses the image or gives a qcow2 whose reads and writes return, none
 * crashes (the ASan build checks the memory side). */
static void test_mutations(void **state)
{
	uint8_t *img, *io = malloc(65536);
	struct qcow2 *q;
	char p[512], err[512];
	unsigned int seed = 1, round, k;
	uint64_t off;
	ssize_t len;
	int fd, mfd, opened = 0;

	sh("cd %s && rm -f m.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=512 "
	   "m.qcow2 1M && qemu-io -c 'write -P 7 0 8192' -c 'write -P 9 300000 70000' "
	   "-f qcow2 m.qcow2 >/dev/null", dir);
	path_of(p, sizeof(p), "m.qcow2");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	img = malloc(1 << 20);
	len = read(fd, img, 1 << 20);
	close(fd);
	assert_true(len > 4096 && len < (1 << 20));
	for (round = 0; round < 400; round++) {
		mfd = memfd_create("qcow2-mut", 0);
		assert_true(mfd >= 0);
		assert_int_equal(write(mfd, img, (size_t)len), len);
		for (k = 0; k < 1 + round % 4; k++) {
			uint8_t b = (uint8_t)rand_r(&seed);

			off = (uint64_t)rand_r(&seed) % (round % 2 ? 1024 : (uint64_t)len);
			assert_int_equal(pwrite(mfd, &b, 1, (off_t)off), 1);
		}
		q = NULL;
		if (qcow2__open(mfd, "mut.qcow2", false, &q, err, sizeof(err)) == 0) {
			opened++;
			for (off = 0; off < qcow2__size(q) && off < (1 << 20); off += 65536)
				qcow2__read(q, off, io, 65536 < qcow2__size(q) - off ?
					    65536 : qcow2__size(q) - off);
			memset(io, 5, 4096);
			if (qcow2__size(q) >= 8192)
				qcow2__write(q, qcow2__size(q) - 8192 + 512, io, 4096);
			qcow2__close(q);
		}
		close(mfd);
	}
	assert_true(opened > 0);	/* some flips land where nothing is checked */
	free(img);
	free(io);
}

/* The map block migration walks: data, zero-flagged, from the base, and
 * past the base's end; what the overlay itself defines; its base. */
static void test_status(void **state)
{
	enum qcow2_kind k;
	struct qcow2 *q;
	uint64_t n, def;
	char err[512];
	int fd, ret;

	sh("cd %s && rm -f st.qcow2 && qemu-img create -q -f qcow2 -b base.raw -F raw "
	   "st.qcow2 8M && qemu-io -c 'write -P 0xab 65536 4096' -c 'write -z 1048576 "
	   "131072' -f qcow2 st.qcow2 >/dev/null", dir);
	q = open_img("st.qcow2", true, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(qcow2__status(q, 0, DISK, &k, &n), 0);
	assert_int_equal(k, QCOW2_BACKING);
	assert_int_equal(n, 65536);
	assert_int_equal(qcow2__status(q, 65536 + 512, DISK, &k, &n), 0);
	assert_int_equal(k, QCOW2_DATA);
	assert_int_equal(n, 65536 - 512);
	assert_int_equal(qcow2__status(q, 1048576, 100000, &k, &n), 0);
	assert_int_equal(k, QCOW2_ZERO);
	assert_int_equal(n, 100000);
	assert_int_equal(qcow2__status(q, 131072, DISK, &k, &n), 0);
	assert_int_equal(k, QCOW2_BACKING);
	assert_int_equal(n, 1048576 - 131072);
	assert_int_equal(qcow2__status(q, DISK, DISK, &k, &n), 0);
	assert_int_equal(k, QCOW2_UNALLOCATED);
	assert_int_equal(n, DISK);
	assert_int_equal(qcow2__status(q, DISK, DISK + 1, &k, &n), -EINVAL);
	assert_int_equal(qcow2__defined_bytes(q, &def), 0);
	assert_int_equal(def, 65536 + 131072);
	assert_non_null(strstr(qcow2__backing_path(q), "/base.raw"));
	assert_int_equal(qcow2__backing_bytes(q), DISK);
	qcow2__close(q);
	close(fd);
}

/* Zeros written over the base (whole and partial clusters), into a
 * cluster the overlay has and past the base's end read back as zeros,
 * qemu-img check is clean, and a whole cluster over the base takes the
 * zero flag (v3) instead of a new cluster. */
static void check_zeroes(const char *create_opts)
{
	uint8_t *want = malloc(2 * DISK), *got = malloc(2 * DISK);
	struct qcow2 *q;
	char err[512], p[512];
	uint64_t i, before, after;
	int fd, ret;

	for (i = 0; i < 2 * DISK; i++)
		want[i] = i < DISK ? base_byte(i) : 0;
	sh("cd %s && rm -f z.qcow2 && qemu-img create -q -f qcow2 %s -b base.raw -F raw "
	   "z.qcow2 8M", dir, create_opts);
	q = open_img("z.qcow2", false, &fd, err, sizeof(err), &ret);
	assert_int_equal(ret, 0);
	write_pattern(q, want, 3 * 65536, 65536, 0x66);
	before = (uint64_t)lseek(fd, 0, SEEK_END);
	assert_int_equal(qcow2__write_zeroes(q, 65536, 2 * 65536), 0);
	after = (uint64_t)lseek(fd, 0, SEEK_END);
	assert_int_equal(qcow2__write_zeroes(q, 3 * 65536 + 512, 4096), 0);
	assert_int_equal(qcow2__write_zeroes(q, 6 * 65536 + 1024, 1024), 0);
	assert_int_equal(qcow2__write_zeroes(q, DISK + 4096, 65536), 0);
	memset(want + 65536, 0, 2 * 65536);
	memset(want + 3 * 65536 + 512, 0, 4096);
	memset(want + 6 * 65536 + 1024, 0, 1024);
	assert_int_equal(qcow2__read(q, 0, got, 2 * DISK), 0);
	assert_memory_equal(got, want, 2 * DISK);
	if (!strstr(create_opts, "compat=0.10"))
		assert_int_equal(after, before);	/* the zero flag, no cluster */
	qcow2__close(q);
	close(fd);
	sh("cd %s && qemu-img check -q z.qcow2 && qemu-img convert -O raw z.qcow2 z.raw", dir);
	path_of(p, sizeof(p), "z.raw");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, 2 * DISK), 2 * DISK);
	close(fd);
	assert_memory_equal(got, want, 2 * DISK);
	free(want);
	free(got);
}

static void test_zeroes_v3(void **state)
{
	check_zeroes("");
}

static void test_zeroes_v2(void **state)
{
	check_zeroes("-o compat=0.10");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_overlay),
		cmocka_unit_test(test_write_64k),
		cmocka_unit_test(test_write_4k_v2),
		cmocka_unit_test(test_write_512_qcow2_base),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_snapshot_readonly),
		cmocka_unit_test(test_bad_l2_entry),
		cmocka_unit_test(test_compressed_clusters),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_zeroes_v3),
		cmocka_unit_test(test_zeroes_v2),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
