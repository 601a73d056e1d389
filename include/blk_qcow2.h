/* A qcow2 image (the subset a drive can use): version 2 or 3, clusters of
 * 512 B..2 MiB, 16-bit refcounts, no compression, encryption or external
 * data file, internal snapshots only on a read-only drive. Clusters the
 * image does not have come from its backing file (raw or qcow2, opened
 * read-only) or read as zeros.
 *
 * Every call is synchronous (pread/pwrite) and meant for the drive's I/O
 * thread, never a vCPU: metadata lives in a few clusters, so the cost is a
 * table read on an L2 cache miss and an fdatasync per allocating write.
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
 * image since it was opened. The backing files are not reopened. */
int qcow2__refresh(struct qcow2 *q, char *err, size_t errlen);
uint64_t qcow2__size(const struct qcow2 *q);	/* the guest's bytes */
/* len and off within the virtual size; 0 or -errno. */
int qcow2__read(struct qcow2 *q, uint64_t off, void *buf, size_t len);
int qcow2__write(struct qcow2 *q, uint64_t off, const void *buf, size_t len);
int qcow2__flush(struct qcow2 *q);
void qcow2__close(struct qcow2 *q);

#endif
