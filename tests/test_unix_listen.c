/* The monitor's and QMP's socket: mode 0600 from the start whatever the
 * process's umask, a stale socket replaced, anything else left alone. */
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
#include <unistd.h>
#include <cmocka.h>

#include "unix_listen.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/unix_listen.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/s", dir);
	unlink(path);
	return rmdir(dir);
}

static void mode_is_0600_under_any_umask(void **state)
{
	char path[128], err[256];
	struct stat st;
	mode_t old = umask(0);
	int fd;

	snprintf(path, sizeof(path), "%s/s", dir);
	fd = unix_listen(path, "test", err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The process's own umask is back as it was. */
	assert_int_equal(umask(old), 0);
	close(fd);
	unlink(path);
}

static void stale_socket_replaced(void **state)
{
	char path[128], err[256];
	int fd1, fd2;

	snprintf(path, sizeof(path), "%s/s", dir);
	fd1 = unix_listen(path, "test", err, sizeof(err));
	assert_true(fd1 >= 0);
	close(fd1);
	fd2 = unix_listen(path, "test", err, sizeof(err));
	assert_true(fd2 >= 0);
	close(fd2);
	unlink(path);
}

static void other_file_left_alone(void **state)
{
	char path[128], err[256];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/s", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unix_listen(path, "QMP", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "QMP path"));
	assert_non_null(strstr(err, "is not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
}

static void long_path_refused(void **state)
{
	char path[200], err[256];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(unix_listen(path, "monitor", err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "monitor socket path too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mode_is_0600_under_any_umask),
		cmocka_unit_test(stale_socket_replaced),
		cmocka_unit_test(other_file_left_alone),
		cmocka_unit_test(long_path_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
