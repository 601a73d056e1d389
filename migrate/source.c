/* The migration thread: its phases in order (setup and handshake in
 * source_setup.c, the pre-copy rounds in source_rounds.c, stop-and-copy
 * and switchover in source_stop.c), what they share, and the end.
 *
 * Invariant: until GO has been sent (or the file is safely on disk), every
 * exit path turns dirty logging off and resumes the guest if this thread
 * paused it. Once GO is out and no RESUMED (nor FAILED) came back, the
 * guest may run on the destination: it stays paused here, handed to the
 * operator (handover-unconfirmed), never resumed by this thread.
 */
#include "migrate_source.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "migration_internal.h"
#include "vm.h"
#include "ram_zstd.h"
#include "xbzrle_cache.h"

/* A move this thread owns cannot fail unless the code is wrong: say so
 * loudly rather than go on with a status that lies. */
void source__move(struct source_run *r, enum migrate_status to)
{
	int ret = migrate_stats__move(&r->m->stats, r->phase, to);

	if (ret)
		log_error("migration status %s -> %s refused (%s)", migrate_status__name(r->phase),
			  migrate_status__name(to), strerror(-ret));
	else
		r->phase = to;
}

bool source__cancelled(struct source_run *r)
{
	return __atomic_load_n(&r->m->cancel_requested, __ATOMIC_ACQUIRE);
}

int source__fail(struct source_run *r, int ret, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the reason; what follows from it is not. */
	if (!r->err[0]) {
		va_start(ap, fmt);
		errmsg__vset(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	return ret ? ret : -EIO;
}

/* After a failed send the destination may have said why before it closed
 * the connection: a FAILED or REFUSE section is a better reason than
 * "broken pipe". */
static void read_peer_reason(struct source_run *r)
{
	struct section sec;
	char reason[STREAM_REASON_MAX + 1], why[256];

	if (r->uri.kind != TRANSPORT_TCP)
		return;
	section__init(&sec);
	r->s.wait.deadline_us = clock__mono_us() + 1000000;
	if (!r->s.preamble_in && stream__read_preamble(&r->s, why, sizeof(why)))
		goto out;
	while (!stream__recv(&r->s, &sec, why, sizeof(why))) {
		if ((sec.type == SECTION_FAILED || sec.type == SECTION_REFUSE) &&
		    !stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason),
					      why, sizeof(why))) {
			snprintf(r->err, sizeof(r->err), "destination %s: %.400s",
				 sec.type == SECTION_REFUSE ? "refused" : "failed", reason);
			break;
		}
	}
out:
	section__free(&sec);
}

int source__send(struct source_run *r, uint32_t type, const void *p, size_t len)
{
	struct iovec iov = { (void *)p, len };

	return source__sendv(r, type, &iov, len ? 1 : 0);
}

int source__sendv(struct source_run *r, uint32_t type, const struct iovec *iov, int iovcnt)
{
	int ret = stream__sendv(&r->s, type, iov, iovcnt);

	if (ret) {
		if (source__cancelled(r))
			return source__fail(r, -ECANCELED, "cancelled");
		if (ret == -ETIMEDOUT)
			return source__fail(r, ret, "sending %s: %s", stream__type_name(type),
					    source__deadline_reason(r));
		source__fail(r, ret, "sending %s: %s", stream__type_name(type), strerror(-ret));
		read_peer_reason(r);
	}
	return ret;
}

const char *source__deadline_reason(struct source_run *r)
{
	if (r->deadline_us && clock__mono_us() >= r->deadline_us)
		return "the migration's timeout was reached";
	if (r->phase == MIGRATE_STATUS_STOP_COPY && !r->go_sent)
		return "downtime-max was reached";
	return "the destination took or sent nothing for too long";
}

uint64_t source__earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

void source__publish_progress(struct source_run *r, uint64_t pending)
{
	struct migrate_stats *st = &r->m->stats;
	/* Outside the lock: it counts the dirty-block bitmaps' bits. */
	uint64_t disk = source_blk__remaining(r);

	migrate_stats__lock(st);
	st->ram_remaining = pending * GUEST_PAGE_SIZE;
	if (r->blk)
		st->disk_remaining = disk;
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
}

/* The phases in order; each lands its own work (and its own future
 * features) in one place. A file is a snapshot: the guest stops first and
 * everything goes in the one stop-and-copy round, no pre-copy rounds. */
static int run_migration(struct source_run *r)
{
	uint32_t rounds = 0;
	int ret;

	ret = source__setup(r);
	if (!ret)
		source__throttle_start(r);
	if (!ret && r->uri.kind == TRANSPORT_TCP)
		ret = source__precopy(r, &rounds);
	if (!ret)
		ret = source__stop_and_copy(r, rounds);
	if (!ret)
		ret = source__switchover(r);
	return ret;
}

/* GO is out, RESUMED is not in: the guest may run on the destination, so
 * it must not run here unless someone who can see both sides says so.
 * The pause passes from this thread to the operator's (the monitor's
 * stop), so a plain `cont` resumes it; nothing here ever does. Called
 * under the stats lock. */
static void unconfirmed(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;

	if (r->paused_by_us) {
		vm__user_stop(r->vm);
		vm__resume(r->vm);
	}
	migrate_stats__set_error(st, "GO sent, no RESUMED: %s", r->err);
	source__move(r, MIGRATE_STATUS_UNCONFIRMED);
	migration__write_stats(r->m, &r->params);
	log_error("migration to %s: handover unconfirmed: GO was sent but the destination's "
		  "RESUMED never came (%s). The guest may be running there, so it stays paused "
		  "here. If the destination is dead (its vmm exited or was killed), 'cont' "
		  "resumes the guest here; if the guest runs there, 'quit' this vmm",
		  st->uri, r->err);
}

/* The final status, the files and the summary as one step under the stats
 * lock: a new migration can start only after it, so it never clears the
 * record before this one is written. Nothing shared is touched after. */
static void finish(struct source_run *r, int ret)
{
	struct migration *m = r->m;
	struct migrate_stats *st = &m->stats;
	char summary[8192], uri[sizeof(st->uri)];
	bool ended;

	/* The guest runs at full speed again, wherever it runs. */
	source__throttle_stop(r);
	dirty_log__stop(&r->log);
	source_blk__stop(r);
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	pthread_mutex_unlock(&m->lock);
	migrate_stats__lock(st);
	snprintf(uri, sizeof(uri), "%s", st->uri);
	st->cpu_time_us = clock__us(CLOCK_THREAD_CPUTIME_ID);
	if (!ret) {
		/* The guest runs there now: end it here before leaving
		 * stop-copy, so no new migration can send it again. */
		vm__request_exit(r->vm, 0, "migrated to %s", r->uri.kind == TRANSPORT_FILE ?
				 r->uri.path : uri);
		source__move(r, MIGRATE_STATUS_COMPLETED);
		migration__write_stats(m, &r->params);
		migrate_stats__format_summary(st, summary, sizeof(summary));
		log_text(summary);
		migrate_stats__unlock(st);
		return;
	}
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "%s", strerror(-ret));
	if (r->go_sent) {
		unconfirmed(r);
		migrate_stats__unlock(st);
		return;
	}
	if (r->uri.kind == TRANSPORT_FILE)
		transport__discard_file(&r->uri);
	if (r->paused_by_us)
		vm__resume(r->vm);
	migrate_stats__set_error(st, "%s", r->err);
	source__move(r, ret == -ECANCELED ? MIGRATE_STATUS_CANCELLED : MIGRATE_STATUS_FAILED);
	migration__write_stats(m, &r->params);
	migrate_stats__unlock(st);
	ended = vm__is_exiting(r->vm);
	log_error("migration to %s %s: %s; %s", uri, ret == -ECANCELED ? "cancelled" : "failed",
		  r->err, ended ? "the guest had ended meanwhile" : "the guest keeps running here");
}

void *migration__thread(void *arg)
{
	struct migration *m = arg;
	struct source_run *r = calloc(1, sizeof(*r));
	int ret;

	pthread_setname_np(pthread_self(), "migration");
	if (!r) {
		migrate_stats__set_error(&m->stats, "out of memory");
		migrate_stats__move(&m->stats, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_FAILED);
		return NULL;
	}
	r->m = m;
	r->phase = MIGRATE_STATUS_SETUP;
	r->vm = m->vm;
	r->uri = m->uri;
	r->ram_fd = -1;
	pthread_mutex_lock(&m->lock);
	r->params = m->params;
	/* migrate -b: this migration only, as QEMU's blk argument. */
	r->params.caps[MIGRATE_CAP_BLOCK] |= m->block_once;
	r->params.block_incremental |= m->inc_once;
	pthread_mutex_unlock(&m->lock);
	ram_batch__init(&r->batch);
	policy__init(&r->policy, &r->params);
	ret = run_migration(r);
	/* A cancel unblocks the thread by shutting the socket down: whatever
	 * error that caused, the reason is the cancel. */
	if (ret && ret != -ECANCELED && source__cancelled(r)) {
		ret = -ECANCELED;
		snprintf(r->err, sizeof(r->err), "cancelled");
	}
	finish(r, ret);
	source__forget_secret(r);
	if (r->xbzrle) {
		xbzrle_cache__destroy(r->xbzrle);
		free(r->xbzrle);
	}
	source_file__close(r);
	if (r->zstd) {
		ram_zstd__destroy(r->zstd);
		free(r->zstd);
	}
	ram_batch__free(&r->batch);
	free(r);
	return NULL;
}
