/* io_uring rings that can do only what their owner names. A request on a
 * ring does not pass through the seccomp filter, so every ring vmm makes
 * is created disabled, restricted to the operations its owner uses (no
 * openat, no socket, ...) and only then enabled; all of them before the
 * sandbox, whose allow-list has neither io_uring_setup nor
 * io_uring_register. */
#ifndef VMM__URING_RING_H
#define VMM__URING_RING_H

#include <liburing.h>
#include <stdint.h>
#include <sys/uio.h>

/* Sets ring up with entries entries, allowing only the nops opcodes in
 * ops (IORING_OP_*). 0, or -errno: the kernel has no io_uring, or does
 * not take restrictions (before 5.10), and then no ring is left. */
int uring_ring__init_restricted(struct io_uring *ring, unsigned int entries,
				const uint8_t *ops, unsigned int nops);

/* Room on ring for n more SQEs (n at most the ring's size): when there
 * is not, the SQEs the ring holds go to the kernel, once, to make some.
 * 0, or -EAGAIN when there is still too little: the kernel took too few
 * of them now (an older one refuses while its completion queue
 * overflows), and the caller reaps a completion before it tries again.
 * The SQEs a caller asked room for are then there for io_uring_get_sqe. */
int uring_ring__make_room(struct io_uring *ring, unsigned int n);
/* One SQE, room made for it as above. NULL where that says -EAGAIN. */
struct io_uring_sqe *uring_ring__get_sqe(struct io_uring *ring);

/* The kernel wrote the first len bytes of iov through a read on a ring:
 * says so to valgrind's memcheck, which sees io_uring_enter but not what
 * the reads on the ring write, and would take memory fresh from malloc
 * filled that way as never written (a bounce buffer, then the guest's
 * memory it is copied to). A few instructions natively, nothing else. */
void uring_ring__filled(const struct iovec *iov, unsigned int niov, uint64_t len);

#endif
