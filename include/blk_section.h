/* The payload of a BLOCK section: one extent of one drive's image, sent by
 * block migration (migrate -b) in its bulk phase and its dirty rounds.
 * Byte layout in migrate/FORMAT.md ("BLOCK payload"); the stream carries
 * it in BLOCK sections (stream 3.3).
 *
 * A hole carries no data: the destination makes that range read as
 * zeroes (and keeps it unallocated where the filesystem can), so the
 * bulk phase spends nothing on an image's unwritten parts.
 */
#ifndef VMM__BLK_SECTION_H
#define VMM__BLK_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define BLK_SECTION_HDR		32
#define BLK_SECTION_MAX_LEN	(UINT32_C(1) << 20)	/* data bytes, one dirty block */
#define BLK_SECTION_MAX_PAYLOAD	(BLK_SECTION_HDR + BLK_SECTION_MAX_LEN)
#define BLK_SECTION_F_HOLE	UINT32_C(1)

struct blk_extent {
	uint32_t drive;		/* index in CONFIG's drive list */
	bool hole;
	uint64_t offset;	/* bytes, a multiple of 512 */
	uint32_t len;		/* bytes, a multiple of 512, 1 .. BLK_SECTION_MAX_LEN */
	uint32_t round;		/* 0: bulk phase; then the RAM round it goes with */
};

/* Appends the payload for e (and data, len bytes, unless a hole) to w.
 * Returns 0, -EINVAL for an extent the decoder would refuse, or w's
 * error. */
int blk_section__encode(struct wbuf *w, const struct blk_extent *e, const void *data);

/* Checks and decodes a payload against the destination's drives (sizes
 * in bytes, ndrives of them): every field, the length against the
 * payload, the range against the drive, the data's checksum. On success
 * *data points into payload (NULL for a hole). Returns 0 or -EBADMSG
 * with err naming the field. */
int blk_section__decode(const void *payload, size_t len, const uint64_t *drive_sizes,
			unsigned int ndrives, struct blk_extent *e, const uint8_t **data,
			char *err, size_t errlen);

#endif
