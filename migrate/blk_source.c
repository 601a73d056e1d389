#include "blk_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk_image.h"
#include "blk_section.h"
#include "fd_io.h"
#include "mem_zero.h"

int blk_source__init(struct blk_source *s, const struct blk_source_drive *d,
		     unsigned int n)
{
	unsigned int i;
	void *buf;

	if (!n || n > BLK_SOURCE_MAX_DRIVES)
		return -EINVAL;
	if (posix_memalign(&buf, 4096, BLK_DIRTY_BLOCK))
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	memcpy(s->drive, d, n * sizeof(*d));
	s->ndrives = n;
	s->buf = buf;
	for (i = 0; i < n; i++) {
		/* -i over an empty overlay has nothing for its bulk pass. */
		if ((!s->drive[i].bulk_bytes && !s->drive[i].incremental) ||
		    s->drive[i].bulk_bytes > s->drive[i].size)
			s->drive[i].bulk_bytes = s->drive[i].size;
		s->bulk_left[i] = s->drive[i].bulk_bytes;
	}
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

/* A qcow2 drive's extent at pos (never past end nor a block boundary):
 * what its map says, read through it. *skip: nothing to send for it
 * (migrate -i: the base's bytes, which the destination has). */
static int fmt_extent(struct blk_source *s, const struct blk_source_drive *d, uint64_t end,
		      struct blk_extent *e, bool *skip)
{
	uint64_t lim = (s->pos / BLK_DIRTY_BLOCK + 1) * BLK_DIRTY_BLOCK, n;
	enum qcow2_kind k;
	int ret;

	if (lim > end)
		lim = end;
	ret = blk_backend__fmt_status(d->fmt, s->pos, lim - s->pos, &k, &n);
	if (ret)
		return ret;
	e->offset = s->pos;
	e->len = (uint32_t)n;
	e->hole = k == QCOW2_ZERO || k == QCOW2_UNALLOCATED;
	*skip = d->incremental && (k == QCOW2_BACKING || k == QCOW2_UNALLOCATED);
	if (*skip || e->hole)
		return 0;
	ret = blk_backend__fmt_read(d->fmt, e->offset, s->buf, e->len);
	if (ret)
		return ret;
	/* A whole copy sends what the base holds too: its zeros as holes. */
	e->hole = !d->incremental && mem__is_zero(s->buf, e->len);
	return 0;
}

static void count_bulk(struct blk_source *s, uint32_t len)
{
	uint64_t *left = &s->bulk_left[s->cur];

	if (!s->bulk_done)
		*left = *left > len ? *left - len : 0;
}

/* Encodes the next extent of drive cur from pos, ending by end at the
 * latest. Returns 1 when it did, 0 when nothing from pos to end is to be
 * sent, -errno. */
static int send_extent(struct blk_source *s, uint64_t end, uint32_t round, struct wbuf *w)
{
	const struct blk_source_drive *d = &s->drive[s->cur];
	struct blk_extent e;
	bool skip = false;
	int ret;

	for (;;) {
		if (s->pos >= end)
			return 0;
		if (d->fmt)
			ret = fmt_extent(s, d, end, &e, &skip);
		else
			ret = blk_image__next_extent(d->fd, d->size, s->pos, &e);
		if (ret)
			return ret;
		if (e.offset + e.len > end)
			e.len = (uint32_t)(end - e.offset);
		if (!skip)
			break;
		s->pos += e.len;
	}
	e.drive = s->cur;
	e.round = round;
	if (!e.hole && !d->fmt) {
		ret = fd__pread_all(d->fd, s->buf, e.len, e.offset);
		if (ret)
			return ret;
	}
	ret = blk_section__encode(w, &e, e.hole ? NULL : s->buf);
	if (ret)
		return ret;
	s->pos += e.len;
	count_bulk(s, e.len);
	return 1;
}

static int next_bulk(struct blk_source *s, uint32_t round, struct wbuf *w)
{
	unsigned int i;
	int ret;

	while (s->cur < s->ndrives) {
		ret = send_extent(s, s->drive[s->cur].size, round, w);
		if (ret)
			return ret;
		s->cur++;
		s->pos = 0;
	}
	s->bulk_done = true;
	s->cur = 0;
	s->pos = 0;
	for (i = 0; i < s->ndrives; i++)
		s->bulk_left[i] = 0;
	return 0;
}

static int next_dirty(struct blk_source *s, uint32_t round, struct wbuf *w)
{
	uint64_t b;

	while (s->cur < s->ndrives) {
		const struct blk_source_drive *d = &s->drive[s->cur];

		if (s->pos < s->block_end) {
			int ret = send_extent(s, s->block_end, round, w);

			if (ret)
				return ret;
			s->pos = s->block_end;
		}
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
		if (!s->bulk_done)
			n += s->bulk_left[i];
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
		n += s->drive[i].bulk_bytes;
	return n;
}
