/* Block migration's source side, apart from the stream: which BLOCK
 * payload to send next. First a bulk pass over every drive's image, extent
 * by extent (holes cost a 32-byte header per block at most); then passes
 * over the blocks the dirty-block bitmap collected, one per RAM round,
 * and a last one in stop-and-copy after the drives are drained
 * (migrate/source_blk.c drives it).
 *
 * Runs on the migration thread only; the bitmaps are filled by the drives'
 * I/O threads (blk_backend__track_dirty) from before the bulk pass on.
 */
#ifndef VMM__BLK_SOURCE_H
#define VMM__BLK_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_backend.h"
#include "blk_dirty.h"
#include "wire.h"

#define BLK_SOURCE_MAX_DRIVES	4

struct blk_source_drive {
	int fd;			/* the image, readable with pread */
	uint64_t size;		/* bytes, a multiple of 512 */
	struct blk_dirty *dirty;
	/* A qcow2 drive: read through its format (fd unused), zeros found
	 * in its map or in what it reads travel as holes. NULL: raw. */
	struct blk_backend *fmt;
	/* migrate -i (fmt only): only the clusters the overlay itself
	 * holds travel, the rest lies in the base both sides have. */
	bool incremental;
	/* What the bulk pass will send, as the stop rules count it: 0 is
	 * the whole size but with -i, where it is the overlay's own
	 * clusters. */
	uint64_t bulk_bytes;
	/* -i: the base's size and SHA-256, for CONFIG (blk_base.h). */
	uint64_t base_size;
	uint8_t base_digest[32];
};

struct blk_source {
	struct blk_source_drive drive[BLK_SOURCE_MAX_DRIVES];
	unsigned int ndrives;
	bool bulk_done;
	unsigned int cur;	/* drive of the pass in progress */
	uint64_t pos;		/* next byte of the pass in progress */
	uint64_t block_end;	/* dirty pass: end of the block being sent */
	uint64_t next_block;	/* dirty pass: where to look for the next bit */
	uint8_t *buf;		/* one block, 4096-aligned (O_DIRECT images) */
	uint64_t bulk_left[BLK_SOURCE_MAX_DRIVES];	/* of bulk_bytes */
};

int blk_source__init(struct blk_source *s, const struct blk_source_drive *d,
		     unsigned int n);
void blk_source__free(struct blk_source *s);

/* Starts a pass over the dirty blocks (a no-op while the bulk pass runs). */
void blk_source__begin_dirty_pass(struct blk_source *s);

/* Appends the next payload of the pass in progress (bulk, or dirty once
 * the bulk pass ended) to w, tagged with round. Returns 1 when it did, 0
 * when the pass has nothing more, -errno on a read error. */
int blk_source__next(struct blk_source *s, uint32_t round, struct wbuf *w);

/* Bytes still to send as the source knows them now: the bulk pass's rest
 * and every dirty block, whole. The stop rules' disk part. */
uint64_t blk_source__remaining(const struct blk_source *s);
uint64_t blk_source__total(const struct blk_source *s);

#endif
