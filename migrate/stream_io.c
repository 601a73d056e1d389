/* Full-length reads and writes on a blocking descriptor. Part of the
 * stream module (include/stream.h). */
#include "stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

/* writev/sendmsg take at most IOV_MAX entries; longer gather lists (a RAM
 * batch sent as one iovec per page) go out in slices of this many. */
#define IOV_SLICE	64

int stream__read_full(int fd, void *buf, size_t n, size_t *got)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t r;
	int ret = 0;

	while (done < n) {
		r = read(fd, p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (r == 0) {
			ret = -ENODATA;
			break;
		}
		done += (size_t)r;
	}
	*got = done;
	return ret;
}

static ssize_t write_vec(int fd, bool is_socket, struct iovec *iov, int cnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

	/* A peer that hangs up must give us EPIPE, not kill the process. */
	if (is_socket)
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	return writev(fd, iov, cnt);
}

/* Fills slice with what is left from (i, off) on; empty entries are
 * skipped because some writev implementations dislike them. */
static int fill_slice(struct iovec *slice, const struct iovec *iov,
		      int iovcnt, int i, size_t off)
{
	int n = 0;

	for (; i < iovcnt && n < IOV_SLICE; i++, off = 0) {
		if (iov[i].iov_len == off)
			continue;
		slice[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		slice[n].iov_len = iov[i].iov_len - off;
		n++;
	}
	return n;
}

int stream__write_full(int fd, bool is_socket, const struct iovec *iov,
		       int iovcnt, size_t *written)
{
	struct iovec slice[IOV_SLICE];
	size_t off = 0, left, done = 0;
	int i = 0, n, ret = 0;
	ssize_t r;

	while ((n = fill_slice(slice, iov, iovcnt, i, off)) > 0) {
		r = write_vec(fd, is_socket, slice, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)r;
		for (; i < iovcnt; i++, off = 0) {
			left = iov[i].iov_len - off;
			if ((size_t)r < left) {
				off += (size_t)r;
				break;
			}
			r -= (ssize_t)left;
		}
	}
	*written = done;
	return ret;
}
