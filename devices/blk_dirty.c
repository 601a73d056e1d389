#include "blk_dirty.h"

#include <errno.h>
#include <stdlib.h>

#define WORD_BITS 64

struct blk_dirty {
	uint64_t size;
	uint64_t blocks;
	size_t nwords;
	uint64_t words[];	/* atomic: __atomic builtins only */
};

int blk_dirty__create(uint64_t size, struct blk_dirty **out)
{
	struct blk_dirty *d;
	uint64_t blocks;
	size_t nwords;

	if (!size)
		return -EINVAL;
	blocks = (size - 1) / BLK_DIRTY_BLOCK + 1;
	nwords = (size_t)((blocks + WORD_BITS - 1) / WORD_BITS);
	d = calloc(1, sizeof(*d) + nwords * sizeof(d->words[0]));
	if (!d)
		return -ENOMEM;
	d->size = size;
	d->blocks = blocks;
	d->nwords = nwords;
	*out = d;
	return 0;
}

void blk_dirty__free(struct blk_dirty *d)
{
	free(d);
}

uint64_t blk_dirty__blocks(const struct blk_dirty *d)
{
	return d->blocks;
}

static void set_bit(struct blk_dirty *d, uint64_t block)
{
	uint64_t bit = UINT64_C(1) << (block % WORD_BITS);
	uint64_t *w = &d->words[block / WORD_BITS];

	/* Skip the locked RMW when already set: the hot case of a busy block. */
	if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
}

void blk_dirty__mark(struct blk_dirty *d, uint64_t offset, uint64_t len)
{
	uint64_t first, last, b;

	if (!len || offset >= d->size)
		return;
	if (len > d->size - offset)
		len = d->size - offset;
	first = offset / BLK_DIRTY_BLOCK;
	last = (offset + len - 1) / BLK_DIRTY_BLOCK;
	for (b = first; b <= last; b++)
		set_bit(d, b);
}

void blk_dirty__mark_all(struct blk_dirty *d)
{
	blk_dirty__mark(d, 0, d->size);
}

bool blk_dirty__take_next(struct blk_dirty *d, uint64_t *block)
{
	uint64_t b = *block;

	while (b < d->blocks) {
		size_t i = (size_t)(b / WORD_BITS);
		uint64_t w = __atomic_load_n(&d->words[i], __ATOMIC_ACQUIRE);
		uint64_t bit;

		w &= ~UINT64_C(0) << (b % WORD_BITS);
		if (!w) {
			b = (uint64_t)(i + 1) * WORD_BITS;
			continue;
		}
		b = (uint64_t)i * WORD_BITS + (uint64_t)__builtin_ctzll(w);
		if (b >= d->blocks)
			break;
		bit = UINT64_C(1) << (b % WORD_BITS);
		/* Clear before the caller reads the block: a write that lands
		 * after this sets the bit again and is taken next time. */
		if (__atomic_fetch_and(&d->words[i], ~bit, __ATOMIC_ACQ_REL) & bit) {
			*block = b;
			return true;
		}
	}
	return false;
}

uint64_t blk_dirty__count(const struct blk_dirty *d)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < d->nwords; i++)
		n += (uint64_t)__builtin_popcountll(__atomic_load_n(&d->words[i],
								    __ATOMIC_RELAXED));
	return n;
}
