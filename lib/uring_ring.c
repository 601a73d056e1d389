#include "uring_ring.h"

#include <errno.h>
#include <stdlib.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n)	((void)(p), (void)(n))
#endif

int uring_ring__init_restricted(struct io_uring *ring, unsigned int entries,
				const uint8_t *ops, unsigned int nops)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	struct io_uring_restriction *res;
	unsigned int i;
	int ret;

	res = calloc(nops ? nops : 1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	for (i = 0; i < nops; i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret)
		goto out;
	/* Through the raw call: Debian's liburing 2.3 declares the helpers
	 * for these two but does not export them. No register operation is
	 * allowed, so nothing can be added to the ring later either. */
	ret = io_uring_register((unsigned int)ring->ring_fd, IORING_REGISTER_RESTRICTIONS,
				res, nops);
	if (ret >= 0)
		ret = io_uring_register((unsigned int)ring->ring_fd,
					IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0)
		io_uring_queue_exit(ring);
	else
		ret = 0;
out:
	free(res);
	return ret;
}

int uring_ring__make_room(struct io_uring *ring, unsigned int n)
{
	/* Submitting hands the kernel the SQEs; a failure leaves them on
	 * the ring, which the second look sees. */
	if (io_uring_sq_space_left(ring) < n)
		io_uring_submit(ring);
	return io_uring_sq_space_left(ring) < n ? -EAGAIN : 0;
}

struct io_uring_sqe *uring_ring__get_sqe(struct io_uring *ring)
{
	return uring_ring__make_room(ring, 1) ? NULL : io_uring_get_sqe(ring);
}

void uring_ring__filled(const struct iovec *iov, unsigned int niov, uint64_t len)
{
	unsigned int i;
	uint64_t n;

	for (i = 0; i < niov && len; i++) {
		n = iov[i].iov_len < len ? iov[i].iov_len : len;
		VALGRIND_MAKE_MEM_DEFINED(iov[i].iov_base, n);
		len -= n;
	}
}
