/* Starting, cancelling and destroying a migration on a real (never run)
 * VM: several threads that start at once create exactly one migration
 * thread; a delayed start ends with the object; a guest that has ended
 * cannot be migrated. The destination is a socket that listens and never
 * accepts, so a started migration waits in its handshake until cancelled. */
#include "migration.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include "test_kvm.h"

#include "vm.h"

#define RACERS 8
#define RACE_ROUNDS 20

struct fixture {
	struct vm vm;
	int listen_fd;
	char uri[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct vm_options vo = { .ram_size = 2ULL << 20, .nr_cpus = 1 };
	char err[512];

	assert_non_null(f);
	vo.kvm_fd = vm__open_kvm(err, sizeof(err));
	assert_true(vo.kvm_fd >= 0);
	if (vm__create(&f->vm, &vo, err, sizeof(err)))
		fail_msg("vm__create: %s", err);
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->listen_fd, 64), 0);
	assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(f->uri, sizeof(f->uri), "tcp:127.0.0.1:%u", ntohs(a.sin_port));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->listen_fd);
	vm__destroy(&f->vm);
	free(f);
	return 0;
}

/* Connections the listener has queued since the last call. */
static int drain_connections(int listen_fd)
{
	int n = 0, fd;

	while ((fd = accept(listen_fd, NULL, NULL)) >= 0) {
		close(fd);
		n++;
	}
	return n;
}

struct race {
	pthread_barrier_t go;
	struct migration *m;
	const char *uri;
	int wins;			/* atomic */
	int odd;			/* atomic: neither 0 nor -EBUSY */
};

static void *racer(void *arg)
{
	struct race *r = arg;
	char err[512];
	int ret;

	pthread_barrier_wait(&r->go);
	ret = migration__start(r->m, r->uri, err, sizeof(err));
	if (!ret)
		__atomic_fetch_add(&r->wins, 1, __ATOMIC_RELAXED);
	else if (ret != -EBUSY)
		__atomic_fetch_add(&r->odd, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* The monitor's migrate racing --migrate-to, eightfold: one start wins, the
 * others are told a migration runs, and after one cancel no migration
 * thread is left (the next round could not start otherwise). */
static void test_start_race(void **state)
{
	struct fixture *f = *state;
	struct race r = { .uri = f->uri };
	pthread_t t[RACERS];
	int round, i;

	r.m = migration__create(&f->vm);
	assert_non_null(r.m);
	assert_int_equal(pthread_barrier_init(&r.go, NULL, RACERS), 0);
	for (round = 0; round < RACE_ROUNDS; round++) {
		r.wins = r.odd = 0;
		for (i = 0; i < RACERS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
		for (i = 0; i < RACERS; i++)
			pthread_join(t[i], NULL);
		if (r.wins != 1 || r.odd)
			fail_msg("round %d: %d of %d starts won, %d failed oddly", round, r.wins,
				 RACERS, r.odd);
		assert_int_equal(migration__cancel(r.m), 0);
		migration__wait(r.m);
		assert_int_equal(migrate_stats__status(migration__stats(r.m)),
				 MIGRATE_STATUS_CANCELLED);
		assert_int_equal(migration__cancel(r.m), -ENOENT);
	}
	pthread_barrier_destroy(&r.go);
	migration__destroy(r.m);
	/* Each round's one migration connected once; nothing else did. */
	assert_true(drain_connections(f->listen_fd) <= RACE_ROUNDS);
}

/* Destroying the object ends a --migrate-after wait: the call returns
 * (a wait that outlived the object would use it after free, or, joined,
 * hang here) and no migration was started. */
static void test_start_after_ends_with_object(void **state)
{
	struct fixture *f = *state;
	struct migration *m = migration__create(&f->vm);
	char err[512];

	assert_non_null(m);
	assert_int_equal(migration__start_after(m, f->uri, 3600ULL * 1000000, err, sizeof(err)), 0);
	assert_int_equal(migration__start_after(m, f->uri, 0, err, sizeof(err)), -EBUSY);
	migration__destroy(m);
	assert_int_equal(drain_connections(f->listen_fd), 0);
}

/* A delay of zero starts at once; destroy then cancels and joins it. */
static void test_start_after_zero(void **state)
{
	struct fixture *f = *state;
	struct migration *m = migration__create(&f->vm);
	char err[512];

	assert_non_null(m);
	assert_int_equal(migration__start_after(m, f->uri, 0, err, sizeof(err)), 0);
	migration__destroy(m);
	drain_connections(f->listen_fd);
}

/* Once the guest has ended (a completed migration ends it, too) there is
 * nothing to send: a start is refused and the status stays. */
static void test_no_start_after_guest_end(void **state)
{
	struct fixture *f = *state;
	struct migration *m = migration__create(&f->vm);
	char err[512] = "";

	assert_non_null(m);
	vm__request_exit(&f->vm, 0, "test");
	assert_int_equal(migration__start(m, f->uri, err, sizeof(err)), -ESRCH);
	assert_non_null(strstr(err, "ended"));
	assert_int_equal(migrate_stats__status(migration__stats(m)), MIGRATE_STATUS_NONE);
	migration__destroy(m);
	assert_int_equal(drain_connections(f->listen_fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_after_ends_with_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_after_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_start_after_guest_end, setup, teardown),
	};
	kvm_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
