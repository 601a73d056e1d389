#include "tls_tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "auth.h"
#include "errmsg.h"
#include "log.h"
#include "stream.h"
#include "tls_creds.h"

/* What the client names its key by; the server knows only this one. */
#define PSK_IDENTITY "vmm-migration-psk-1"
/* TLS_AES_128_GCM_SHA256: every TLS 1.3 stack has it, AES-NI runs it at
 * several GB/s, and the PSK's hash (SHA-256) must match the suite's. */
static const unsigned char suite_id[2] = { 0x13, 0x01 };
#define SUITE_NAME "TLS_AES_128_GCM_SHA256"
/* One TLS record's worth of plaintext each way. */
#define CHUNK (16 * 1024)

static unsigned int running;	/* atomic */

/* The tunnel's state, SSL's app data from the start (the handshake's
 * callbacks find the PSK and note the server's ticket there). */
struct tunnel {
	SSL *ssl;
	int tcp_fd;
	int plain_fd;			/* the tunnel's end of the socketpair */
	uint8_t psk[TLS_PSK_LEN];
	bool x509;			/* keyed by certificates, not the PSK */
	bool ticket_seen;		/* x509 client: the server accepted us */
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
	const struct tunnel *t = SSL_get_app_data(ssl);
	const uint8_t *psk = t->psk;
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

/* OpenSSL's queued reason, or what the system call said. In a handshake
 * with certificates (hs given, hs->x509) a certificate that failed this
 * side's check is named with X509's reason ("certificate has expired",
 * "hostname mismatch", ...), and an alert is the peer's verdict on this
 * side's certificate. */
static void ssl_reason(const struct tunnel *hs, int ssl_err, char *buf, size_t len)
{
	bool x509 = hs && hs->x509;
	unsigned long e = ERR_peek_last_error();
	long v = x509 ? SSL_get_verify_result(hs->ssl) : X509_V_OK;
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (x509 && r && strstr(r, " alert "))
		snprintf(buf, len, "the peer sent %s: it refused this side's certificate or "
			 "key", r);
	else if (r)
		snprintf(buf, len, "%s", r);
	else if (e)
		ERR_error_string_n(e, buf, len);
	else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "the peer closed the connection");
	else
		snprintf(buf, len, "TLS error %d", ssl_err);
	ERR_clear_error();
}

/* A client with certificates learns that the server took its certificate
 * from the one session ticket the server sends once it has (TLS 1.3 lets
 * the client's handshake end before). The ticket itself is not kept. */
static int ticket_seen(SSL *ssl, SSL_SESSION *sess)
{
	struct tunnel *t = SSL_get_app_data(ssl);

	t->ticket_seen = true;
	return 0;	/* not kept: the session is freed */
}

static int set_peer_name(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	if (!name || !*name)
		return 0;
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (tls_creds__name_is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name);
	return X509_VERIFY_PARAM_set1_host(vp, name, 0);
}

static int x509_ctx(SSL_CTX *ctx, enum tls_role role, const struct tls_creds *creds)
{
	if (tls_creds__use(creds, role, ctx))
		return 0;
	/* The chain is what the certificate file holds after this side's
	 * own, never the CA from the store: a peer must trust the CA
	 * itself, not take it from us. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (role == TLS_SERVER ?
			   SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	if (role == TLS_SERVER)
		return SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, ticket_seen);
	return 1;
}

static SSL *new_ssl(enum tls_role role, struct tunnel *t, const struct tls_keys *keys, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(role == TLS_CLIENT ? TLS_client_method() : TLS_server_method());
	SSL *ssl = NULL;
	int ok;

	if (!ctx)
		return NULL;
	/* TLS 1.3 only, the one suite, PSK with (EC)DHE: forward secrecy
	 * for the guest's memory even if the secret leaks later. */
	ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
	     SSL_CTX_set_ciphersuites(ctx, SUITE_NAME) && SSL_CTX_set_num_tickets(ctx, 0);
	if (ok && t->x509) {
		ok = x509_ctx(ctx, role, keys->creds);
	} else if (ok) {
		/* A PSK handshake shows no certificate; a server that skips
		 * the PSK and shows one instead is checked against a store
		 * with no CA in it, so it fails. */
		if (role == TLS_CLIENT) {
			SSL_CTX_set_psk_use_session_callback(ctx, client_psk);
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		} else {
			SSL_CTX_set_psk_find_session_callback(ctx, server_psk);
		}
	}
	if (ok) {
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		ssl = SSL_new(ctx);
	}
	SSL_CTX_free(ctx);	/* the SSL holds its own reference */
	if (ssl && (!SSL_set_fd(ssl, fd) || !SSL_set_app_data(ssl, t) ||
		    (t->x509 && role == TLS_CLIENT && !set_peer_name(ssl, keys->peer_name)))) {
		SSL_free(ssl);
		ssl = NULL;
	}
	ERR_clear_error();
	return ssl;
}

/* One step of the handshake: 1 done, 0 go on, or -errno. */
static int handshake_step(struct tunnel *t, enum tls_role role, int r,
			  const struct stream_wait *w, char *err, size_t errlen)
{
	char why[256];
	int e = SSL_get_error(t->ssl, r), ret;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ret = stream__wait_ready(t->tcp_fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, w);
		if (ret == -ECANCELED)
			return errmsg__fail(ret, err, errlen, "cancelled during the TLS handshake");
		if (ret)
			return errmsg__fail(ret, err, errlen, "TLS handshake: %s", strerror(-ret));
		return 0;
	}
	ssl_reason(t, e, why, sizeof(why));
	if (t->x509)
		return errmsg__fail(-EACCES, err, errlen, "TLS handshake failed (%s)", why);
	return errmsg__fail(-EACCES, err, errlen, "TLS handshake failed (%s): the "
			    "peer holds another secret, or does not speak tls:", why);
}

static int handshake(struct tunnel *t, enum tls_role role, const struct stream_wait *w,
		     char *err, size_t errlen)
{
	uint8_t b;
	int r, ret;

	for (;;) {
		r = role == TLS_CLIENT ? SSL_connect(t->ssl) : SSL_accept(t->ssl);
		if (r == 1)
			break;
		ret = handshake_step(t, role, r, w, err, errlen);
		if (ret)
			return ret;
	}
	/* With certificates the client waits for the server's ticket (or
	 * its refusal); the peek leaves any data for the stream. */
	while (t->x509 && role == TLS_CLIENT && !t->ticket_seen) {
		r = SSL_peek(t->ssl, &b, 1);
		if (r > 0 || t->ticket_seen)
			break;
		ret = handshake_step(t, role, r, w, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- the tunnel thread -------------------------------------------------- */


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

				ssl_reason(NULL, e, why, sizeof(why));
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
	/* OpenSSL's per-thread state (its error queue) goes now, while the
	 * library is whole: at exit OPENSSL_cleanup removes the key whose
	 * destructor would free it, and a thread ending after that leaks it. */
	OPENSSL_thread_stop();
	__atomic_fetch_sub(&running, 1, __ATOMIC_RELEASE);
	return NULL;
}

void tls_tunnel__wait_idle(unsigned int ms)
{
	struct timespec tick = { .tv_nsec = 1000000 };

	while (tls_tunnel__running() && ms--)
		nanosleep(&tick, NULL);
}

int tls_tunnel__start(int tcp_fd, enum tls_role role, const struct tls_keys *keys,
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
	t->x509 = keys->creds != NULL;
	if (t->x509 && !tls_creds__has(keys->creds, role)) {
		ret = errmsg__fail(-EINVAL, err, errlen, "tls-creds: no %s certificate and key in "
				   "the directory", role == TLS_CLIENT ? "client" : "server");
		goto fail;
	}
	if (!t->x509 && (!keys->secret || !keys->secret->len)) {
		ret = errmsg__fail(-EINVAL, err, errlen, "tls: needs a secret (--secret-file, or "
				   "the secret-file parameter) or certificates (--tls-creds, or the "
				   "tls-creds parameter): it is the TLS key");
		goto fail;
	}
	if (!t->x509 && tls_tunnel__derive_psk(keys->secret, t->psk)) {
		ret = errmsg__fail(-EIO, err, errlen, "deriving the TLS key failed");
		goto fail;
	}
	flags = fcntl(tcp_fd, F_GETFL);
	if (flags < 0 || fcntl(tcp_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = errmsg__fail(-errno, err, errlen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	t->ssl = new_ssl(role, t, keys, tcp_fd);
	if (!t->ssl) {
		ret = errmsg__fail(-ENOMEM, err, errlen, "cannot set up TLS");
		goto fail;
	}
	t->tcp_fd = tcp_fd;	/* still the caller's on failure */
	ret = handshake(t, role, w, err, errlen);
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
