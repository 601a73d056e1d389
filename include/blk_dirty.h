/* Dirty-block bitmap for block migration: one bit per BLK_DIRTY_BLOCK
 * bytes of a drive's image, set for every guest write the backend
 * completes while a migration copies the image, so the disk rounds resend
 * exactly what changed after the bulk phase read it.
 *
 * Thread-safe without a lock: the drive's I/O thread sets bits, the
 * migration thread takes and clears them, both with atomic word
 * operations. A write completed before its bit is taken is always resent;
 * one completed after is seen by the next take.
 */
#ifndef VMM__BLK_DIRTY_H
#define VMM__BLK_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1 MiB: the unit the stream's BLOCK sections carry at most. */
#define BLK_DIRTY_BLOCK		(UINT64_C(1) << 20)

struct blk_dirty;

/* A bitmap for an image of size bytes, all clear. Returns 0 or -ENOMEM
 * (size 0 is refused with -EINVAL). */
int blk_dirty__create(uint64_t size, struct blk_dirty **out);
void blk_dirty__free(struct blk_dirty *d);
uint64_t blk_dirty__blocks(const struct blk_dirty *d);

/* Marks every block that [offset, offset + len) touches; the part past the
 * image's end, if any, is ignored. Any thread. */
void blk_dirty__mark(struct blk_dirty *d, uint64_t offset, uint64_t len);
/* Sets every block dirty (the start of a bulk phase sent as dirty rounds). */
void blk_dirty__mark_all(struct blk_dirty *d);

/* Finds the first dirty block at or after *block, clears it and stores
 * its index in *block. Returns false when none is left. Any thread. */
bool blk_dirty__take_next(struct blk_dirty *d, uint64_t *block);
/* Dirty blocks right now (a snapshot: writers may add more). */
uint64_t blk_dirty__count(const struct blk_dirty *d);

#endif
