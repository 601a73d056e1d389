/* A drive's host side: the image behind a block device, reached through
 * requests that never make the caller wait for the disk. Each backend runs
 * one I/O thread; the device's work (taking requests off its queue,
 * completing them) runs on that thread through two callbacks, so a queue
 * is only ever touched by one thread and a vCPU only kicks.
 *
 * raw (blk_raw.c) maps guest offsets straight onto the image file. A later
 * format (qcow2) implements the same operations, mapping offsets through
 * its tables; a dirty-block bitmap for block migration records writes
 * where a backend completes them, the one place every write passes.
 */
#ifndef VMM__BLK_BACKEND_H
#define VMM__BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blk_qcow2.h"
#include "drive.h"

#define BLK_SECTOR_SIZE		512
#define BLK_IO_MAX_IOV		128
#define BLK_MAX_INFLIGHT	256

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
};

struct blk_io {
	enum blk_op op;
	uint64_t offset;		/* bytes into the image, sector aligned */
	uint64_t len;			/* bytes, the sum of the iovecs */
	struct iovec iov[BLK_IO_MAX_IOV];
	unsigned int niov;
	int result;			/* on completion: 0 or -errno */
	void *bounce;			/* the backend's, while in flight */
	struct iovec bounce_iov;
	struct blk_io *next;		/* the backend's, while held */
	void *cookie;			/* the caller's */
};

struct blk_backend;
struct blk_dirty;

/* Both run on the backend's I/O thread. */
struct blk_callbacks {
	void (*kicked)(void *ctx);	/* after blk_backend__kick */
	void (*done)(void *ctx, struct blk_io *io);
	void *ctx;
};

/* Opens the image as d says (read-only, O_DIRECT for cache=none) and sets
 * up its ring; called before the sandbox. Returns 0 or -errno with err.
 * A qcow2 image with cache=none gets a second, buffered descriptor for
 * its tables (O_DIRECT for the data clusters only), so its clusters must
 * be at least a page (a page never holds both): smaller ones are
 * refused. */
int blk_backend__open(const struct drive_config *d, struct blk_backend **out,
		      char *err, size_t errlen);
/* The two halves of open, for an image that does not exist yet when the
 * sandbox goes in (a destination's --drive-dir): reserve makes the ring
 * and the rest, before the sandbox (what names the drive in err); attach
 * later gives it the image open on fd, as d says (format, cache; d->path
 * only names it). attach owns fd once it returns 0; on failure the
 * caller still does, and the backend stays without an image. */
int blk_backend__reserve(const char *what, struct blk_backend **out, char *err,
			 size_t errlen);
int blk_backend__attach(struct blk_backend *b, int fd, const struct drive_config *d,
			char *err, size_t errlen);
/* open with a ring of ring_entries entries (open: BLK_MAX_INFLIGHT), for
 * tests that fill it with a few requests. */
int blk_backend__open_ring(const struct drive_config *d, unsigned int ring_entries,
			   struct blk_backend **out, char *err, size_t errlen);
/* Starts the I/O thread. */
int blk_backend__start(struct blk_backend *b, const struct blk_callbacks *cb);
uint64_t blk_backend__size(const struct blk_backend *b);	/* bytes */
/* From any thread: the I/O thread runs cb->kicked soon. */
void blk_backend__kick(struct blk_backend *b);
/* On the I/O thread only: queues io; done() follows. A full ring is no
 * error: io then waits in the backend, in order with the requests after
 * it, until a completion makes room. 0, or -errno (a range past the
 * image's end, memory) and then no done(). */
int blk_backend__submit(struct blk_backend *b, struct blk_io *io);
/* From any thread but the I/O thread: runs one more kicked() and waits
 * until no request is in flight, then makes written data durable
 * (fdatasync; a qcow2's flush, its pending table entries too). Returns 0
 * or -errno from the sync. */
int blk_backend__drain(struct blk_backend *b);
/* Block migration: every write completed after this call (whatever its
 * result: a failed write may have changed part of the range) marks its
 * range in d before the device sees it done; NULL stops the marking. Any
 * thread. d must outlive the marking: stop it, then blk_backend__drain,
 * then free d. */
void blk_backend__track_dirty(struct blk_backend *b, struct blk_dirty *d);
/* The image's descriptor, for block migration's reads (source) and writes
 * (destination) of a raw image outside the device's requests: O_DIRECT
 * with cache=none, read-only with readonly=on. */
int blk_backend__fd(const struct blk_backend *b);
/* Block migration's access to a qcow2 drive through its format, from any
 * thread: each call runs between the device's requests (a lock the I/O
 * thread takes around each of its own). -EOPNOTSUPP on a raw drive (its
 * fd is read and written directly). blk_qcow2.h says what each does. */
bool blk_backend__is_qcow2(const struct blk_backend *b);
int blk_backend__fmt_read(struct blk_backend *b, uint64_t off, void *buf, size_t len);
/* These two only for a destination's image, before its guest runs: they
 * skip the sync before table entries go out (qcow2__set_unordered); the
 * caller flushes the image (blk_backend__fmt_flush) before the guest runs
 * on it. */
int blk_backend__fmt_write(struct blk_backend *b, uint64_t off, const void *buf, size_t len);
int blk_backend__fmt_zeroes(struct blk_backend *b, uint64_t off, uint64_t len);
/* qcow2__flush: the table entries kept in memory written, then synced. */
int blk_backend__fmt_flush(struct blk_backend *b);
int blk_backend__fmt_status(struct blk_backend *b, uint64_t off, uint64_t len,
			    enum qcow2_kind *kind, uint64_t *n);
int blk_backend__fmt_defined(struct blk_backend *b, uint64_t *bytes);
/* The qcow2 drive's backing file (NULL, 0: none, or a raw drive), its
 * bytes read as the drive reads them. */
const char *blk_backend__base_path(const struct blk_backend *b);
uint64_t blk_backend__base_bytes(const struct blk_backend *b);
int blk_backend__base_read(struct blk_backend *b, uint64_t off, void *buf, size_t len);
/* The base's file, for its identity (fstat), -1: none; *raw: its bytes
 * are the file's, which pread reads with no lock against the device. */
int blk_backend__base_fd(const struct blk_backend *b, bool *raw);
/* For tests: the most reads and writes of a qcow2 drive's data clusters
 * that were on its ring at once. */
unsigned int blk_backend__ring_data_max(const struct blk_backend *b);
/* Drains, then ends the I/O thread; start may run it again (another VM
 * on the same drive: an incoming migration that failed and a next one). */
void blk_backend__stop(struct blk_backend *b);
/* Stops it and closes the image. */
void blk_backend__close(struct blk_backend *b);

#endif
