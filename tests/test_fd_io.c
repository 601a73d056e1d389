/* Whole reads and writes at an offset (lib/fd_io.c): a read that meets
 * the end of the file fails with EIO or reads zeros past it, as asked;
 * a write lands at its offset and leaves the bytes around it alone; a
 * bad fd, or one with no offset, says why. */
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

#include "fd_io.h"

static int temp_file(const void *data, size_t len)
{
	char path[] = "/tmp/test_fd_io.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

static void test_read_inside_and_past_the_end(void **state)
{
	uint8_t data[100], buf[64];
	int fd;

	(void)state;
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i + 1);
	fd = temp_file(data, sizeof(data));
	assert_int_equal(fd__pread_all(fd, buf, 10, 20), 0);
	assert_memory_equal(buf, data + 20, 10);
	/* 40 bytes from 80: 20 there, then the end. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(fd__pread_all(fd, buf, 40, 80), -EIO);
	assert_int_equal(fd__pread_zero_tail(fd, buf, 40, 80), 0);
	assert_memory_equal(buf, data + 80, 20);
	for (unsigned int i = 20; i < 40; i++)
		assert_int_equal(buf[i], 0);
	/* Wholly past the end: all zeros, or EIO. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(fd__pread_zero_tail(fd, buf, 16, 4096), 0);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(fd__pread_all(fd, buf, 16, 4096), -EIO);
	assert_int_equal(fd__pread_all(fd, buf, 0, 4096), 0);
	close(fd);
}

static void test_write_at_an_offset(void **state)
{
	uint8_t zeros[32] = { 0 }, buf[32];
	int fd = temp_file(zeros, sizeof(zeros));

	(void)state;
	assert_int_equal(fd__pwrite_all(fd, "abcd", 4, 10), 0);
	assert_int_equal(fd__pwrite_all(fd, "xy", 2, 40), 0);	/* past the end: grows */
	assert_int_equal(fd__pread_all(fd, buf, 32, 0), 0);
	assert_memory_equal(buf + 10, "abcd", 4);
	assert_int_equal(buf[9], 0);
	assert_int_equal(buf[14], 0);
	assert_int_equal(fd__pread_zero_tail(fd, buf, 10, 32), 0);
	assert_int_equal(buf[0], 0);
	assert_memory_equal(buf + 8, "xy", 2);
	close(fd);
}

static void test_bad_fd_says_why(void **state)
{
	uint8_t buf[8] = { 0 };
	int fds[2];

	(void)state;
	assert_int_equal(fd__pread_all(-1, buf, 8, 0), -EBADF);
	assert_int_equal(fd__pread_zero_tail(-1, buf, 8, 0), -EBADF);
	assert_int_equal(fd__pwrite_all(-1, buf, 8, 0), -EBADF);
	/* A pipe has no offset. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fd__pwrite_all(fds[1], buf, 8, 0), -ESPIPE);
	assert_int_equal(fd__pread_all(fds[0], buf, 8, 0), -ESPIPE);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_inside_and_past_the_end),
		cmocka_unit_test(test_write_at_an_offset),
		cmocka_unit_test(test_bad_fd_says_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
