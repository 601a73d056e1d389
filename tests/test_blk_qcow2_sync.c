/* The qcow2 writer's syncs: allocating writes cost O(1) fdatasyncs, not
 * one each, and the table entries they keep in memory never reach the
 * file before what they point at is durable. This file's fdatasync stands
 * in for libc's (the library's calls bind to it): it counts the syncs of
 * the image under test and, at each one, builds the worst image a crash
 * just before it could leave (every table as the file has it now over
 * everything else as of the previous sync) and has qemu-img check it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_qcow2.h"

#include "test_shell.h"

#define MIB		(1024 * 1024)
#define DISK		(4 * MIB)

static char dir[] = "/tmp/test_blk_qcow2_sync.XXXXXX";

/* The image under test: its descriptor, the syncs it got, the file as
 * of its last sync (what a crash keeps for sure), and a sync to fail. */
static int watch_fd = -1;
static char watch_path[512];
static unsigned int syncs, max_syncs;
static int fail_next;
static uint8_t *durable;
static size_t durable_len;
static unsigned int crash_checks;
static bool no_order;		/* unordered: nothing to check at a sync */

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static uint8_t base_byte(uint64_t i)
{
	return (uint8_t)(i / 512 * 7 + i % 251 + 1);
}

static uint8_t *read_file(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)(be64_at(p) >> 32);
}

#define OFF_MASK	0x00fffffffffffe00ull

/* Copies the bytes [off, off + n) of cur into w (n within both). */
static void take(uint8_t *w, const uint8_t *cur, size_t len, uint64_t off, uint64_t n)
{
	assert_true(off + n <= len);
	memcpy(w + off, cur + off, n);
}

/* The worst crash now: the L1 table, the refcount table and every L2
 * table as the file has them, the rest (data, refcount blocks) as of the
 * last sync. Every data cluster an L2 entry points at must be durable
 * with the bytes it has now, and qemu-img check must find nothing worse
 * than leaks (exit 0 or 3). */
static void check_worst_crash(void)
{
	uint8_t *cur, *w;
	size_t len;
	uint64_t cl, l1_off, rt_off, rt_len, i, j, l2, e, host;
	uint32_t l1_size;
	char p[600], cmd[1300];
	int fd, st;

	cur = read_file(watch_path, &len);
	w = calloc(1, len);
	assert_non_null(w);
	memcpy(w, durable, durable_len < len ? durable_len : len);
	cl = 1ull << be32_at(cur + 20);
	l1_size = be32_at(cur + 36);
	l1_off = be64_at(cur + 40);
	rt_off = be64_at(cur + 48);
	rt_len = be32_at(cur + 56) * cl;
	take(w, cur, len, l1_off, (uint64_t)l1_size * 8);
	take(w, cur, len, rt_off, rt_len);
	for (i = 0; i < l1_size; i++) {
		l2 = be64_at(cur + l1_off + i * 8) & OFF_MASK;
		if (!l2)
			continue;
		take(w, cur, len, l2, cl);
		for (j = 0; j < cl / 8; j++) {
			e = be64_at(cur + l2 + j * 8);
			host = e & OFF_MASK;
			if (!host || (e & 1))
				continue;
			if (host + cl > durable_len || memcmp(durable + host, cur + host, cl))
				fail_msg("sync %u: L2 entry %#llx in the file before its "
					 "cluster was durable", syncs, (unsigned long long)e);
		}
	}
	path_of(p, sizeof(p), "crash.qcow2");
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, w, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "qemu-img check -q %s >/dev/null 2>&1", p);
	st = system(cmd);
	if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
		fail_msg("sync %u: a crash could leave an image qemu-img check finds "
			 "corrupt (status %d)", syncs, WEXITSTATUS(st));
	crash_checks++;
	free(w);
	free(cur);
}

static void snapshot(void)
{
	free(durable);
	durable = read_file(watch_path, &durable_len);
}

/* Binds in place of libc's for the whole program. */
int fdatasync(int fd)
{
	int ret;

	if (fd != watch_fd)
		return (int)syscall(SYS_fdatasync, fd);
	syncs++;
	if (max_syncs && syncs > max_syncs)
		fail_msg("more than %u fdatasyncs", max_syncs);
	if (fail_next) {
		errno = fail_next;
		fail_next = 0;
		return -1;
	}
	if (!no_order)
		check_worst_crash();
	ret = (int)syscall(SYS_fdatasync, fd);
	snapshot();
	return ret;
}

/* A fresh overlay over the base, opened writable and watched. */
static struct qcow2 *open_fresh(const char *opts)
{
	struct qcow2 *q = NULL;
	char err[512];

	sh("cd %s && rm -f ov.qcow2 && qemu-img create -q -f qcow2 %s -b base.raw -F raw "
	   "ov.qcow2", dir, opts);
	path_of(watch_path, sizeof(watch_path), "ov.qcow2");
	watch_fd = open(watch_path, O_RDWR);
	assert_true(watch_fd >= 0);
	assert_int_equal(qcow2__open(watch_fd, watch_path, false, &q, err, sizeof(err)), 0);
	snapshot();
	syncs = max_syncs = crash_checks = 0;
	no_order = false;
	return q;
}

static void close_watched(struct qcow2 *q)
{
	qcow2__close(q);
	close(watch_fd);
	watch_fd = -1;
}

static uint8_t *base_copy(void)
{
	uint8_t *want = malloc(DISK);
	uint64_t i;

	assert_non_null(want);
	for (i = 0; i < DISK; i++)
		want[i] = base_byte(i);
	return want;
}

static void put(struct qcow2 *q, uint8_t *want, uint64_t off, size_t len, uint8_t v)
{
	uint8_t *b = malloc(len);

	memset(b, v, len);
	assert_int_equal(qcow2__write(q, off, b, len), 0);
	memset(want + off, v, len);
	free(b);
}

/* The closed overlay: qemu-img check clean, its bytes what was written. */
static void expect_image(const uint8_t *want)
{
	uint8_t *got;
	size_t len;
	char p[512];

	sh("cd %s && qemu-img check -q ov.qcow2 && rm -f ov.raw && "
	   "qemu-img convert -O raw ov.qcow2 ov.raw", dir);
	path_of(p, sizeof(p), "ov.raw");
	got = read_file(p, &len);
	assert_int_equal(len, DISK);
	assert_memory_equal(got, want, DISK);
	free(got);
}

/* 48 allocating writes cost no sync, their flush two (before and after
 * the tables), and close none more; the image is what was written. */
static void test_allocating_writes_sync_once(void **state)
{
	uint8_t *want = base_copy();
	struct qcow2 *q = open_fresh("");
	unsigned int i;

	for (i = 0; i < 48; i++)
		put(q, want, (uint64_t)i * 65536 + 4096, 4096, (uint8_t)(0x10 + i));
	if (syncs > 1)
		fail_msg("48 allocating writes cost %u fdatasyncs", syncs);
	assert_int_equal(qcow2__flush(q), 0);
	if (syncs > 3)
		fail_msg("48 allocating writes and a flush cost %u fdatasyncs", syncs);
	close_watched(q);
	expect_image(want);
	free(want);
}

/* Written, not flushed, then a crash: the file as it is (every write
 * landed but the pending entries) and the worst mix of it with the last
 * sync are both images qemu-img check finds clean but for leaks; the
 * map (status, defined bytes) sees the pending entries meanwhile. */
static void test_crash_before_flush(void **state)
{
	uint8_t *want = base_copy(), *got = malloc(DISK);
	struct qcow2 *q = open_fresh("-o cluster_size=4096");
	enum qcow2_kind k;
	uint64_t n, def;

	put(q, want, 0, 512, 0x21);
	put(q, want, 3 * MIB, 8192, 0x22);
	assert_int_equal(qcow2__write_zeroes(q, 2 * MIB, 4096), 0);
	memset(want + 2 * MIB, 0, 4096);
	assert_int_equal(qcow2__status(q, 3 * MIB, 8192, &k, &n), 0);
	assert_int_equal(k, QCOW2_DATA);
	assert_int_equal(n, 8192);
	assert_int_equal(qcow2__defined_bytes(q, &def), 0);
	assert_int_equal(def, 4096 + 8192 + 4096);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	check_worst_crash();
	sh("cd %s && cp ov.qcow2 landed.qcow2", dir);
	/* Close writes the pending entries (the drive flushes before). */
	close_watched(q);
	sh("cd %s && { qemu-img check -q landed.qcow2 >/dev/null 2>&1; s=$?; "
	   "[ $s = 0 ] || [ $s = 3 ]; }", dir);
	expect_image(want);
	free(want);
	free(got);
}

/* 512-byte clusters over the whole disk: 8192 allocations (twice the
 * pending bound), 128 L2 tables through 16 cache slots (dirty ones
 * evicted), new refcount blocks; order holds at every sync, far fewer
 * syncs than allocations, and the image is right. */
static void test_many_allocations(void **state)
{
	uint8_t *want = base_copy(), *got = malloc(DISK);
	struct qcow2 *q = open_fresh("-o cluster_size=512");
	uint64_t off;

	max_syncs = 200;
	for (off = 0; off < DISK; off += 4096)
		put(q, want, off, 4096, (uint8_t)(off / 4096 * 13 + 1));
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	assert_int_equal(qcow2__flush(q), 0);
	print_message("8192 allocations: %u fdatasyncs, %u crash images checked\n", syncs,
		      crash_checks);
	assert_true(crash_checks >= 3);
	close_watched(q);
	expect_image(want);
	free(want);
	free(got);
}

/* A failing sync under the flush: the guest sees the error, the entries
 * stay pending (reads still see the data), the next flush writes them. */
static void test_flush_error_keeps_pending(void **state)
{
	uint8_t *want = base_copy(), *got = malloc(DISK);
	struct qcow2 *q = open_fresh("");
	unsigned int i;

	for (i = 0; i < 8; i++)
		put(q, want, (uint64_t)i * 3 * 65536, 512, (uint8_t)(0x40 + i));
	fail_next = EIO;
	assert_int_equal(qcow2__flush(q), -EIO);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	assert_int_equal(qcow2__flush(q), 0);
	sh("cd %s && qemu-img check -q ov.qcow2", dir);	/* flushed: before close */
	close_watched(q);
	expect_image(want);
	free(want);
	free(got);
}

/* 512-byte clusters: an L2 table covers 32 KiB and 16 are cached, so
 * the 17th table evicts one holding pending entries. Its sync fails: the
 * write fails, nothing is lost, and the same write goes through next. */
static void test_eviction_error(void **state)
{
	uint8_t *want = base_copy(), *got = malloc(DISK), b[512];
	struct qcow2 *q = open_fresh("-o cluster_size=512");
	unsigned int i;

	for (i = 0; i < 16; i++)
		put(q, want, (uint64_t)i * 32768, 512, (uint8_t)(0x60 + i));
	assert_int_equal(syncs, 0);
	fail_next = EIO;
	memset(b, 0x77, sizeof(b));
	assert_int_equal(qcow2__write(q, 16 * 32768, b, sizeof(b)), -EIO);
	assert_int_equal(syncs, 1);
	put(q, want, 16 * 32768, 512, 0x77);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	assert_int_equal(qcow2__flush(q), 0);
	sh("cd %s && qemu-img check -q ov.qcow2", dir);
	close_watched(q);
	expect_image(want);
	free(want);
	free(got);
}

/* Refresh reads the tables again: the entries still pending are written
 * before, not dropped; the file alone (qemu-img, while we hold it open)
 * then has every write, and so do our reads after. */
static void test_refresh_keeps_pending(void **state)
{
	uint8_t *want = base_copy(), *got = malloc(DISK);
	struct qcow2 *q = open_fresh("");
	char err[512];
	unsigned int i;

	for (i = 0; i < 5; i++)
		put(q, want, (uint64_t)i * 5 * 65536 + 512, 1024, (uint8_t)(0x50 + i));
	assert_int_equal(qcow2__refresh(q, err, sizeof(err)), 0);
	expect_image(want);
	assert_int_equal(qcow2__read(q, 0, got, DISK), 0);
	assert_memory_equal(got, want, DISK);
	close_watched(q);
	free(want);
	free(got);
}

/* Unordered (a block migration's destination): no sync at all while
 * writing, past the pending bound too; the flush writes every entry.
 * Entries went out unordered: no crash image to check here (checking one
 * fails, which shows the check catches a table ahead of its data). */
static void test_unordered(void **state)
{
	uint8_t *want = base_copy();
	struct qcow2 *q = open_fresh("-o cluster_size=512");
	uint64_t off;

	no_order = true;
	qcow2__set_unordered(q, true);
	for (off = 0; off < 3 * MIB; off += 65536)
		put(q, want, off, 65536, (uint8_t)(off / 65536 + 3));
	qcow2__set_unordered(q, false);
	assert_int_equal(syncs, 0);
	assert_int_equal(qcow2__flush(q), 0);
	sh("cd %s && qemu-img check -q ov.qcow2", dir);
	close_watched(q);
	expect_image(want);
	free(want);
}

static int setup(void **state)
{
	uint8_t *b;
	char p[512];
	uint64_t i;
	int fd;

	if (!mkdtemp(dir) || system("qemu-img --version >/dev/null 2>&1") != 0)
		return -1;
	b = malloc(DISK);
	if (!b)
		return -1;
	for (i = 0; i < DISK; i++)
		b[i] = base_byte(i);
	path_of(p, sizeof(p), "base.raw");
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, b, DISK) != DISK)
		return -1;
	close(fd);
	free(b);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	free(durable);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocating_writes_sync_once),
		cmocka_unit_test(test_crash_before_flush),
		cmocka_unit_test(test_many_allocations),
		cmocka_unit_test(test_flush_error_keeps_pending),
		cmocka_unit_test(test_eviction_error),
		cmocka_unit_test(test_refresh_keeps_pending),
		cmocka_unit_test(test_unordered),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
