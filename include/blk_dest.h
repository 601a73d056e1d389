/* Block migration's destination side, apart from the stream: BLOCK
 * payloads checked and written into the destination's own images, with
 * the per-round counts the stream's ledger will compare against the
 * source's ROUND_END and END (so a lost BLOCK section is found), and the
 * sync before READY (migrate/incoming_blk.c drives it).
 */
#ifndef VMM__BLK_DEST_H
#define VMM__BLK_DEST_H

#include <stddef.h>
#include <stdint.h>

#include "blk_backend.h"

#define BLK_DEST_MAX_DRIVES	4
/* Bytes written between two syncs while the data arrives. */
#define BLK_DEST_SYNC_EVERY	(UINT64_C(32) << 20)

struct blk_dest {
	int fd[BLK_DEST_MAX_DRIVES];
	/* A qcow2 drive: written through its format (allocating clusters,
	 * holes as zeros that hide the base). NULL: raw, through fd. */
	struct blk_backend *fmt[BLK_DEST_MAX_DRIVES];
	uint64_t size[BLK_DEST_MAX_DRIVES];	/* the source's sizes */
	unsigned int ndrives;
	uint32_t round;		/* the open round */
	uint64_t round_sections, round_bytes;	/* of the open round */
	uint64_t sections, bytes;		/* all rounds: data bytes, holes too */
	uint64_t unsynced;			/* written since the last sync */
};

/* fds: the destination's images, already checked with
 * blk_image__check_target against src_sizes. */
int blk_dest__init(struct blk_dest *d, const int *fds, const uint64_t *src_sizes,
		   unsigned int n);
/* Checks one payload (its round must be the open one) and writes it;
 * syncs the images every BLK_DEST_SYNC_EVERY bytes. Returns 0 or -errno
 * with err. */
int blk_dest__section(struct blk_dest *d, const void *payload, size_t len,
		      char *err, size_t errlen);
/* Compares the open round's counts with the source's, then opens the
 * next round. Returns 0 or -EBADMSG with err. */
int blk_dest__end_round(struct blk_dest *d, uint64_t sections, uint64_t bytes,
			char *err, size_t errlen);
/* Makes every written block durable (before READY). */
int blk_dest__sync(struct blk_dest *d, char *err, size_t errlen);

#endif
