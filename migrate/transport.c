#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parse.h"

int transport__parse_uri(const char *uri, struct migrate_uri *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (!strncmp(uri, "tcp:", 4) || !strncmp(uri, "tls:", 4)) {
		u->kind = TRANSPORT_TCP;
		u->tls = uri[1] == 'l';
		if (parse__host_port(uri + 4, u->host, sizeof(u->host), &u->port)) {
			snprintf(err, errlen, "bad address '%s': use %.3s:HOST:PORT (port 1-65535)",
				 uri, uri);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(uri, "file:", 5)) {
		u->kind = TRANSPORT_FILE;
		if (!uri[5] || strlen(uri + 5) >= sizeof(u->path) - sizeof(".partial")) {
			snprintf(err, errlen, "bad file '%s': use file:PATH", uri);
			return -EINVAL;
		}
		strcpy(u->path, uri + 5);
		return 0;
	}
	snprintf(err, errlen, "unknown transport in '%s': use tcp:HOST:PORT, tls:HOST:PORT or "
		 "file:PATH", uri);
	return -EINVAL;
}

static int connect_timeout(int fd, const struct addrinfo *ai, int timeout_ms, int cancel_fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLOUT },
			       { .fd = cancel_fd, .events = POLLIN } };
	int flags = fcntl(fd, F_GETFL), soerr = 0;
	socklen_t len = sizeof(soerr);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
		goto done;
	if (errno != EINPROGRESS)
		return -errno;
	if (poll(p, cancel_fd >= 0 ? 2 : 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	if (cancel_fd >= 0 && p[1].revents)
		return -ECANCELED;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr)
		return soerr ? -soerr : -errno;
done:
	fcntl(fd, F_SETFL, flags);
	return 0;
}

static int tcp_connect(const struct migrate_uri *u, int timeout_ms, int cancel_fd, char *err,
		       size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int fd = -1, ret = -EHOSTUNREACH, one = 1;

	snprintf(port, sizeof(port), "%u", u->port);
	ret = getaddrinfo(u->host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		ret = connect_timeout(fd, ai, timeout_ms, cancel_fd);
		if (!ret)
			break;
		if (ret == -ECANCELED) {
			close(fd);
			fd = -1;
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s:%u: %s", u->host, u->port, strerror(-ret));
		return ret;
	}
	/* The return path's small replies must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void transport__partial_path(const struct migrate_uri *u, char *buf, size_t len)
{
	snprintf(buf, len, "%s.partial", u->path);
}

int transport__open_source(const struct migrate_uri *u, int timeout_ms, int cancel_fd,
			   char *err, size_t errlen)
{
	char tmp[sizeof(u->path) + 16];
	int fd;

	if (u->kind == TRANSPORT_TCP)
		return tcp_connect(u, timeout_ms, cancel_fd, err, errlen);
	transport__partial_path(u, tmp, sizeof(tmp));
	/* Non-blocking: a FIFO in the way must neither block the open (no
	 * reader: ENXIO) nor a write (a reader that stops reading: the
	 * stream's poll waits, cancellable). A regular file ignores it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0 && errno == ENXIO) {
		snprintf(err, errlen, "cannot write %s: a FIFO with no reader", tmp);
		return -ENXIO;
	}
	if (fd < 0) {
		fd = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
	}
	return fd;
}

int transport__commit_file(const struct migrate_uri *u, int fd, char *err, size_t errlen)
{
	char tmp[sizeof(u->path) + 16];

	transport__partial_path(u, tmp, sizeof(tmp));
	/* The rename must not reach the disk before the data does. */
	if (fsync(fd) || rename(tmp, u->path)) {
		snprintf(err, errlen, "saving %s: %s", u->path, strerror(errno));
		return -errno;
	}
	return 0;
}

void transport__discard_file(const struct migrate_uri *u)
{
	char tmp[sizeof(u->path) + 16];

	transport__partial_path(u, tmp, sizeof(tmp));
	unlink(tmp);
}

static int tcp_listen(const struct migrate_uri *u, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	char port[8];
	int fd, ret, one = 1;

	snprintf(port, sizeof(port), "%u", u->port);
	ret = getaddrinfo(u->host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s:%u: %s", u->host, u->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = ret;
	}
	freeaddrinfo(res);
	return fd;
}

int transport__open_dest(const struct migrate_uri *u, char *err, size_t errlen)
{
	int fd;

	if (u->kind == TRANSPORT_TCP)
		return tcp_listen(u, err, errlen);
	fd = open(u->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		snprintf(err, errlen, "cannot open %s: %s", u->path, strerror(errno));
	}
	return fd;
}

int transport__accept(int listen_fd, char *host, size_t hostlen, uint16_t *port,
		      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[INET6_ADDRSTRLEN] = "?";
	int fd, one = 1;

	do {
		fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		snprintf(err, errlen, "accept: %s", strerror(errno));
		return -errno;
	}
	*port = 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
		*port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
		*port = ntohs(in6->sin6_port);
	}
	snprintf(host, hostlen, "%s", buf);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static bool to_binary(const char *s, unsigned char out[16], int *family)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

bool transport__is_addr(const char *s)
{
	unsigned char b[16];
	int f;

	return to_binary(s, b, &f);
}

bool transport__same_addr(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fx, fy;

	return to_binary(a, x, &fx) && to_binary(b, y, &fy) && fx == fy && !memcmp(x, y, 16);
}

bool transport__is_loopback(const char *host)
{
	unsigned char b[16];
	int f;

	if (!strcmp(host, "localhost"))
		return true;
	if (!to_binary(host, b, &f))
		return false;
	if (f == AF_INET)
		return b[0] == 127;
	return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)b) ||
	       (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)b) && b[12] == 127);
}

int64_t transport__queued_bytes(int fd)
{
	int n = 0;

	if (ioctl(fd, SIOCOUTQ, &n))
		return -errno;
	return n < 0 ? 0 : n;
}
