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

/* Queues a write of buf to fd on an SQE the ring gives. */
static void queue_write(struct io_uring *ring, int fd, const char *buf, unsigned int len)
{
	struct io_uring_sqe *sqe = uring_ring__get_sqe(ring);

	assert_non_null(sqe);
	io_uring_prep_write(sqe, fd, buf, len, 0);
}

/* Reaps n completions, each a whole write of len bytes. */
static void reap_writes(struct io_uring *ring, unsigned int n, int len)
{
	struct io_uring_cqe *cqe;

	assert_int_equal(io_uring_submit(ring) >= 0, 1);
	while (n--) {
		assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
		assert_int_equal(cqe->res, len);
		io_uring_cqe_seen(ring, cqe);
	}
}

/* A full ring hands its SQEs to the kernel and has room again; nothing
 * is submitted while there is room. */
static void test_get_sqe_makes_room(void **state)
{
	struct io_uring ring;
	char path[256], buf[8] = "sqe";
	int fd = temp_file(path, sizeof(path)), i;

	(void)state;
	make_ring(&ring);
	for (i = 0; i < 4; i++)
		queue_write(&ring, fd, buf, sizeof(buf));
	assert_int_equal(io_uring_sq_ready(&ring), 4);
	queue_write(&ring, fd, buf, sizeof(buf));
	assert_int_equal(io_uring_sq_ready(&ring), 1);
	assert_int_equal(uring_ring__make_room(&ring, 3), 0);
	assert_int_equal(io_uring_sq_ready(&ring), 1);
	assert_int_equal(uring_ring__make_room(&ring, 4), 0);
	assert_int_equal(io_uring_sq_ready(&ring), 0);
	reap_writes(&ring, 5, (int)sizeof(buf));
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
}

/* When the kernel takes none of the SQEs (here: the ring's descriptor
 * is closed for a moment, so io_uring_enter fails), there is no room:
 * -EAGAIN and NULL, and the SQEs stay on the ring for the next submit. */
static void test_no_room_when_the_kernel_takes_none(void **state)
{
	struct io_uring ring;
	char path[256], buf[8] = "full";
	int fd = temp_file(path, sizeof(path)), saved, i;

	(void)state;
	make_ring(&ring);
	for (i = 0; i < 4; i++)
		queue_write(&ring, fd, buf, sizeof(buf));
	saved = dup(ring.ring_fd);
	assert_true(saved >= 0);
	assert_int_equal(close(ring.ring_fd), 0);
	assert_int_equal(uring_ring__make_room(&ring, 1), -EAGAIN);
	assert_null(uring_ring__get_sqe(&ring));
	assert_int_equal(dup2(saved, ring.ring_fd), ring.ring_fd);
	close(saved);
	assert_int_equal(io_uring_sq_ready(&ring), 4);
	reap_writes(&ring, 4, (int)sizeof(buf));
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_and_writes),
		cmocka_unit_test(test_refuses_openat),
		cmocka_unit_test(test_refuses_registration),
		cmocka_unit_test(test_get_sqe_makes_room),
		cmocka_unit_test(test_no_room_when_the_kernel_takes_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
