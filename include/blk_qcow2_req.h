/* A qcow2 drive's request on its io_uring ring (blk_raw.c runs the ring).
 * The request is mapped through the image's tables on the I/O thread
 * (under the drive's format lock); the bytes of clusters the image has
 * allocated go out as readv/writev on the data descriptor, several
 * requests in flight, and the request completes when its last piece has.
 * The rest runs here synchronously, one request at a time: zero clusters,
 * reads from the backing file (a read-only file, mostly read once per
 * cluster: after a write the overlay holds it), and allocating writes
 * (copy-on-write), so that two writes to one new cluster never allocate
 * it twice. A request with no piece on the ring completes through a
 * no-op, like the rest.
 */
#ifndef VMM__BLK_QCOW2_REQ_H
#define VMM__BLK_QCOW2_REQ_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "blk_backend.h"
#include "blk_qcow2.h"

/* Maps io (a read, a write or a flush: the flush is qcow2__flush, here and
 * now) and queues its SQEs on ring, submitting what the ring holds first
 * when it lacks room; a request that needs more SQEs than the ring has
 * goes whole the synchronous way. bounce: the guest's buffers go through
 * one aligned buffer (O_DIRECT on data_fd). Returns how many reads or
 * writes went on the ring (0: only a no-op), or -errno with nothing
 * queued (io->result unset): -EAGAIN when the kernel took none of the SQEs
 * the ring held, so that there is still no room (try again after a
 * completion). */
int qcow2_req__queue(struct qcow2 *q, struct io_uring *ring, int data_fd, bool bounce,
		     struct blk_io *io);
/* A completion whose user_data qcow2_req__queue set: *data says whether
 * it was a read or write (not the no-op). Returns the request once its
 * last piece is done, with io->result set (the first error of its
 * pieces), read bytes in the guest's buffers; NULL before. */
struct blk_io *qcow2_req__piece_done(uint64_t tag, int res, bool *data);

#endif
