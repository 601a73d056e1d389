/* The authentication exchange: the secret file's rules, the messages, and
 * both sides over a socket pair against honest and dishonest peers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "stream.h"

static const struct stream_wait wait2s = { .deadline_us = 0, .cancel_fd = -1, .stall_ms = 2000 };

static void secret_of(struct auth_secret *s, const char *text)
{
	memset(s, 0, sizeof(*s));
	s->len = strlen(text);
	memcpy(s->key, text, s->len);
}

static char *temp_file(const void *data, size_t n, mode_t mode)
{
	char *path = strdup("/tmp/test_auth_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* --- the secret file ---------------------------------------------------- */

static void load_expect(const char *data, size_t n, mode_t mode, int want, const char *msg)
{
	struct auth_secret s;
	char err[256] = "", *path = temp_file(data, n, mode);

	assert_int_equal(auth__load_secret(path, &s, err, sizeof(err)), want);
	if (msg)
		assert_non_null(strstr(err, msg));
	unlink(path);
	free(path);
}

static void test_secret_file_rules(void **state)
{
	static char big[AUTH_SECRET_MAX + 1];

	(void)state;
	load_expect("hunter2", 7, 0600, 0, NULL);
	load_expect("hunter2", 7, 0400, 0, NULL);
	load_expect("hunter2", 7, 0640, -EPERM, "permissions 0640");
	load_expect("hunter2", 7, 0604, -EPERM, "too open");
	load_expect("", 0, 0600, -EINVAL, "empty");
	load_expect("\n", 1, 0600, -EINVAL, "empty");
	memset(big, 'x', sizeof(big));
	load_expect(big, sizeof(big), 0600, -EINVAL, "too long");
	load_expect(big, sizeof(big) - 1, 0600, 0, NULL);
}

static void test_secret_newline_cut(void **state)
{
	struct auth_secret a, b, c;
	char err[256], *p1 = temp_file("s3cret\n", 7, 0600), *p2 = temp_file("s3cret", 6, 0600);
	char *p3 = temp_file("s3cret\r\n", 8, 0600);

	(void)state;
	assert_int_equal(auth__load_secret(p1, &a, err, sizeof(err)), 0);
	assert_int_equal(auth__load_secret(p2, &b, err, sizeof(err)), 0);
	assert_int_equal(auth__load_secret(p3, &c, err, sizeof(err)), 0);
	assert_int_equal(a.len, 6);
	assert_int_equal(b.len, 6);
	assert_int_equal(c.len, 6);
	assert_memory_equal(a.key, "s3cret", 6);
	assert_memory_equal(c.key, "s3cret", 6);
	auth__clear_secret(&a);
	assert_int_equal(a.len, 0);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	free(p1);
	free(p2);
	free(p3);
}

/* --- the messages ------------------------------------------------------- */

static void test_hello_roundtrip(void **state)
{
	uint8_t nonce[AUTH_NONCE_LEN], back[AUTH_NONCE_LEN], msg[AUTH_HELLO_LEN];
	char err[256];

	(void)state;
	memset(nonce, 0xa5, sizeof(nonce));
	auth__encode_hello(msg, nonce);
	assert_memory_equal(msg, "LMAUTH\x01\x00", 8);
	assert_int_equal(auth__decode_hello(msg, back, err, sizeof(err)), 0);
	assert_memory_equal(back, nonce, sizeof(nonce));
	msg[6] = 2;	/* another version */
	assert_int_equal(auth__decode_hello(msg, back, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not an authentication message"));
	/* A TLS ClientHello's record header: said as such. */
	memcpy(msg, "\x16\x03\x01\x01\x1a\x01\x00\x01", 8);
	assert_int_equal(auth__decode_hello(msg, back, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "the peer speaks TLS"));
}

static void test_proofs(void **state)
{
	struct auth_secret right, wrong;
	uint8_t ns[AUTH_NONCE_LEN], nd[AUTH_NONCE_LEN], mac[AUTH_MAC_LEN];

	(void)state;
	secret_of(&right, "correct horse");
	secret_of(&wrong, "correct horsf");
	memset(ns, 1, sizeof(ns));
	memset(nd, 2, sizeof(nd));
	assert_int_equal(auth__proof(&right, AUTH_SOURCE, ns, nd, mac), 0);
	assert_int_equal(auth__check_proof(&right, AUTH_SOURCE, ns, nd, mac), 0);
	/* Wrong secret, swapped nonces, the other role: all refused. */
	assert_int_equal(auth__check_proof(&wrong, AUTH_SOURCE, ns, nd, mac), -EACCES);
	assert_int_equal(auth__check_proof(&right, AUTH_SOURCE, nd, ns, mac), -EACCES);
	assert_int_equal(auth__check_proof(&right, AUTH_DEST, ns, nd, mac), -EACCES);
	mac[31] ^= 1;
	assert_int_equal(auth__check_proof(&right, AUTH_SOURCE, ns, nd, mac), -EACCES);
	/* No secret never makes a proof. */
	memset(&wrong, 0, sizeof(wrong));
	assert_int_equal(auth__proof(&wrong, AUTH_SOURCE, ns, nd, mac), -EIO);
}

/* --- both sides over a socket pair -------------------------------------- */

struct side {
	int fd;
	const struct auth_secret *secret;
	int ret;
	char err[256];
	/* A dishonest destination, instead of auth__dest. */
	void (*fake)(struct side *);
};

static void *run_dest(void *arg)
{
	struct side *d = arg;

	if (d->fake)
		d->fake(d);
	else
		d->ret = auth__dest(d->fd, d->secret, &wait2s, d->err, sizeof(d->err));
	shutdown(d->fd, SHUT_WR);
	return NULL;
}

/* Runs the source here and the destination in a thread. */
static void exchange(struct side *src, struct side *dst)
{
	int sv[2];
	pthread_t t;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	src->fd = sv[0];
	dst->fd = sv[1];
	assert_int_equal(pthread_create(&t, NULL, run_dest, dst), 0);
	src->ret = auth__source(src->fd, src->secret, &wait2s, src->err, sizeof(src->err));
	shutdown(src->fd, SHUT_WR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
}

static void test_right_secret(void **state)
{
	struct auth_secret k;
	struct side s = { .secret = &k }, d = { .secret = &k };

	(void)state;
	secret_of(&k, "shared");
	exchange(&s, &d);
	assert_int_equal(s.ret, 0);
	assert_int_equal(d.ret, 0);
}

static void test_wrong_secret(void **state)
{
	struct auth_secret a, b;
	struct side s = { .secret = &a }, d = { .secret = &b };

	(void)state;
	secret_of(&a, "shared");
	secret_of(&b, "Shared");
	exchange(&s, &d);
	assert_int_equal(d.ret, -EACCES);
	assert_non_null(strstr(d.err, "does not know the secret"));
	assert_int_equal(s.ret, -EACCES);
	assert_non_null(strstr(s.err, "refused our proof"));
}

/* A destination without the secret that sends the source's own proof
 * back as its own. */
static void reflect(struct side *d)
{
	uint8_t msg[AUTH_HELLO_LEN], mac[1 + AUTH_MAC_LEN], nonce[AUTH_NONCE_LEN];
	size_t got;
	struct iovec iov;

	assert_int_equal(stream__read_until(d->fd, msg, sizeof(msg), &got, &wait2s), 0);
	memcpy(nonce, msg + AUTH_MAGIC_LEN, AUTH_NONCE_LEN);
	nonce[0] ^= 0xff;	/* not the source's own: that is refused at once */
	auth__encode_hello(msg, nonce);
	iov = (struct iovec){ msg, sizeof(msg) };
	assert_int_equal(stream__write_until(d->fd, true, &iov, 1, &got, &wait2s), 0);
	assert_int_equal(stream__read_until(d->fd, mac + 1, AUTH_MAC_LEN, &got, &wait2s), 0);
	mac[0] = AUTH_VERDICT_OK;
	iov = (struct iovec){ mac, sizeof(mac) };
	assert_int_equal(stream__write_until(d->fd, true, &iov, 1, &got, &wait2s), 0);
}

static void test_reflected_answer(void **state)
{
	struct auth_secret k;
	struct side s = { .secret = &k }, d = { .fake = reflect };

	(void)state;
	secret_of(&k, "shared");
	exchange(&s, &d);
	assert_int_equal(s.ret, -EACCES);
	assert_non_null(strstr(s.err, "destination's proof is wrong"));
}

/* A destination that echoes the source's HELLO as its CHALLENGE. */
static void echo_hello(struct side *d)
{
	uint8_t msg[AUTH_HELLO_LEN];
	size_t got;
	struct iovec iov = { msg, sizeof(msg) };

	assert_int_equal(stream__read_until(d->fd, msg, sizeof(msg), &got, &wait2s), 0);
	assert_int_equal(stream__write_until(d->fd, true, &iov, 1, &got, &wait2s), 0);
}

static void test_echoed_nonce(void **state)
{
	struct auth_secret k;
	struct side s = { .secret = &k }, d = { .fake = echo_hello };

	(void)state;
	secret_of(&k, "shared");
	exchange(&s, &d);
	assert_int_equal(s.ret, -EPROTO);
	assert_non_null(strstr(s.err, "repeats our nonce"));
}

static void send_bytes(struct side *d, const void *p, size_t n)
{
	struct iovec iov = { (void *)p, n };
	size_t got;

	assert_int_equal(stream__write_until(d->fd, true, &iov, 1, &got, &wait2s), 0);
}

static void junk_dest(struct side *d)
{
	send_bytes(d, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
}

static void truncated_dest(struct side *d)
{
	send_bytes(d, AUTH_MAGIC "abc", AUTH_MAGIC_LEN + 3);
}

static void plain_dest(struct side *d)
{
	send_bytes(d, STREAM_MAGIC "\x00\x02\x00\x00\x00\x00\x00\x00", STREAM_PREAMBLE_LEN);
}

static void test_bad_destinations(void **state)
{
	struct auth_secret k;
	struct side s = { .secret = &k }, d = { .fake = junk_dest };

	(void)state;
	secret_of(&k, "shared");
	exchange(&s, &d);
	assert_int_equal(s.ret, -EPROTO);
	assert_non_null(strstr(s.err, "not an authentication message"));
	d.fake = truncated_dest;
	exchange(&s, &d);
	assert_int_equal(s.ret, -ENODATA);
	assert_non_null(strstr(s.err, "closed the connection"));
	d.fake = plain_dest;
	exchange(&s, &d);
	assert_int_equal(s.ret, -ENOPROTOOPT);
	assert_non_null(strstr(s.err, "without --secret-file"));
}

/* The destination against a source that is not one: junk, a truncated
 * HELLO, a stream preamble (no secret), silence and a bare close. */
static int dest_against(const void *p, size_t n, bool close_after, char *err, size_t errlen)
{
	struct auth_secret k;
	struct iovec iov = { (void *)p, n };
	struct stream_wait quick = { .cancel_fd = -1, .stall_ms = 200 };
	size_t got;
	int sv[2], ret;

	secret_of(&k, "shared");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (n)
		assert_int_equal(stream__write_until(sv[0], true, &iov, 1, &got, &wait2s), 0);
	if (close_after)
		shutdown(sv[0], SHUT_WR);
	ret = auth__dest(sv[1], &k, &quick, err, errlen);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static void test_bad_sources(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(dest_against("GET / HTTP/1.0\r\n\r\n", 18, true, err, sizeof(err)), -EPROTO);
	assert_int_equal(dest_against(AUTH_MAGIC "12345", 13, true, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "got 5 of 32 bytes"));
	assert_int_equal(dest_against(STREAM_MAGIC, 8, true, err, sizeof(err)), -ENOPROTOOPT);
	assert_non_null(strstr(err, "did not authenticate"));
	assert_int_equal(dest_against("", 0, true, err, sizeof(err)), -ENODATA);
	assert_int_equal(dest_against("", 0, false, err, sizeof(err)), -ETIMEDOUT);
}

/* A source that sends a good HELLO and then a PROOF made with no
 * knowledge of the secret: the destination's own proof never leaves. */
static void test_dest_proves_nothing_first(void **state)
{
	uint8_t hello[AUTH_HELLO_LEN], junk[AUTH_MAC_LEN], in[64];
	struct auth_secret k;
	struct iovec iov = { hello, sizeof(hello) };
	char err[256];
	size_t got;
	int sv[2];
	ssize_t n;

	(void)state;
	secret_of(&k, "shared");
	memset(in, 0, sizeof(in));
	memset(junk, 0x42, sizeof(junk));
	auth__encode_hello(hello, junk);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(stream__write_until(sv[0], true, &iov, 1, &got, &wait2s), 0);
	iov = (struct iovec){ junk, sizeof(junk) };
	assert_int_equal(stream__write_until(sv[0], true, &iov, 1, &got, &wait2s), 0);
	assert_int_equal(auth__dest(sv[1], &k, &wait2s, err, sizeof(err)), -EACCES);
	close(sv[1]);
	/* CHALLENGE and a one-byte refusal: no MAC of the destination's. */
	n = recv(sv[0], in, sizeof(in), MSG_WAITALL);
	assert_int_equal(n, AUTH_HELLO_LEN + 1);
	assert_int_equal(in[AUTH_HELLO_LEN], AUTH_VERDICT_REFUSED);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_file_rules),
		cmocka_unit_test(test_secret_newline_cut),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_right_secret),
		cmocka_unit_test(test_wrong_secret),
		cmocka_unit_test(test_reflected_answer),
		cmocka_unit_test(test_echoed_nonce),
		cmocka_unit_test(test_bad_destinations),
		cmocka_unit_test(test_bad_sources),
		cmocka_unit_test(test_dest_proves_nothing_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
