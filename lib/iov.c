#include "iov.h"

#include <stdbool.h>
#include <string.h>

/* The one walk behind all three: calls back with each buffer's part of
 * [pos, pos + len), in order. */
static uint64_t walk(const struct iovec *iov, unsigned int niov, uint64_t pos, uint64_t len,
		     void (*each)(void *part, uint64_t n, void *ctx), void *ctx)
{
	uint64_t done = 0, n;
	unsigned int i;

	for (i = 0; i < niov && len; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - pos < len ? iov[i].iov_len - pos : len;
		each((uint8_t *)iov[i].iov_base + pos, n, ctx);
		done += n;
		len -= n;
		pos = 0;
	}
	return done;
}

struct copy {
	uint8_t *buf;
	bool to_iov;
};

static void copy_part(void *part, uint64_t n, void *ctx)
{
	struct copy *c = ctx;

	if (c->to_iov)
		memcpy(part, c->buf, n);
	else
		memcpy(c->buf, part, n);
	c->buf += n;
}

uint64_t iov__to_buf(const struct iovec *iov, unsigned int niov, uint64_t pos, void *buf,
		     uint64_t len)
{
	struct copy c = { buf, false };

	return walk(iov, niov, pos, len, copy_part, &c);
}

uint64_t iov__from_buf(const struct iovec *iov, unsigned int niov, uint64_t pos,
		       const void *buf, uint64_t len)
{
	struct copy c = { (uint8_t *)buf, true };

	return walk(iov, niov, pos, len, copy_part, &c);
}

struct slice {
	struct iovec *out;
	unsigned int count;
};

static void slice_part(void *part, uint64_t n, void *ctx)
{
	struct slice *s = ctx;

	s->out[s->count++] = (struct iovec){ part, n };
}

unsigned int iov__slice(const struct iovec *iov, unsigned int niov, uint64_t pos,
			uint64_t len, struct iovec *out)
{
	struct slice s = { out, 0 };

	walk(iov, niov, pos, len, slice_part, &s);
	return s.count;
}
