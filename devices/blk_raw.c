#include "blk_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_dirty.h"
#include "blk_qcow2.h"
#include "blk_qcow2_req.h"
#include "errmsg.h"
#include "iov.h"
#include "log.h"
#include "uring_ring.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define RING_ENTRIES	BLK_MAX_INFLIGHT
#define KICK_TAG	((uint64_t)1)	/* user_data of the eventfd's read */
/* O_DIRECT wants buffers, offsets and lengths aligned to the logical
 * block size: 512 on the disks seen here; a device that needs more fails
 * the request with EINVAL, which the guest sees as an I/O error. */
#define DIRECT_ALIGN	512

/* All a drive's ring does: the kick's read, requests, flushes, and the
 * no-op a qcow2 request with nothing on the ring completes through. */
static const uint8_t ring_ops[] = {
	IORING_OP_READ, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_NOP,
};

struct blk_backend {
	int fd;
	int kick_fd;
	bool direct;
	uint64_t size;
	/* format=qcow2: requests are mapped on the I/O thread through it and
	 * their data clusters' bytes go through the ring (blk_qcow2_req.h). */
	struct qcow2 *qcow2;
	bool qcow2_stale;		/* tables to read again before the next I/O */
	/* qcow2 with cache=none: fd is O_DIRECT, for the data clusters; the
	 * tables go through this buffered one (-1: fd serves both). */
	int meta_fd;
	/* qcow2, on the I/O thread: its reads and writes on the ring. */
	unsigned int ring_data;
	unsigned int ring_data_max;	/* atomic, for tests */
	/* On the I/O thread: requests waiting, in order, for room on the
	 * ring, or (qcow2) a flush for the writes before it; counted in
	 * inflight, so a drain waits for them. */
	struct blk_io *held, **held_tail;
	/* Held around every use of qcow2: the I/O thread's requests and block
	 * migration's reads and writes from its own thread. */
	pthread_mutex_t fmt_lock;
	struct io_uring ring;
	struct blk_callbacks cb;
	pthread_t thread;
	bool started;
	bool kick_armed;		/* the kick's read is on the ring */
	bool poll_wait;			/* wait in poll(), not io_uring_enter */
	uint64_t kick_buf;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int inflight;		/* under lock */
	uint64_t kicks_asked, kicks_done; /* under lock */
	bool stop;			/* under lock */
	struct blk_dirty *dirty;	/* atomic: block migration's bitmap */
};

static int image_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int open_image(const struct drive_config *d, char *err, size_t errlen)
{
	int flags = (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd;

	if (d->cache == DRIVE_CACHE_NONE)
		flags |= O_DIRECT;
	fd = open(d->path, flags);
	if (fd < 0)
		return errmsg__fail(-errno, err, errlen, "drive %s: %s%s", d->path,
				    strerror(errno), errno == EINVAL && d->cache == DRIVE_CACHE_NONE ?
				    " (cache=none: the filesystem refuses O_DIRECT)" : "");
	return fd;
}

/* cache=none on a qcow2 image: its tables (8-byte entries, 2-byte
 * refcounts) go through the page cache on a second descriptor of the same
 * file; the data clusters through fd, O_DIRECT. Linux keeps the two
 * coherent (an O_DIRECT read writes back the range's dirty pages first, an
 * O_DIRECT write drops them) as long as no page holds both a table and
 * data, hence clusters of at least a page. */
static int open_meta_fd(struct blk_backend *b, const struct drive_config *d, char *err,
			size_t errlen)
{
	struct stat a, m;

	b->meta_fd = open(d->path, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->meta_fd < 0)
		return errmsg__fail(-errno, err, errlen, "drive %s: %s", d->path,
				    strerror(errno));
	if (fstat(b->fd, &a) || fstat(b->meta_fd, &m) || a.st_dev != m.st_dev ||
	    a.st_ino != m.st_ino)
		return errmsg__fail(-ESTALE, err, errlen, "drive %s: the file changed while "
				    "it was opened", d->path);
	return 0;
}

static int check_direct_cluster(const struct blk_backend *b, const char *path, char *err,
				size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t c = qcow2__cluster_size(b->qcow2);

	if (page > 0 && c < (uint64_t)page)
		return errmsg__fail(-EINVAL, err, errlen, "drive %s: cache=none needs qcow2 "
				    "clusters of at least %ld bytes (a page: tables and data "
				    "never share one), the image has %llu-byte clusters (use "
				    "cache=writeback, or convert it with -o cluster_size=65536)",
				    path, page, (unsigned long long)c);
	return 0;
}

static int set_qcow2(struct blk_backend *b, const struct drive_config *d, char *err,
		     size_t errlen)
{
	int ret = 0;

	if (b->direct)
		ret = open_meta_fd(b, d, err, errlen);
	if (!ret)
		ret = qcow2__open(b->meta_fd >= 0 ? b->meta_fd : b->fd, d->path, d->readonly,
				  &b->qcow2, err, errlen);
	if (!ret && b->direct)
		ret = check_direct_cluster(b, d->path, err, errlen);
	if (ret) {
		qcow2__close(b->qcow2);
		b->qcow2 = NULL;
		if (b->meta_fd >= 0)
			close(b->meta_fd);
		b->meta_fd = -1;
		return ret;
	}
	b->size = qcow2__size(b->qcow2);
	return 0;
}

/* The image behind fd: its size, through qcow2's tables for a qcow2. */
static int set_image(struct blk_backend *b, const struct drive_config *d, char *err,
		     size_t errlen)
{
	int ret;

	if (d->format == DRIVE_FORMAT_QCOW2)
		return set_qcow2(b, d, err, errlen);
	ret = image_size(b->fd, &b->size);
	if (ret)
		return errmsg__fail(ret, err, errlen, "drive %s: not a file or block device",
				    d->path);
	if (!b->size || b->size % BLK_SECTOR_SIZE)
		return errmsg__fail(-EINVAL, err, errlen, "drive %s: %llu bytes, not a "
				    "non-zero multiple of %d", d->path,
				    (unsigned long long)b->size, BLK_SECTOR_SIZE);
	return 0;
}

static int reserve_ring(const char *what, unsigned int ring_entries,
			struct blk_backend **out, char *err, size_t errlen)
{
	struct blk_backend *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return errmsg__fail(-ENOMEM, err, errlen, "%s: out of memory", what);
	b->fd = -1;
	b->meta_fd = -1;
	b->held_tail = &b->held;
	b->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (b->kick_fd < 0) {
		ret = errmsg__fail(-errno, err, errlen, "%s: eventfd: %s", what, strerror(errno));
		free(b);
		return ret;
	}
	ret = uring_ring__init_restricted(&b->ring, ring_entries, ring_ops, sizeof(ring_ops));
	if (ret) {
		/* No fallback: a drive has no path without a ring, and an
		 * unrestricted ring could open files past the sandbox. */
		errmsg__set(err, errlen, "%s: a restricted io_uring ring: %s%s", what,
			    strerror(-ret), ret == -EINVAL ? " (the kernel takes no ring "
			    "restrictions: Linux 5.10 or later is needed)" : "");
		close(b->kick_fd);
		free(b);
		return ret;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->fmt_lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	*out = b;
	return 0;
}

int blk_backend__reserve(const char *what, struct blk_backend **out, char *err,
			 size_t errlen)
{
	return reserve_ring(what, RING_ENTRIES, out, err, errlen);
}

int blk_backend__attach(struct blk_backend *b, int fd, const struct drive_config *d,
			char *err, size_t errlen)
{
	int ret;

	if (b->fd >= 0)
		return errmsg__fail(-EBUSY, err, errlen, "drive %s: the backend has an image",
				    d->path);
	b->fd = fd;
	b->direct = d->cache == DRIVE_CACHE_NONE;
	ret = set_image(b, d, err, errlen);
	if (ret)
		b->fd = -1;
	return ret;
}

int blk_backend__open_ring(const struct drive_config *d, unsigned int ring_entries,
			   struct blk_backend **out, char *err, size_t errlen)
{
	struct blk_backend *b;
	char what[DRIVE_PATH_MAX + 8];
	int fd, ret;

	fd = open_image(d, err, errlen);
	if (fd < 0)
		return fd;
	snprintf(what, sizeof(what), "drive %s", d->path);
	ret = reserve_ring(what, ring_entries, &b, err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	ret = blk_backend__attach(b, fd, d, err, errlen);
	if (ret) {
		close(fd);
		blk_backend__close(b);
		return ret;
	}
	*out = b;
	return 0;
}

int blk_backend__open(const struct drive_config *d, struct blk_backend **out,
		      char *err, size_t errlen)
{
	return blk_backend__open_ring(d, RING_ENTRIES, out, err, errlen);
}

uint64_t blk_backend__size(const struct blk_backend *b)
{
	return b->size;
}

void blk_backend__kick(struct blk_backend *b)
{
	uint64_t one = 1;

	pthread_mutex_lock(&b->lock);
	b->kicks_asked++;
	pthread_mutex_unlock(&b->lock);
	/* An eventfd write fails only on overflow, which still wakes. */
	if (write(b->kick_fd, &one, sizeof(one)) < 0)
		return;
}

static int arm_kick(struct blk_backend *b)
{
	struct io_uring_sqe *sqe = uring_ring__get_sqe(&b->ring);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_read(sqe, b->kick_fd, &b->kick_buf, sizeof(b->kick_buf), 0);
	io_uring_sqe_set_data64(sqe, KICK_TAG);
	return 0;
}

static bool aligned(const struct blk_io *io)
{
	unsigned int i;

	for (i = 0; i < io->niov; i++)
		if ((uintptr_t)io->iov[i].iov_base % DIRECT_ALIGN ||
		    io->iov[i].iov_len % DIRECT_ALIGN)
			return false;
	return io->offset % DIRECT_ALIGN == 0;
}

/* Guest buffers O_DIRECT cannot take go through one aligned buffer. */
static int bounce_in(struct blk_backend *b, struct blk_io *io)
{
	size_t len = io->len;

	io->bounce = NULL;
	if (!b->direct || io->op == BLK_OP_FLUSH || aligned(io))
		return 0;
	if (io->offset % DIRECT_ALIGN || io->len % DIRECT_ALIGN)
		return -EINVAL;		/* a partial block would need read-modify-write */
	if (posix_memalign(&io->bounce, DIRECT_ALIGN, len))
		return -ENOMEM;
	if (io->op == BLK_OP_WRITE)
		iov__to_buf(io->iov, io->niov, 0, io->bounce, io->len);
	return 0;
}

static void prep(struct blk_backend *b, struct io_uring_sqe *sqe, struct blk_io *io)
{
	struct iovec one = { io->bounce, io->len };

	if (io->op == BLK_OP_FLUSH) {
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	} else if (io->bounce) {
		/* The iovec is copied into the kernel at submission. */
		io->bounce_iov = one;
		if (io->op == BLK_OP_READ)
			io_uring_prep_readv(sqe, b->fd, &io->bounce_iov, 1, io->offset);
		else
			io_uring_prep_writev(sqe, b->fd, &io->bounce_iov, 1, io->offset);
	} else if (io->op == BLK_OP_READ) {
		io_uring_prep_readv(sqe, b->fd, io->iov, io->niov, io->offset);
	} else {
		io_uring_prep_writev(sqe, b->fd, io->iov, io->niov, io->offset);
	}
	io_uring_sqe_set_data(sqe, io);
}

/* Maps io and puts its pieces on the ring; the tables' I/O (and what
 * goes the synchronous way) blocks this thread, never a vCPU's. Returns 0
 * or -errno with nothing queued. */
static int qcow2_start(struct blk_backend *b, struct blk_io *io)
{
	char err[256];
	int ret = 0;

	io->bounce = NULL;
	pthread_mutex_lock(&b->fmt_lock);
	/* A migration's source may have written the image on shared storage
	 * between start (at creation) and this VM's first request. */
	if (b->qcow2_stale) {
		ret = qcow2__refresh(b->qcow2, err, sizeof(err));
		if (ret)
			log_error("%s", err);
		b->qcow2_stale = ret != 0;
	}
	if (!ret)
		ret = qcow2_req__queue(b->qcow2, &b->ring, b->fd,
				       b->direct && io->op != BLK_OP_FLUSH && !aligned(io), io);
	pthread_mutex_unlock(&b->fmt_lock);
	if (ret < 0)
		return ret;
	b->ring_data += (unsigned int)ret;
	if (b->ring_data > b->ring_data_max)
		__atomic_store_n(&b->ring_data_max, b->ring_data, __ATOMIC_RELAXED);
	return 0;
}

/* Puts io on the ring: -EAGAIN when the ring has no room for it now. */
static int start_raw(struct blk_backend *b, struct blk_io *io)
{
	struct io_uring_sqe *sqe;
	int ret = bounce_in(b, io);

	if (ret)
		return ret;
	sqe = uring_ring__get_sqe(&b->ring);
	if (!sqe) {
		free(io->bounce);
		io->bounce = NULL;
		return -EAGAIN;
	}
	prep(b, sqe, io);
	return 0;
}

static int start_io(struct blk_backend *b, struct blk_io *io)
{
	return b->qcow2 ? qcow2_start(b, io) : start_raw(b, io);
}

/* A qcow2 guest's flush covers every write completed before it: one that
 * finds writes on the ring waits in software until they are done (a drain
 * flag on the SQE would wait for the kick's pending read too). */
static bool flush_waits(const struct blk_backend *b, const struct blk_io *io)
{
	return io->op == BLK_OP_FLUSH && b->ring_data;
}

static void hold(struct blk_backend *b, struct blk_io *io)
{
	io->next = NULL;
	*b->held_tail = io;
	b->held_tail = &io->next;
}

/* A full ring is back-pressure, not an error: the request waits in the
 * backend, and the ones after it behind it (so a flush is never starved
 * and none overtakes another), until a completion makes room
 * (release_held). */
int blk_backend__submit(struct blk_backend *b, struct blk_io *io)
{
	int ret;

	if (io->op != BLK_OP_FLUSH && (io->offset > b->size || io->len > b->size - io->offset))
		return -EINVAL;
	if (b->held || flush_waits(b, io)) {
		hold(b, io);
	} else {
		ret = start_io(b, io);
		if (ret == -EAGAIN)
			hold(b, io);
		else if (ret)
			return ret;
	}
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

void blk_backend__track_dirty(struct blk_backend *b, struct blk_dirty *d)
{
	__atomic_store_n(&b->dirty, d, __ATOMIC_RELEASE);
}

static int raw_result(const struct blk_io *io, int res)
{
	if (res < 0)
		return res;
	if (io->op != BLK_OP_FLUSH && (uint64_t)res != io->len)
		return -EIO;	/* short: the image shrank under us */
	return 0;
}

static void complete(struct blk_backend *b, struct blk_io *io, int res);

/* Starts the held requests in order, up to one the ring has no room for
 * yet or a flush that still has writes to wait for. A request that cannot
 * start for another reason completes with its error. */
static void release_held(struct blk_backend *b)
{
	struct blk_io *io;
	int ret;

	while ((io = b->held) && !flush_waits(b, io)) {
		ret = start_io(b, io);
		if (ret == -EAGAIN)
			return;
		b->held = io->next;
		if (!b->held)
			b->held_tail = &b->held;
		if (ret) {
			io->result = ret;
			complete(b, io, ret);
		}
	}
}

static void qcow2_done(struct blk_backend *b, uint64_t tag, int res)
{
	struct blk_io *io;
	bool data;

	io = qcow2_req__piece_done(tag, res, &data);
	if (data)
		b->ring_data--;
	if (io)
		complete(b, io, 0);
	if (!b->ring_data)
		release_held(b);
}

static void complete(struct blk_backend *b, struct blk_io *io, int res)
{
	struct blk_dirty *dirty = __atomic_load_n(&b->dirty, __ATOMIC_ACQUIRE);

	/* Marked before done(): once the guest sees the write complete, a
	 * migration taking the bit afterwards reads the new data. */
	if (dirty && io->op == BLK_OP_WRITE)
		blk_dirty__mark(dirty, io->offset, io->len);
	/* A qcow2 request's result comes from its pieces (qcow2_done). */
	if (!b->qcow2)
		io->result = raw_result(io, res);
	/* Copied only once the kernel filled all of it (raw_result: a short
	 * read fails), so nothing the read left unwritten reaches the guest
	 * and the buffer needs no zeroing. */
	if (io->bounce && io->op == BLK_OP_READ && !io->result) {
		uring_ring__filled(&io->bounce_iov, 1, io->len);
		iov__from_buf(io->iov, io->niov, 0, io->bounce, io->len);
	}
	free(io->bounce);
	io->bounce = NULL;
	b->cb.done(b->cb.ctx, io);
	pthread_mutex_lock(&b->lock);
	if (!--b->inflight)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* One kick: everything asked so far is covered by this kicked() call.
 * false: the backend stops. */
static bool run_kick(struct blk_backend *b)
{
	uint64_t asked;
	bool stop;

	pthread_mutex_lock(&b->lock);
	asked = b->kicks_asked;
	stop = b->stop;
	pthread_mutex_unlock(&b->lock);
	if (stop)
		return false;
	b->cb.kicked(b->cb.ctx);
	pthread_mutex_lock(&b->lock);
	b->kicks_done = asked;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	/* Else armed again after the next wait (io_thread). */
	b->kick_armed = arm_kick(b) == 0;
	return true;
}

/* Valgrind runs one thread at a time and lets the next one run only
 * while a thread sits in a system call it knows may block; up to 3.19 at
 * least io_uring_enter is not one of them, so a wait there holds every
 * other thread, the vCPU that would kick this one included, for ever.
 * Under valgrind this thread waits in poll() on the ring instead (its fd
 * is readable once a completion is posted); natively it keeps the single
 * submit-and-wait call. */
static int wait_ring(struct blk_backend *b)
{
	struct pollfd pfd = { .fd = b->ring.ring_fd, .events = POLLIN };
	int ret;

	if (!b->poll_wait)
		return io_uring_submit_and_wait(&b->ring, 1);
	ret = io_uring_submit(&b->ring);
	if (ret < 0 || io_uring_cq_ready(&b->ring))
		return ret;
	return poll(&pfd, 1, -1) < 0 ? -errno : 0;
}

static void *io_thread(void *arg)
{
	struct blk_backend *b = arg;
	struct io_uring_cqe *cqe;
	bool running;
	int ret;

	b->kick_armed = arm_kick(b) == 0;
	running = b->kick_armed;
	while (running) {
		ret = wait_ring(b);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
		while (running && io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&b->ring, cqe);
			if (tag == KICK_TAG)
				running = run_kick(b);
			else if (b->qcow2)
				qcow2_done(b, tag, res);
			else
				complete(b, (struct blk_io *)(uintptr_t)tag, res);
		}
		/* The wait handed the kernel what the ring held: room now. */
		if (!running)
			break;
		if (!b->kick_armed)
			b->kick_armed = arm_kick(b) == 0;
		release_held(b);
	}
	return NULL;
}

int blk_backend__start(struct blk_backend *b, const struct blk_callbacks *cb)
{
	int ret;

	b->cb = *cb;
	/* Under the lock: block migration may be reading or writing the
	 * image from its own thread meanwhile. */
	pthread_mutex_lock(&b->fmt_lock);
	b->qcow2_stale = b->qcow2 != NULL;
	pthread_mutex_unlock(&b->fmt_lock);
	b->poll_wait = RUNNING_ON_VALGRIND != 0;
	ret = -pthread_create(&b->thread, NULL, io_thread, b);
	if (!ret)
		b->started = true;
	return ret;
}

/* A qcow2's table entries still in memory go out with the sync: a
 * destination on shared storage, or qemu-img after us, reads them. */
static int sync_image(struct blk_backend *b)
{
	int ret;

	if (!b->qcow2)
		return fdatasync(b->fd) ? -errno : 0;
	pthread_mutex_lock(&b->fmt_lock);
	ret = qcow2__flush(b->qcow2);
	pthread_mutex_unlock(&b->fmt_lock);
	return ret;
}

int blk_backend__drain(struct blk_backend *b)
{
	uint64_t want;

	blk_backend__kick(b);
	pthread_mutex_lock(&b->lock);
	want = b->kicks_asked;
	while (b->started && (b->kicks_done < want || b->inflight))
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	return sync_image(b);
}

void blk_backend__stop(struct blk_backend *b)
{
	if (!b || !b->started)
		return;
	blk_backend__drain(b);
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_mutex_unlock(&b->lock);
	blk_backend__kick(b);
	pthread_join(b->thread, NULL);
	pthread_mutex_lock(&b->lock);
	b->started = false;
	b->stop = false;
	pthread_mutex_unlock(&b->lock);
}

bool blk_backend__is_qcow2(const struct blk_backend *b)
{
	return b->qcow2 != NULL;
}

/* Block migration's calls below touch the image this drive's I/O thread
 * may be using: one at a time, with tables as the file has them. */
static int fmt_enter(struct blk_backend *b)
{
	char err[256];
	int ret = 0;

	if (!b->qcow2)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&b->fmt_lock);
	if (b->qcow2_stale) {
		ret = qcow2__refresh(b->qcow2, err, sizeof(err));
		if (ret) {
			log_error("%s", err);
			pthread_mutex_unlock(&b->fmt_lock);
			return ret;
		}
		b->qcow2_stale = false;
	}
	return 0;
}

static int fmt_leave(struct blk_backend *b, int ret)
{
	pthread_mutex_unlock(&b->fmt_lock);
	return ret;
}

int blk_backend__fmt_read(struct blk_backend *b, uint64_t off, void *buf, size_t len)
{
	int ret = fmt_enter(b);

	return ret ? ret : fmt_leave(b, qcow2__read(b->qcow2, off, buf, len));
}

/* Block migration writes only a destination's image, which the guest
 * runs on once blk_dest__sync made all of it durable: a sync per new
 * cluster (the order a running guest's image needs) would only slow it
 * (6.8 s instead of 2.4 s for a 1 GiB copy here). */
int blk_backend__fmt_write(struct blk_backend *b, uint64_t off, const void *buf, size_t len)
{
	int ret = fmt_enter(b);

	if (ret)
		return ret;
	qcow2__set_unordered(b->qcow2, true);
	ret = qcow2__write(b->qcow2, off, buf, len);
	qcow2__set_unordered(b->qcow2, false);
	return fmt_leave(b, ret);
}

int blk_backend__fmt_zeroes(struct blk_backend *b, uint64_t off, uint64_t len)
{
	int ret = fmt_enter(b);

	if (ret)
		return ret;
	qcow2__set_unordered(b->qcow2, true);
	ret = qcow2__write_zeroes(b->qcow2, off, len);
	qcow2__set_unordered(b->qcow2, false);
	return fmt_leave(b, ret);
}

int blk_backend__fmt_flush(struct blk_backend *b)
{
	int ret = fmt_enter(b);

	return ret ? ret : fmt_leave(b, qcow2__flush(b->qcow2));
}

int blk_backend__fmt_status(struct blk_backend *b, uint64_t off, uint64_t len,
			    enum qcow2_kind *kind, uint64_t *n)
{
	int ret = fmt_enter(b);

	return ret ? ret : fmt_leave(b, qcow2__status(b->qcow2, off, len, kind, n));
}

int blk_backend__fmt_defined(struct blk_backend *b, uint64_t *bytes)
{
	int ret = fmt_enter(b);

	return ret ? ret : fmt_leave(b, qcow2__defined_bytes(b->qcow2, bytes));
}

const char *blk_backend__base_path(const struct blk_backend *b)
{
	return b->qcow2 ? qcow2__backing_path(b->qcow2) : NULL;
}

uint64_t blk_backend__base_bytes(const struct blk_backend *b)
{
	return b->qcow2 ? qcow2__backing_bytes(b->qcow2) : 0;
}

int blk_backend__base_read(struct blk_backend *b, uint64_t off, void *buf, size_t len)
{
	int ret = fmt_enter(b);

	return ret ? ret : fmt_leave(b, qcow2__read_backing(b->qcow2, off, buf, len));
}

int blk_backend__base_fd(const struct blk_backend *b, bool *raw)
{
	*raw = false;
	return b->qcow2 ? qcow2__backing_fd(b->qcow2, raw) : -1;
}

int blk_backend__fd(const struct blk_backend *b)
{
	return b->fd;
}

unsigned int blk_backend__ring_data_max(const struct blk_backend *b)
{
	return __atomic_load_n(&b->ring_data_max, __ATOMIC_RELAXED);
}

void blk_backend__close(struct blk_backend *b)
{
	if (!b)
		return;
	blk_backend__stop(b);
	io_uring_queue_exit(&b->ring);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->fmt_lock);
	qcow2__close(b->qcow2);
	close(b->kick_fd);
	if (b->fd >= 0)
		close(b->fd);
	if (b->meta_fd >= 0)
		close(b->meta_fd);
	free(b);
}
