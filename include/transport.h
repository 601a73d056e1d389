/* Where a migration stream goes: "tcp:HOST:PORT" (HOST 0 = every address on
 * the listening side) or "file:PATH". Both end up as a blocking fd. */
#ifndef VMM__TRANSPORT_H
#define VMM__TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

enum transport_kind {
	TRANSPORT_TCP,
	TRANSPORT_FILE,
};

struct migrate_uri {
	enum transport_kind kind;
	char host[256];
	uint16_t port;
	char path[1024];
};

int transport__parse_uri(const char *uri, struct migrate_uri *u, char *err, size_t errlen);
/* Source side. TCP: connects within timeout_ms. File: creates PATH.partial
 * (renamed over PATH by transport__commit_file once the stream is whole, so
 * a failed save never replaces a good file). Returns an fd or -errno. */
int transport__open_source(const struct migrate_uri *u, int timeout_ms, char *err, size_t errlen);
int transport__commit_file(const struct migrate_uri *u, int fd, char *err, size_t errlen);
void transport__discard_file(const struct migrate_uri *u);
/* Destination side. TCP: a listening socket; file: the file opened for
 * reading. Returns an fd or -errno. */
int transport__open_dest(const struct migrate_uri *u, char *err, size_t errlen);
/* Waits for one connection; peer receives "ADDR:PORT". */
int transport__accept(int listen_fd, char *peer, size_t peerlen, char *err, size_t errlen);
/* Send and receive timeouts on a socket, so a peer that stops answering
 * ends the migration instead of hanging it. */
int transport__set_timeout(int fd, int ms);

#endif
