/* The base image under a qcow2 drive, as migrate -i compares it between
 * the two hosts: its size and the SHA-256 of its bytes (read as the
 * drive reads them), so a destination refuses, by name, a base that is
 * not the source's before anything is written over it.
 */
#ifndef VMM__BLK_BASE_H
#define VMM__BLK_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "blk_backend.h"

#define BLK_BASE_DIGEST_LEN	32

/* The drive's base: its bytes and digest. -ENOENT (with err) when the
 * drive is raw or has no backing file; 0 or -errno. Reads the whole base
 * (at the disk's or page cache's speed, then SHA-256's). */
int blk_base__digest(struct blk_backend *b, uint64_t *size,
		     uint8_t digest[BLK_BASE_DIGEST_LEN], char *err, size_t errlen);

/* The digest in hex, 64 characters and a NUL. */
void blk_base__hex(const uint8_t digest[BLK_BASE_DIGEST_LEN], char out[65]);

#endif
