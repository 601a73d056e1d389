#include "progress.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "migration.h"
#include "outbuf.h"

#define TICK_US 250000		/* at most 4 redraws a second */
#define MIB (1024.0 * 1024.0)

struct progress {
	struct migration *m;		/* a source's line, or */
	struct migrate_stats *in;	/* a destination's disk line */
	pthread_t thread;
	bool stop;			/* atomic */
	uint64_t last_bytes, last_us;
	bool shown;
	bool done;			/* the disk line's last word is said */
};

#define DISK_LINE "Receiving block device images Completed"

static const struct round_stats *last_round(const struct migrate_stats *s)
{
	return s->rounds_len ? &s->rounds_v[s->rounds_len - 1] : NULL;
}

/* A line longer than the terminal wraps, and "\r" then rewrites only its
 * last part: cut it to the width. */
static void fit_width(char *buf, unsigned int width)
{
	if (width > 1 && strlen(buf) >= width)
		buf[width - 1] = '\0';
}

void progress__format(const struct migrate_stats *s, double rate_bps, char *buf, size_t len,
		      unsigned int width)
{
	const struct round_stats *r = last_round(s);
	enum migrate_status st = migrate_state__get(&s->state);
	struct outbuf o;

	outbuf__init(&o, buf, len);
	if (st == MIGRATE_STATUS_SETUP) {
		outbuf__printf(&o, "migrate: setup");
	} else {
		outbuf__printf(&o, "migrate: %s %u, sent %.1f MiB, remaining %.1f MiB",
			       st == MIGRATE_STATUS_STOP_COPY ? "stop-and-copy, round" : "round",
			       s->rounds, (double)s->ram_transferred / MIB,
			       (double)s->ram_remaining / MIB);
		if (rate_bps >= 0)
			outbuf__printf(&o, ", %.1f MiB/s", rate_bps / MIB);
		if (r && isfinite(r->dirty_rate_pps))
			outbuf__printf(&o, ", dirty %.0f pages/s", r->dirty_rate_pps);
		if (r && isfinite(r->expected_downtime_ms))
			outbuf__printf(&o, ", exp. downtime %.1f ms", r->expected_downtime_ms);
		if (rate_bps > 0)
			outbuf__printf(&o, ", eta %.1f s", (double)s->ram_remaining / rate_bps);
	}
	fit_width(buf, width);
}

int progress__format_disk(const struct migrate_stats *s, char *buf, size_t len,
			  unsigned int width)
{
	uint64_t done = s->disk_transferred < s->disk_total ? s->disk_transferred : s->disk_total;
	int pct;

	buf[0] = '\0';
	if (!s->disk_total)
		return -1;
	/* Blocks the guest wrote meanwhile come again: 100 only once the
	 * images are complete (synced, before READY). */
	pct = s->disk_remaining ? (int)(done * 100 / s->disk_total) : 100;
	if (s->disk_remaining && pct > 99)
		pct = 99;
	snprintf(buf, len, DISK_LINE " %d %%", pct);
	fit_width(buf, width);
	return pct;
}

static unsigned int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col)
		return 80;
	return ws.ws_col;
}

/* The destination's: the line while the images arrive, then 100 % on a
 * line of its own that stays; erased if the migration fails first. */
static void tick_disk(struct progress *p)
{
	enum migrate_status st;
	char line[128];
	int pct;

	migrate_stats__lock(p->in);
	st = migrate_state__get(&p->in->state);
	pct = progress__format_disk(p->in, line, sizeof(line), term_width());
	if (p->done || pct < 0) {
		/* nothing to say, or said */
	} else if (st == MIGRATE_STATUS_FAILED || st == MIGRATE_STATUS_CANCELLED) {
		if (p->shown)
			log_status(NULL);
		p->shown = false;
		p->done = true;
	} else if (pct == 100) {
		snprintf(line, sizeof(line), DISK_LINE " 100 %%\n");
		log_text(line);
		p->shown = false;
		p->done = true;
	} else {
		log_status(line);
		p->shown = true;
	}
	migrate_stats__unlock(p->in);
}

/* One look at the statistics: draw, or erase once the migration is over.
 * Under the stats lock, so the line cannot be drawn after the summary the
 * migration thread prints under it. */
static void tick(struct progress *p)
{
	struct migrate_stats *s = migration__stats(p->m);
	uint64_t now = clock__mono_us();
	double rate = -1;
	char line[512];

	migrate_stats__lock(s);
	if (migrate_status__is_running(migrate_state__get(&s->state))) {
		if (p->shown && now > p->last_us && s->bytes_total >= p->last_bytes)
			rate = (double)(s->bytes_total - p->last_bytes) * 1e6 / (double)(now - p->last_us);
		progress__format(s, rate, line, sizeof(line), term_width());
		log_status(line);
		p->shown = true;
		p->last_bytes = s->bytes_total;
		p->last_us = now;
	} else if (p->shown) {
		log_status(NULL);
		p->shown = false;
	}
	migrate_stats__unlock(s);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec step = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
	uint64_t next = 0;

	pthread_setname_np(pthread_self(), "progress");
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		if (clock__mono_us() >= next) {
			if (p->in)
				tick_disk(p);
			else
				tick(p);
			next = clock__mono_us() + TICK_US;
		}
		nanosleep(&step, NULL);
	}
	return NULL;
}

static struct progress *start(struct migration *m, struct migrate_stats *in)
{
	struct progress *p;

	if (!isatty(STDERR_FILENO))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->m = m;
	p->in = in;
	if (pthread_create(&p->thread, NULL, progress_thread, p)) {
		free(p);
		return NULL;
	}
	return p;
}

struct progress *progress__start(struct migration *m)
{
	return start(m, NULL);
}

struct progress *progress__start_incoming(struct migrate_stats *in)
{
	return start(NULL, in);
}

void progress__stop(struct progress *p)
{
	if (!p)
		return;
	__atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	/* The images may have completed since the last look. */
	if (p->in)
		tick_disk(p);
	if (p->shown)
		log_status(NULL);
	free(p);
}
