/* The source's XBZRLE cache: copies of pages as they were last sent,
 * so that a page sent again can go as a delta (include/xbzrle.h) against
 * what the destination holds.
 *
 * Direct-mapped, as QEMU's: page n may live only in slot n % slots, and
 * a page that lands on an occupied slot evicts its tenant, unless the
 * tenant was sent in the same round: then the newcomer goes whole,
 * uncached. Without that rule a round whose dirty pages outnumber the
 * slots, sent in page order, evicts every page before its next round
 * (n, n + slots, n + 2 slots ... share a slot) and never hits. One tag
 * and one round stamp per slot; no list, no allocation after create.
 *
 * The send step (xbzrle_cache__add) keeps the one rule that makes a delta
 * safe: the cache holds exactly the bytes the destination was sent, so
 * a page is first copied out of guest memory (a snapshot the guest cannot
 * tear), and the copy, never guest memory, is cached and sent
 * (migrate/FORMAT.md, "Why a delta lands right").
 */
#ifndef VMM__XBZRLE_CACHE_H
#define VMM__XBZRLE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate_stats.h"
#include "stream.h"
#include "xbzrle.h"

/* A delta is worth sending when it, with its length, saves at least this
 * much of a page: below it the encoding's CPU time buys little, and the
 * cap stops the encoder early on a page that changed much. */
#define XBZRLE_MIN_SAVING	256u
#define XBZRLE_DELTA_CAP	(XBZRLE_PAGE_SIZE - XBZRLE_MIN_SAVING - 2u)


struct xbzrle_cache {
	uint64_t size;		/* bytes of page copies */
	uint64_t slots;
	uint64_t *tag;		/* page number + 1 per slot; 0 = empty */
	uint32_t *stamp;	/* round + 1 the tenant was last sent in */
	uint8_t *data;		/* slots x 4096 */
	/* Per RAM batch: the snapshots of the pages it sends whole (they must
	 * stay until the send), the delta area lent to the batch, and room
	 * for one encoding. */
	uint8_t *copies;	/* RAM_BATCH_MAX_PAGES x 4096 */
	uint32_t nr_copies;
	uint8_t *area;		/* RAM_BATCH_DELTA_MAX */
	uint8_t *copy_now;	/* the page being encoded */
	uint8_t delta[XBZRLE_DELTA_CAP];
	struct xbzrle_counters n;
};

/* Creates a cache of size bytes (a multiple of 4096, at least 4096).
 * Returns 0 or -ENOMEM / -EINVAL. */
int xbzrle_cache__create(struct xbzrle_cache *c, uint64_t size);
void xbzrle_cache__destroy(struct xbzrle_cache *c);
/* Bytes it holds: copies, tags and the per-batch buffers. */
uint64_t xbzrle_cache__memory(const struct xbzrle_cache *c);

/* Lends the cache's delta area to batch b (once per migration). */
void xbzrle_cache__attach(struct xbzrle_cache *c, struct ram_batch *b);
/* A batch went out (or was begun): its snapshots may be reused. */
void xbzrle_cache__batch_done(struct xbzrle_cache *c);

/* Adds page number `page` (at gpa, in guest memory at hva) to batch b in
 * XBZRLE mode: a snapshot is taken; zero: a ZERO entry (a cached copy
 * becomes zero too); cached: an XBZRLE entry when the delta saves at
 * least XBZRLE_MIN_SAVING bytes, else the snapshot whole; not cached:
 * inserted and sent whole. The cache ends up holding the snapshot either
 * way. Returns 0 or ram_batch's error (-ENOSPC: flush and call again). */
int xbzrle_cache__add(struct xbzrle_cache *c, struct ram_batch *b, uint64_t page,
		      uint64_t gpa, const void *hva);

/* The cache as it is: whether page is cached and, if so, its copy. */
const uint8_t *xbzrle_cache__lookup(const struct xbzrle_cache *c, uint64_t page);

#endif
