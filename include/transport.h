/* Where a migration stream goes: "tcp:HOST:PORT" (HOST 0 = every address on
 * the listening side), "tls:HOST:PORT" (the same, encrypted: tls_tunnel.h)
 * or "file:PATH". Both end up as an fd the stream
 * waits on with poll (a file target non-blocking, so that a FIFO there
 * cannot hang it). */
#ifndef VMM__TRANSPORT_H
#define VMM__TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum transport_kind {
	TRANSPORT_TCP,
	TRANSPORT_FILE,
};

struct migrate_uri {
	enum transport_kind kind;
	bool tls;			/* tls:, a TCP connection run through TLS */
	char host[256];
	uint16_t port;
	char path[1024];
};

int transport__parse_uri(const char *uri, struct migrate_uri *u, char *err, size_t errlen);
/* Source side. TCP: connects within timeout_ms, or -ECANCELED as soon as
 * cancel_fd (-1: none) becomes readable. File: creates PATH.partial
 * non-blocking (renamed over PATH by transport__commit_file once the
 * stream is whole, so a failed save never replaces a good file; a FIFO
 * there without a reader is -ENXIO, never a hang). Returns an fd or
 * -errno. */
int transport__open_source(const struct migrate_uri *u, int timeout_ms, int cancel_fd,
			   char *err, size_t errlen);
int transport__commit_file(const struct migrate_uri *u, int fd, char *err, size_t errlen);
void transport__discard_file(const struct migrate_uri *u);
/* "PATH.partial", where a save is written until it is complete. */
void transport__partial_path(const struct migrate_uri *u, char *buf, size_t len);
/* Destination side. TCP: a listening socket; file: the file opened for
 * reading. Returns an fd or -errno. */
int transport__open_dest(const struct migrate_uri *u, char *err, size_t errlen);
/* Waits for one connection; host receives the peer's numeric address
 * (an IPv4-mapped IPv6 address as plain IPv4) and port its port. */
int transport__accept(int listen_fd, char *host, size_t hostlen, uint16_t *port,
		      char *err, size_t errlen);
/* Whether two numeric addresses are the same (IPv4 or IPv6, any spelling). */
bool transport__same_addr(const char *a, const char *b);
/* Whether host names only this machine: localhost, 127.0.0.0/8, ::1 (or
 * ::ffff:127.x). "0", "" and every other name or address are not. */
bool transport__is_loopback(const char *host);
/* Whether s is a numeric IPv4 or IPv6 address. */
bool transport__is_addr(const char *s);
/* Bytes written to a connected stream socket that the peer has not yet
 * taken: for TCP, not yet sent or sent and not yet acknowledged
 * (SIOCOUTQ); for a Unix socket, not yet read. -errno for anything else
 * (-ENOTTY, -EINVAL for a file). */
int64_t transport__queued_bytes(int fd);

#endif
