#include "blk_base.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "errmsg.h"
#include "fd_io.h"

#define CHUNK	(1u << 20)

struct blk_base_hasher {
	struct blk_backend *b;
	int raw_fd;		/* a raw base's file: read with pread, -1: a qcow2 base */
	EVP_MD_CTX *ctx;
	uint8_t *buf;
	size_t step;
	uint64_t off, size;
};

/* A raw base's bytes are its file's, read as the drive reads them (past
 * the end: zeros). With pread, not blk_backend__base_read: that takes
 * the drive's format lock, which its I/O thread holds around each guest
 * request, and a hash at idle priority holding it while the scheduler
 * runs everything else first would stall the guest's disk. pread also
 * leaves the fd's offset alone. A qcow2 base has no such path: its
 * tables are the drive's, read under the lock. */
static int read_base(struct blk_base_hasher *h, size_t n)
{
	if (h->raw_fd >= 0)
		return fd__pread_zero_tail(h->raw_fd, h->buf, n, h->off);
	return blk_backend__base_read(h->b, h->off, h->buf, n);
}

static int no_base(struct blk_backend *b, char *err, size_t errlen)
{
	return errmsg__fail(-ENOENT, err, errlen, "%s", blk_backend__is_qcow2(b) ?
			    "the qcow2 image has no backing file" : "the image is raw");
}

int blk_base_hasher__new(struct blk_backend *b, size_t step, struct blk_base_hasher **out,
			 char *err, size_t errlen)
{
	struct blk_base_hasher *h;
	bool raw;
	int fd;

	*out = NULL;
	if (!blk_backend__base_path(b))
		return no_base(b, err, errlen);
	h = calloc(1, sizeof(*h));
	if (!h)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	fd = blk_backend__base_fd(b, &raw);
	*h = (struct blk_base_hasher){ .b = b, .raw_fd = raw ? fd : -1, .step = step,
				       .size = blk_backend__base_bytes(b) };
	h->ctx = EVP_MD_CTX_new();
	h->buf = malloc(step);
	if (!h->ctx || !h->buf) {
		blk_base_hasher__free(h);
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	}
	if (!EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
		blk_base_hasher__free(h);
		return errmsg__fail(-EIO, err, errlen, "SHA-256 unavailable");
	}
	*out = h;
	return 0;
}

int blk_base_hasher__step(struct blk_base_hasher *h)
{
	size_t n = h->size - h->off < h->step ? (size_t)(h->size - h->off) : h->step;
	int ret;

	if (n) {
		ret = read_base(h, n);
		if (ret)
			return ret;
		if (!EVP_DigestUpdate(h->ctx, h->buf, n))
			return -EIO;
	}
	h->off += n;
	return h->off >= h->size;
}

int blk_base_hasher__final(struct blk_base_hasher *h, uint8_t digest[BLK_BASE_DIGEST_LEN])
{
	unsigned int len = BLK_BASE_DIGEST_LEN;

	if (h->off < h->size)
		return -EIO;
	return EVP_DigestFinal_ex(h->ctx, digest, &len) && len == BLK_BASE_DIGEST_LEN ? 0 : -EIO;
}

uint64_t blk_base_hasher__size(const struct blk_base_hasher *h)
{
	return h->size;
}

void blk_base_hasher__free(struct blk_base_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h->buf);
	free(h);
}

int blk_base__digest(struct blk_backend *b, uint64_t *size,
		     uint8_t digest[BLK_BASE_DIGEST_LEN], char *err, size_t errlen)
{
	struct blk_base_hasher *h;
	int ret;

	ret = blk_base_hasher__new(b, CHUNK, &h, err, errlen);
	if (ret)
		return ret;
	*size = h->size;
	while (!(ret = blk_base_hasher__step(h)))
		;
	if (ret == 1)
		ret = blk_base_hasher__final(h, digest);
	if (ret)
		errmsg__set(err, errlen, "base image %s: %s", blk_backend__base_path(b),
			    strerror(-ret));
	blk_base_hasher__free(h);
	return ret;
}

void blk_base__hex(const uint8_t digest[BLK_BASE_DIGEST_LEN], char out[65])
{
	unsigned int i;

	for (i = 0; i < BLK_BASE_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
