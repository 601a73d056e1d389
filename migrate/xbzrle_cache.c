/* The source's XBZRLE cache and send step (include/xbzrle_cache.h). */
#include "xbzrle_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "mem_zero.h"

int xbzrle_cache__create(struct xbzrle_cache *c, uint64_t size)
{
	memset(c, 0, sizeof(*c));
	if (size < RAM_PAGE_SIZE || size % RAM_PAGE_SIZE)
		return -EINVAL;
	c->size = size;
	c->slots = size / RAM_PAGE_SIZE;
	/* malloc of this size maps fresh memory: slots never used cost
	 * nothing. */
	c->tag = calloc(c->slots, sizeof(*c->tag));
	c->stamp = calloc(c->slots, sizeof(*c->stamp));
	c->data = malloc(size);
	c->copies = malloc((size_t)RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE);
	c->area = malloc(RAM_BATCH_DELTA_MAX);
	c->copy_now = malloc(RAM_PAGE_SIZE);
	if (!c->tag || !c->stamp || !c->data || !c->copies || !c->area || !c->copy_now) {
		xbzrle_cache__destroy(c);
		return -ENOMEM;
	}
	return 0;
}

void xbzrle_cache__destroy(struct xbzrle_cache *c)
{
	free(c->tag);
	free(c->stamp);
	free(c->data);
	free(c->copies);
	free(c->area);
	free(c->copy_now);
	c->tag = NULL;
	c->stamp = NULL;
	c->data = c->copies = c->area = c->copy_now = NULL;
	c->slots = 0;
}

uint64_t xbzrle_cache__memory(const struct xbzrle_cache *c)
{
	if (!c->tag)
		return 0;
	return c->size + c->slots * (sizeof(*c->tag) + sizeof(*c->stamp)) +
	       (uint64_t)RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE + RAM_BATCH_DELTA_MAX +
	       RAM_PAGE_SIZE + sizeof(*c);
}

void xbzrle_cache__attach(struct xbzrle_cache *c, struct ram_batch *b)
{
	ram_batch__set_delta_area(b, c->area, RAM_BATCH_DELTA_MAX);
}

void xbzrle_cache__batch_done(struct xbzrle_cache *c)
{
	c->nr_copies = 0;
}

const uint8_t *xbzrle_cache__lookup(const struct xbzrle_cache *c, uint64_t page)
{
	uint64_t slot;

	if (!c->slots)
		return NULL;
	slot = page % c->slots;
	return c->tag[slot] == page + 1 ? c->data + slot * RAM_PAGE_SIZE : NULL;
}

/* Puts the snapshot in page's slot, evicting its tenant unless that was
 * sent in this round too (the header says why). */
static void insert(struct xbzrle_cache *c, uint64_t page, const uint8_t *copy, uint32_t round)
{
	uint64_t slot = page % c->slots;

	if (c->tag[slot] && c->tag[slot] != page + 1) {
		if (c->stamp[slot] == round + 1) {
			c->n.not_cached++;
			return;
		}
		c->n.evictions++;
	}
	c->tag[slot] = page + 1;
	c->stamp[slot] = round + 1;
	memcpy(c->data + slot * RAM_PAGE_SIZE, copy, RAM_PAGE_SIZE);
}

/* Sends the snapshot whole: it stays in the batch's copies until the
 * batch is sent, since a later page of the same batch may take its cache
 * slot. */
static int add_whole(struct xbzrle_cache *c, struct ram_batch *b, uint64_t gpa,
		     const uint8_t *snap)
{
	uint8_t *keep;
	int ret;

	if (c->nr_copies >= RAM_BATCH_MAX_PAGES)
		return -ENOSPC;
	keep = c->copies + (size_t)c->nr_copies * RAM_PAGE_SIZE;
	memcpy(keep, snap, RAM_PAGE_SIZE);
	ret = ram_batch__add_page(b, gpa, keep);
	if (!ret)
		c->nr_copies++;
	return ret;
}

int xbzrle_cache__add(struct xbzrle_cache *c, struct ram_batch *b, uint64_t page,
		      uint64_t gpa, const void *hva)
{
	uint8_t *snap = c->copy_now, *cached;
	int len, ret;

	if (ram_batch__full(b))
		return -ENOSPC;
	/* The one read of guest memory: everything below uses the snapshot. */
	memcpy(snap, hva, RAM_PAGE_SIZE);
	cached = (uint8_t *)xbzrle_cache__lookup(c, page);
	if (mem__is_zero(snap, RAM_PAGE_SIZE)) {
		/* The destination will hold zeros: so must the cache. */
		if (cached)
			memset(cached, 0, RAM_PAGE_SIZE);
		return ram_batch__add_zero(b, gpa);
	}
	if (!cached) {
		ret = add_whole(c, b, gpa, snap);
		if (ret)
			return ret;
		c->n.cache_miss++;
		insert(c, page, snap, b->round);
		return 0;
	}
	len = xbzrle__encode(cached, snap, c->delta, sizeof(c->delta));
	if (len < 0) {
		ret = add_whole(c, b, gpa, snap);
		if (ret)
			return ret;
		c->n.hits++;
		c->n.overflow++;
	} else {
		ret = ram_batch__add_delta(b, gpa, c->delta, (size_t)len,
					   crc32c__extend(0, snap, RAM_PAGE_SIZE));
		if (ret)
			return ret;
		c->n.hits++;
		c->n.pages++;
		c->n.bytes += (uint64_t)len + RAM_DELTA_PREFIX_LEN;
		c->n.bytes_saved += RAM_PAGE_SIZE - ((uint64_t)len + RAM_DELTA_PREFIX_LEN);
	}
	memcpy(cached, snap, RAM_PAGE_SIZE);
	c->stamp[page % c->slots] = b->round + 1;
	return 0;
}
