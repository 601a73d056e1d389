/* The tls-creds directory's checks (each bad file named with its reason),
 * the peer name's default from the URI, and a handshake over a socket
 * pair with the certificates made here: accepted, or refused with
 * OpenSSL's reason on both ends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "auth.h"
#include "stream.h"
#include "tls_creds.h"
#include "tls_tunnel.h"

/* --- certificates, made with libcrypto ---------------------------------- */

struct pair {
	X509 *cert;
	EVP_PKEY *key;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for cn issued by ca (NULL: self-signed, a CA), with
 * subjectAltName san (or none), valid from now for days (-1: expired). */
static struct pair make(const char *cn, const struct pair *ca, const char *san, long days)
{
	static long serial = 1;
	struct pair p = { X509_new(), EVP_EC_gen("P-256") };
	X509_NAME *name = X509_get_subject_name(p.cert);

	assert_non_null(p.cert);
	assert_non_null(p.key);
	X509_set_version(p.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(p.cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(p.cert), days < 0 ? -2 * 86400 : 0);
	X509_gmtime_adj(X509_getm_notAfter(p.cert), days * 86400);
	X509_set_pubkey(p.cert, p.key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p.cert, ca ? X509_get_subject_name(ca->cert) : name);
	if (!ca)
		add_ext(p.cert, p.cert, NID_basic_constraints, "critical,CA:TRUE");
	if (san)
		add_ext(p.cert, ca ? ca->cert : p.cert, NID_subject_alt_name, san);
	assert_true(X509_sign(p.cert, ca ? ca->key : p.key, EVP_sha256()) > 0);
	return p;
}

static void drop(struct pair *p)
{
	X509_free(p->cert);
	EVP_PKEY_free(p->key);
}

static char dir[] = "/tmp/test_tls_creds_XXXXXX";

static void write_text(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void write_cert(const char *name, X509 *x, bool append)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, append ? "a" : "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static struct pair ca, other_ca, server, client, stray, expired;

static int setup(void **state)
{
	(void)state;
	/* As vmm: a peer gone is an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return -1;
	ca = make("ca", NULL, NULL, 2);
	other_ca = make("other", NULL, NULL, 2);
	server = make("server", &ca, "IP:127.0.0.1,DNS:dest.test", 2);
	client = make("client", &ca, "DNS:src.test", 2);
	stray = make("stray", &other_ca, "DNS:src.test", 2);
	expired = make("old", &ca, "IP:127.0.0.1", -1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	drop(&ca);
	drop(&other_ca);
	drop(&server);
	drop(&client);
	drop(&stray);
	drop(&expired);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

/* The directory as a destination and a source both need it. */
static void good_dir(void)
{
	write_cert(TLS_CREDS_CA, ca.cert, false);
	write_cert("server-cert.pem", server.cert, false);
	write_key("server-key.pem", server.key);
	write_cert("client-cert.pem", client.cert, false);
	write_key("client-key.pem", client.key);
}

static void load_expect(enum tls_role role, int want, const char *msg)
{
	struct tls_creds *c = (struct tls_creds *)1;
	char err[512] = "";

	assert_int_equal(tls_creds__load(dir, role, &c, err, sizeof(err)), want);
	if (msg && !strstr(err, msg))
		fail_msg("'%s' does not say '%s'", err, msg);
	if (want) {
		assert_null(c);
	} else {
		assert_true(tls_creds__has(c, role));
		tls_creds__free(c);
	}
}

/* --- the directory's checks ---------------------------------------------- */

static void test_good(void **state)
{
	struct tls_creds *c;
	char err[256];

	(void)state;
	good_dir();
	assert_int_equal(tls_creds__load(dir, TLS_SERVER, &c, err, sizeof(err)), 0);
	/* A destination that will migrate the guest on has both pairs. */
	assert_true(tls_creds__has(c, TLS_SERVER));
	assert_true(tls_creds__has(c, TLS_CLIENT));
	tls_creds__free(c);
	remove_file("server-cert.pem");
	remove_file("server-key.pem");
	load_expect(TLS_CLIENT, 0, NULL);
	load_expect(TLS_SERVER, -EINVAL, "server-cert.pem: No such file or directory");
	tls_creds__free(NULL);
}

static void test_bad_files(void **state)
{
	struct tls_creds *c;
	char err[256];

	(void)state;
	assert_int_equal(tls_creds__load("/nonexistent/creds", TLS_SERVER, &c, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/creds: No such file or directory"));
	assert_int_equal(tls_creds__load("/dev/null", TLS_SERVER, &c, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "not a directory"));
	assert_int_equal(tls_creds__load("", TLS_SERVER, &c, err, sizeof(err)), -EINVAL);

	good_dir();
	remove_file(TLS_CREDS_CA);
	load_expect(TLS_SERVER, -EINVAL, "ca-cert.pem: No such file or directory");
	write_text(TLS_CREDS_CA, "junk\n");
	load_expect(TLS_SERVER, -EINVAL, "ca-cert.pem: no PEM certificate in it");

	good_dir();
	write_text("server-cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	load_expect(TLS_SERVER, -EINVAL, "server-cert.pem: no PEM certificate in it");
	good_dir();
	write_text("server-key.pem", "not a key\n");
	load_expect(TLS_SERVER, -EINVAL, "server-key.pem: not a PEM private key");
	good_dir();
	remove_file("server-key.pem");
	load_expect(TLS_SERVER, -EINVAL, "server-key.pem: No such file or directory");
	good_dir();
	write_key("server-key.pem", client.key);
	load_expect(TLS_SERVER, -EINVAL, "server-key.pem does not match");
	/* The other pair, when present, is held to the same rules. */
	good_dir();
	write_key("client-key.pem", server.key);
	load_expect(TLS_SERVER, -EINVAL, "client-key.pem does not match");
}

static void test_issuer(void **state)
{
	(void)state;
	good_dir();
	write_cert("client-cert.pem", stray.cert, false);
	write_key("client-key.pem", stray.key);
	load_expect(TLS_CLIENT, -EINVAL, "client-cert.pem is not issued by a CA of ca-cert.pem "
		    "(unable to get local issuer certificate)");
	/* ca-cert.pem may hold several CAs. */
	write_cert(TLS_CREDS_CA, other_ca.cert, true);
	load_expect(TLS_CLIENT, 0, NULL);
	/* Out of its validity period: loaded (its peer refuses it). */
	good_dir();
	write_cert("server-cert.pem", expired.cert, false);
	write_key("server-key.pem", expired.key);
	load_expect(TLS_SERVER, 0, NULL);
}

/* --- the peer's name ------------------------------------------------------ */

static void test_peer_name(void **state)
{
	(void)state;
	assert_string_equal(tls_creds__peer_name(NULL, "10.0.0.2"), "10.0.0.2");
	assert_string_equal(tls_creds__peer_name("", "dest.example"), "dest.example");
	assert_string_equal(tls_creds__peer_name("dest.test", "10.0.0.2"), "dest.test");
	assert_true(tls_creds__name_is_ip("127.0.0.1"));
	assert_true(tls_creds__name_is_ip("::1"));
	assert_true(tls_creds__name_is_ip("fe80::1:2"));
	assert_false(tls_creds__name_is_ip("dest.test"));
	assert_false(tls_creds__name_is_ip("localhost"));
	assert_false(tls_creds__name_is_ip("127.0.0"));
	assert_false(tls_creds__name_is_ip(""));
}

/* --- a handshake over a socket pair --------------------------------------- */

struct end {
	int fd;
	enum tls_role role;
	struct tls_keys keys;
	int ret;
	char err[512];
};

static void *run_end(void *arg)
{
	struct end *e = arg;
	struct stream_wait w = { .deadline_us = 0, .cancel_fd = -1, .stall_ms = 5000 };

	e->ret = tls_tunnel__start(e->fd, e->role, &e->keys, &w, e->err, sizeof(e->err));
	return NULL;
}

/* Runs both ends with their keys; each plain fd (or the error) in the
 * ends. */
static void shake_keys(struct end *srv, struct end *cli, const struct tls_keys *sk,
		       const struct tls_keys *ck)
{
	int sv[2];
	pthread_t th;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*srv = (struct end){ .fd = sv[0], .role = TLS_SERVER, .keys = *sk };
	*cli = (struct end){ .fd = sv[1], .role = TLS_CLIENT, .keys = *ck };
	assert_int_equal(pthread_create(&th, NULL, run_end, srv), 0);
	run_end(cli);
	/* A refused client has closed nothing: the server must see the end. */
	if (cli->ret < 0)
		close(sv[1]);
	pthread_join(th, NULL);
	if (srv->ret < 0)
		close(sv[0]);
}

static void shake(struct end *srv, struct end *cli, struct tls_creds *sc, struct tls_creds *cc,
		  const char *name)
{
	struct tls_keys sk = { .creds = sc }, ck = { .creds = cc, .peer_name = name };

	shake_keys(srv, cli, &sk, &ck);
}

static struct tls_creds *load(enum tls_role role)
{
	struct tls_creds *c;
	char err[512];

	if (tls_creds__load(dir, role, &c, err, sizeof(err)))
		fail_msg("%s", err);
	return c;
}

static void expect_refused(const struct end *e, const char *msg)
{
	assert_int_equal(e->ret, -EACCES);
	if (!strstr(e->err, msg))
		fail_msg("'%s' does not say '%s'", e->err, msg);
}

static void test_handshake(void **state)
{
	struct tls_creds *sc, *cc;
	struct end s, c;
	char buf[8];

	(void)state;
	assert_int_equal(tls_tunnel__init(buf, sizeof(buf)), 0);
	good_dir();
	sc = load(TLS_SERVER);
	cc = load(TLS_CLIENT);
	shake(&s, &c, sc, cc, "127.0.0.1");
	assert_true(s.ret >= 0 && c.ret >= 0);
	assert_int_equal(write(c.ret, "hello", 5), 5);
	assert_int_equal(read(s.ret, buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	close(s.ret);
	close(c.ret);

	/* A DNS name of the certificate; a name it does not carry. */
	shake(&s, &c, sc, cc, "dest.test");
	assert_true(s.ret >= 0 && c.ret >= 0);
	close(s.ret);
	close(c.ret);
	shake(&s, &c, sc, cc, "other.test");
	expect_refused(&c, "certificate verify failed: hostname mismatch");
	expect_refused(&s, "the peer sent");
	shake(&s, &c, sc, cc, "10.9.9.9");
	expect_refused(&c, "certificate verify failed: IP address mismatch");
	tls_creds__free(cc);

	/* A client whose certificate comes from a CA the server does not
	 * trust: the client learns it before its handshake ends. */
	write_cert(TLS_CREDS_CA, other_ca.cert, true);
	write_cert("client-cert.pem", stray.cert, false);
	write_key("client-key.pem", stray.key);
	cc = load(TLS_CLIENT);
	shake(&s, &c, sc, cc, "127.0.0.1");
	expect_refused(&s, "certificate verify failed: unable to get local issuer certificate");
	expect_refused(&c, "the peer sent");
	tls_creds__free(cc);
	tls_creds__free(sc);

	/* An expired server certificate. */
	good_dir();
	write_cert("server-cert.pem", expired.cert, false);
	write_key("server-key.pem", expired.key);
	sc = load(TLS_SERVER);
	cc = load(TLS_CLIENT);
	shake(&s, &c, sc, cc, "127.0.0.1");
	expect_refused(&c, "certificate verify failed: certificate has expired");
	expect_refused(&s, "the peer sent");
	tls_creds__free(cc);
	tls_creds__free(sc);
	while (tls_tunnel__running())
		usleep(1000);
}

/* A source keyed by the secret must not take a server that skips the PSK
 * and shows a certificate instead: it knows no CA, so it trusts none. */
static void test_psk_client_x509_server(void **state)
{
	struct auth_secret secret = { .len = 6, .key = "secret" };
	struct tls_creds *sc;
	struct end s, c;

	(void)state;
	good_dir();
	sc = load(TLS_SERVER);
	shake_keys(&s, &c, &(struct tls_keys){ .creds = sc }, &(struct tls_keys){ .secret = &secret });
	expect_refused(&c, "certificate verify failed");
	assert_true(s.ret < 0);
	tls_creds__free(sc);
	while (tls_tunnel__running())
		usleep(1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_peer_name),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_psk_client_x509_server),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
