/* migrate -i's base digest made ahead (blk_base_cache.c): taken from the
 * cache while the base file's identity is the one recorded with it, and
 * computed again once the base was touched (its times changed) or
 * rewritten in place at the same size; with base-digest=lazy, not made
 * ahead but by the first migration that asks, then kept. */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_backend.h"
#include "blk_base_cache.h"

#include "test_shell.h"

#define DISK	(4 * 1024 * 1024)

static char dir[] = "/tmp/test_blk_base_cache.XXXXXX";
static char base[128];

static struct blk_backend *open_drive_as(enum drive_base_digest mode)
{
	struct drive_config d = { .format = DRIVE_FORMAT_QCOW2 };
	struct blk_backend *b;
	char err[512];

	snprintf(d.path, sizeof(d.path), "%s/ov.qcow2", dir);
	if (blk_backend__open(&d, &b, err, sizeof(err)))
		fail_msg("%s", err);
	if (blk_base_cache__start(b, mode, err, sizeof(err)))
		fail_msg("%s", err);
	return b;
}

/* auto: ahead, the base being 4 MiB. */
static struct blk_backend *open_drive(void)
{
	return open_drive_as(DRIVE_BASE_DIGEST_AUTO);
}

/* Whether a thread of this process is the background hash. */
static bool hash_thread_runs(void)
{
	char path[300], comm[32];
	struct dirent *e;
	bool found = false;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		found = fgets(comm, sizeof(comm), f) && !strcmp(comm, "base-sha256\n");
		fclose(f);
	}
	closedir(d);
	return found;
}

/* A digest is kept only for a base its times show unchanged for a while
 * (a write within the file system's time tick would not show): wait
 * until the base's last change is that old. */
static void wait_settled(void)
{
	struct timespec now, nap = { .tv_nsec = 20000000 };
	struct stat st;

	for (;;) {
		assert_int_equal(stat(base, &st), 0);
		clock_gettime(CLOCK_REALTIME, &now);
		if ((now.tv_sec - st.st_ctim.tv_sec) * 1000000000ll + now.tv_nsec -
		    st.st_ctim.tv_nsec > 300000000ll)
			return;
		nanosleep(&nap, NULL);
	}
}

static void expect_sha256sum(const uint8_t digest[BLK_BASE_DIGEST_LEN])
{
	char hex[65], want[80], cmd[300];
	FILE *f;

	blk_base__hex(digest, hex);
	snprintf(cmd, sizeof(cmd), "sha256sum <%s", base);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(want, sizeof(want), f));
	pclose(f);
	assert_memory_equal(hex, want, 64);
}

static void digest(struct blk_backend *b, bool want_cached)
{
	uint8_t d[BLK_BASE_DIGEST_LEN];
	struct blk_base_origin how;
	char err[256];
	uint64_t size;

	assert_int_equal(blk_base_cache__digest(b, &size, d, &how, err, sizeof(err)), 0);
	assert_int_equal(size, DISK);
	assert_int_equal(how.cached, want_cached);
	expect_sha256sum(d);
}

/* digest(), and what the log would say of it. */
static void digest_says(struct blk_backend *b, bool want_cached, const char *says)
{
	uint8_t d[BLK_BASE_DIGEST_LEN];
	struct blk_base_origin how;
	char err[256], text[200];
	uint64_t size;

	assert_int_equal(blk_base_cache__digest(b, &size, d, &how, err, sizeof(err)), 0);
	assert_int_equal(how.cached, want_cached);
	expect_sha256sum(d);
	blk_base_cache__describe(&how, text, sizeof(text));
	if (strncmp(text, says, strlen(says)))
		fail_msg("\"%s\" does not start with \"%s\"", text, says);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	if (system("qemu-img --version >/dev/null 2>&1"))
		return -1;
	snprintf(base, sizeof(base), "%s/base.raw", dir);
	sh("cd %s && head -c %d /dev/urandom >base.raw && "
	   "qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2", dir, DISK);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void test_unchanged_is_cached(void **state)
{
	struct blk_backend *b;

	wait_settled();
	b = open_drive();
	digest(b, true);
	digest(b, true);
	blk_base_cache__stop(b);
	blk_backend__close(b);
}

/* Only the times change (as touch does), so the bytes are the same, but
 * nothing short of reading them says so. */
static void test_touched_is_recomputed(void **state)
{
	struct timespec t[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	struct blk_backend *b;

	wait_settled();
	b = open_drive();
	digest(b, true);
	assert_int_equal(utimensat(AT_FDCWD, base, t, 0), 0);
	/* Settled first: whether a digest read just after the change is kept
	 * depends on how long the read took (under valgrind, long enough),
	 * so the test does not look at that. Computed again, then kept. */
	wait_settled();
	digest(b, false);
	digest(b, true);
	blk_base_cache__stop(b);
	blk_backend__close(b);
}

/* One byte rewritten, the size and (here) the mtime restored: ctime,
 * which no user can set, still gives it away. */
static void test_rewritten_is_recomputed(void **state)
{
	struct blk_backend *b;
	struct stat st;
	struct timespec t[2];

	wait_settled();
	b = open_drive();
	digest(b, true);
	assert_int_equal(stat(base, &st), 0);
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	sh("printf x | dd of=%s bs=1 seek=3000000 conv=notrunc status=none", base);
	assert_int_equal(utimensat(AT_FDCWD, base, t, 0), 0);
	digest(b, false);
	blk_base_cache__stop(b);
	blk_backend__close(b);
}

/* base-digest=lazy: no hash at start; the first migration reads the
 * base itself and keeps the digest for the next one. */
static void test_lazy_waits_for_a_migration(void **state)
{
	struct blk_backend *b;

	wait_settled();
	b = open_drive_as(DRIVE_BASE_DIGEST_LAZY);
	assert_false(hash_thread_runs());
	digest_says(b, false, "in ");
	digest_says(b, true, "cached (computed by an earlier migration in ");
	assert_false(hash_thread_runs());
	blk_base_cache__stop(b);
	blk_backend__close(b);
}

/* ahead and lazy whatever the size; auto: ahead up to the limit. */
static void test_which_are_ahead(void **state)
{
	assert_true(blk_base_cache__ahead(DRIVE_BASE_DIGEST_AUTO, 0));
	assert_true(blk_base_cache__ahead(DRIVE_BASE_DIGEST_AUTO, BLK_BASE_CACHE_AHEAD_MAX));
	assert_false(blk_base_cache__ahead(DRIVE_BASE_DIGEST_AUTO, BLK_BASE_CACHE_AHEAD_MAX + 1));
	assert_true(blk_base_cache__ahead(DRIVE_BASE_DIGEST_AHEAD, 1ull << 40));
	assert_false(blk_base_cache__ahead(DRIVE_BASE_DIGEST_LAZY, 4096));
}

/* Stopped while it runs (vmm quits at once): nothing is left behind. */
static void test_stop_while_running(void **state)
{
	struct blk_backend *b = open_drive();

	blk_base_cache__stop(b);
	blk_backend__close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged_is_cached),
		cmocka_unit_test(test_touched_is_recomputed),
		cmocka_unit_test(test_rewritten_is_recomputed),
		cmocka_unit_test(test_stop_while_running),
		cmocka_unit_test(test_lazy_waits_for_a_migration),
		cmocka_unit_test(test_which_are_ahead),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
