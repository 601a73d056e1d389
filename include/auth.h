/* Who may send a VM: a mutual challenge-response on a shared secret, run
 * over a migration connection before the stream's first byte
 * (migrate/FORMAT.md, "Authentication"). HMAC-SHA256 and the random
 * nonces come from OpenSSL's libcrypto; nothing here is home-made crypto.
 *
 *   source                                  destination
 *   HELLO     magic, nonce_s        ->
 *             <-  CHALLENGE magic, nonce_d
 *   PROOF     HMAC(k, "source", nonce_s, nonce_d)    ->
 *             <-  VERDICT 0, HMAC(k, "destination", ...)   (or 1: refused)
 *
 * The destination proves nothing until the source has proved itself, and
 * the source sends nothing of the VM until the destination has. Each MAC
 * names its sender's role, so an answer reflected back to its sender
 * fails. The message builders and checkers are pure (no I/O, no state);
 * auth__source and auth__dest run one side over a socket.
 */
#ifndef VMM__AUTH_H
#define VMM__AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stream_wait;

#define AUTH_MAGIC		"LMAUTH\x01\x00"	/* 6 letters, version 1.0 */
#define AUTH_MAGIC_LEN		8
#define AUTH_NONCE_LEN		32
#define AUTH_MAC_LEN		32
#define AUTH_HELLO_LEN		(AUTH_MAGIC_LEN + AUTH_NONCE_LEN)	/* HELLO, CHALLENGE */
#define AUTH_VERDICT_OK		0x00
#define AUTH_VERDICT_REFUSED	0x01
/* Longest secret, in bytes (after a trailing newline is cut). */
#define AUTH_SECRET_MAX		4096

enum auth_role {
	AUTH_SOURCE,
	AUTH_DEST,
};

struct auth_secret {
	size_t len;			/* 0 = no secret */
	uint8_t key[AUTH_SECRET_MAX];
};

/* Reads a secret file: a regular file, not readable or writable by group
 * or others (refused as ssh refuses a private key, naming the mode), of
 * 1..AUTH_SECRET_MAX bytes once one trailing "\n" or "\r\n" is cut. The
 * bytes are the key as they are. -EPERM (mode), -EINVAL (empty, too long,
 * not a regular file) or the open/read error. */
int auth__load_secret(const char *path, struct auth_secret *s, char *err, size_t errlen);
/* Wipes the key (OPENSSL_cleanse). */
void auth__clear_secret(struct auth_secret *s);

/* --- the messages (pure) ---------------------------------------------- */

/* HELLO (source) and CHALLENGE (destination) share one layout: the magic,
 * then the sender's nonce. */
void auth__encode_hello(uint8_t out[AUTH_HELLO_LEN], const uint8_t nonce[AUTH_NONCE_LEN]);
/* -EPROTO when the magic is wrong (err says what arrived instead). */
int auth__decode_hello(const uint8_t in[AUTH_HELLO_LEN], uint8_t nonce[AUTH_NONCE_LEN],
		       char *err, size_t errlen);
/* HMAC-SHA256 keyed with the secret over the role's label, nonce_s and
 * nonce_d. 0 or -EIO (libcrypto failed). */
int auth__proof(const struct auth_secret *s, enum auth_role role,
		const uint8_t nonce_s[AUTH_NONCE_LEN], const uint8_t nonce_d[AUTH_NONCE_LEN],
		uint8_t mac[AUTH_MAC_LEN]);
/* Whether mac is role's proof over the nonces, compared in constant time:
 * 0, or -EACCES. */
int auth__check_proof(const struct auth_secret *s, enum auth_role role,
		      const uint8_t nonce_s[AUTH_NONCE_LEN],
		      const uint8_t nonce_d[AUTH_NONCE_LEN], const uint8_t mac[AUTH_MAC_LEN]);

/* --- one side over a connection --------------------------------------- */

/* The source's side on fd, each read and write bounded by w. 0 once the
 * destination has proved the secret. Otherwise err says why and the
 * result is -EACCES (refused, or the destination's proof is wrong),
 * -ENOPROTOOPT (the destination answered with a stream preamble: it has
 * no secret), -EPROTO (something else came back), or the I/O error
 * (-ENODATA: the connection closed, -ETIMEDOUT, -ECANCELED). */
int auth__source(int fd, const struct auth_secret *s, const struct stream_wait *w,
		 char *err, size_t errlen);
/* The destination's side. 0 once the source has proved the secret and
 * this side's proof went out. -EACCES (wrong proof; the source was told
 * so), -ENOPROTOOPT (the source sent a stream preamble: it has no
 * secret; nothing was written, so the caller may answer with a REFUSE),
 * -EPROTO (junk) or the I/O error. */
int auth__dest(int fd, const struct auth_secret *s, const struct stream_wait *w,
	       char *err, size_t errlen);

/* Whether p (n bytes, n >= AUTH_MAGIC_LEN) starts with HELLO's magic. */
bool auth__is_hello(const void *p, size_t n);

#endif
