/* The migration status machine: which moves are legal, that a move is a
 * compare-and-swap, and that of several threads starting a migration at
 * once exactly one wins (on the bare state and on the statistics record). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_scale.h"

#include "migrate_state.h"
#include "migrate_stats.h"

#define N_STATUS (MIGRATE_STATUS_UNCONFIRMED + 1)
#define RACERS 8
#define RACE_ROUNDS 200

static const enum migrate_status NONE = MIGRATE_STATUS_NONE, SETUP = MIGRATE_STATUS_SETUP,
	ACTIVE = MIGRATE_STATUS_ACTIVE, STOP_COPY = MIGRATE_STATUS_STOP_COPY,
	COMPLETED = MIGRATE_STATUS_COMPLETED, FAILED = MIGRATE_STATUS_FAILED,
	CANCELLED = MIGRATE_STATUS_CANCELLED;

/* The table of migrate_state.h, written out the other way round: every
 * pair not listed here must be refused. */
static bool legal(enum migrate_status from, enum migrate_status to)
{
	static const enum migrate_status pairs[][2] = {
		{ MIGRATE_STATUS_NONE, MIGRATE_STATUS_SETUP },
		{ MIGRATE_STATUS_COMPLETED, MIGRATE_STATUS_SETUP },
		{ MIGRATE_STATUS_FAILED, MIGRATE_STATUS_SETUP },
		{ MIGRATE_STATUS_CANCELLED, MIGRATE_STATUS_SETUP },
		{ MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE },
		{ MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_STOP_COPY },
		{ MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_COMPLETED },
		{ MIGRATE_STATUS_STOP_COPY, MIGRATE_STATUS_COMPLETED },
		{ MIGRATE_STATUS_NONE, MIGRATE_STATUS_FAILED },
		{ MIGRATE_STATUS_SETUP, MIGRATE_STATUS_FAILED },
		{ MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_FAILED },
		{ MIGRATE_STATUS_STOP_COPY, MIGRATE_STATUS_FAILED },
		{ MIGRATE_STATUS_SETUP, MIGRATE_STATUS_CANCELLED },
		{ MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_CANCELLED },
		{ MIGRATE_STATUS_STOP_COPY, MIGRATE_STATUS_CANCELLED },
		{ MIGRATE_STATUS_STOP_COPY, MIGRATE_STATUS_UNCONFIRMED },
		{ MIGRATE_STATUS_UNCONFIRMED, MIGRATE_STATUS_SETUP },
	};
	size_t i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (pairs[i][0] == from && pairs[i][1] == to)
			return true;
	return false;
}

static void test_table(void **state)
{
	int from, to;

	for (from = 0; from < N_STATUS; from++)
		for (to = 0; to < N_STATUS; to++)
			if (migrate_status__may_move(from, to) != legal(from, to))
				fail_msg("%s -> %s: table says %d", migrate_status__name(from),
					 migrate_status__name(to), migrate_status__may_move(from, to));
}

/* Every pair, tried on a state that holds from: a legal move moves it, an
 * illegal one leaves it as it was. */
static void test_moves(void **state)
{
	struct migrate_state s;
	int from, to, ret;

	for (from = 0; from < N_STATUS; from++) {
		for (to = 0; to < N_STATUS; to++) {
			s.value = from;
			ret = migrate_state__move(&s, from, to);
			assert_int_equal(ret, legal(from, to) ? 0 : -EINVAL);
			assert_int_equal(migrate_state__get(&s), legal(from, to) ? to : from);
		}
	}
}

/* The caller's from must be what the status is: a move from a status it
 * no longer holds fails and changes nothing. */
static void test_move_is_compare_and_swap(void **state)
{
	struct migrate_state s = { MIGRATE_STATUS_NONE };

	assert_int_equal(migrate_state__begin(&s), 0);
	assert_int_equal(migrate_state__move(&s, SETUP, ACTIVE), 0);
	/* Someone who still believes setup loses. */
	assert_int_equal(migrate_state__move(&s, SETUP, FAILED), -EBUSY);
	assert_int_equal(migrate_state__get(&s), ACTIVE);
	assert_int_equal(migrate_state__move(&s, ACTIVE, STOP_COPY), 0);
	assert_int_equal(migrate_state__move(&s, ACTIVE, CANCELLED), -EBUSY);
	assert_int_equal(migrate_state__move(&s, STOP_COPY, COMPLETED), 0);
	/* A final status stays until the next start. */
	assert_int_equal(migrate_state__move(&s, COMPLETED, FAILED), -EINVAL);
	assert_int_equal(migrate_state__move(&s, COMPLETED, NONE), -EINVAL);
	assert_int_equal(migrate_state__get(&s), COMPLETED);
}

static void test_begin(void **state)
{
	static const enum migrate_status ok[] = { MIGRATE_STATUS_NONE, MIGRATE_STATUS_COMPLETED,
						  MIGRATE_STATUS_FAILED, MIGRATE_STATUS_CANCELLED };
	static const enum migrate_status busy[] = { MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE,
						    MIGRATE_STATUS_STOP_COPY };
	struct migrate_state s;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		s.value = ok[i];
		assert_int_equal(migrate_state__begin(&s), 0);
		assert_int_equal(migrate_state__get(&s), SETUP);
		assert_int_equal(migrate_state__begin(&s), -EBUSY);
	}
	for (i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
		s.value = busy[i];
		assert_int_equal(migrate_state__begin(&s), -EBUSY);
		assert_int_equal(migrate_state__get(&s), busy[i]);
	}
}

static void test_names(void **state)
{
	assert_string_equal(migrate_status__name(NONE), "none");
	assert_string_equal(migrate_status__name(STOP_COPY), "stop-copy");
	assert_string_equal(migrate_status__name(CANCELLED), "cancelled");
	assert_string_equal(migrate_status__name(MIGRATE_STATUS_UNCONFIRMED),
			    "handover-unconfirmed");
	assert_true(migrate_status__is_running(ACTIVE));
	assert_false(migrate_status__is_running(COMPLETED));
	assert_true(migrate_status__is_final(FAILED));
	assert_false(migrate_status__is_final(NONE));
}

/* --- the start race ------------------------------------------------------ */

struct race {
	pthread_barrier_t go;
	struct migrate_state state;
	struct migrate_stats stats;
	bool on_stats;
	int wins;			/* atomic */
	int odd;			/* atomic: neither 0 nor -EBUSY */
};

static void *racer(void *arg)
{
	struct race *r = arg;
	int ret;

	pthread_barrier_wait(&r->go);
	ret = r->on_stats ? migrate_stats__start(&r->stats, "tcp:127.0.0.1:1") :
			    migrate_state__begin(&r->state);
	/* Counted, not asserted: cmocka's asserts belong to the main thread. */
	if (!ret)
		__atomic_fetch_add(&r->wins, 1, __ATOMIC_RELAXED);
	else if (ret != -EBUSY)
		__atomic_fetch_add(&r->odd, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Each round starts RACERS threads at a barrier, all trying to start from
 * a final status left by the previous round: exactly one may win. */
static void run_race(struct race *r)
{
	static const enum migrate_status ends[] = { MIGRATE_STATUS_COMPLETED,
						    MIGRATE_STATUS_FAILED,
						    MIGRATE_STATUS_CANCELLED };
	pthread_t t[RACERS];
	int round, i;

	assert_int_equal(pthread_barrier_init(&r->go, NULL, RACERS), 0);
	for (round = 0; round < test_count(RACE_ROUNDS); round++) {
		r->wins = 0;
		for (i = 0; i < RACERS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, racer, r), 0);
		for (i = 0; i < RACERS; i++)
			pthread_join(t[i], NULL);
		if (r->wins != 1 || r->odd)
			fail_msg("round %d: %d of %d starters won, %d failed oddly", round,
				 r->wins, RACERS, r->odd);
		if (r->on_stats) {
			assert_int_equal(migrate_stats__status(&r->stats), SETUP);
			assert_int_equal(migrate_stats__move(&r->stats, SETUP, ACTIVE), 0);
			assert_int_equal(migrate_stats__move(&r->stats, ACTIVE, ends[round % 3]), 0);
		} else {
			assert_int_equal(migrate_state__get(&r->state), SETUP);
			assert_int_equal(migrate_state__move(&r->state, SETUP, ACTIVE), 0);
			assert_int_equal(migrate_state__move(&r->state, ACTIVE, ends[round % 3]), 0);
		}
	}
	pthread_barrier_destroy(&r->go);
}

static void test_start_race_state(void **state)
{
	static struct race r;

	memset(&r, 0, sizeof(r));
	run_race(&r);
}

static void test_start_race_stats(void **state)
{
	static struct race r;

	memset(&r, 0, sizeof(r));
	r.on_stats = true;
	assert_int_equal(migrate_stats__init(&r.stats), 0);
	run_race(&r);
	migrate_stats__free(&r.stats);
}

/* The start clears the previous record but a busy start touches nothing. */
static void test_stats_start_keeps_running_record(void **state)
{
	struct migrate_stats s;

	assert_int_equal(migrate_stats__init(&s), 0);
	assert_int_equal(migrate_stats__start(&s, "tcp:127.0.0.1:1"), 0);
	s.pages_total = 42;
	assert_int_equal(migrate_stats__start(&s, "tcp:127.0.0.1:2"), -EBUSY);
	assert_string_equal(s.uri, "tcp:127.0.0.1:1");
	assert_int_equal(s.pages_total, 42);
	assert_int_equal(migrate_stats__move(&s, SETUP, FAILED), 0);
	assert_int_equal(migrate_stats__start(&s, "tcp:127.0.0.1:3"), 0);
	assert_string_equal(s.uri, "tcp:127.0.0.1:3");
	assert_int_equal(s.pages_total, 0);
	/* The single-writer path is checked too. */
	assert_int_equal(migrate_stats__set_status(&s, COMPLETED), -EINVAL);
	assert_int_equal(migrate_stats__set_status(&s, ACTIVE), 0);
	assert_int_equal(migrate_stats__set_status(&s, COMPLETED), 0);
	migrate_stats__free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_moves),
		cmocka_unit_test(test_move_is_compare_and_swap),
		cmocka_unit_test(test_begin),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_start_race_state),
		cmocka_unit_test(test_start_race_stats),
		cmocka_unit_test(test_stats_start_keeps_running_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
