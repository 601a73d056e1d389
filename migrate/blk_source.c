#include "blk_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_image.h"
#include "blk_section.h"

int blk_source__init(struct blk_source *s, const struct blk_source_drive *d,
		     unsigned int n)
{
	void *buf;

	if (!n || n > BLK_SOURCE_MAX_DRIVES)
		return -EINVAL;
	if (posix_memalign(&buf, 4096, BLK_DIRTY_BLOCK))
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	memcpy(s->drive, d, n * sizeof(*d));
	s->ndrives = n;
	s->buf = buf;
	return 0;
}

void blk_source__free(struct blk_source *s)
{
	free(s->buf);
	s->buf = NULL;
}

void blk_source__begin_dirty_pass(struct blk_source *s)
{
	if (!s->bulk_done)
		return;
	s->cur = 0;
	s->pos = s->block_end = s->next_block = 0;
}

static int read_all(int fd, uint8_t *p, uint32_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Encodes the extent of drive cur at pos, ending by end at the latest. */
static int send_extent(struct blk_source *s, uint64_t end, uint32_t round, struct wbuf *w)
{
	const struct blk_source_drive *d = &s->drive[s->cur];
	struct blk_extent e;
	int ret;

	ret = blk_image__next_extent(d->fd, d->size, s->pos, &e);
	if (ret)
		return ret;
	if (e.offset + e.len > end)
		e.len = (uint32_t)(end - e.offset);
	e.drive = s->cur;
	e.round = round;
	if (!e.hole) {
		ret = read_all(d->fd, s->buf, e.len, e.offset);
		if (ret)
			return ret;
	}
	ret = blk_section__encode(w, &e, e.hole ? NULL : s->buf);
	if (ret)
		return ret;
	s->pos += e.len;
	return 1;
}

static int next_bulk(struct blk_source *s, uint32_t round, struct wbuf *w)
{
	while (s->cur < s->ndrives && s->pos >= s->drive[s->cur].size) {
		s->cur++;
		s->pos = 0;
	}
	if (s->cur < s->ndrives)
		return send_extent(s, s->drive[s->cur].size, round, w);
	s->bulk_done = true;
	s->cur = 0;
	s->pos = 0;
	return 0;
}

static int next_dirty(struct blk_source *s, uint32_t round, struct wbuf *w)
{
	uint64_t b;

	while (s->cur < s->ndrives) {
		const struct blk_source_drive *d = &s->drive[s->cur];

		if (s->pos < s->block_end)
			return send_extent(s, s->block_end, round, w);
		b = s->next_block;
		if (blk_dirty__take_next(d->dirty, &b)) {
			s->pos = b * BLK_DIRTY_BLOCK;
			s->block_end = s->pos + BLK_DIRTY_BLOCK < d->size ?
				       s->pos + BLK_DIRTY_BLOCK : d->size;
			s->next_block = b + 1;
			continue;
		}
		s->cur++;
		s->pos = s->block_end = s->next_block = 0;
	}
	return 0;
}

int blk_source__next(struct blk_source *s, uint32_t round, struct wbuf *w)
{
	if (!s->bulk_done)
		return next_bulk(s, round, w);
	return next_dirty(s, round, w);
}

uint64_t blk_source__remaining(const struct blk_source *s)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < s->ndrives; i++) {
		uint64_t dirty = blk_dirty__count(s->drive[i].dirty) * BLK_DIRTY_BLOCK;

		/* A drive's last block may be short: never count past its size. */
		n += dirty < s->drive[i].size ? dirty : s->drive[i].size;
		if (!s->bulk_done && i > s->cur)
			n += s->drive[i].size;
		else if (!s->bulk_done && i == s->cur)
			n += s->drive[i].size - s->pos;
		else if (i == s->cur && s->pos < s->block_end)
			n += s->block_end - s->pos;	/* the block being sent */
	}
	return n;
}

uint64_t blk_source__total(const struct blk_source *s)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < s->ndrives; i++)
		n += s->drive[i].size;
	return n;
}
