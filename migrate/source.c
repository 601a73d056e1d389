/* The migration thread: setup and handshake, pre-copy rounds, stop-and-copy,
 * and the wait for the destination's acknowledgement.
 *
 * Invariant: until the destination says RESUMED (or the file is safely on
 * disk), every exit path turns dirty logging off and resumes the guest if
 * this thread paused it.
 */
#include "migration.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dirty_log.h"
#include "log.h"
#include "migrate_forecast.h"
#include "migrate_policy.h"
#include "stream.h"
#include "transport.h"
#include "vm.h"
#include "vm_sections.h"
#include "migration_internal.h"

#define CONNECT_TIMEOUT_MS 10000
/* A destination that stops reading or answering for this long has failed. */
#define PEER_TIMEOUT_MS 30000

/* Everything one run of the thread owns. */
struct run {
	struct migration *m;
	struct vm *vm;
	struct migrate_uri uri;
	struct migrate_params params;
	struct stream s;
	struct dirty_log log;
	struct ram_batch batch;
	struct migrate_policy policy;
	bool paused_by_us;
	/* The status this thread last moved the migration to: the thread
	 * owns it from setup to the final one, and every move says from. */
	enum migrate_status phase;
	uint64_t t_pause;		/* downtime phases, CLOCK_MONOTONIC us */
	uint64_t t_paused;
	uint64_t t_last_ram;
	uint64_t t_state;
	uint64_t limit_start_us;	/* bandwidth limiter's reference point */
	uint64_t limit_start_bytes;
	char err[512];
};

/* A move this thread owns cannot fail unless the code is wrong: say so
 * loudly rather than go on with a status that lies. */
static void move_to(struct run *r, enum migrate_status to)
{
	int ret = migrate_stats__move(&r->m->stats, r->phase, to);

	if (ret)
		log_error("migration status %s -> %s refused (%s)", migrate_status__name(r->phase),
			  migrate_status__name(to), strerror(-ret));
	else
		r->phase = to;
}

static bool cancelled(struct run *r)
{
	return __atomic_load_n(&r->m->cancel_requested, __ATOMIC_ACQUIRE);
}

static int fail(struct run *r, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct run *r, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	return ret ? ret : -EIO;
}

/* After a failed send the destination may have said why before it closed
 * the connection: a FAILED or REFUSE section is a better reason than
 * "broken pipe". */
static void read_peer_reason(struct run *r)
{
	struct section sec;
	char reason[STREAM_REASON_MAX + 1], why[256];

	if (r->uri.kind != TRANSPORT_TCP)
		return;
	section__init(&sec);
	transport__set_timeout(r->s.fd, 1000);
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

static int send_section(struct run *r, uint32_t type, const void *p, size_t len)
{
	int ret = stream__send(&r->s, type, p, len);

	if (ret) {
		if (cancelled(r))
			return fail(r, -ECANCELED, "cancelled");
		fail(r, ret, "sending %s: %s", stream__type_name(type), strerror(-ret));
		read_peer_reason(r);
	}
	return ret;
}

/* Sleeps as needed to keep the average rate under max-bandwidth. */
static void throttle(struct run *r)
{
	uint64_t bw = r->params.max_bandwidth, sent, due_us, now;

	if (!bw || r->paused_by_us)
		return;	/* never stretch the downtime */
	sent = r->s.bytes_out - r->limit_start_bytes;
	due_us = (uint64_t)((double)sent * 1e6 / (double)bw);
	now = clock__mono_us() - r->limit_start_us;
	if (due_us > now)
		usleep((useconds_t)(due_us - now < 1000000 ? due_us - now : 1000000));
}

static int flush_batch(struct run *r, struct round_stats *rs)
{
	int ret;

	if (!r->batch.count)
		return 0;
	ret = ram_batch__finish(&r->batch);
	if (ret)
		return fail(r, ret, "building a RAM section: %s", strerror(-ret));
	ret = send_section(r, SECTION_RAM, r->batch.buf.data, r->batch.buf.len);
	if (ret)
		return ret;
	rs->pages_sent += r->batch.count;
	rs->zero_pages += r->batch.nr_zero;
	/* Per batch, so 'info migrate' moves during a long round. */
	migrate_stats__count_pages(&r->m->stats, r->batch.count, r->batch.nr_zero, r->s.bytes_out);
	ram_batch__begin(&r->batch, rs->index);
	throttle(r);
	return ret;
}

static void publish_progress(struct run *r, uint64_t pending)
{
	struct migrate_stats *st = &r->m->stats;

	migrate_stats__lock(st);
	st->ram_remaining = pending * GUEST_PAGE_SIZE;
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
}

/* Sends every pending page: one round's RAM. */
static int send_pending(struct run *r, struct round_stats *rs)
{
	struct guest_memory *mem = &r->vm->mem;
	uint64_t page, left = rs->dirty_pages;
	int ret;

	ram_batch__begin(&r->batch, rs->index);
	while (dirty_log__next_dirty(&r->log, &page)) {
		ret = ram_batch__add_page(&r->batch, guest_memory__page_gpa(mem, page),
					  guest_memory__page_hva(mem, page));
		if (ret)
			return fail(r, ret, "adding a page to a RAM section: %s", strerror(-ret));
		left--;
		if (ram_batch__full(&r->batch)) {
			ret = flush_batch(r, rs);
			if (ret)
				return ret;
			publish_progress(r, left);
			if (cancelled(r))
				return fail(r, -ECANCELED, "cancelled");
		}
	}
	return flush_batch(r, rs);
}

static int send_round_end(struct run *r, const struct round_stats *rs, uint64_t bytes)
{
	struct round_end_msg msg = { .round = rs->index, .pages = rs->pages_sent, .bytes = bytes };
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_round_end(&b, &msg);
	ret = b.err ? fail(r, b.err, "out of memory") :
		      send_section(r, SECTION_ROUND_END, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

/* One round: send what is pending, then record it. */
static int run_round(struct run *r, uint32_t index, struct round_stats *rs)
{
	struct migrate_stats *st = &r->m->stats;
	uint64_t t0 = clock__mono_us(), bytes0 = r->s.bytes_out;
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->index = index;
	rs->start_us = t0 - st->start_mono_us;
	rs->dirty_pages = dirty_log__count_pending(&r->log);
	ret = send_pending(r, rs);
	if (!ret)
		ret = send_round_end(r, rs, r->s.bytes_out - bytes0);
	if (ret)
		return ret;
	rs->bytes = r->s.bytes_out - bytes0;
	rs->duration_us = clock__mono_us() - t0;
	rs->bandwidth_bps = rs->duration_us ? rs->bytes * 1e6 / rs->duration_us : 0;
	migrate_stats__lock(st);
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
	return 0;
}

/* Reads the dirty log after a round; fills the round's dirty rate and
 * log-read time. Returns pages now pending, or -errno. */
static int64_t sync_after(struct run *r, struct round_stats *rs)
{
	int64_t n = dirty_log__sync(&r->log, r->err, sizeof(r->err));
	uint64_t since = clock__mono_us() - (r->m->stats.start_mono_us + rs->start_us);

	if (n < 0)
		return n;
	rs->log_read_us = r->log.last_get_us + r->log.last_clear_us;
	rs->dirty_rate_pps = since ? n * 1e6 / since : 0;
	publish_progress(r, (uint64_t)n);
	return n;
}

static int handshake(struct run *r)
{
	struct vm_config *cfg = calloc(1, sizeof(*cfg));
	struct section sec;
	struct wbuf b;
	char reason[STREAM_REASON_MAX + 1], why[256];
	int ret;

	wbuf__init(&b);
	section__init(&sec);
	if (!cfg)
		return fail(r, -ENOMEM, "out of memory");
	ret = vm_sections__describe(r->vm, cfg, r->err, sizeof(r->err));
	if (ret)
		goto out;
	ret = vm_config__encode(cfg, &b);
	if (ret) {
		fail(r, ret, "encoding the configuration: %s", strerror(-ret));
		goto out;
	}
	ret = stream__write_preamble(&r->s);
	if (ret) {
		fail(r, ret, "sending the stream preamble: %s", strerror(-ret));
		goto out;
	}
	ret = send_section(r, SECTION_CONFIG, b.data, b.len);
	if (ret || r->uri.kind != TRANSPORT_TCP)
		goto out;
	/* The destination checks the configuration before any RAM is sent. */
	ret = stream__read_preamble(&r->s, why, sizeof(why));
	if (!ret)
		ret = stream__recv(&r->s, &sec, why, sizeof(why));
	if (ret) {
		fail(r, ret, "waiting for the destination to accept: %s", why);
		goto out;
	}
	if (sec.type == SECTION_REFUSE) {
		stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason), why, sizeof(why));
		ret = fail(r, -ECONNREFUSED, "destination refused: %s", reason);
	} else if (sec.type != SECTION_ACCEPT) {
		ret = fail(r, -EPROTO, "destination answered %s instead of ACCEPT",
			   stream__type_name(sec.type));
	}
out:
	section__free(&sec);
	wbuf__free(&b);
	free(cfg);
	return ret;
}

/* Our own pause reference: a user's cont cannot run the guest while the
 * state that goes out must be the state it resumes from. */
static void pause_guest(struct run *r)
{
	r->t_pause = clock__mono_us();
	vm__pause(r->vm);
	r->paused_by_us = true;
	r->t_paused = clock__mono_us();
}

static int finish_stream(struct run *r, uint32_t rounds)
{
	struct end_msg end = { .rounds = rounds, .total_pages = r->m->stats.pages_total };
	uint64_t before = r->s.bytes_out;
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	ret = vm_sections__send_state(r->vm, &r->s, r->err, sizeof(r->err));
	if (!ret) {
		/* The forecast used an estimate; record what it really was. */
		migrate_stats__lock(&r->m->stats);
		r->m->stats.device_state_bytes = r->s.bytes_out - before;
		migrate_stats__unlock(&r->m->stats);
		stream_msg__encode_end(&b, &end);
		ret = send_section(r, SECTION_END, b.data, b.len);
	}
	wbuf__free(&b);
	return ret;
}

static int wait_resumed(struct run *r)
{
	struct section sec;
	char reason[STREAM_REASON_MAX + 1], why[256];
	int ret;

	section__init(&sec);
	ret = stream__recv(&r->s, &sec, why, sizeof(why));
	if (ret)
		ret = fail(r, ret, "no word from the destination after the last section: %s", why);
	else if (sec.type == SECTION_FAILED) {
		stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason), why, sizeof(why));
		ret = fail(r, -EIO, "destination failed: %s", reason);
	} else if (sec.type != SECTION_RESUMED)
		ret = fail(r, -EPROTO, "destination answered %s instead of RESUMED",
			   stream__type_name(sec.type));
	section__free(&sec);
	return ret;
}

/* Round 0 has measured both rates: predict the rest, to be compared with
 * what happens (the summary and the JSON show both). */
static void record_forecast(struct run *r, const struct round_stats *rs, uint64_t pending)
{
	struct migrate_stats *st = &r->m->stats;
	struct forecast_input in = {
		.pending_pages = pending, .dirty_rate_pps = rs->dirty_rate_pps,
		/* Each page costs its 8-byte entry in the RAM section too. */
		.bandwidth_bps = rs->bandwidth_bps, .page_bytes = GUEST_PAGE_SIZE + 8,
		.device_state_bytes = vm_sections__state_estimate(r->vm),
		.ram_size = r->vm->mem.size, .bytes_sent = r->s.bytes_out,
		.elapsed_us = clock__mono_us() - st->start_mono_us,
	};
	struct migrate_forecast f;

	forecast__predict(&r->params, &in, &f);
	migrate_stats__lock(st);
	st->forecast = f;
	migrate_stats__unlock(st);
}

static int precopy(struct run *r, uint32_t *rounds)
{
	struct migrate_stats *st = &r->m->stats;
	struct policy_decision d = { 0 };
	struct round_stats rs;
	uint32_t k;
	int64_t n;
	int ret;

	for (k = 0;; k++) {
		ret = run_round(r, k, &rs);
		if (ret)
			return ret;
		n = sync_after(r, &rs);
		if (n < 0)
			return fail(r, (int)n, "reading the dirty log");
		struct policy_input in = {
			.round = k, .dirty_pages = (uint64_t)n, .page_size = GUEST_PAGE_SIZE,
			.bandwidth_bps = rs.bandwidth_bps, .bytes_sent_total = r->s.bytes_out,
			.ram_size = r->vm->mem.size,
			.device_state_bytes = vm_sections__state_estimate(r->vm),
		};
		ret = policy__decide(&r->policy, &in, &d);
		rs.expected_downtime_ms = d.expected_downtime_ms;
		migrate_stats__add_round(st, &rs);
		if (k == 0)
			record_forecast(r, &rs, (uint64_t)n);
		if (ret)
			return fail(r, ret, "convergence policy refused its input");
		if (cancelled(r))
			return fail(r, -ECANCELED, "cancelled");
		if (d.action == POLICY_CANCEL) {
			migrate_stats__lock(st);
			st->stop_reason = d.reason;
			migrate_stats__unlock(st);
			/* Not the user's cancel: the migration failed, by rule. */
			return fail(r, -EAGAIN, "gave up after round %u: %s (stall-action cancel)",
				    k, stop_reason__name(d.reason));
		}
		if (d.action == POLICY_STOP_COPY)
			break;
	}
	migrate_stats__lock(st);
	st->stop_reason = d.reason;
	migrate_stats__unlock(st);
	*rounds = k + 1;
	return 0;
}

static int run_migration(struct run *r)
{
	struct migrate_stats *st = &r->m->stats;
	struct round_stats rs;
	uint32_t rounds = 0;
	int64_t n;
	int fd, ret;

	fd = transport__open_source(&r->uri, CONNECT_TIMEOUT_MS, r->err, sizeof(r->err));
	if (fd < 0)
		return fd;
	stream__init(&r->s, fd, STREAM_SOURCE);
	r->s.is_socket = r->uri.kind == TRANSPORT_TCP;
	pthread_mutex_lock(&r->m->lock);
	r->m->fd = fd;
	pthread_mutex_unlock(&r->m->lock);
	/* A cancel before the fd was published could not shut it down. */
	if (cancelled(r))
		return fail(r, -ECANCELED, "cancelled");
	if (r->s.is_socket)
		transport__set_timeout(fd, PEER_TIMEOUT_MS);

	ret = handshake(r);
	if (ret)
		return ret;
	ret = dirty_log__start(&r->log, r->vm->kvm_fd, r->vm->vm_fd, &r->vm->mem,
			       r->m->force_plain_log, r->err, sizeof(r->err));
	if (ret)
		return ret;
	migrate_stats__lock(st);
	snprintf(st->dirty_log_mode, sizeof(st->dirty_log_mode), "%s", dirty_log__mode_name(&r->log));
	st->setup_us = clock__mono_us() - st->start_mono_us;
	st->device_state_bytes = vm_sections__state_estimate(r->vm);
	migrate_stats__unlock(st);
	move_to(r, MIGRATE_STATUS_ACTIVE);
	r->limit_start_us = clock__mono_us();
	r->limit_start_bytes = r->s.bytes_out;
	dirty_log__mark_all(&r->log);

	/* A file is a snapshot: the guest stops first and everything goes in
	 * one round. A live destination gets pre-copy rounds. */
	if (r->uri.kind == TRANSPORT_FILE) {
		move_to(r, MIGRATE_STATUS_STOP_COPY);
		pause_guest(r);
	} else {
		ret = precopy(r, &rounds);
		if (ret)
			return ret;
		move_to(r, MIGRATE_STATUS_STOP_COPY);
		pause_guest(r);
		n = dirty_log__sync(&r->log, r->err, sizeof(r->err));
		if (n < 0)
			return (int)n;
	}
	/* The stop-and-copy round: what is still dirty, with the guest paused. */
	ret = run_round(r, rounds, &rs);
	if (ret)
		return ret;
	rs.dirty_rate_pps = 0;
	rs.expected_downtime_ms = 0;
	migrate_stats__add_round(st, &rs);
	r->t_last_ram = clock__mono_us();
	ret = finish_stream(r, rounds + 1);
	if (ret)
		return ret;
	r->t_state = clock__mono_us();
	if (r->uri.kind == TRANSPORT_FILE)
		ret = transport__commit_file(&r->uri, fd, r->err, sizeof(r->err));
	else
		ret = wait_resumed(r);
	if (ret)
		return ret;
	migrate_stats__lock(st);
	st->downtime_us = clock__mono_us() - r->t_pause;
	st->downtime_pause_us = r->t_paused - r->t_pause;
	st->downtime_last_ram_us = r->t_last_ram - r->t_paused;
	st->downtime_state_us = r->t_state - r->t_last_ram;
	st->downtime_resume_us = st->downtime_us - (r->t_state - r->t_pause);
	st->ram_remaining = 0;
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
	return 0;
}

/* The final status, the files and the summary as one step under the stats
 * lock: a new migration can start only after it, so it never clears the
 * record before this one is written. Nothing shared is touched after. */
static void finish(struct run *r, int ret)
{
	struct migration *m = r->m;
	struct migrate_stats *st = &m->stats;
	char summary[8192], uri[sizeof(st->uri)];
	bool ended;

	dirty_log__stop(&r->log);
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
		move_to(r, MIGRATE_STATUS_COMPLETED);
		migration__write_stats(m, &r->params);
		migrate_stats__format_summary(st, summary, sizeof(summary));
		fprintf(stderr, "%s", summary);
		migrate_stats__unlock(st);
		return;
	}
	if (r->uri.kind == TRANSPORT_FILE)
		transport__discard_file(&r->uri);
	if (r->paused_by_us)
		vm__resume(r->vm);
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "%s", strerror(-ret));
	migrate_stats__set_error(st, "%s", r->err);
	move_to(r, ret == -ECANCELED ? MIGRATE_STATUS_CANCELLED : MIGRATE_STATUS_FAILED);
	migration__write_stats(m, &r->params);
	migrate_stats__unlock(st);
	ended = vm__is_exiting(r->vm);
	log_error("migration to %s %s: %s; %s", uri, ret == -ECANCELED ? "cancelled" : "failed",
		  r->err, ended ? "the guest had ended meanwhile" : "the guest keeps running here");
}

void *migration__thread(void *arg)
{
	struct migration *m = arg;
	struct run *r = calloc(1, sizeof(*r));
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
	pthread_mutex_lock(&m->lock);
	r->params = m->params;
	pthread_mutex_unlock(&m->lock);
	ram_batch__init(&r->batch);
	policy__init(&r->policy, &r->params);
	ret = run_migration(r);
	/* A cancel unblocks the thread by shutting the socket down: whatever
	 * error that caused, the reason is the cancel. */
	if (ret && ret != -ECANCELED && cancelled(r)) {
		ret = -ECANCELED;
		snprintf(r->err, sizeof(r->err), "cancelled");
	}
	finish(r, ret);
	ram_batch__free(&r->batch);
	free(r);
	return NULL;
}
