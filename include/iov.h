/* Walks over a scatter list of buffers (struct iovec) as if it were one
 * run of bytes: the block devices copy a guest's buffers to or from one
 * bounce or synchronous buffer, and cut a request's buffers into the
 * slices of its pieces on the ring.
 *
 * pos and len count bytes of the whole list. A range past the list's end
 * is cut at the end: nothing is read or written outside the buffers, and
 * the return value says how many bytes the walk covered.
 */
#ifndef VMM__IOV_H
#define VMM__IOV_H

#include <stdint.h>
#include <sys/uio.h>

/* Bytes [pos, pos + len) of iov into buf. */
uint64_t iov__to_buf(const struct iovec *iov, unsigned int niov, uint64_t pos, void *buf,
		     uint64_t len);
/* len bytes of buf into bytes [pos, pos + len) of iov. */
uint64_t iov__from_buf(const struct iovec *iov, unsigned int niov, uint64_t pos,
		       const void *buf, uint64_t len);
/* The buffers of bytes [pos, pos + len) of iov, into out (which must have
 * room for niov entries); returns their count. No entry is empty. */
unsigned int iov__slice(const struct iovec *iov, unsigned int niov, uint64_t pos,
			uint64_t len, struct iovec *out);

#endif
