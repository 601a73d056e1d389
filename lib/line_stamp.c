#include "line_stamp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "clock.h"

static uint64_t realtime_us(void)
{
	return clock__us(CLOCK_REALTIME);
}

void line_stamp__init(struct line_stamp *ls, int fd)
{
	ls->fd = fd;
	ls->mid_line = false;
	ls->now_us = realtime_us;
}

size_t line_stamp__format(uint64_t us, char buf[LINE_STAMP_MAX])
{
	int n = snprintf(buf, LINE_STAMP_MAX, "[%llu.%06llu] ",
			 (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));

	return n < 0 ? 0 : (size_t)n;
}

/* Writes every byte of the vector, resuming after short writes. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

ssize_t line_stamp__write(struct line_stamp *ls, const void *buf, size_t len)
{
	/* One stamp and one stretch of text per line: at most two entries a
	 * line; a buffer of many lines goes in batches. */
	enum { MAX_LINES = 16 };
	char stamps[MAX_LINES][LINE_STAMP_MAX];
	struct iovec iov[2 * MAX_LINES + 1];	/* + the rest of a line begun before */
	const char *p = buf, *end = p + len;
	bool mid = ls->mid_line;
	int ret;

	while (p < end) {
		int cnt = 0, lines = 0;

		while (p < end && lines < MAX_LINES) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl ? nl + 1 : end;

			if (!mid) {
				iov[cnt].iov_base = stamps[lines];
				iov[cnt++].iov_len = line_stamp__format(ls->now_us(), stamps[lines]);
				lines++;
			}
			iov[cnt].iov_base = (void *)p;
			iov[cnt++].iov_len = (size_t)(stop - p);
			mid = !nl;
			p = stop;
		}
		ret = write_all(ls->fd, iov, cnt);
		if (ret)
			return ret;
		ls->mid_line = mid;
	}
	return (ssize_t)len;
}
