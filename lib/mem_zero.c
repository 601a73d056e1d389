#include "mem_zero.h"

#include <stdint.h>
#include <string.h>

/* 16 bytes as one SSE2 register (the x86-64 baseline): GCC and clang
 * both take the vector extension. Written out because -O2 leaves a
 * scalar OR loop with an early exit scalar, at a fraction of the speed
 * on memory in cache. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static u64x2 load16(const uint8_t *p)
{
	u64x2 v;

	memcpy(&v, p, sizeof(v));	/* movdqu: no alignment assumed */
	return v;
}

static bool vec_is_zero(u64x2 v)
{
	return !(v[0] | v[1]);
}

/* Four loads ORed together: one branch per 64 bytes. */
static bool block_is_zero(const uint8_t *p)
{
	return vec_is_zero((load16(p) | load16(p + 16)) | (load16(p + 32) | load16(p + 48)));
}

/* Under 64 bytes: loads from both ends that overlap in the middle, so
 * every length is a few loads and no byte loop. */
static bool short_is_zero(const uint8_t *p, size_t len)
{
	uint64_t a, b;
	uint32_t c, d;

	if (len >= 32)
		return vec_is_zero((load16(p) | load16(p + 16)) |
				   (load16(p + len - 32) | load16(p + len - 16)));
	if (len >= 16)
		return vec_is_zero(load16(p) | load16(p + len - 16));
	if (len >= 8) {
		memcpy(&a, p, 8);
		memcpy(&b, p + len - 8, 8);
		return !(a | b);
	}
	if (len >= 4) {
		memcpy(&c, p, 4);
		memcpy(&d, p + len - 4, 4);
		return !(c | d);
	}
	/* 1 to 3 bytes: the first, the middle and the last cover them. */
	return !len || !(p[0] | p[len / 2] | p[len - 1]);
}

bool mem__is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf, *last;

	if (len < 64)
		return short_is_zero(p, len);	/* (NULL, 0) reads nothing */
	last = p + len - 64;
	/* The head: one unaligned block, then on from the next 64-byte
	 * boundary (p + 64 when p is aligned, as a page is). */
	if (!block_is_zero(p))
		return false;
	for (p += 64 - ((uintptr_t)p & 63); p <= last; p += 64)
		if (!block_is_zero(p))
			return false;
	/* The tail: the last 64 bytes, which may overlap blocks seen. */
	return p == last + 64 || block_is_zero(last);
}
