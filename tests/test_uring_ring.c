#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "uring_ring.h"

static const uint8_t rw_ops[] = { IORING_OP_READ, IORING_OP_WRITE };

static void make_ring(struct io_uring *ring)
{
	int ret = uring_ring__init_restricted(ring, 4, rw_ops, sizeof(rw_ops));

	if (ret == -ENOSYS || ret == -EPERM)
		skip();		/* io_uring disabled on this host */
	assert_int_equal(ret, 0);
}

/* Submits the one request prepared and returns its result. */
static int run_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit(ring);

	if (ret < 0)
		return ret;
	assert_int_equal(ret, 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

static int temp_file(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/vmm-uring-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

static void test_reads_and_writes(void **state)
{
	struct io_uring ring;
	char path[256], out[16] = "", in[16] = "restricted ring";
	int fd = temp_file(path, sizeof(path));

	(void)state;
	make_ring(&ring);
	io_uring_prep_write(io_uring_get_sqe(&ring), fd, in, sizeof(in), 0);
	assert_int_equal(run_one(&ring), (int)sizeof(in));
	io_uring_prep_read(io_uring_get_sqe(&ring), fd, out, sizeof(out), 0);
	assert_int_equal(run_one(&ring), (int)sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
}

/* What the sandbox relies on: the ring cannot open a file (it would pass
 * seccomp and --jail's absence), nor do any other operation not named. */
static void test_refuses_openat(void **state)
{
	struct io_uring ring;
	char path[256];
	int fd = temp_file(path, sizeof(path)), ret;

	(void)state;
	make_ring(&ring);
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, path, O_RDONLY, 0);
	ret = run_one(&ring);
	assert_int_equal(ret, -EACCES);
	io_uring_prep_fsync(io_uring_get_sqe(&ring), fd, 0);
	assert_int_equal(run_one(&ring), -EACCES);
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
}

/* Nor can the ring be widened or given new files once enabled. */
static void test_refuses_registration(void **state)
{
	struct io_uring ring;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_true(efd >= 0);
	make_ring(&ring);
	assert_int_equal(io_uring_register((unsigned int)ring.ring_fd,
					   IORING_REGISTER_EVENTFD, &efd, 1), -EACCES);
	assert_int_equal(io_uring_register_files(&ring, &efd, 1), -EACCES);
	io_uring_queue_exit(&ring);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_and_writes),
		cmocka_unit_test(test_refuses_openat),
		cmocka_unit_test(test_refuses_registration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
