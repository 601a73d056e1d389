/* Control of the source side: start, cancel, statistics files, and the
 * monitor commands. The work itself is in source.c. */
#include "migration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blk_backend.h"
#include "dirty_trace.h"
#include "errmsg.h"
#include "log.h"
#include "migration_internal.h"
#include "outbuf.h"
#include "vm.h"

struct migration *migration__create(struct vm *vm)
{
	struct migration *m = calloc(1, sizeof(*m));
	pthread_condattr_t attr;

	if (!m)
		return NULL;
	m->vm = vm;
	m->fd = -1;
	m->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->cancel_fd < 0) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	/* The delayed start waits on the monotonic clock: a wall-clock step
	 * must not stretch or cut --migrate-after. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &attr);
	pthread_condattr_destroy(&attr);
	migrate_params__defaults(&m->params);
	if (migrate_stats__init(&m->stats)) {
		close(m->cancel_fd);
		pthread_cond_destroy(&m->cond);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	return m;
}

/* Ends a --migrate-after wait and joins its thread: after this no one can
 * start a migration from it. */
static void stop_delayed_start(struct migration *m)
{
	bool started;

	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_cond_broadcast(&m->cond);
	started = m->delay_started;
	m->delay_started = false;
	pthread_mutex_unlock(&m->lock);
	if (started)
		pthread_join(m->delay_thread, NULL);
}

void migration__destroy(struct migration *m)
{
	if (!m)
		return;
	stop_delayed_start(m);
	migration__stop_dirty_rate(m);
	/* The cancel below is for an outgoing migration only. */
	migration__vm_arrived(m);
	migration__cancel(m);
	migration__wait(m);
	migrate_stats__free(&m->stats);
	close(m->cancel_fd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->delay_uri);
	free(m);
}

void migration__set_stats_output(struct migration *m, const char *json_path, const char *csv_path)
{
	snprintf(m->json_path, sizeof(m->json_path), "%s", json_path ? json_path : "");
	snprintf(m->csv_path, sizeof(m->csv_path), "%s", csv_path ? csv_path : "");
}

struct migrate_stats *migration__stats(struct migration *m)
{
	return &m->stats;
}

void migration__set_incoming_stats(struct migration *m, struct migrate_stats *in)
{
	m->incoming = in;
}

void migration__expect_vm(struct migration *m, void (*cancel)(void *ctx), void *ctx,
			  uint32_t dirty_ring_entries)
{
	migrate_stats__lock(&m->stats);
	m->vm_arriving = true;
	m->arriving_ring_entries = dirty_ring_entries;
	m->incoming_cancel = cancel;
	m->incoming_cancel_ctx = ctx;
	migrate_stats__unlock(&m->stats);
}

void migration__vm_arrived(struct migration *m)
{
	migrate_stats__lock(&m->stats);
	m->vm_arriving = false;
	m->incoming_cancel = NULL;
	migrate_stats__unlock(&m->stats);
}

int migration__vm_unavailable(struct migration *m, const char *what, char *err,
			      size_t errlen)
{
	if (m->vm_arriving)
		return errmsg__fail(-EAGAIN, err, errlen, "the guest is still arriving (an "
				    "incoming migration); nothing to %s yet", what);
	if (vm__is_exiting(m->vm))
		return errmsg__fail(-ESRCH, err, errlen, "the guest has ended; nothing to %s",
				    what);
	return 0;
}

void migration__force_plain_dirty_log(struct migration *m, bool plain)
{
	m->force_plain_log = plain;
}

void migration__set_secret(struct migration *m, const struct auth_secret *s)
{
	m->secret = s;
}

void migration__set_tls_creds(struct migration *m, const struct tls_creds *c)
{
	m->creds = c;
}

static bool is_running(struct migration *m)
{
	return migrate_status__is_running(migrate_stats__status(&m->stats));
}

void migration__wait(struct migration *m)
{
	bool joinable;

	pthread_mutex_lock(&m->lock);
	joinable = m->thread_joinable;
	m->thread_joinable = false;
	pthread_mutex_unlock(&m->lock);
	if (joinable)
		pthread_join(m->thread, NULL);
}

static void drain_cancel(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* The start transition and everything the new migration's record needs,
 * as one step under the stats lock. The guest's end is checked inside it
 * too: a migration that completes ends the guest before it leaves
 * stop-copy, so no second migration can start from a guest already sent. */
static int claim_start(struct migration *m, const char *uri, char *err, size_t errlen)
{
	int ret;

	migrate_stats__lock(&m->stats);
	ret = migration__vm_unavailable(m, "migrate", err, errlen);
	if (ret) {
		/* err says why */
	} else if (migrate_stats__status(&m->stats) == MIGRATE_STATUS_UNCONFIRMED &&
		   vm__is_paused(m->vm)) {
		/* The last GO may have the guest running elsewhere. */
		ret = -EBUSY;
		snprintf(err, errlen, "the last handover is unconfirmed: 'cont' once the "
			 "destination is known dead, or 'quit'");
	} else if (m->recording) {
		ret = -EBUSY;
		snprintf(err, errlen, "a dirty trace is being recorded (record-dirty); "
			 "migrate when it is done");
	} else if (m->measuring) {
		ret = -EBUSY;
		snprintf(err, errlen, "the dirty rate is being measured (calc-dirty-rate); "
			 "migrate once it is measured");
	} else {
		ret = migrate_stats__start(&m->stats, uri);
		if (ret)
			snprintf(err, errlen, "a migration is already running (migrate_cancel stops it)");
	}
	if (!ret) {
		m->stats.ram_total = m->vm->mem.size;
		m->stats.ram_remaining = m->vm->mem.size;
		__atomic_store_n(&m->cancel_requested, false, __ATOMIC_RELEASE);
		drain_cancel(m->cancel_fd);
	}
	migrate_stats__unlock(&m->stats);
	return ret;
}

void migration__set_drives(struct migration *m, const struct migration_drive *d,
			   unsigned int n)
{
	pthread_mutex_lock(&m->lock);
	m->nr_drives = n < MIGRATION_MAX_DRIVES ? n : MIGRATION_MAX_DRIVES;
	memcpy(m->drives, d, m->nr_drives * sizeof(*d));
	pthread_mutex_unlock(&m->lock);
}

/* What block migration cannot do yet, or at all, said before anything
 * starts: the capability at set time, migrate -b at its start. */
static int check_block(struct migration *m, bool incremental, char *err, size_t errlen)
{
	unsigned int i;

	if (!m->nr_drives)
		return errmsg__fail(-EINVAL, err, errlen, "block migration copies the drives' "
				    "images, and this VM has no drive (--drive)");
	for (i = 0; i < m->nr_drives; i++) {
		if (incremental && !m->drives[i].qcow2)
			return errmsg__fail(-EINVAL, err, errlen, "incremental block migration: "
					    "drive %u is raw, with no base image to be incremental "
					    "over: copy it whole (migrate -b, block-incremental off)",
					    i);
		if (incremental && !blk_backend__base_path(m->drives[i].backend))
			return errmsg__fail(-EINVAL, err, errlen, "incremental block migration: "
					    "drive %u is a qcow2 image without a backing file, with "
					    "no base image to be incremental over: copy it whole "
					    "(migrate -b, block-incremental off)", i);
		if (m->drives[i].readonly)
			return errmsg__fail(-EINVAL, err, errlen, "block migration: drive %u is "
					    "read-only: the destination's copy must be writable while "
					    "its device stays read-only; share a read-only image "
					    "instead (migrate without -b)", i);
	}
	return 0;
}

static int start(struct migration *m, const char *uri, bool block, bool inc, char *err,
		 size_t errlen)
{
	struct migrate_uri u;
	int ret;

	ret = transport__parse_uri(uri, &u, err, errlen);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (block || m->params.caps[MIGRATE_CAP_BLOCK]) {
		ret = check_block(m, inc || m->params.block_incremental, err, errlen);
		/* A file is read back by the same host, from the same images:
		 * nothing to copy, and its layout has no place for them. */
		if (!ret && u.kind == TRANSPORT_FILE)
			ret = errmsg__fail(-EINVAL, err, errlen, "block migration sends the "
					   "images to a running destination; a file: save keeps "
					   "the VM's state only (its drives stay where they are)");
	}
	pthread_mutex_unlock(&m->lock);
	if (ret)
		return ret;
	ret = claim_start(m, uri, err, errlen);
	if (ret)
		return ret;
	/* Only the one caller that moved the status to setup gets here. The
	 * previous thread has reached its final status and touches nothing
	 * shared any more: reap it before its handle is reused. */
	migration__wait(m);
	pthread_mutex_lock(&m->lock);
	m->uri = u;
	m->block_once = block;
	m->inc_once = inc;
	ret = pthread_create(&m->thread, NULL, migration__thread, m);
	m->thread_joinable = !ret;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		migrate_stats__set_error(&m->stats, "cannot start the migration thread");
		migrate_stats__move(&m->stats, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_FAILED);
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

int migration__start(struct migration *m, const char *uri, char *err, size_t errlen)
{
	return start(m, uri, false, false, err, errlen);
}

int migration__start_block(struct migration *m, const char *uri, char *err, size_t errlen)
{
	return start(m, uri, true, false, err, errlen);
}

int migration__start_incremental(struct migration *m, const char *uri, char *err,
				 size_t errlen)
{
	return start(m, uri, true, true, err, errlen);
}

static void *delayed_start(void *arg)
{
	struct migration *m = arg;
	struct timespec until;
	char err[512];
	bool closing;
	int ret = 0;

	pthread_setname_np(pthread_self(), "migrate-after");
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(m->delay_us / 1000000);
	until.tv_nsec += (long)(m->delay_us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	while (!m->closing && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&m->cond, &m->lock, &until);
	closing = m->closing;
	pthread_mutex_unlock(&m->lock);
	if (!closing && migration__start(m, m->delay_uri, err, sizeof(err)))
		log_error("--migrate-to %s: %s", m->delay_uri, err);
	return NULL;
}

int migration__start_after(struct migration *m, const char *uri, uint64_t delay_us,
			   char *err, size_t errlen)
{
	int ret = -EBUSY;

	pthread_mutex_lock(&m->lock);
	if (m->delay_started || m->closing) {
		snprintf(err, errlen, "a delayed migration is already set");
		goto out;
	}
	free(m->delay_uri);
	m->delay_uri = strdup(uri);
	m->delay_us = delay_us;
	ret = m->delay_uri ? -pthread_create(&m->delay_thread, NULL, delayed_start, m) : -ENOMEM;
	m->delay_started = !ret;
	if (ret)
		snprintf(err, errlen, "cannot start the --migrate-after thread: %s", strerror(-ret));
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int migration__cancel(struct migration *m)
{
	void (*incoming_cancel)(void *ctx);
	void *incoming_ctx;
	uint64_t one = 1;
	bool running;

	/* Under the stats lock, as the start clears the flag: a cancel that
	 * sees a migration running is never lost to that clearing. */
	migrate_stats__lock(&m->stats);
	running = is_running(m);
	if (running) {
		__atomic_store_n(&m->cancel_requested, true, __ATOMIC_RELEASE);
		/* Inside the lock too: a start drains it there, so a cancel
		 * meant for this migration cannot reach the next one. */
		if (write(m->cancel_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("migrate_cancel: cannot signal the migration thread");
	}
	incoming_cancel = running || !m->vm_arriving ? NULL : m->incoming_cancel;
	incoming_ctx = m->incoming_cancel_ctx;
	migrate_stats__unlock(&m->stats);
	if (incoming_cancel) {
		/* A destination still receiving: the cancel is for that. */
		incoming_cancel(incoming_ctx);
		return 0;
	}
	if (!running)
		return -ENOENT;
	/* Unblocks a send or receive in progress; the thread then sees the
	 * flag, resumes the guest and reports "cancelled". */
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void migration__write_stats(struct migration *m, const struct migrate_params *p)
{
	if (m->json_path[0])
		migrate_stats__write_file(&m->stats, p, m->json_path, false);
	if (m->csv_path[0])
		migrate_stats__write_file(&m->stats, p, m->csv_path, true);
}

bool migration__is_running(struct migration *m)
{
	return is_running(m);
}

/* The dirty log has one user at a time: a recording, a measurement
 * (calc-dirty-rate) or a migration. */
static int claim_recording(struct migration *m, char *err, size_t errlen)
{
	int ret = 0;

	migrate_stats__lock(&m->stats);
	ret = migration__vm_unavailable(m, "record", err, errlen);
	if (ret) {
		/* err says why */
	} else if (is_running(m)) {
		ret = -EBUSY;
		snprintf(err, errlen, "a migration is running; it uses the dirty log");
	} else if (m->recording) {
		ret = -EBUSY;
		snprintf(err, errlen, "a dirty trace is already being recorded");
	} else if (m->measuring) {
		ret = -EBUSY;
		snprintf(err, errlen, "the dirty rate is being measured (calc-dirty-rate); "
			 "record when it is measured");
	} else {
		m->recording = true;
	}
	migrate_stats__unlock(&m->stats);
	return ret;
}

int migration__record_dirty(struct migration *m, const char *path, uint64_t duration_us,
			    uint64_t interval_us, struct dirty_trace_result *res,
			    char *err, size_t errlen)
{
	int ret = claim_recording(m, err, errlen);

	if (ret)
		return ret;
	ret = dirty_trace__record(m->vm, path, duration_us, interval_us, m->force_plain_log,
				  res, err, errlen);
	migrate_stats__lock(&m->stats);
	m->recording = false;
	migrate_stats__unlock(&m->stats);
	return ret;
}

void migration__format_info(struct migration *m, char *buf, size_t len)
{
	struct outbuf o;

	if (migrate_stats__status(&m->stats) == MIGRATE_STATUS_NONE && m->incoming) {
		outbuf__init(&o, buf, len);
		outbuf__printf(&o, "incoming migration (none started from here yet):\n");
		migrate_stats__format_info(m->incoming, buf + o.pos, len - o.pos);
		return;
	}
	migrate_stats__format_info(&m->stats, buf, len);
}

int migration__set_parameter(struct migration *m, const char *name, const char *value,
			     char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = migrate_params__set(&m->params, name, value, err, errlen);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* The VM's dirty ring; on a destination whose guest has not arrived, the
 * one it will be built with. */
static uint32_t ring_entries(struct migration *m)
{
	uint32_t n;

	migrate_stats__lock(&m->stats);
	n = m->vm_arriving ? m->arriving_ring_entries : m->vm->dirty_ring_entries;
	migrate_stats__unlock(&m->stats);
	return n;
}

int migration__check_capabilities(struct migration *m, const struct migrate_params *p,
				   char *err, size_t errlen)
{
	/* dirty-limit slows each vCPU by its own rate, which only the ring
	 * counts (QEMU refuses it without the ring too). */
	if (p->caps[MIGRATE_CAP_DIRTY_LIMIT] && !ring_entries(m))
		return errmsg__fail(-EINVAL, err, errlen, "dirty-limit needs the dirty ring: "
				    "start vmm with --dirty-ring ENTRIES");
	if (p->caps[MIGRATE_CAP_BLOCK])
		return check_block(m, p->block_incremental, err, errlen);
	return 0;
}

int migration__set_capability(struct migration *m, const char *name, bool on,
			      char *err, size_t errlen)
{
	struct migrate_params p;
	int ret;

	pthread_mutex_lock(&m->lock);
	p = m->params;
	ret = migrate_params__set_capability(&p, name, on, err, errlen);
	if (!ret)
		ret = migration__check_capabilities(m, &p, err, errlen);
	if (!ret)
		m->params = p;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void migration__format_capabilities(struct migration *m, char *buf, size_t len)
{
	pthread_mutex_lock(&m->lock);
	migrate_params__format_capabilities(&m->params, buf, len);
	pthread_mutex_unlock(&m->lock);
}

void migration__format_parameters(struct migration *m, char *buf, size_t len)
{
	pthread_mutex_lock(&m->lock);
	migrate_params__format(&m->params, buf, len);
	pthread_mutex_unlock(&m->lock);
}

void migration__get_params(struct migration *m, struct migrate_params *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->params;
	pthread_mutex_unlock(&m->lock);
}

void migration__set_params(struct migration *m, const struct migrate_params *p)
{
	pthread_mutex_lock(&m->lock);
	m->params = *p;
	pthread_mutex_unlock(&m->lock);
}

void migration__set_status_listener(struct migration *m, migrate_status_fn fn, void *ctx)
{
	migrate_stats__set_listener(&m->stats, fn, ctx);
}

/* This side's migration, or on a destination where none started from
 * here yet, the one that brought the guest. */
static struct migrate_stats *shown_stats(struct migration *m)
{
	if (migrate_stats__status(&m->stats) == MIGRATE_STATUS_NONE && m->incoming)
		return m->incoming;
	return &m->stats;
}

bool migration__moved_away(struct migration *m)
{
	return migrate_stats__status(&m->stats) == MIGRATE_STATUS_COMPLETED;
}

enum migrate_status migration__status(struct migration *m)
{
	return migrate_stats__status(shown_stats(m));
}

int migration__write_info_json(struct migration *m, FILE *f)
{
	struct migrate_params p;
	struct migrate_stats *s = shown_stats(m);

	migration__get_params(m, &p);
	return migrate_stats__write_json(s, s == m->incoming ? NULL : &p, f);
}
