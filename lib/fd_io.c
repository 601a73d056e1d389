#include "fd_io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The one loop: pread until len bytes or the end of the file, whose
 * count of bytes read comes back in *got. */
static int pread_upto(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = pread(fd, (char *)buf + *got, len - *got, (off_t)(off + *got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int fd__pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got;
	int ret = pread_upto(fd, buf, len, off, &got);

	return ret ? ret : got == len ? 0 : -EIO;
}

int fd__pread_zero_tail(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got;
	int ret = pread_upto(fd, buf, len, off, &got);

	if (!ret)
		memset((char *)buf + got, 0, len - got);
	return ret;
}

int fd__pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}
