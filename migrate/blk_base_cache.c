#include "blk_base_cache.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "drive.h"
#include "errmsg.h"
#include "log.h"

/* Small steps: a caller that needs the digest takes over from the
 * background thread between two of them, so it never waits long for a
 * thread the scheduler runs last. */
#define STEP		(256u << 10)
/* File times advance in coarse ticks: a write in the tick of our last
 * fstat could leave them as recorded. A base changed less than this
 * before its read ended is not trusted to stay recognisable. */
#define SETTLE_NS	100000000ll

struct ident {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

/* JOB_LAZY: not hashed ahead (base-digest=lazy); the first migration
 * computes it and keeps it, as after JOB_VOID. */
enum job_state { JOB_RUNNING, JOB_DONE, JOB_VOID, JOB_LAZY };

struct job {
	struct blk_backend *b;
	pthread_t thread;
	pthread_mutex_t join_lock;	/* over has_thread */
	bool has_thread;
	bool stop;			/* atomic: the thread leaves at its next step */
	pthread_mutex_t lock;		/* over everything below */
	enum job_state state;
	int fd;				/* the base file, for fstat */
	struct blk_base_hasher *hasher;	/* while JOB_RUNNING */
	uint64_t size;
	struct ident id;		/* before the read; once done, still so after */
	uint8_t digest[BLK_BASE_DIGEST_LEN];
	uint64_t t0, ahead_us;
	bool finished_now;
	bool by_migration;		/* JOB_DONE by an earlier migration */
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct job *jobs[DRIVE_MAX];

static int ident_of(int fd, struct ident *id)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	*id = (struct ident){ .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
			      .mtim = st.st_mtim, .ctim = st.st_ctim };
	return 0;
}

static bool ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool ident_eq(const struct ident *a, const struct ident *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       ts_eq(a->mtim, b->mtim) && ts_eq(a->ctim, b->ctim);
}

static long long ts_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static bool ident_settled(const struct ident *id)
{
	struct timespec now;
	long long last;

	clock_gettime(CLOCK_REALTIME, &now);
	last = ts_ns(id->mtim) > ts_ns(id->ctim) ? ts_ns(id->mtim) : ts_ns(id->ctim);
	return ts_ns(now) - last > SETTLE_NS;
}

static struct job *find(const struct blk_backend *b, bool unlink)
{
	struct job *j = NULL;
	unsigned int i;

	pthread_mutex_lock(&jobs_lock);
	for (i = 0; i < DRIVE_MAX && !j; i++) {
		if (jobs[i] && jobs[i]->b == b) {
			j = jobs[i];
			if (unlink)
				jobs[i] = NULL;
		}
	}
	pthread_mutex_unlock(&jobs_lock);
	return j;
}

static void end_job(struct job *j, bool ok)
{
	struct ident after;

	if (ok)
		ok = !blk_base_hasher__final(j->hasher, j->digest) &&
		     !ident_of(j->fd, &after) && ident_eq(&j->id, &after) &&
		     ident_settled(&after);
	j->state = ok ? JOB_DONE : JOB_VOID;
	j->ahead_us = clock__mono_us() - j->t0;
	blk_base_hasher__free(j->hasher);
	j->hasher = NULL;
}

/* One step of the hash, under j->lock. */
static void step(struct job *j)
{
	int ret = blk_base_hasher__step(j->hasher);

	if (ret)
		end_job(j, ret == 1);
}

static void *hash_thread(void *arg)
{
	struct job *j = arg;
	bool running = true;

	pthread_setname_np(pthread_self(), "base-sha256");
	while (running && !__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&j->lock);
		if (j->state == JOB_RUNNING)
			step(j);
		running = j->state == JOB_RUNNING;
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

static void free_job(struct job *j)
{
	if (!j)
		return;
	blk_base_hasher__free(j->hasher);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->join_lock);
	free(j);
}

static int new_job(struct blk_backend *b, bool ahead, struct job **out, char *err,
		   size_t errlen)
{
	struct job *j = calloc(1, sizeof(*j));
	bool raw;
	int ret;

	*out = j;
	if (!j)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->join_lock, NULL);
	j->b = b;
	j->fd = blk_backend__base_fd(b, &raw);
	j->t0 = clock__mono_us();
	j->size = blk_backend__base_bytes(b);
	if (!ahead) {
		j->state = JOB_LAZY;
		return 0;
	}
	ret = blk_base_hasher__new(b, STEP, &j->hasher, err, errlen);
	if (ret)
		return ret;
	ret = ident_of(j->fd, &j->id);
	return ret ? errmsg__fail(ret, err, errlen, "%s", strerror(-ret)) : 0;
}

static int add_job(struct job *j)
{
	unsigned int i;

	pthread_mutex_lock(&jobs_lock);
	for (i = 0; i < DRIVE_MAX && jobs[i]; i++)
		;
	if (i < DRIVE_MAX)
		jobs[i] = j;
	pthread_mutex_unlock(&jobs_lock);
	return i < DRIVE_MAX ? 0 : -ENOSPC;
}

bool blk_base_cache__ahead(enum drive_base_digest mode, uint64_t base_bytes)
{
	if (mode == DRIVE_BASE_DIGEST_AUTO)
		return base_bytes <= BLK_BASE_CACHE_AHEAD_MAX;
	return mode == DRIVE_BASE_DIGEST_AHEAD;
}

/* SCHED_IDLE: beside a thread that wants the CPU (a vCPU, an I/O thread,
 * the rest of the host) the hash gets a sliver (weight 3 against 1024;
 * nice 19 would still take 15), and its reads get the idle I/O class
 * where the I/O scheduler has classes. glibc's attributes refuse it, so
 * it is set on the new thread, which waits on j->lock until then; from
 * here, before the sandbox, so no system call joins the allow-list. */
static void start_thread(struct job *j)
{
	struct sched_param idle = { .sched_priority = 0 };
	const char *path = blk_backend__base_path(j->b);
	int ret;

	pthread_mutex_lock(&j->lock);
	ret = -pthread_create(&j->thread, NULL, hash_thread, j);
	j->has_thread = !ret;
	if (!ret && pthread_setschedparam(j->thread, SCHED_IDLE, &idle))
		log_warn("base image %s: hashed at normal priority (no SCHED_IDLE)", path);
	pthread_mutex_unlock(&j->lock);
	if (ret)	/* the first migration computes it then */
		log_warn("base image %s: no thread to hash it ahead: %s", path, strerror(-ret));
}

int blk_base_cache__start(struct blk_backend *b, enum drive_base_digest mode, char *err,
			  size_t errlen)
{
	const char *path = blk_backend__base_path(b);
	uint64_t bytes = blk_backend__base_bytes(b);
	struct job *j = NULL;
	char why[256];
	bool ahead;
	int ret;

	if (!path)
		return 0;
	ahead = blk_base_cache__ahead(mode, bytes);
	ret = new_job(b, ahead, &j, why, sizeof(why));
	if (!ret && (ret = add_job(j)))
		snprintf(why, sizeof(why), "%s", strerror(-ret));
	if (ret) {
		free_job(j);
		return errmsg__fail(ret, err, errlen, "base image %s: %s", path, why);
	}
	log_info("base image %s, %llu bytes: SHA-256 %s (base-digest=%s)", path,
		 (unsigned long long)bytes, ahead ? "made ahead, at idle priority" :
		 "made when a migrate -i asks", drive__base_digest_name(mode));
	if (ahead)
		start_thread(j);
	return 0;
}

static void join(struct job *j)
{
	pthread_mutex_lock(&j->join_lock);
	__atomic_store_n(&j->stop, true, __ATOMIC_RELEASE);
	if (j->has_thread)
		pthread_join(j->thread, NULL);
	j->has_thread = false;
	pthread_mutex_unlock(&j->join_lock);
}

void blk_base_cache__stop(struct blk_backend *b)
{
	struct job *j = find(b, true);

	if (!j)
		return;
	join(j);
	free_job(j);
}

/* The caller's thread, at its own priority, reads what the background
 * thread has not. */
static void finish(struct job *j, struct blk_base_origin *how)
{
	uint64_t t0 = clock__mono_us();

	join(j);
	pthread_mutex_lock(&j->lock);
	if (j->state == JOB_RUNNING) {
		j->finished_now = true;
		while (j->state == JOB_RUNNING)
			step(j);
		how->now_us = clock__mono_us() - t0;
	}
	pthread_mutex_unlock(&j->lock);
}

static bool take_cached(struct job *j, uint64_t *size, uint8_t *digest,
			struct blk_base_origin *how)
{
	struct ident now;
	bool hit;

	pthread_mutex_lock(&j->lock);
	hit = j->state == JOB_DONE && !ident_of(j->fd, &now) && ident_eq(&j->id, &now);
	if (hit) {
		*size = j->size;
		memcpy(digest, j->digest, BLK_BASE_DIGEST_LEN);
		how->cached = true;
		how->finished_now = j->finished_now;
		how->by_migration = j->by_migration;
		how->ahead_us = j->ahead_us;
	}
	pthread_mutex_unlock(&j->lock);
	return hit;
}

/* Computed now as without a cache; kept for the next migration when the
 * base held still over the read. */
static int compute_now(struct job *j, struct blk_backend *b, uint64_t *size, uint8_t *digest,
		       struct blk_base_origin *how, char *err, size_t errlen)
{
	uint64_t t0 = clock__mono_us();
	struct ident before, after;
	bool keep;
	int ret;

	keep = j && !ident_of(j->fd, &before);
	ret = blk_base__digest(b, size, digest, err, errlen);
	how->now_us += clock__mono_us() - t0;
	if (ret || !keep || ident_of(j->fd, &after) || !ident_eq(&before, &after) ||
	    !ident_settled(&after))
		return ret;
	pthread_mutex_lock(&j->lock);
	j->state = JOB_DONE;
	j->id = after;
	j->size = *size;
	memcpy(j->digest, digest, BLK_BASE_DIGEST_LEN);
	j->ahead_us = clock__mono_us() - t0;
	j->finished_now = false;
	j->by_migration = true;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

int blk_base_cache__digest(struct blk_backend *b, uint64_t *size,
			   uint8_t digest[BLK_BASE_DIGEST_LEN], struct blk_base_origin *how,
			   char *err, size_t errlen)
{
	struct job *j = find(b, false);

	*how = (struct blk_base_origin){ 0 };
	if (j) {
		finish(j, how);
		if (take_cached(j, size, digest, how))
			return 0;
	}
	return compute_now(j, b, size, digest, how, err, errlen);
}

void blk_base_cache__describe(const struct blk_base_origin *how, char *out, size_t len)
{
	if (!how->cached)
		snprintf(out, len, "in %.1f ms", (double)how->now_us / 1000);
	else if (how->by_migration)
		snprintf(out, len, "cached (computed by an earlier migration in %.1f ms)",
			 (double)how->ahead_us / 1000);
	else if (how->finished_now)
		snprintf(out, len, "cached (begun at start, finished now: %.1f ms in all, "
			 "%.1f ms of it now)", (double)how->ahead_us / 1000,
			 (double)how->now_us / 1000);
	else
		snprintf(out, len, "cached (computed at start in %.1f ms)",
			 (double)how->ahead_us / 1000);
}
