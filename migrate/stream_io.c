/* Full-length reads and writes, bounded by a deadline and a cancel
 * descriptor. Part of the stream module (include/stream.h). */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* readv/writev/sendmsg take at most IOV_MAX entries; longer lists (a RAM
 * batch, one entry per run of pages) go in slices of this many. */
#define IOV_SLICE	256

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int stream__wait_ready(int fd, short events, const struct stream_wait *w)
{
	struct pollfd p[2] = { { .fd = fd, .events = events },
			       { .fd = w ? w->cancel_fd : -1, .events = POLLIN } };
	uint64_t now, left;
	int ms, r;

	for (;;) {
		ms = -1;
		if (w && w->deadline_us) {
			now = mono_us();
			if (now >= w->deadline_us)
				return -ETIMEDOUT;
			left = (w->deadline_us - now + 999) / 1000;
			ms = left > 3600000 ? 3600000 : (int)left;
		}
		if (w && w->stall_ms > 0 && (ms < 0 || ms > w->stall_ms))
			ms = w->stall_ms;
		r = poll(p, p[1].fd >= 0 ? 2 : 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[1].fd >= 0 && p[1].revents)
			return -ECANCELED;
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		if (p[0].revents)
			return 0;
		if (!w || !w->deadline_us || ms == w->stall_ms)
			return -ETIMEDOUT;
	}
}

/* Moves (i, off) past n bytes of iov. */
static void advance(const struct iovec *iov, int iovcnt, int *i, size_t *off, size_t n)
{
	size_t left;

	for (; *i < iovcnt; (*i)++, *off = 0) {
		left = iov[*i].iov_len - *off;
		if (n < left) {
			*off += n;
			return;
		}
		n -= left;
	}
}

int stream__read_full(int fd, void *buf, size_t n, size_t *got)
{
	return stream__read_until(fd, buf, n, got, NULL);
}

static ssize_t write_vec(int fd, bool is_socket, struct iovec *iov, int cnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

	/* A peer that hangs up must give us EPIPE, not kill the process;
	 * and a send never blocks past the poll that said there was room. */
	if (is_socket)
		return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
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

int stream__readv_until(int fd, const struct iovec *iov, int iovcnt, size_t *got,
			const struct stream_wait *w)
{
	struct iovec slice[IOV_SLICE];
	size_t off = 0, done = 0;
	int i = 0, n, ret = 0;
	ssize_t r;

	while ((n = fill_slice(slice, iov, iovcnt, i, off)) > 0) {
		ret = stream__wait_ready(fd, POLLIN, w);
		if (ret)
			break;
		r = readv(fd, slice, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
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
		advance(iov, iovcnt, &i, &off, (size_t)r);
	}
	*got = done;
	return ret;
}

int stream__read_until(int fd, void *buf, size_t n, size_t *got,
		       const struct stream_wait *w)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };

	return stream__readv_until(fd, &iov, 1, got, w);
}

int stream__write_until(int fd, bool is_socket, const struct iovec *iov,
			int iovcnt, size_t *written, const struct stream_wait *w)
{
	struct iovec slice[IOV_SLICE];
	size_t off = 0, done = 0;
	int i = 0, n, ret = 0;
	ssize_t r;

	while ((n = fill_slice(slice, iov, iovcnt, i, off)) > 0) {
		ret = stream__wait_ready(fd, POLLOUT, w);
		if (ret)
			break;
		r = write_vec(fd, is_socket, slice, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)r;
		advance(iov, iovcnt, &i, &off, (size_t)r);
	}
	*written = done;
	return ret;
}

int stream__write_full(int fd, bool is_socket, const struct iovec *iov,
		       int iovcnt, size_t *written)
{
	return stream__write_until(fd, is_socket, iov, iovcnt, written, NULL);
}
