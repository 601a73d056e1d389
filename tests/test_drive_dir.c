/* --drive-dir's images: made sparse at the source's sizes and attached to
 * the reserved drives, never over an existing file (and then none left
 * behind), removed again by a discard. */
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

#include "blk_backend.h"
#include "drive_dir.h"

struct rig {
	char dir[64];
	struct board_drive drives[DRIVE_MAX];
	struct drive_dir dd;
};

static int setup(void **state)
{
	struct rig *t = calloc(1, sizeof(*t));
	char err[256];

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_drive_dir.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	if (drive_dir__open(&t->dd, t->dir, t->drives, err, sizeof(err)))
		fail_msg("%s", err);
	*state = t;
	return 0;
}

static void remove_file(const struct rig *t, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	unlink(path);
}

static int teardown(void **state)
{
	struct rig *t = *state;
	unsigned int i;

	for (i = 0; i < DRIVE_MAX; i++)
		blk_backend__close(t->drives[i].backend);
	drive_dir__close(&t->dd);
	remove_file(t, "disk0.img");
	remove_file(t, "disk1.img");
	rmdir(t->dir);
	free(t);
	return 0;
}

static bool exists(const struct rig *t, const char *name, struct stat *st)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	return !stat(path, st);
}

static void test_create_then_discard(void **state)
{
	struct rig *t = *state;
	uint64_t sizes[2] = { 64ULL << 20, 1ULL << 20 };
	char err[256], path[128];
	struct stat st;

	if (drive_dir__create(&t->dd, sizes, 2, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(exists(t, "disk0.img", &st));
	assert_int_equal(st.st_size, 64 << 20);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_blocks < 64);		/* sparse */
	assert_true(exists(t, "disk1.img", &st));
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(blk_backend__size(t->drives[0].backend), 64ULL << 20);
	assert_int_equal(blk_backend__size(t->drives[1].backend), 1ULL << 20);
	assert_true(blk_backend__fd(t->drives[1].backend) >= 0);
	assert_false(t->drives[0].readonly);
	snprintf(path, sizeof(path), "%s/disk1.img", t->dir);
	assert_string_equal(t->dd.cfgs[1].path, path);
	assert_int_equal(t->dd.cfgs[1].format, DRIVE_FORMAT_RAW);
	/* one set of images per destination */
	assert_int_equal(drive_dir__create(&t->dd, sizes, 1, err, sizeof(err)), -EBUSY);
	drive_dir__discard(&t->dd);
	assert_false(exists(t, "disk0.img", &st));
	assert_false(exists(t, "disk1.img", &st));
}

static void test_existing_file_refused(void **state)
{
	struct rig *t = *state;
	uint64_t sizes[2] = { 1ULL << 20, 1ULL << 20 };
	char err[256], path[128];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/disk1.img", t->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(drive_dir__create(&t->dd, sizes, 2, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "disk1.img already exists: vmm never overwrites an image"));
	/* the one it had made goes; the one it found stays as it was */
	assert_false(exists(t, "disk0.img", &st));
	assert_true(exists(t, "disk1.img", &st));
	assert_int_equal(st.st_size, 4);
	assert_int_equal(t->dd.nr_created, 0);
}

static void test_not_a_directory(void **state)
{
	struct board_drive drives[DRIVE_MAX] = { 0 };
	struct drive_dir dd;
	char err[256];

	assert_int_equal(drive_dir__open(&dd, "/nonexistent/vmm-test", drives, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "--drive-dir /nonexistent/vmm-test: No such file"));
	assert_null(drives[0].backend);
	drive_dir__close(&dd);
	assert_int_equal(drive_dir__open(&dd, "/dev/null", drives, err, sizeof(err)), -ENOTDIR);
	drive_dir__close(&dd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_then_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_file_refused, setup, teardown),
		cmocka_unit_test(test_not_a_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
