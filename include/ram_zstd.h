/* zstd compression of RAM pages (stream 3.2, migrate/FORMAT.md "zstd
 * pages"): the whole pages of one RAM batch go as one zstd frame.
 *
 * The source compresses a snapshot: each page is copied out of guest
 * memory, its CRC taken over the copy, and the copies compressed, so the
 * CRC describes exactly the bytes in the frame and a page the guest
 * writes meanwhile is simply dirty again (its dirty bit was cleared
 * before the copy). A ZSTD page therefore never arrives torn: one whose
 * CRC does not match was corrupted, and the destination refuses the
 * stream. A batch whose frame would not be smaller than its pages goes
 * as before (DATA pages from guest memory), and so do the next 1, 2, 4 ...
 * up to 64 batches without being tried: memory that does not compress
 * costs a sixty-fourth of the compression's CPU, and the first batch
 * that wins again ends the backoff.
 *
 * The destination checks the frame before it decompresses anything: its
 * length against the entry table, its declared content size against the
 * number of ZSTD entries, that it is one whole frame; it decompresses
 * into a buffer of its own with a bounded window, checks every page's
 * CRC, and only then are pages written to guest memory.
 */
#ifndef VMM__RAM_ZSTD_H
#define VMM__RAM_ZSTD_H

#include <stddef.h>
#include <stdint.h>

#include "migrate_stats.h"
#include "stream.h"

#define RAM_ZSTD_LEVEL_MIN	1
#define RAM_ZSTD_LEVEL_MAX	20

struct ram_zstd {
	void *cctx;		/* ZSTD_CCtx */
	int level;
	uint8_t *snap;		/* RAM_BATCH_MAX_PAGES pages: the copies */
	uint8_t *area;		/* u32 length, frame: RAM_BATCH_TAIL_MAX */
	uint32_t crc[RAM_BATCH_MAX_PAGES];
	uint32_t backoff;	/* batches to skip after the next loss */
	uint32_t skip_left;	/* batches still to send without trying */
	struct zstd_counters n;
};

#define RAM_ZSTD_BACKOFF_MAX	64

/* Returns 0, -EINVAL (level outside 1..20) or -ENOMEM. */
int ram_zstd__create(struct ram_zstd *z, int level);
void ram_zstd__destroy(struct ram_zstd *z);
/* Bytes it holds, the compressor's context included. */
uint64_t ram_zstd__memory(const struct ram_zstd *z);

/* In place of ram_batch__finish: snapshots the batch's DATA pages,
 * compresses them and, where the frame is smaller, turns them into ZSTD
 * entries (ram_batch__use_zstd); then finishes the batch. Its area stays
 * valid until the next call. Returns 0 or -errno. */
int ram_zstd__finish(struct ram_zstd *z, struct ram_batch *b);

/* Destination: checks frame (len bytes) for nr_pages ZSTD entries
 * (declared content size 4096 x nr_pages, exactly one frame, no dictionary,
 * a window of at most 4 MiB) and decompresses it into out (4096 x
 * nr_pages bytes); dctx is a ZSTD_DCtx (NULL: one is made for the call).
 * Then checks the k-th page against crcs[k] (the CRC fields of the ZSTD
 * entries, in order; NULL: not checked). Returns 0, -ENOMEM, or
 * -EBADMSG with err naming what was wrong. */
int ram_zstd__decode(void *dctx, const uint8_t *frame, size_t len, uint32_t nr_pages,
		     uint8_t *out, const uint32_t *crcs, char *err, size_t errlen);
/* The CRC fields of the ZSTD entries of a checked batch head, in order. */
void ram_zstd__entry_crcs(const uint8_t *head, uint32_t count, uint32_t *crcs);
/* A decompression context with the window bounded; NULL on no memory. */
void *ram_zstd__dctx_new(void);
void ram_zstd__dctx_free(void *dctx);

#endif
