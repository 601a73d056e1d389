#include "tls_tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "auth.h"
#include "errmsg.h"
#include "log.h"
#include "stream.h"

/* What the client names its key by; the server knows only this one. */
#define PSK_IDENTITY "vmm-migration-psk-1"
/* TLS_AES_128_GCM_SHA256: every TLS 1.3 stack has it, AES-NI runs it at
 * several GB/s, and the PSK's hash (SHA-256) must match the suite's. */
static const unsigned char suite_id[2] = { 0x13, 0x01 };
#define SUITE_NAME "TLS_AES_128_GCM_SHA256"
/* One TLS record's worth of plaintext each way. */
#define CHUNK (16 * 1024)

static unsigned int running;	/* atomic */

unsigned int tls_tunnel__running(void)
{
	return __atomic_load_n(&running, __ATOMIC_ACQUIRE);
}

int tls_tunnel__init(char *err, size_t errlen)
{
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
			     NULL) != 1)
		return errmsg__fail(-EIO, err, errlen, "OpenSSL's libssl failed to initialise");
	return 0;
}

int tls_tunnel__derive_psk(const struct auth_secret *s, uint8_t psk[TLS_PSK_LEN])
{
	static const char info[] = "vmm tls psk";
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int ret = -EIO;

	EVP_KDF_free(kdf);
	if (!ctx || !s->len)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)s->key, s->len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						      sizeof(info) - 1);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, psk, TLS_PSK_LEN, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(ctx);
	return ret;
}

/* --- the PSK, as a TLS 1.3 session both sides build alike -------------- */

static SSL_SESSION *psk_session(SSL *ssl)
{
	const uint8_t *psk = SSL_get_app_data(ssl);
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, suite_id);
	SSL_SESSION *sess = SSL_SESSION_new();

	if (!sess || !cipher || !SSL_SESSION_set1_master_key(sess, psk, TLS_PSK_LEN) ||
	    !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

static int client_psk(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		      SSL_SESSION **sess)
{
	/* A second call names the hash the server chose; ours is SHA-256. */
	if (md && md != EVP_sha256()) {
		*sess = NULL;
		return 1;
	}
	*sess = psk_session(ssl);
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = sizeof(PSK_IDENTITY) - 1;
	return *sess != NULL;
}

static int server_psk(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	*sess = NULL;
	if (idlen != sizeof(PSK_IDENTITY) - 1 || memcmp(id, PSK_IDENTITY, idlen))
		return 1;	/* unknown identity: the handshake fails */
	*sess = psk_session(ssl);
	return *sess != NULL;
}

/* --- the handshake ------------------------------------------------------ */

/* OpenSSL's queued reason, or what the system call said. */
static void ssl_reason(int ssl_err, char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "the peer closed the connection");
	else
		snprintf(buf, len, "TLS error %d", ssl_err);
	ERR_clear_error();
}

static SSL *new_ssl(enum tls_role role, uint8_t *psk, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(role == TLS_CLIENT ? TLS_client_method() : TLS_server_method());
	SSL *ssl = NULL;

	if (!ctx)
		return NULL;
	/* TLS 1.3 only, the one suite, PSK with (EC)DHE: forward secrecy
	 * for the guest's memory even if the secret leaks later. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
	    SSL_CTX_set_ciphersuites(ctx, SUITE_NAME) &&
	    SSL_CTX_set_num_tickets(ctx, 0)) {
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (role == TLS_CLIENT)
			SSL_CTX_set_psk_use_session_callback(ctx, client_psk);
		else
			SSL_CTX_set_psk_find_session_callback(ctx, server_psk);
		ssl = SSL_new(ctx);
	}
	SSL_CTX_free(ctx);	/* the SSL holds its own reference */
	if (ssl && (!SSL_set_fd(ssl, fd) || !SSL_set_app_data(ssl, psk))) {
		SSL_free(ssl);
		ssl = NULL;
	}
	return ssl;
}

static int handshake(SSL *ssl, enum tls_role role, int fd, const struct stream_wait *w,
		     char *err, size_t errlen)
{
	char why[256];
	int r, e, ret;

	for (;;) {
		r = role == TLS_CLIENT ? SSL_connect(ssl) : SSL_accept(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			ret = stream__wait_ready(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, w);
			if (ret == -ECANCELED)
				return errmsg__fail(ret, err, errlen, "cancelled during the TLS handshake");
			if (ret)
				return errmsg__fail(ret, err, errlen, "TLS handshake: %s", strerror(-ret));
			continue;
		}
		ssl_reason(e, why, sizeof(why));
		return errmsg__fail(-EACCES, err, errlen, "TLS handshake failed (%s): the peer "
				    "holds another secret, or does not speak tls:", why);
	}
}

/* --- the tunnel thread -------------------------------------------------- */

struct tunnel {
	SSL *ssl;
	int tcp_fd;
	int plain_fd;			/* the tunnel's end of the socketpair */
	uint8_t psk[TLS_PSK_LEN];	/* SSL's app data: freed with the tunnel */
	uint8_t up[CHUNK];		/* from the stream, to TLS */
	size_t up_off, up_len;
	uint8_t down[CHUNK];		/* from TLS, to the stream */
	size_t down_off, down_len;
	bool plain_eof;			/* the stream will send no more */
	bool tls_eof;			/* the peer will send no more */
	bool close_sent;
	bool plain_shut;
	bool tls_wants_write;		/* the last TLS call needs POLLOUT */
};

static void free_tunnel(struct tunnel *t)
{
	if (t->ssl)
		SSL_free(t->ssl);
	if (t->tcp_fd >= 0)
		close(t->tcp_fd);
	if (t->plain_fd >= 0)
		close(t->plain_fd);
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	free(t);
}

/* Each step returns 1 when it moved something, 0 when it must wait, -1
 * when the tunnel is over. */
static int stream_to_tls(struct tunnel *t)
{
	ssize_t n;
	int r, e;

	if (!t->up_len && !t->plain_eof) {
		n = read(t->plain_fd, t->up, sizeof(t->up));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0) {
			t->plain_eof = true;
			return 1;
		}
		t->up_off = 0;
		t->up_len = (size_t)n;
	}
	if (!t->up_len) {
		if (t->plain_eof && !t->close_sent) {
			t->close_sent = true;
			SSL_shutdown(t->ssl);	/* close_notify; no need to wait */
			return 1;
		}
		return 0;
	}
	r = SSL_write(t->ssl, t->up + t->up_off, (int)(t->up_len - t->up_off));
	if (r > 0) {
		t->up_off += (size_t)r;
		if (t->up_off == t->up_len)
			t->up_len = 0;
		return 1;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		t->tls_wants_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	return -1;
}

static int tls_to_stream(struct tunnel *t)
{
	ssize_t n;
	int r, e;

	if (!t->down_len && !t->tls_eof) {
		r = SSL_read(t->ssl, t->down, sizeof(t->down));
		if (r > 0) {
			t->down_off = 0;
			t->down_len = (size_t)r;
		} else {
			e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return 0;
			if (e == SSL_ERROR_WANT_WRITE) {
				t->tls_wants_write = true;
				return 0;
			}
			/* close_notify, or the connection ended: either way
			 * nothing more comes. A damaged record is an error:
			 * the stream sees the end, never its bytes. */
			if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL) {
				char why[256];

				ssl_reason(e, why, sizeof(why));
				log_error("tls: a record from the peer failed its check (%s): the "
					  "connection ends here, nothing of it was used", why);
				return -1;
			}
			t->tls_eof = true;
			return 1;
		}
	}
	if (!t->down_len) {
		if (t->tls_eof && !t->plain_shut) {
			t->plain_shut = true;
			shutdown(t->plain_fd, SHUT_WR);
			return 1;
		}
		return 0;
	}
	n = write(t->plain_fd, t->down + t->down_off, t->down_len - t->down_off);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	t->down_off += (size_t)n;
	if (t->down_off == t->down_len)
		t->down_len = 0;
	return 1;
}

static void *tunnel_thread(void *arg)
{
	struct tunnel *t = arg;
	struct pollfd p[2];
	int a, b;

	pthread_setname_np(pthread_self(), "tls-tunnel");
	for (;;) {
		t->tls_wants_write = false;
		a = stream_to_tls(t);
		b = tls_to_stream(t);
		if (a < 0 || b < 0)
			break;
		/* Both ways done and flushed. */
		if (t->plain_eof && t->close_sent && t->tls_eof && !t->down_len)
			break;
		if (a > 0 || b > 0 || (!t->down_len && SSL_has_pending(t->ssl)))
			continue;
		p[0] = (struct pollfd){ .fd = t->plain_fd,
			.events = (short)((!t->plain_eof && !t->up_len ? POLLIN : 0) |
					  (t->down_len ? POLLOUT : 0)) };
		p[1] = (struct pollfd){ .fd = t->tcp_fd,
			.events = (short)((!t->tls_eof ? POLLIN : 0) |
					  (t->tls_wants_write ? POLLOUT : 0)) };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		/* The stream closed its end and all it wrote has gone out:
		 * nobody is left to read, and the peer learns of the end
		 * from close_notify and the TCP connection closing. (Until
		 * then a hang-up still leaves bytes to read: read on.) */
		if ((p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && t->plain_eof &&
		    t->close_sent && !t->up_len)
			break;
		if (p[0].revents & POLLNVAL)
			break;
	}
	free_tunnel(t);
	__atomic_fetch_sub(&running, 1, __ATOMIC_RELEASE);
	return NULL;
}

int tls_tunnel__start(int tcp_fd, enum tls_role role, const struct auth_secret *secret,
		      const struct stream_wait *w, char *err, size_t errlen)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	int sv[2] = { -1, -1 }, flags, ret;
	pthread_attr_t attr;
	pthread_t th;

	if (!t)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	t->tcp_fd = -1;
	t->plain_fd = -1;
	if (!secret || !secret->len) {
		ret = errmsg__fail(-EINVAL, err, errlen, "tls: needs a secret (--secret-file, or "
				   "the secret-file parameter): it is the TLS key");
		goto fail;
	}
	if (tls_tunnel__derive_psk(secret, t->psk)) {
		ret = errmsg__fail(-EIO, err, errlen, "deriving the TLS key failed");
		goto fail;
	}
	flags = fcntl(tcp_fd, F_GETFL);
	if (flags < 0 || fcntl(tcp_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = errmsg__fail(-errno, err, errlen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	t->ssl = new_ssl(role, t->psk, tcp_fd);
	if (!t->ssl) {
		ret = errmsg__fail(-ENOMEM, err, errlen, "cannot set up TLS");
		goto fail;
	}
	ret = handshake(t->ssl, role, tcp_fd, w, err, errlen);
	if (ret)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		ret = errmsg__fail(-errno, err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0) {
		ret = errmsg__fail(-errno, err, errlen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	t->plain_fd = sv[1];
	t->tcp_fd = tcp_fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	__atomic_fetch_add(&running, 1, __ATOMIC_RELEASE);
	ret = -pthread_create(&th, &attr, tunnel_thread, t);
	pthread_attr_destroy(&attr);
	if (ret) {
		__atomic_fetch_sub(&running, 1, __ATOMIC_RELEASE);
		t->tcp_fd = -1;		/* still the caller's */
		errmsg__fail(ret, err, errlen, "cannot start the TLS tunnel: %s", strerror(-ret));
		goto fail;
	}
	return sv[0];
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (t->plain_fd < 0 && sv[1] >= 0)
		close(sv[1]);
	t->tcp_fd = -1;
	free_tunnel(t);
	return ret;
}
