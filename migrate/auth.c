#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "errmsg.h"
#include "stream.h"

/* The role each MAC is bound to: a proof made as one role is never
 * accepted as the other's. */
static const char label_source[] = "vmm-auth-1 source";
static const char label_dest[] = "vmm-auth-1 destination";

void auth__clear_secret(struct auth_secret *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

static int read_secret(int fd, const char *path, struct auth_secret *s, char *err,
		       size_t errlen)
{
	uint8_t buf[AUTH_SECRET_MAX + 3];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errmsg__fail(-errno, err, errlen, "reading %s: %s", path,
					    strerror(errno));
		if (!n || (len += (size_t)n) == sizeof(buf))
			break;
	}
	/* "echo secret > file" and "printf secret > file" must agree. */
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (!len || len > AUTH_SECRET_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return errmsg__fail(-EINVAL, err, errlen, "secret file %s is %s (1 to %d bytes)",
				    path, len ? "too long" : "empty", AUTH_SECRET_MAX);
	}
	memcpy(s->key, buf, len);
	s->len = len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int auth__load_secret(const char *path, struct auth_secret *s, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errmsg__fail(-errno, err, errlen, "cannot open secret file %s: %s", path,
				    strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ret = errmsg__fail(-EINVAL, err, errlen, "secret file %s: not a regular file", path);
	} else if (st.st_mode & 077) {
		/* As ssh with a private key: a secret others can read is no
		 * secret, and one others can write is not ours. */
		ret = errmsg__fail(-EPERM, err, errlen, "permissions 0%03o for secret file %s are "
				   "too open: it must not be accessible by group or others "
				   "(chmod 600 %s)", (unsigned int)(st.st_mode & 0777), path, path);
	} else {
		ret = read_secret(fd, path, s, err, errlen);
	}
	close(fd);
	return ret;
}

/* --- the messages ------------------------------------------------------- */

bool auth__is_hello(const void *p, size_t n)
{
	return n >= AUTH_MAGIC_LEN && !memcmp(p, AUTH_MAGIC, AUTH_MAGIC_LEN);
}

void auth__encode_hello(uint8_t out[AUTH_HELLO_LEN], const uint8_t nonce[AUTH_NONCE_LEN])
{
	memcpy(out, AUTH_MAGIC, AUTH_MAGIC_LEN);
	memcpy(out + AUTH_MAGIC_LEN, nonce, AUTH_NONCE_LEN);
}

int auth__decode_hello(const uint8_t in[AUTH_HELLO_LEN], uint8_t nonce[AUTH_NONCE_LEN],
		       char *err, size_t errlen)
{
	char seen[AUTH_MAGIC_LEN * 4 + 1];

	if (!auth__is_hello(in, AUTH_HELLO_LEN)) {
		/* A TLS record header (handshake, version 3.x): the peer
		 * migrates with tls: to a vmm listening on tcp:. */
		if (in[0] == 0x16 && in[1] == 0x03)
			return errmsg__fail(-EPROTO, err, errlen, "the peer speaks TLS (it "
					    "migrates with tls:) and this side uses tcp:");
		stream__escape(in, AUTH_MAGIC_LEN, seen, sizeof(seen));
		return errmsg__fail(-EPROTO, err, errlen, "not an authentication message "
				    "(starts \"%s\")", seen);
	}
	memcpy(nonce, in + AUTH_MAGIC_LEN, AUTH_NONCE_LEN);
	return 0;
}

int auth__proof(const struct auth_secret *s, enum auth_role role,
		const uint8_t nonce_s[AUTH_NONCE_LEN], const uint8_t nonce_d[AUTH_NONCE_LEN],
		uint8_t mac[AUTH_MAC_LEN])
{
	const char *label = role == AUTH_SOURCE ? label_source : label_dest;
	uint8_t msg[sizeof(label_dest) + 2 * AUTH_NONCE_LEN];
	size_t llen = strlen(label);
	unsigned int maclen = 0;

	memcpy(msg, label, llen);
	memcpy(msg + llen, nonce_s, AUTH_NONCE_LEN);
	memcpy(msg + llen + AUTH_NONCE_LEN, nonce_d, AUTH_NONCE_LEN);
	if (!s->len || !HMAC(EVP_sha256(), s->key, (int)s->len, msg, llen + 2 * AUTH_NONCE_LEN,
			     mac, &maclen) || maclen != AUTH_MAC_LEN)
		return -EIO;
	return 0;
}

int auth__check_proof(const struct auth_secret *s, enum auth_role role,
		      const uint8_t nonce_s[AUTH_NONCE_LEN],
		      const uint8_t nonce_d[AUTH_NONCE_LEN], const uint8_t mac[AUTH_MAC_LEN])
{
	uint8_t want[AUTH_MAC_LEN];
	int ret = auth__proof(s, role, nonce_s, nonce_d, want);

	if (!ret && CRYPTO_memcmp(want, mac, AUTH_MAC_LEN))
		ret = -EACCES;
	OPENSSL_cleanse(want, sizeof(want));
	return ret;
}
