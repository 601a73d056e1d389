/* A qcow2 image (the subset a drive can use): version 2 or 3, clusters of
 * 512 B..2 MiB, 16-bit refcounts, no compression, encryption or external
 * data file, internal snapshots only on a read-only drive. Clusters the
 * image does not have come from its backing file (raw or qcow2, opened
 * read-only) or read as zeros.
 *
 * Every call is synchronous (pread/pwrite) and meant for the drive's I/O
 * thread, never a vCPU: metadata lives in a few clusters, so the cost is a
 * table read on an L2 cache miss. A drive maps its requests with
 * qcow2__map and sends the bytes of clusters already allocated through
 * its ring itself (blk_qcow2_req.c); the rest goes through these calls. An allocating write writes its cluster
 * and refcount at once and keeps the table entry pointing at it in memory
 * (reads and the map see it there); the pending entries reach the disk
 * after an fdatasync (so a table never points at what the disk lacks) at
 * qcow2__flush, when a cache slot holding some is reused, past
 * PENDING_MAX of them, at qcow2__refresh and at close. A crash before
 * that loses those writes (as the guest's unflushed writes may be lost)
 * and leaks their clusters.
 */
#ifndef VMM__BLK_QCOW2_H
#define VMM__BLK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qcow2;

/* True when the file's first bytes are the qcow2 magic. */
bool qcow2__probe(int fd);
/* Reads the image open on fd (which stays the caller's); path names it in
 * messages and locates a relative backing file, opened here read-only.
 * Every header field and table the image points to is checked before use:
 * a corrupt or unsupported image is refused with the reason. */
int qcow2__open(int fd, const char *path, bool readonly, struct qcow2 **out,
		char *err, size_t errlen);
/* Reads the header and tables again and forgets cached L2 tables: another
 * process (a migration's source on shared storage) may have written the
 * image since it was opened. Its own pending entries are written first.
 * The backing files are not reopened. */
int qcow2__refresh(struct qcow2 *q, char *err, size_t errlen);
uint64_t qcow2__size(const struct qcow2 *q);	/* the guest's bytes */
uint64_t qcow2__cluster_size(const struct qcow2 *q);	/* bytes */
/* len and off within the virtual size; 0 or -errno. */
int qcow2__read(struct qcow2 *q, uint64_t off, void *buf, size_t len);
int qcow2__write(struct qcow2 *q, uint64_t off, const void *buf, size_t len);
/* Writes the pending table entries (after an fdatasync), then
 * fdatasyncs: everything written before is on the disk. On an error the
 * entries stay pending (the next flush tries again). */
int qcow2__flush(struct qcow2 *q);
/* Flushes first when entries are pending (an error is only logged: flush
 * before to see it). */
void qcow2__close(struct qcow2 *q);
/* On: pending table entries written out during writes (past PENDING_MAX,
 * an evicted table) go without the sync before them. For an image nobody
 * runs on until its writer's own flush (a block migration's destination,
 * which flushes before the guest runs there): a crash before that flush
 * may leave a table entry pointing at lost data. Off (the default) again
 * after. */
void qcow2__set_unordered(struct qcow2 *q, bool unordered);

/* --- blk_qcow2_map.c: what block migration needs of an image --- */

/* Where the bytes at a virtual offset come from. */
enum qcow2_kind {
	QCOW2_DATA,		/* a cluster of this image */
	QCOW2_ZERO,		/* this image says zeros (the zero flag) */
	QCOW2_BACKING,		/* not here: the backing file's bytes */
	QCOW2_UNALLOCATED,	/* not here, nor in a backing file: zeros */
};

/* The kind of the bytes at off, and how many of the len from off (within
 * the virtual size) share it: *n > 0, whole clusters but at the ends. */
int qcow2__status(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_kind *kind,
		  uint64_t *n);
/* Where the bytes at off (within the virtual size) live, for a request
 * sent through a ring: *n (> 0, up to len, never past the cluster) bytes
 * from off are the image's own at *host when it returns QCOW2_DATA with
 * *host set and *writable telling whether a write may go there in place
 * (the cluster is this image's alone, the image writable). Anything else
 * (*host 0) is for qcow2__read / qcow2__write. An allocated cluster never
 * moves nor is freed here, so a mapping stays true while its I/O is in
 * flight. */
int qcow2__map(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host, bool *writable,
	       uint64_t *n);
/* Makes len bytes at off read as zeros, allocating as little as it can:
 * nothing where they already are unallocated zeros, the zero flag (v3)
 * over whole clusters the backing file would show through, zeros written
 * in place into clusters the image has. */
int qcow2__write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len);
/* Bytes of the virtual disk this image itself defines (data clusters and
 * zero-flagged ones), walking the tables. */
int qcow2__defined_bytes(struct qcow2 *q, uint64_t *bytes);
/* The backing file as opened (NULL: none) and the bytes it holds as the
 * image reads them (a qcow2 backing file: its virtual size). */
const char *qcow2__backing_path(const struct qcow2 *q);
uint64_t qcow2__backing_bytes(const struct qcow2 *q);
/* The backing file's own descriptor (a qcow2 backing file's image file),
 * for its identity (fstat); -1: none. raw is true when the bytes read
 * are that file's bytes, so it can be read directly (pread). */
int qcow2__backing_fd(const struct qcow2 *q, bool *raw);
/* Reads the backing file's bytes (zeros past its end). */
int qcow2__read_backing(struct qcow2 *q, uint64_t off, void *buf, size_t len);

#endif
