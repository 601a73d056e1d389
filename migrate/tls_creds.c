#include "tls_creds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "errmsg.h"
#include "log.h"

/* One side's identity: its certificate, the chain after it, its key. */
struct tls_identity {
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

struct tls_creds {
	STACK_OF(X509) *cas;
	struct tls_identity id[2];	/* by enum tls_role */
};

static const char *const cert_name[2] = {
	[TLS_CLIENT] = "client-cert.pem", [TLS_SERVER] = "server-cert.pem",
};
static const char *const key_name[2] = {
	[TLS_CLIENT] = "client-key.pem", [TLS_SERVER] = "server-key.pem",
};

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	size_t n = strlen(dir);

	snprintf(buf, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* The whole file, into a memory BIO (it is parsed from memory). */
static BIO *read_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	BIO *bio = NULL;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		errmsg__set(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > TLS_CREDS_FILE_MAX) {
		errmsg__set(err, errlen, "%s: not a regular file of at most %u bytes", path,
			    TLS_CREDS_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		errmsg__set(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errmsg__set(err, errlen, "%s: %s", path, n ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || BIO_write(bio, buf, (int)got) != (int)got) {
		BIO_free(bio);
		bio = NULL;
		errmsg__set(err, errlen, "out of memory");
	}
out:
	if (buf)
		OPENSSL_cleanse(buf, got);	/* it may be a key */
	free(buf);
	close(fd);
	return bio;
}

/* Every certificate of a PEM file, in order; none is an error. */
static STACK_OF(X509) *read_certs(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	BIO *bio = read_file(path, err, errlen);
	X509 *x;

	if (!bio)
		return NULL;
	certs = sk_X509_new_null();
	while (certs && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			break;
		}
	ERR_clear_error();	/* the end of the file reads as an error */
	BIO_free(bio);
	if (!certs || !sk_X509_num(certs)) {
		sk_X509_free(certs);
		errmsg__set(err, errlen, "%s: no PEM certificate in it", path);
		return NULL;
	}
	return certs;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
	BIO *bio = read_file(path, err, errlen);
	EVP_PKEY *key;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	ERR_clear_error();
	BIO_free(bio);
	if (!key)
		errmsg__set(err, errlen, "%s: not a PEM private key (or one with a passphrase, "
			    "which vmm cannot ask for)", path);
	return key;
}

static void free_identity(struct tls_identity *id)
{
	X509_free(id->cert);
	sk_X509_pop_free(id->chain, X509_free);
	EVP_PKEY_free(id->key);
	memset(id, 0, sizeof(*id));
}

void tls_creds__free(struct tls_creds *c)
{
	if (!c)
		return;
	sk_X509_pop_free(c->cas, X509_free);
	free_identity(&c->id[TLS_CLIENT]);
	free_identity(&c->id[TLS_SERVER]);
	free(c);
}

bool tls_creds__has(const struct tls_creds *c, enum tls_role role)
{
	return c && c->id[role].cert && c->id[role].key;
}

/* Whether cert chains to one of the CAs; time is left out (a warning
 * says it, the peer refuses it with the reason). */
static int check_issuer(const struct tls_creds *c, const struct tls_identity *id,
			const char *path, char *err, size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int i, v, ret = -ENOMEM;

	if (!store || !ctx)
		goto out;
	for (i = 0; i < sk_X509_num(c->cas); i++)
		X509_STORE_add_cert(store, sk_X509_value(c->cas, i));
	X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
	if (!X509_STORE_CTX_init(ctx, store, id->cert, id->chain))
		goto out;
	ret = 0;
	if (X509_verify_cert(ctx) != 1) {
		v = X509_STORE_CTX_get_error(ctx);
		ret = errmsg__fail(-EINVAL, err, errlen, "%s is not issued by a CA of %s (%s)",
				   path, TLS_CREDS_CA, X509_verify_cert_error_string(v));
	}
out:
	if (ret == -ENOMEM)
		errmsg__set(err, errlen, "out of memory");
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

static void warn_validity(const X509 *cert, const char *path)
{
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		log_warn("%s has expired: a peer will refuse it", path);
	else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		log_warn("%s is not valid yet: a peer will refuse it", path);
}

static int load_identity(struct tls_creds *c, const char *dir, enum tls_role role,
			 char *err, size_t errlen)
{
	struct tls_identity *id = &c->id[role];
	char cert_path[4096], key_path[4096];

	path_of(cert_path, sizeof(cert_path), dir, cert_name[role]);
	path_of(key_path, sizeof(key_path), dir, key_name[role]);
	id->chain = read_certs(cert_path, err, errlen);
	if (!id->chain)
		return -EINVAL;
	id->cert = sk_X509_shift(id->chain);	/* the first is this side's own */
	id->key = read_key(key_path, err, errlen);
	if (!id->key)
		return -EINVAL;
	if (X509_check_private_key(id->cert, id->key) != 1) {
		ERR_clear_error();
		return errmsg__fail(-EINVAL, err, errlen, "%s does not match %s (the key of "
				    "another certificate)", key_path, cert_path);
	}
	if (check_issuer(c, id, cert_path, err, errlen))
		return -EINVAL;
	warn_validity(id->cert, cert_path);
	return 0;
}

/* stat, not access: the sandbox's allow-list has the one, not the other
 * (the tls-creds parameter is loaded once it is in force). */
static bool exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	path_of(path, sizeof(path), dir, name);
	return stat(path, &st) == 0;
}

int tls_creds__load(const char *dir, enum tls_role role, struct tls_creds **out,
		    char *err, size_t errlen)
{
	enum tls_role other = role == TLS_CLIENT ? TLS_SERVER : TLS_CLIENT;
	struct tls_creds *c;
	char path[4096];
	struct stat st;
	int ret = -EINVAL;

	*out = NULL;
	if (!dir || !*dir)
		return errmsg__fail(-EINVAL, err, errlen, "tls-creds: an empty directory name");
	if (stat(dir, &st))
		return errmsg__fail(-errno, err, errlen, "tls-creds %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return errmsg__fail(-ENOTDIR, err, errlen, "tls-creds %s: not a directory", dir);
	c = calloc(1, sizeof(*c));
	if (!c)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	path_of(path, sizeof(path), dir, TLS_CREDS_CA);
	c->cas = read_certs(path, err, errlen);
	if (!c->cas)
		goto fail;
	if (load_identity(c, dir, role, err, errlen))
		goto fail;
	if ((exists(dir, cert_name[other]) || exists(dir, key_name[other])) &&
	    load_identity(c, dir, other, err, errlen))
		goto fail;
	*out = c;
	return 0;
fail:
	tls_creds__free(c);
	return ret;
}

int tls_creds__use(const struct tls_creds *c, enum tls_role role, struct ssl_ctx_st *ctx)
{
	const struct tls_identity *id = &c->id[role];
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int i;

	if (!tls_creds__has(c, role) || SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
		return -EIO;
	for (i = 0; i < sk_X509_num(id->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(id->chain, i)) != 1)
			return -EIO;
	for (i = 0; i < sk_X509_num(c->cas); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(c->cas, i)) != 1)
			return -EIO;
	return 0;
}

const char *tls_creds__peer_name(const char *tls_hostname, const char *uri_host)
{
	return tls_hostname && *tls_hostname ? tls_hostname : uri_host;
}

bool tls_creds__name_is_ip(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}
