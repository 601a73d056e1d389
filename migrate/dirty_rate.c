/* calc-dirty-rate: the pure arithmetic and text, and the measuring
 * thread, which borrows the migration's exclusion (migration.c's start
 * refuses while it measures, and it refuses while a migration runs). */
#include "dirty_rate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "dirty_log.h"
#include "errmsg.h"
#include "guest_memory.h"
#include "migration.h"
#include "migration_internal.h"
#include "outbuf.h"
#include "vm.h"

int dirty_rate__check_seconds(int64_t seconds, char *err, size_t errlen)
{
	if (seconds < DIRTY_RATE_MIN_SECONDS || seconds > DIRTY_RATE_MAX_SECONDS)
		return errmsg__fail(-ERANGE, err, errlen, "calc-time %" PRId64 " out of range "
				    "%d..%d seconds", seconds, DIRTY_RATE_MIN_SECONDS,
				    DIRTY_RATE_MAX_SECONDS);
	return 0;
}

void dirty_rate__finish(struct dirty_rate *r, uint64_t pages, uint64_t elapsed_us)
{
	r->pages = pages;
	r->elapsed_us = elapsed_us;
	r->pages_per_s = elapsed_us ? pages * 1e6 / (double)elapsed_us : 0.0;
	r->mib_per_s = r->pages_per_s * GUEST_PAGE_SIZE / (1024.0 * 1024.0);
	r->status = DIRTY_RATE_MEASURED;
}

double dirty_rate__vcpu_mib_per_s(const struct dirty_rate *r, unsigned int vcpu)
{
	if (vcpu >= r->nr_vcpus || !r->elapsed_us)
		return 0.0;
	return r->vcpu_pages[vcpu] * 1e6 / (double)r->elapsed_us * GUEST_PAGE_SIZE /
	       (1024.0 * 1024.0);
}

const char *dirty_rate__mode_name(enum dirty_rate_mode mode)
{
	return mode == DIRTY_RATE_MODE_RING ? "dirty-ring" : "dirty-bitmap";
}

const char *dirty_rate__status_name(enum dirty_rate_status st)
{
	switch (st) {
	case DIRTY_RATE_UNSTARTED:
		return "unstarted";
	case DIRTY_RATE_MEASURING:
		return "measuring";
	case DIRTY_RATE_MEASURED:
		return "measured";
	case DIRTY_RATE_FAILED:
		return "failed";
	}
	return "unknown";
}

void dirty_rate__format(const struct dirty_rate *r, char *buf, size_t len)
{
	struct outbuf o;
	unsigned int i;

	outbuf__init(&o, buf, len);
	outbuf__printf(&o, "status: %s\n", dirty_rate__status_name(r->status));
	if (r->status == DIRTY_RATE_UNSTARTED)
		return;
	outbuf__printf(&o, "calc-time: %" PRIu32 " s, mode %s\n", r->calc_time_s,
		       dirty_rate__mode_name(r->mode));
	if (r->status == DIRTY_RATE_FAILED)
		outbuf__printf(&o, "error: %s\n", r->error);
	if (r->status != DIRTY_RATE_MEASURED)
		return;
	outbuf__printf(&o, "dirty pages: %" PRIu64 " in %.3f s (dirty log %s)\n", r->pages,
		       r->elapsed_us / 1e6, r->dirty_log_mode);
	outbuf__printf(&o, "dirty rate: %.0f pages/s, %.2f MiB/s\n", r->pages_per_s, r->mib_per_s);
	for (i = 0; i < r->nr_vcpus; i++)
		outbuf__printf(&o, "vCPU %u: %" PRIu64 " pages, %.2f MiB/s\n", i, r->vcpu_pages[i],
			       dirty_rate__vcpu_mib_per_s(r, i));
}

bool migration__wait_us(struct migration *m, uint64_t us)
{
	struct timespec until;
	bool closing;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(us / 1000000);
	until.tv_nsec += (long)(us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&m->lock);
	while (!m->closing && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&m->cond, &m->lock, &until);
	closing = m->closing;
	pthread_mutex_unlock(&m->lock);
	return !closing;
}

/* Slices of the wait in ring mode: how soon a closing object is seen. */
#define HARVEST_SLICE_US 100000

bool migration__wait_harvesting(struct migration *m, struct dirty_log *log, uint64_t us)
{
	uint64_t end = clock__mono_us() + us, now, step;
	char err[128];

	if (!log->ring)
		return migration__wait_us(m, us);
	while ((now = clock__mono_us()) < end) {
		step = end - now < HARVEST_SLICE_US ? end - now : HARVEST_SLICE_US;
		/* A failed harvest shows again, with its reason, at the sync. */
		if (dirty_log__sleep_us(log, step, err, sizeof(err)) || !migration__wait_us(m, 0))
			break;
	}
	return migration__wait_us(m, 0);
}

/* The ring's per-vCPU counts of the one sync that ended the window. */
static void take_vcpu_pages(struct dirty_rate *r, struct dirty_log *log, unsigned int n)
{
	if (r->mode != DIRTY_RATE_MODE_RING || !log->ring)
		return;
	r->nr_vcpus = n < DIRTY_RATE_MAX_VCPUS ? n : DIRTY_RATE_MAX_VCPUS;
	dirty_log__take_vcpu_pages(log, r->vcpu_pages, r->nr_vcpus);
}

static void *rate_thread(void *arg)
{
	struct migration *m = arg;
	struct dirty_log log = { 0 };
	struct dirty_rate r;
	uint64_t t0;
	int64_t n = 0;
	int ret;

	pthread_setname_np(pthread_self(), "dirty-rate");
	pthread_mutex_lock(&m->lock);
	r = m->dirty_rate;
	pthread_mutex_unlock(&m->lock);
	ret = dirty_log__start(&log, m->vm,
			       m->force_plain_log, r.error, sizeof(r.error));
	t0 = clock__mono_us();
	if (!ret && !migration__wait_harvesting(m, &log, (uint64_t)r.calc_time_s * 1000000))
		ret = errmsg__fail(-ECANCELED, r.error, sizeof(r.error), "the VM ended first");
	if (!ret)
		n = dirty_log__sync(&log, r.error, sizeof(r.error));
	if (!ret && n >= 0) {
		snprintf(r.dirty_log_mode, sizeof(r.dirty_log_mode), "%s",
			 dirty_log__mode_name(&log));
		dirty_rate__finish(&r, (uint64_t)n, clock__mono_us() - t0);
		take_vcpu_pages(&r, &log, m->vm->nr_cpus);
	} else {
		r.status = DIRTY_RATE_FAILED;
	}
	dirty_log__stop(&log);
	pthread_mutex_lock(&m->lock);
	m->dirty_rate = r;
	pthread_mutex_unlock(&m->lock);
	migration__release_measure(m);
	return NULL;
}

void migration__release_measure(struct migration *m)
{
	migrate_stats__lock(&m->stats);
	m->measuring = false;
	migrate_stats__unlock(&m->stats);
}

/* Under the stats lock, as a migration's start: of the two, one wins. */
int migration__claim_measure(struct migration *m, char *err, size_t errlen)
{
	int ret = 0;

	migrate_stats__lock(&m->stats);
	ret = migration__vm_unavailable(m, "measure", err, errlen);
	if (!ret && migrate_status__is_running(migrate_stats__status(&m->stats)))
		ret = errmsg__fail(-EBUSY, err, errlen, "a migration is running; measure the "
				   "dirty rate before or after it");
	else if (!ret && m->measuring)
		ret = errmsg__fail(-EBUSY, err, errlen, "the dirty rate is already being measured");
	else if (!ret && m->recording)
		ret = errmsg__fail(-EBUSY, err, errlen, "a dirty trace is being recorded "
				   "(record-dirty); measure when it is done");
	else if (!ret)
		m->measuring = true;
	migrate_stats__unlock(&m->stats);
	return ret;
}

int migration__calc_dirty_rate(struct migration *m, uint32_t seconds, enum dirty_rate_mode mode,
			       char *err, size_t errlen)
{
	int ret = dirty_rate__check_seconds(seconds, err, errlen);

	if (ret)
		return ret;
	ret = migration__claim_measure(m, err, errlen);
	if (ret)
		return ret;
	/* Claimed: the VM is built and stays (its ring is fixed at birth). */
	if (mode == DIRTY_RATE_MODE_AUTO)
		mode = m->vm->dirty_ring_entries ? DIRTY_RATE_MODE_RING : DIRTY_RATE_MODE_BITMAP;
	if (mode == DIRTY_RATE_MODE_RING && !m->vm->dirty_ring_entries) {
		migration__release_measure(m);
		return errmsg__fail(-EINVAL, err, errlen, "mode dirty-ring needs the dirty ring: "
				    "start vmm with --dirty-ring ENTRIES (or measure with mode "
				    "dirty-bitmap)");
	}
	pthread_mutex_lock(&m->lock);
	/* The previous measurement's thread has ended (measuring was false). */
	if (m->rate_joinable)
		pthread_join(m->rate_thread, NULL);
	memset(&m->dirty_rate, 0, sizeof(m->dirty_rate));
	m->dirty_rate.status = DIRTY_RATE_MEASURING;
	m->dirty_rate.calc_time_s = seconds;
	m->dirty_rate.mode = mode;
	m->dirty_rate.start_time_s = clock__mono_us() / 1000000;
	ret = -pthread_create(&m->rate_thread, NULL, rate_thread, m);
	m->rate_joinable = !ret;
	if (ret) {
		m->dirty_rate.status = DIRTY_RATE_FAILED;
		errmsg__fail(ret, err, errlen, "cannot start the measuring thread: %s",
			     strerror(-ret));
	}
	pthread_mutex_unlock(&m->lock);
	if (ret)
		migration__release_measure(m);
	return ret;
}

void migration__dirty_rate(struct migration *m, struct dirty_rate *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->dirty_rate;
	pthread_mutex_unlock(&m->lock);
}

void migration__stop_dirty_rate(struct migration *m)
{
	bool joinable;

	pthread_mutex_lock(&m->lock);
	joinable = m->rate_joinable;
	m->rate_joinable = false;
	pthread_mutex_unlock(&m->lock);
	if (joinable)
		pthread_join(m->rate_thread, NULL);
}
