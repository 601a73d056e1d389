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

/* The one SHA-256 of a base, taken a step at a time: by a background
 * thread, finished by whoever needs it (blk_base_cache.c), or run to
 * its end at once (blk_base__digest). Not locked: one thread at a time. */
struct blk_base_hasher;

/* A hasher over b's base reading step bytes at a time. -ENOENT (with
 * err) when the drive is raw or has no backing file; 0 or -errno. */
int blk_base_hasher__new(struct blk_backend *b, size_t step, struct blk_base_hasher **out,
			 char *err, size_t errlen);
/* Reads and hashes the next step: 0, 1 once the whole base is hashed
 * (then blk_base_hasher__final), or -errno (the hash is void). */
int blk_base_hasher__step(struct blk_base_hasher *h);
/* The digest, after step said 1: 0 or -EIO. */
int blk_base_hasher__final(struct blk_base_hasher *h, uint8_t digest[BLK_BASE_DIGEST_LEN]);
/* The base's bytes, as read at new. */
uint64_t blk_base_hasher__size(const struct blk_base_hasher *h);
void blk_base_hasher__free(struct blk_base_hasher *h);

/* The drive's base: its bytes and digest. -ENOENT (with err) when the
 * drive is raw or has no backing file; 0 or -errno. Reads the whole base
 * (at the disk's or page cache's speed, then SHA-256's). */
int blk_base__digest(struct blk_backend *b, uint64_t *size,
		     uint8_t digest[BLK_BASE_DIGEST_LEN], char *err, size_t errlen);

/* The digest in hex, 64 characters and a NUL. */
void blk_base__hex(const uint8_t digest[BLK_BASE_DIGEST_LEN], char out[65]);

#endif
