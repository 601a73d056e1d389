/* Block migration's access to a drive's image file outside the device:
 * the source walks it extent by extent (holes found with SEEK_DATA and
 * SEEK_HOLE, so they cost nothing), the destination writes extents into
 * its own image (holes punched, so they stay holes).
 */
#ifndef VMM__BLK_IMAGE_H
#define VMM__BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk_section.h"

/* The extent of the image (fd, size bytes, a multiple of 512) that starts
 * at pos (< size, a multiple of 512): all data or all hole, never crossing
 * a BLK_DIRTY_BLOCK boundary. Fills e's hole, offset and len. Boundaries
 * the filesystem reports off a sector are widened to data. A filesystem
 * without SEEK_DATA reports all data. Returns 0 or -errno. */
int blk_image__next_extent(int fd, uint64_t size, uint64_t pos, struct blk_extent *e);

/* Can the destination's image take the source's drive? Refuses (-EINVAL,
 * the reason in err) a read-only drive and one smaller than src_size. */
int blk_image__check_target(const char *path, uint64_t size, bool readonly,
			    uint64_t src_size, char *err, size_t errlen);

/* Writes one decoded extent into fd: data with pwrite, a hole punched
 * (zeroes written where the filesystem cannot punch). Returns 0 or -errno
 * with err. */
int blk_image__apply(int fd, const struct blk_extent *e, const uint8_t *data,
		     char *err, size_t errlen);

#endif
