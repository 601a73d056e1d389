#include "blk_base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "errmsg.h"

#define CHUNK	(1u << 20)

static int hash_base(struct blk_backend *b, uint64_t size, uint8_t *buf, EVP_MD_CTX *ctx,
		     uint8_t digest[BLK_BASE_DIGEST_LEN])
{
	unsigned int len = BLK_BASE_DIGEST_LEN;
	uint64_t off;
	int ret;

	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		return -EIO;
	for (off = 0; off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		ret = blk_backend__base_read(b, off, buf, n);
		if (ret)
			return ret;
		if (!EVP_DigestUpdate(ctx, buf, n))
			return -EIO;
	}
	return EVP_DigestFinal_ex(ctx, digest, &len) && len == BLK_BASE_DIGEST_LEN ? 0 : -EIO;
}

int blk_base__digest(struct blk_backend *b, uint64_t *size,
		     uint8_t digest[BLK_BASE_DIGEST_LEN], char *err, size_t errlen)
{
	const char *path = blk_backend__base_path(b);
	EVP_MD_CTX *ctx;
	uint8_t *buf;
	int ret;

	if (!path)
		return errmsg__fail(-ENOENT, err, errlen, "%s", blk_backend__is_qcow2(b) ?
				    "the qcow2 image has no backing file" : "the image is raw");
	*size = blk_backend__base_bytes(b);
	buf = malloc(CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		ret = errmsg__fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	ret = hash_base(b, *size, buf, ctx, digest);
	if (ret)
		errmsg__set(err, errlen, "base image %s: %s", path, strerror(-ret));
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

void blk_base__hex(const uint8_t digest[BLK_BASE_DIGEST_LEN], char out[65])
{
	unsigned int i;

	for (i = 0; i < BLK_BASE_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
