/* The stream encrypted: `tls:HOST:PORT` runs TLS 1.3 (OpenSSL's libssl)
 * over the TCP connection, keyed by the shared secret (an external PSK,
 * so both sides prove they hold it and nothing else is needed: no
 * certificates) or by x509 certificates (tls_creds.h), and hands the
 * stream a plain socket.
 *
 * A tunnel, not a stream that calls SSL_read itself: the stream keeps its
 * one code path (sendmsg from guest memory, readv into it, deadlines,
 * cancel, MSG_PEEK) on one end of a socketpair; a thread of the tunnel's
 * own moves bytes between the other end and the TLS connection. That
 * costs a copy beside the encryption, which is measured (bench/tls_cost.py).
 *
 *   stream  <-- socketpair -->  tunnel thread  <-- TLS over TCP -->  peer
 *
 * Ending: closing (or shutting down) the stream's end makes the tunnel
 * send TLS close_notify and close the TCP connection; the peer closing
 * the TLS connection shows as end of file on the stream's end. A TLS
 * error (a forged or damaged record) ends both: the stream sees the
 * connection end, never a wrong byte.
 */
#ifndef VMM__TLS_TUNNEL_H
#define VMM__TLS_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_secret;
struct stream_wait;
struct tls_creds;

enum tls_role {
	TLS_CLIENT,	/* the migration source: it connected */
	TLS_SERVER,	/* the destination: it accepted */
};

/* libssl's one-time initialisation, done before the sandbox is installed
 * (it makes system calls the allow-list does not need otherwise). */
int tls_tunnel__init(char *err, size_t errlen);

/* The PSK is HKDF-SHA256 of the secret, so that the secret file's bytes
 * (any length, any content) become the 32-byte key TLS wants, and a key
 * here is never the one the challenge-response of auth.h uses. */
#define TLS_PSK_LEN 32
int tls_tunnel__derive_psk(const struct auth_secret *s, uint8_t psk[TLS_PSK_LEN]);

/* What keys a tunnel: x509 credentials when creds is set (tls_creds.h:
 * both ends present a certificate and verify the other's), else the
 * PSK derived from secret. */
struct tls_keys {
	const struct auth_secret *secret;
	const struct tls_creds *creds;
	/* TLS_CLIENT with creds: the name (DNS or IP address) the server's
	 * certificate must carry. */
	const char *peer_name;
};

/* Runs the handshake on tcp_fd (connected, any blocking mode) within w's
 * deadline and cancel descriptor, then starts the tunnel. Returns the
 * stream's end of the socketpair (to be closed by the caller when done),
 * or -errno with the reason in err: -ECANCELED, -ETIMEDOUT, -EACCES (the
 * handshake failed: another secret, a certificate refused by either end,
 * or a peer that does not speak tls:). With certificates, a client's
 * handshake ends only once the server has accepted the client's own
 * certificate (TLS 1.3 would let the client finish first). On success
 * the tunnel owns tcp_fd; on failure tcp_fd stays the caller's. */
int tls_tunnel__start(int tcp_fd, enum tls_role role, const struct tls_keys *keys,
		      const struct stream_wait *w, char *err, size_t errlen);

/* Tunnels running now (tests, and a clean exit's check). */
unsigned int tls_tunnel__running(void);
/* Waits up to ms for every tunnel to end (their streams closed, each
 * ends at once): an exit that goes on while one still runs races
 * OpenSSL's clean-up at exit with the tunnel's own. */
void tls_tunnel__wait_idle(unsigned int ms);

#endif
