/* The two sides of the authentication exchange over a connection; the
 * messages themselves are built and checked in auth.c. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "errmsg.h"
#include "stream.h"

static int io_fail(int ret, const char *what, size_t got, size_t want, char *err,
		   size_t errlen)
{
	if (ret == -ENODATA)
		return errmsg__fail(ret, err, errlen, "the peer closed the connection in the "
				    "authentication, reading %s (got %zu of %zu bytes)", what, got,
				    want);
	if (ret == -ETIMEDOUT)
		return errmsg__fail(ret, err, errlen, "the peer sent nothing in time (authentication, "
				    "waiting for %s)", what);
	return errmsg__fail(ret, err, errlen, "authentication, %s: %s", what, strerror(-ret));
}

static int get(int fd, void *buf, size_t n, const char *what, const struct stream_wait *w,
	       char *err, size_t errlen)
{
	size_t got = 0;
	int ret = stream__read_until(fd, buf, n, &got, w);

	return ret ? io_fail(ret, what, got, n, err, errlen) : 0;
}

static int put(int fd, const void *buf, size_t n, const char *what,
	       const struct stream_wait *w, char *err, size_t errlen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	size_t done = 0;
	int ret = stream__write_until(fd, true, &iov, 1, &done, w);

	return ret ? io_fail(ret, what, done, n, err, errlen) : 0;
}

static int new_nonce(uint8_t nonce[AUTH_NONCE_LEN], char *err, size_t errlen)
{
	if (RAND_bytes(nonce, AUTH_NONCE_LEN) != 1)
		return errmsg__fail(-EIO, err, errlen, "authentication: no random bytes from "
				    "libcrypto");
	return 0;
}

/* The peer's HELLO or CHALLENGE, its magic read first so that a stream
 * preamble (a peer without a secret) is told apart from junk. */
static int get_hello(int fd, const char *what, uint8_t nonce[AUTH_NONCE_LEN],
		     const struct stream_wait *w, char *err, size_t errlen)
{
	uint8_t buf[AUTH_HELLO_LEN] = { 0 };
	int ret = get(fd, buf, AUTH_MAGIC_LEN, what, w, err, errlen);

	if (ret)
		return ret;
	if (!memcmp(buf, STREAM_MAGIC, STREAM_MAGIC_LEN))
		return -ENOPROTOOPT;
	if (!auth__is_hello(buf, AUTH_MAGIC_LEN))
		return auth__decode_hello(buf, nonce, err, errlen);
	ret = get(fd, buf + AUTH_MAGIC_LEN, AUTH_NONCE_LEN, what, w, err, errlen);
	return ret ? ret : auth__decode_hello(buf, nonce, err, errlen);
}

int auth__source(int fd, const struct auth_secret *s, const struct stream_wait *w,
		 char *err, size_t errlen)
{
	uint8_t ns[AUTH_NONCE_LEN], nd[AUTH_NONCE_LEN], msg[AUTH_HELLO_LEN];
	uint8_t mac[AUTH_MAC_LEN], verdict;
	int ret;

	ret = new_nonce(ns, err, errlen);
	if (ret)
		return ret;
	auth__encode_hello(msg, ns);
	ret = put(fd, msg, sizeof(msg), "HELLO", w, err, errlen);
	if (!ret)
		ret = get_hello(fd, "CHALLENGE", nd, w, err, errlen);
	if (ret == -ENOPROTOOPT)
		return errmsg__fail(ret, err, errlen, "the destination does not authenticate (it "
				    "was started without --secret-file)");
	if (ret)
		return ret;
	/* Our own nonce coming back is a peer replaying us to ourselves. */
	if (!CRYPTO_memcmp(ns, nd, AUTH_NONCE_LEN))
		return errmsg__fail(-EPROTO, err, errlen, "the destination's CHALLENGE repeats our "
				    "nonce");
	ret = auth__proof(s, AUTH_SOURCE, ns, nd, mac);
	if (ret)
		return errmsg__fail(ret, err, errlen, "authentication: HMAC failed in libcrypto");
	ret = put(fd, mac, sizeof(mac), "PROOF", w, err, errlen);
	if (!ret)
		ret = get(fd, &verdict, 1, "VERDICT", w, err, errlen);
	if (ret)
		return ret;
	if (verdict == AUTH_VERDICT_REFUSED)
		return errmsg__fail(-EACCES, err, errlen, "the destination refused our proof: the "
				    "two sides do not share the secret");
	if (verdict != AUTH_VERDICT_OK)
		return errmsg__fail(-EPROTO, err, errlen, "the destination's VERDICT is 0x%02x, "
				    "neither 0 nor 1", verdict);
	ret = get(fd, mac, sizeof(mac), "the destination's proof", w, err, errlen);
	if (!ret && auth__check_proof(s, AUTH_DEST, ns, nd, mac))
		ret = errmsg__fail(-EACCES, err, errlen, "the destination's proof is wrong: it "
				   "does not know the secret");
	return ret;
}

int auth__dest(int fd, const struct auth_secret *s, const struct stream_wait *w,
	       char *err, size_t errlen)
{
	uint8_t ns[AUTH_NONCE_LEN], nd[AUTH_NONCE_LEN], msg[AUTH_HELLO_LEN];
	uint8_t mac[AUTH_MAC_LEN], reply[1 + AUTH_MAC_LEN];
	int ret;

	ret = get_hello(fd, "HELLO", ns, w, err, errlen);
	if (ret == -ENOPROTOOPT)
		return errmsg__fail(ret, err, errlen, "the source did not authenticate (it has no "
				    "secret: give it --secret-file or the secret-file parameter)");
	if (!ret)
		ret = new_nonce(nd, err, errlen);
	if (ret)
		return ret;
	auth__encode_hello(msg, nd);
	ret = put(fd, msg, sizeof(msg), "CHALLENGE", w, err, errlen);
	if (!ret)
		ret = get(fd, mac, sizeof(mac), "PROOF", w, err, errlen);
	if (ret)
		return ret;
	/* Nothing of ours leaves before this check passes. */
	if (auth__check_proof(s, AUTH_SOURCE, ns, nd, mac)) {
		reply[0] = AUTH_VERDICT_REFUSED;
		put(fd, reply, 1, "VERDICT", w, NULL, 0);
		return errmsg__fail(-EACCES, err, errlen, "the source's proof is wrong: it does not "
				    "know the secret");
	}
	reply[0] = AUTH_VERDICT_OK;
	ret = auth__proof(s, AUTH_DEST, ns, nd, reply + 1);
	if (ret)
		return errmsg__fail(ret, err, errlen, "authentication: HMAC failed in libcrypto");
	return put(fd, reply, sizeof(reply), "VERDICT", w, err, errlen);
}
