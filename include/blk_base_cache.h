/* migrate -i's base digests, computed ahead of the migration: a drive
 * with a base image starts hashing it when it is opened, in a thread of
 * its own at idle priority, and keeps the result with the base file's
 * identity (device, inode, size, mtime, ctime) taken before and after
 * the read. A migration then takes that digest while the identity still
 * holds, instead of reading the whole base inside its setup phase.
 */
#ifndef VMM__BLK_BASE_CACHE_H
#define VMM__BLK_BASE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk_backend.h"
#include "blk_base.h"

/* Where a digest came from, for the log. */
struct blk_base_origin {
	bool cached;		/* the digest made ahead, identity unchanged */
	bool finished_now;	/* cached, but its last part was read just now */
	uint64_t ahead_us;	/* cached: its time in the background */
	uint64_t now_us;	/* the caller's own time reading the base */
};

/* Starts hashing b's base (none: does nothing), before the sandbox: the
 * thread's scheduling class is set from here. 0 or -errno with err. */
int blk_base_cache__start(struct blk_backend *b, char *err, size_t errlen);
/* Ends b's background hash, finished or not; before closing b. */
void blk_base_cache__stop(struct blk_backend *b);
/* blk_base__digest, from the cache while the base's identity is the one
 * recorded with it (a hash still running is finished by the caller);
 * else computed now, and kept when the base held still meanwhile. */
int blk_base_cache__digest(struct blk_backend *b, uint64_t *size,
			   uint8_t digest[BLK_BASE_DIGEST_LEN], struct blk_base_origin *how,
			   char *err, size_t errlen);
/* "cached (computed at start in X ms)" or "in X ms", for the log. */
void blk_base_cache__describe(const struct blk_base_origin *how, char *out, size_t len);

#endif
