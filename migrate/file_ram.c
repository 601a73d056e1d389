#include "file_ram.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "errmsg.h"
#include "log.h"
#include "mem_zero.h"
#include "uring_ring.h"
#include "wire.h"

static atomic_bool buffered_logged, sync_logged;

int file_ram__open(const char *path, int flags, char *err, size_t errlen)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);

	/* tmpfs and some FUSE file systems refuse O_DIRECT at open. */
	if (fd < 0 && errno == EINVAL) {
		fd = open(path, flags | O_CLOEXEC, 0600);
		if (fd >= 0 && !atomic_exchange(&buffered_logged, true))
			log_info("%s: the file system does not take O_DIRECT; RAM goes through "
				 "the page cache", path);
	}
	if (fd < 0) {
		fd = -errno;
		errmsg__set(err, errlen, "cannot open %s: %s", path, strerror(errno));
	}
	return fd;
}

/* One request: a run of pages, its place in the file and in memory. */
struct req {
	uint64_t page, count;
	uint64_t done;			/* bytes transferred so far */
	bool busy;
	bool unchecked;			/* read, its pages not yet checked */
};

struct pipe {
	struct file_ram_job *j;
	struct pool_ring *slot;		/* the ring taken, while have_ring */
	struct io_uring *ring;		/* slot's */
	bool have_ring;
	bool write;
	struct req reqs[FILE_RAM_DEPTH];
	unsigned int inflight;
	uint64_t pages;			/* transferred whole */
	int err;			/* first failure, -errno */
};

/* The process's rings, made at start-up (file_ram__rings_init) before
 * the sandbox, whose allow-list has no io_uring_setup: a save uses ring
 * 0, a restore's thread i ring i. A use leaves its ring empty (nothing
 * queued, in flight or unreaped) for the next one; a ring left otherwise
 * is retired, and what would have used it goes through pwrite/pread. */
struct pool_ring {
	struct io_uring ring;
	bool made;
	atomic_bool busy;
};

static struct pool_ring pool[FILE_RAM_LOAD_THREADS];

int file_ram__rings_init(void)
{
	static const uint8_t ops[] = { IORING_OP_READ, IORING_OP_WRITE };
	unsigned int i, made = 0;
	int ret = 0, r;

	for (i = 0; i < FILE_RAM_LOAD_THREADS; i++) {
		if (pool[i].made) {
			made++;
			continue;
		}
		r = uring_ring__init_restricted(&pool[i].ring, FILE_RAM_DEPTH, ops, sizeof(ops));
		pool[i].made = !r;
		made += !r;
		ret = ret ? ret : r;
	}
	if (ret)
		log_info("io_uring for saved files: %s; %s", strerror(-ret), made ?
			 "a restore reads with fewer rings" :
			 "a saved file's RAM goes through pwrite/pread, one request at a time");
	return made ? 0 : ret;
}

void file_ram__rings_exit(void)
{
	unsigned int i;

	for (i = 0; i < FILE_RAM_LOAD_THREADS; i++) {
		if (pool[i].made)
			io_uring_queue_exit(&pool[i].ring);
		pool[i].made = false;
	}
}

static uint64_t req_len(const struct req *q)
{
	return q->count * FILE_PAGE_SIZE;
}

static uint64_t req_offset(const struct pipe *p, const struct req *q)
{
	return p->j->layout->ram_offset + q->page * FILE_PAGE_SIZE + q->done;
}

static uint8_t *req_buf(const struct pipe *p, const struct req *q)
{
	return p->j->base + q->page * FILE_PAGE_SIZE + q->done;
}

static void fail(struct pipe *p, int ret)
{
	if (!p->err)
		p->err = ret;
}

/* Without a ring: the request, whole, now. */
static int run_sync(struct pipe *p, struct req *q)
{
	ssize_t n;

	while (q->done < req_len(q)) {
		n = p->write ? pwrite(p->j->fd, req_buf(p, q), req_len(q) - q->done,
				      (off_t)req_offset(p, q)) :
			       pread(p->j->fd, req_buf(p, q), req_len(q) - q->done,
				     (off_t)req_offset(p, q));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		q->done += (uint64_t)n;
	}
	return 0;
}

static int submit(struct pipe *p, struct req *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(p->ring);
	int ret;

	if (!sqe)
		return -EBUSY;	/* cannot happen: one sqe per free req */
	if (p->write)
		io_uring_prep_write(sqe, p->j->fd, req_buf(p, q),
				    (unsigned int)(req_len(q) - q->done), req_offset(p, q));
	else
		io_uring_prep_read(sqe, p->j->fd, req_buf(p, q),
				   (unsigned int)(req_len(q) - q->done), req_offset(p, q));
	io_uring_sqe_set_data(sqe, q);
	do {
		ret = io_uring_submit(p->ring);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	q->busy = true;
	p->inflight++;
	return 0;
}

static int check_pages(struct pipe *p, const struct req *q)
{
	uint64_t i, page;
	uint32_t want, got;

	for (i = 0; i < q->count; i++) {
		page = q->page + i;
		want = wire__get_le32(p->j->crcs + page * 4);
		got = crc32c__extend(0, p->j->base + page * FILE_PAGE_SIZE, FILE_PAGE_SIZE);
		if (got != want)
			return -EBADMSG;
	}
	return 0;
}

/* A request has finished: a short transfer goes on from where it
 * stopped; a read's pages are checked once the next request is in
 * flight (check_done), so the disk never waits for the checksums. */
static int complete(struct pipe *p, struct req *q)
{
	int ret;

	if (q->done < req_len(q)) {
		ret = p->have_ring ? submit(p, q) : run_sync(p, q);
		if (ret || p->have_ring)
			return ret;
	}
	p->pages += q->count;
	q->unchecked = !p->write;
	return 0;
}

static void check_done(struct pipe *p)
{
	unsigned int i;

	for (i = 0; i < FILE_RAM_DEPTH; i++) {
		if (!p->reqs[i].unchecked)
			continue;
		p->reqs[i].unchecked = false;
		if (!p->err && check_pages(p, &p->reqs[i]))
			fail(p, -EBADMSG);
	}
}

/* Waits for one completion and settles it. */
static int reap(struct pipe *p)
{
	struct io_uring_cqe *cqe;
	struct req *q;
	int ret;

	do {
		ret = io_uring_wait_cqe(p->ring, &cqe);
	} while (ret == -EINTR || ret == -EAGAIN);
	if (ret)
		return -ENXIO;	/* the ring itself broke: nothing more to wait for */
	q = io_uring_cqe_get_data(cqe);
	ret = cqe->res;
	io_uring_cqe_seen(p->ring, cqe);
	q->busy = false;
	p->inflight--;
	if (ret < 0)
		return ret;
	if (!ret)
		return -EIO;	/* end of file inside the RAM region */
	q->done += (uint64_t)ret;
	return complete(p, q);
}

/* A free request, reaping one that finished if all are busy. */
static struct req *free_req(struct pipe *p)
{
	unsigned int i;
	int ret;

	while (p->have_ring && p->inflight == FILE_RAM_DEPTH) {
		ret = reap(p);
		if (ret)
			fail(p, ret);
		if (ret == -ENXIO)
			return NULL;
	}
	for (i = 0; i < FILE_RAM_DEPTH; i++)
		if (!p->reqs[i].busy && !p->reqs[i].unchecked)
			return &p->reqs[i];
	/* Every free one still waits for its check: check, then take one. */
	check_done(p);
	for (i = 0; i < FILE_RAM_DEPTH; i++)
		if (!p->reqs[i].busy)
			return &p->reqs[i];
	return NULL;
}

static void queue(struct pipe *p, uint64_t page, uint64_t count)
{
	struct req *q;
	int ret;

	if (p->err)
		return;
	q = free_req(p);
	if (!q || p->err)
		return;
	*q = (struct req){ .page = page, .count = count };
	if (!p->have_ring) {
		ret = run_sync(p, q);
		ret = ret ? ret : complete(p, q);
	} else {
		ret = submit(p, q);
	}
	if (ret)
		fail(p, ret);
	check_done(p);
}

/* Nothing may stay in flight: a read lands in guest memory that is about
 * to go, a write must be done before the file is synced or dropped. */
static void drain(struct pipe *p)
{
	int ret;

	while (p->have_ring && p->inflight) {
		ret = reap(p);
		if (ret)
			fail(p, ret);
		if (ret == -ENXIO)
			break;
		check_done(p);
	}
	check_done(p);
}

/* The ring of slot idx, if it was made and no one else holds it. */
static bool take_ring(struct pipe *p, unsigned int idx)
{
	struct pool_ring *r = &pool[idx];

	if (!r->made || atomic_exchange(&r->busy, true))
		return false;
	p->slot = r;
	p->ring = &r->ring;
	return true;
}

static void pipe_open(struct pipe *p, struct file_ram_job *j, bool write, unsigned int idx)
{
	memset(p, 0, sizeof(*p));
	p->j = j;
	p->write = write;
	p->have_ring = take_ring(p, idx);
	if (!p->have_ring && !atomic_exchange(&sync_logged, true))
		log_info("no io_uring ring for the saved file here: its RAM goes through "
			 "pwrite/pread, one request at a time");
}

static void pipe_close(struct pipe *p)
{
	drain(p);
	if (!p->have_ring)
		return;
	if (p->inflight || io_uring_sq_ready(p->ring) || io_uring_cq_ready(p->ring)) {
		log_error("a saved file's io_uring ring was left busy: it is not used again");
		p->slot->made = false;	/* left mapped: the kernel may still write */
	}
	atomic_store(&p->slot->busy, false);
}

/* Whether page n goes into the file; counts the ones that do not. */
static bool keep_page(struct file_ram_job *j, uint64_t n)
{
	if (j->populated && !(j->populated[n / 64] >> (n % 64) & 1)) {
		j->unread_pages++;
		return false;
	}
	if (mem__is_zero(j->base + n * FILE_PAGE_SIZE, FILE_PAGE_SIZE)) {
		j->zero_pages++;
		return false;
	}
	j->bitmap[n / 8] |= (uint8_t)(1u << (n % 8));
	wire__le32(j->crcs + n * 4, crc32c__extend(0, j->base + n * FILE_PAGE_SIZE,
						  FILE_PAGE_SIZE));
	j->layout->present_pages++;
	return true;
}

static bool stop_now(struct pipe *p)
{
	if (!p->err && p->j->cancelled && p->j->cancelled(p->j->ctx))
		fail(p, -ECANCELED);
	return p->err != 0;
}

static int finish(struct pipe *p, const char *what, char *err, size_t errlen)
{
	pipe_close(p);
	if (p->err == -ECANCELED)
		return errmsg__fail(p->err, err, errlen, "cancelled");
	if (p->err == -EBADMSG)
		return errmsg__fail(p->err, err, errlen,
				    "saved file: a page of RAM does not match its checksum");
	if (p->err)
		return errmsg__fail(p->err, err, errlen, "%s the saved file's RAM: %s", what,
				    strerror(-p->err));
	return 0;
}

/* Test hook: VMM_TEST_SAVE_HOLD=1 holds the process's first save after
 * its first request until it is cancelled (at most 60 s), so a test can
 * cancel a save while its RAM is being written, whatever the disk's
 * speed, then save again. */
static void hold_for_test(struct pipe *p)
{
	static atomic_bool held;
	int i;

	if (!getenv("VMM_TEST_SAVE_HOLD") || atomic_exchange(&held, true))
		return;
	log_info("VMM_TEST_SAVE_HOLD: holding the save until it is cancelled");
	for (i = 0; i < 60000 && !stop_now(p); i++)
		usleep(1000);
}

int file_ram__save(struct file_ram_job *j, char *err, size_t errlen)
{
	uint64_t n = 0, start, nr = j->layout->nr_pages, max = FILE_RAM_MAX_RUN / FILE_PAGE_SIZE;
	struct pipe p;
	bool first = true;
	int ret;

	j->layout->present_pages = 0;
	pipe_open(&p, j, true, 0);
	while (n < nr && !stop_now(&p)) {
		if (!keep_page(j, n++))
			continue;
		start = n - 1;
		while (n < nr && n - start < max && keep_page(j, n))
			n++;
		queue(&p, start, n - start);
		if (first)
			hold_for_test(&p);
		first = false;
	}
	j->used_uring = p.have_ring;
	ret = finish(&p, "writing", err, errlen);
	j->pages = p.pages;
	return ret;
}

/* The page that failed its check, found again for the message. */
static void name_bad_page(struct file_ram_job *j, char *err, size_t errlen)
{
	uint64_t n;

	for (n = 0; n < j->layout->nr_pages; n++)
		if (file_layout__present(j->bitmap, n) &&
		    crc32c__extend(0, j->base + n * FILE_PAGE_SIZE, FILE_PAGE_SIZE) !=
		    wire__get_le32(j->crcs + n * 4)) {
			errmsg__set(err, errlen, "saved file: page %" PRIu64 " (file offset %" PRIu64
				    ") does not match its checksum", n,
				    j->layout->ram_offset + n * FILE_PAGE_SIZE);
			return;
		}
}

/* One of the threads of a restore: every FILE_RAM_LOAD_THREADS-th run
 * of present pages, on a ring of its own. The page checks, not the disk,
 * are what one thread cannot keep up with. */
struct loader {
	struct file_ram_job *j;
	unsigned int idx;
	struct pipe p;
	int ret;
	char err[256];
};

static void *load_part(void *arg)
{
	struct loader *w = arg;
	struct file_ram_job *j = w->j;
	uint64_t n = 0, start, k = 0, nr = j->layout->nr_pages;
	uint64_t max = FILE_RAM_MAX_RUN / FILE_PAGE_SIZE;

	pipe_open(&w->p, j, false, w->idx);
	while (n < nr && !stop_now(&w->p)) {
		if (!file_layout__present(j->bitmap, n++))
			continue;
		start = n - 1;
		while (n < nr && n - start < max && file_layout__present(j->bitmap, n))
			n++;
		if (k++ % FILE_RAM_LOAD_THREADS == w->idx)
			queue(&w->p, start, n - start);
	}
	w->ret = finish(&w->p, "reading", w->err, sizeof(w->err));
	return NULL;
}

int file_ram__load(struct file_ram_job *j, char *err, size_t errlen)
{
	struct loader w[FILE_RAM_LOAD_THREADS];
	pthread_t t[FILE_RAM_LOAD_THREADS];
	bool started[FILE_RAM_LOAD_THREADS] = { false };
	unsigned int i;
	int ret = 0;

	for (i = 0; i < FILE_RAM_LOAD_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].j = j;
		w[i].idx = i;
		/* Part 0 runs here; a thread that cannot start runs here too. */
		if (i)
			started[i] = !pthread_create(&t[i], NULL, load_part, &w[i]);
	}
	for (i = 0; i < FILE_RAM_LOAD_THREADS; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		else
			load_part(&w[i]);
	}
	j->pages = 0;
	j->used_uring = w[0].p.have_ring;
	for (i = 0; i < FILE_RAM_LOAD_THREADS; i++) {
		j->pages += w[i].p.pages;
		if (w[i].ret && (!ret || ret == -ECANCELED)) {
			ret = w[i].ret;
			errmsg__set(err, errlen, "%s", w[i].err);
		}
	}
	if (ret == -EBADMSG)
		name_bad_page(j, err, errlen);
	return ret;
}
