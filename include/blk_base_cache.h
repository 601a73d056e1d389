/* migrate -i's base digests, computed ahead of the migration: a drive
 * with a base image starts hashing it when it is opened, in a thread of
 * its own at idle priority, and keeps the result with the base file's
 * identity (device, inode, size, mtime, ctime) taken before and after
 * the read. A migration then takes that digest while the identity still
 * holds, instead of reading the whole base inside its setup phase. A
 * drive with base-digest=lazy (or auto over a large base) is not hashed
 * ahead: its first migrate -i reads the base, and the digest is kept.
 */
#ifndef VMM__BLK_BASE_CACHE_H
#define VMM__BLK_BASE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk_backend.h"
#include "blk_base.h"
#include "drive.h"

/* base-digest=auto hashes ahead a base up to this size: at most ~1 s of
 * otherwise idle CPU and this much read into the page cache at each
 * start (README, "Disks: incremental"). */
#define BLK_BASE_CACHE_AHEAD_MAX	(1ull << 30)

/* Where a digest came from, for the log. */
struct blk_base_origin {
	bool cached;		/* the digest made ahead, identity unchanged */
	bool finished_now;	/* cached, but its last part was read just now */
	bool by_migration;	/* cached, read by an earlier migration, not ahead */
	uint64_t ahead_us;	/* cached: its time in the background */
	uint64_t now_us;	/* the caller's own time reading the base */
};

/* Whether mode hashes a base of base_bytes ahead. */
bool blk_base_cache__ahead(enum drive_base_digest mode, uint64_t base_bytes);
/* Keeps b's base digest (none: does nothing) and, when mode says ahead,
 * starts hashing it, before the sandbox: the thread's scheduling class
 * is set from here. Logs which. 0 or -errno with err. */
int blk_base_cache__start(struct blk_backend *b, enum drive_base_digest mode, char *err,
			  size_t errlen);
/* Ends b's background hash, finished or not; before closing b. */
void blk_base_cache__stop(struct blk_backend *b);
/* blk_base__digest, from the cache while the base's identity is the one
 * recorded with it (a hash still running is finished by the caller);
 * else computed now, and kept when the base held still meanwhile. */
int blk_base_cache__digest(struct blk_backend *b, uint64_t *size,
			   uint8_t digest[BLK_BASE_DIGEST_LEN], struct blk_base_origin *how,
			   char *err, size_t errlen);
/* "cached (computed at start in X ms)", "cached (computed by an earlier
 * migration in X ms)" or "in X ms", for the log. */
void blk_base_cache__describe(const struct blk_base_origin *how, char *out, size_t len);

#endif
