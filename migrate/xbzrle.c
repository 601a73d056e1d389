/* The XBZRLE delta codec (include/xbzrle.h). */
#include "xbzrle.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "errmsg.h"

/* A length below 2^14 takes at most two bytes. */
static int put_uleb(uint8_t *out, size_t cap, size_t *pos, uint32_t v)
{
	do {
		if (*pos >= cap)
			return -ENOSPC;
		out[(*pos)++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return 0;
}

/* Length of the run from i on whose bytes are equal (same true) or all
 * differ (same false). */
static uint32_t run_len(const uint8_t *old, const uint8_t *cur, uint32_t i, bool same)
{
	uint32_t j = i;

	/* Unchanged runs are long and common: compare 8 bytes at a time. */
	if (same) {
		uint64_t a, b;

		while (j + 8 <= XBZRLE_PAGE_SIZE) {
			memcpy(&a, old + j, 8);
			memcpy(&b, cur + j, 8);
			if (a != b)
				break;
			j += 8;
		}
	}
	while (j < XBZRLE_PAGE_SIZE && (old[j] == cur[j]) == same)
		j++;
	return j - i;
}

int xbzrle__encode(const uint8_t *old, const uint8_t *cur, uint8_t *out, size_t cap)
{
	size_t pos = 0;
	uint32_t i = 0, u, c;

	for (;;) {
		u = run_len(old, cur, i, true);
		i += u;
		if (i == XBZRLE_PAGE_SIZE)
			break;	/* the tail is unchanged: implied */
		c = run_len(old, cur, i, false);
		if (put_uleb(out, cap, &pos, u) || put_uleb(out, cap, &pos, c) ||
		    cap - pos < c)
			return -ENOSPC;
		memcpy(out + pos, cur + i, c);
		pos += c;
		i += c;
		if (i == XBZRLE_PAGE_SIZE)
			break;
	}
	return (int)pos;
}

/* Reads one ULEB128 at *pos; what names the run for the message. */
static int get_uleb(const uint8_t *d, size_t len, size_t *pos, uint32_t *v,
		    const char *what, char *err, size_t errlen)
{
	size_t start = *pos;
	uint32_t x = 0;
	int shift = 0;
	uint8_t b;

	do {
		if (*pos >= len) {
			errmsg__set(err, errlen,
				     "xbzrle delta: %s length at byte %zu is truncated", what, start);
			return -EBADMSG;
		}
		if (shift == 14) {
			errmsg__set(err, errlen,
				     "xbzrle delta: %s length at byte %zu is longer than 2 bytes",
				     what, start);
			return -EBADMSG;
		}
		b = d[(*pos)++];
		x |= (uint32_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift > 7 && !b) {
		errmsg__set(err, errlen,
			     "xbzrle delta: %s length at byte %zu is not in its shortest form",
			     what, start);
		return -EBADMSG;
	}
	*v = x;
	return 0;
}

/* Walks the delta; with page, applies it (only ever after a full check). */
static int walk(const uint8_t *d, size_t len, uint8_t *page, char *err, size_t errlen)
{
	size_t pos = 0;
	uint32_t i = 0, u, c;
	int ret;

	while (pos < len) {
		ret = get_uleb(d, len, &pos, &u, "unchanged", err, errlen);
		if (ret)
			return ret;
		if (!u && i) {
			errmsg__set(err, errlen,
				     "xbzrle delta: empty unchanged run at page offset %u (only the first may be empty)",
				     i);
			return -EBADMSG;
		}
		if (u > XBZRLE_PAGE_SIZE - i) {
			errmsg__set(err, errlen,
				     "xbzrle delta: unchanged run of %u bytes at page offset %u ends past the page",
				     u, i);
			return -EBADMSG;
		}
		i += u;
		ret = get_uleb(d, len, &pos, &c, "changed", err, errlen);
		if (ret)
			return ret;
		if (!c) {
			errmsg__set(err, errlen,
				     "xbzrle delta: empty changed run at page offset %u", i);
			return -EBADMSG;
		}
		if (c > XBZRLE_PAGE_SIZE - i) {
			errmsg__set(err, errlen,
				     "xbzrle delta: changed run of %u bytes at page offset %u ends past the page",
				     c, i);
			return -EBADMSG;
		}
		if (c > len - pos) {
			errmsg__set(err, errlen,
				     "xbzrle delta: changed run of %u bytes at page offset %u has only %zu bytes left in the delta",
				     c, i, len - pos);
			return -EBADMSG;
		}
		if (page)
			memcpy(page + i, d + pos, c);
		pos += c;
		i += c;
		if (i == XBZRLE_PAGE_SIZE && pos < len) {
			errmsg__set(err, errlen,
				     "xbzrle delta: %zu bytes after the run that ends the page",
				     len - pos);
			return -EBADMSG;
		}
	}
	return 0;
}

int xbzrle__check(const uint8_t *delta, size_t len, char *err, size_t errlen)
{
	return walk(delta, len, NULL, err, errlen);
}

int xbzrle__decode(const uint8_t *delta, size_t len, uint8_t *page, char *err,
		   size_t errlen)
{
	int ret = xbzrle__check(delta, len, err, errlen);

	return ret ? ret : walk(delta, len, page, err, errlen);
}
