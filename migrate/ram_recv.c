#include "ram_recv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "ram_prefault.h"
#include "ram_zstd.h"
#include "vm_config.h"
#include "xbzrle.h"

int ram_recv__init(struct ram_recv *rr, const struct vm_config *cfg, ram_hva_fn hva,
		   void *ctx)
{
	uint32_t i;
	size_t words;

	memset(rr, 0, sizeof(*rr));
	rr->cfg = cfg;
	rr->hva = hva;
	rr->ctx = ctx;
	for (i = 0; i < cfg->nr_slots && i < VM_CONFIG_MAX_SLOTS; i++)
		rr->nr_pages += cfg->slots[i].size / RAM_PAGE_SIZE;
	words = (rr->nr_pages + 63) / 64;
	rr->written = calloc(words ? words : 1, sizeof(uint64_t));
	rr->torn = calloc(words ? words : 1, sizeof(uint64_t));
	rr->seen = calloc(words ? words : 1, sizeof(uint64_t));
	if (!rr->written || !rr->torn || !rr->seen) {
		ram_recv__free(rr);
		return -ENOMEM;
	}
	return 0;
}

void ram_recv__free(struct ram_recv *rr)
{
	free(rr->written);
	free(rr->torn);
	free(rr->seen);
	free(rr->xarea);
	free(rr->zpages);
	ram_zstd__dctx_free(rr->dctx);
	rr->written = rr->torn = rr->seen = NULL;
	rr->xarea = rr->zpages = NULL;
	rr->dctx = NULL;
}

/* Index of gpa's page over all slots, in slot order. */
static uint64_t page_index(const struct ram_recv *rr, uint64_t gpa)
{
	const struct vm_config *cfg = rr->cfg;
	uint64_t first = 0;
	uint32_t i;

	for (i = 0; i < cfg->nr_slots && i < VM_CONFIG_MAX_SLOTS; i++) {
		if (gpa >= cfg->slots[i].gpa && gpa - cfg->slots[i].gpa < cfg->slots[i].size)
			return first + (gpa - cfg->slots[i].gpa) / RAM_PAGE_SIZE;
		first += cfg->slots[i].size / RAM_PAGE_SIZE;
	}
	return UINT64_MAX;
}

static void set_torn(struct ram_recv *rr, uint64_t page, bool torn)
{
	uint64_t bit = 1ull << (page % 64), *w = &rr->torn[page / 64];

	if (torn && !(*w & bit))
		rr->torn_now++;
	else if (!torn && (*w & bit))
		rr->torn_now--;
	*w = torn ? *w | bit : *w & ~bit;
}


/* n zero pages from gpa (inside one slot: ram_batch__check made sure), a
 * word of each bitmap at a time: written pages are zeroed, fresh ones
 * left alone (fresh anonymous memory reads as zero, so untouched RAM stays
 * unallocated), and every torn mark cleared. Untouched memory arrives as
 * a few ZERO_RUNs of many pages, and this keeps their cost at a bit per
 * page. */
static int store_zero_run(struct ram_recv *rr, uint64_t gpa, uint64_t n)
{
	uint64_t page = page_index(rr, gpa), end, w, mask, bits;
	uint8_t *base;

	if (page == UINT64_MAX || n > rr->nr_pages - page)
		return -EFAULT;	/* ram_batch checked the slots: cannot happen */
	base = rr->hva(rr->ctx, gpa);
	for (end = page + n; page < end; page = (w + 1) * 64) {
		w = page / 64;
		mask = ~0ull << (page % 64);
		if (end < (w + 1) * 64)
			mask &= ~(~0ull << (end % 64));
		for (bits = rr->written[w] & mask; bits; bits &= bits - 1)
			memset(base + (w * 64 + (uint64_t)__builtin_ctzll(bits) - (end - n)) *
					      RAM_PAGE_SIZE, 0, RAM_PAGE_SIZE);
		rr->torn_now -= (uint64_t)__builtin_popcountll(rr->torn[w] & mask);
		rr->torn[w] &= ~mask;
		rr->seen[w] |= mask;
	}
	return 0;
}

int ram_recv__page(void *ctx, uint64_t gpa, const uint8_t *data, bool torn)
{
	struct ram_recv *rr = ctx;
	uint64_t page, bit;
	uint8_t *dst;

	if (!data)
		return store_zero_run(rr, gpa, 1);
	page = page_index(rr, gpa);
	if (page == UINT64_MAX)
		return -EFAULT;	/* ram_batch checked the slots: cannot happen */
	dst = rr->hva(rr->ctx, gpa);
	bit = 1ull << (page % 64);
	/* Straight from the socket the bytes are already there. */
	if (data != dst)
		memcpy(dst, data, RAM_PAGE_SIZE);
	rr->written[page / 64] |= bit;
	rr->torn_total += torn;
	set_torn(rr, page, torn);
	rr->seen[page / 64] |= bit;
	return 0;
}

static bool test_bit(const uint64_t *map, uint64_t page)
{
	return map[page / 64] >> (page % 64) & 1;
}

/* One XBZRLE entry: its delta applied to a copy of the page, which goes
 * to guest memory only once it matches the CRC the source took of its
 * own copy. The page must be here intact: a delta against anything else
 * would build a page the source never had. */
static int apply_delta(struct ram_recv *rr, uint32_t i, uint64_t gpa, uint32_t crc,
		       const uint8_t *delta, size_t len, char *err, size_t errlen)
{
	uint64_t page = page_index(rr, gpa);
	uint8_t *dst;
	int ret;

	if (page == UINT64_MAX)
		return -EFAULT;	/* ram_batch checked the slots: cannot happen */
	if (!test_bit(rr->seen, page) || test_bit(rr->torn, page)) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): an XBZRLE delta for a page this side %s",
			     i, (unsigned long long)gpa,
			     test_bit(rr->torn, page) ? "holds torn" : "never received");
		return -EBADMSG;
	}
	dst = rr->hva(rr->ctx, gpa);
	memcpy(rr->scratch, dst, RAM_PAGE_SIZE);
	ret = xbzrle__decode(delta, len, rr->scratch, err, errlen);
	if (ret)
		return ret;
	if (crc32c__extend(0, rr->scratch, RAM_PAGE_SIZE) != crc) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): the page an XBZRLE delta makes does not match its CRC 0x%08x (this side's copy differs from the source's)",
			     i, (unsigned long long)gpa, crc);
		return -EBADMSG;
	}
	memcpy(dst, rr->scratch, RAM_PAGE_SIZE);
	rr->written[page / 64] |= 1ull << (page % 64);
	rr->delta_pages++;
	return 0;
}

/* Every delta's length and form, before any is applied. */
static int check_area(const uint8_t *area, const struct ram_batch_info *info, char *err,
		      size_t errlen)
{
	const uint8_t *d;
	size_t pos = 0, n;
	uint32_t i;
	int ret;

	for (i = 0; i < info->nr_delta; i++) {
		ret = ram_batch__next_delta(area, info->delta_len, &pos, &d, &n, err, errlen);
		if (ret)
			return ret;
	}
	if (pos != info->delta_len) {
		errmsg__set(err, errlen, "RAM batch: %llu bytes after the last delta",
			     (unsigned long long)(info->delta_len - pos));
		return -EBADMSG;
	}
	return 0;
}

/* The DATA pages' addresses as a gather list, adjacent ones merged. */
static int page_iov(struct ram_recv *rr, const uint8_t *head, uint32_t count)
{
	const uint8_t *e;
	uint8_t *dst;
	uint64_t word;
	uint32_t i;
	int n = 0;

	for (i = 0; i < count; i++) {
		e = head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;
		word = wire__get_le64(e);
		if (!(word & RAM_FLAG_DATA))
			continue;
		dst = rr->hva(rr->ctx, word & ~(uint64_t)RAM_FLAG_MASK);
		if (n && (uint8_t *)rr->iov[n - 1].iov_base + rr->iov[n - 1].iov_len == dst) {
			rr->iov[n - 1].iov_len += RAM_PAGE_SIZE;
			continue;
		}
		rr->iov[n].iov_base = dst;
		rr->iov[n].iov_len = RAM_PAGE_SIZE;
		n++;
	}
	return n;
}

/* The tail's buffers, allocated on the first batch that needs them. */
static int need_buffers(struct ram_recv *rr, const struct ram_batch_info *info, char *err,
			size_t errlen)
{
	if (info->tail_len && !rr->xarea)
		rr->xarea = malloc(RAM_BATCH_TAIL_MAX);
	if (info->nr_zstd && !rr->zpages)
		rr->zpages = malloc((size_t)RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE);
	if (info->nr_zstd && !rr->dctx)
		rr->dctx = ram_zstd__dctx_new();
	if ((info->tail_len && !rr->xarea) || (info->nr_zstd && (!rr->zpages || !rr->dctx))) {
		errmsg__set(err, errlen, "RAM batch: out of memory for its deltas or zstd pages");
		return -ENOMEM;
	}
	return 0;
}

/* What a stream of the peer's version may carry. */
static int check_version(const struct stream *s, const struct ram_batch_info *info,
			 char *err, size_t errlen)
{
	if (info->nr_delta && s->minor_in < 1) {
		errmsg__set(err, errlen,
			     "RAM batch: XBZRLE entries in a stream of version %u.%u (they came with 3.1)",
			     STREAM_VERSION_MAJOR, s->minor_in);
		return -EBADMSG;
	}
	if (info->nr_zstd && s->minor_in < 2) {
		errmsg__set(err, errlen,
			     "RAM batch: ZSTD entries in a stream of version %u.%u (they came with 3.2)",
			     STREAM_VERSION_MAJOR, s->minor_in);
		return -EBADMSG;
	}
	if (info->nr_run && s->minor_in < 6) {
		errmsg__set(err, errlen,
			     "RAM batch: ZERO_RUN entries in a stream of version %u.%u (they came with 3.6)",
			     STREAM_VERSION_MAJOR, s->minor_in);
		return -EBADMSG;
	}
	return 0;
}

/* The tail, read: the frame checked and decompressed, every ZSTD page's
 * CRC checked, every delta's form; *darea is where the deltas start. */
static int check_tail(struct ram_recv *rr, const uint8_t *head, struct ram_batch_info *info,
		      const uint8_t **darea, char *err, size_t errlen)
{
	uint32_t crcs[RAM_BATCH_MAX_PAGES];
	const uint8_t *frame;
	int ret;

	*darea = rr->xarea;
	if (info->nr_zstd) {
		ret = ram_batch__split_tail(rr->xarea, info, &frame, err, errlen);
		if (ret)
			return ret;
		ram_zstd__entry_crcs(head, info->count, crcs);
		ret = ram_zstd__decode(rr->dctx, frame, info->zstd_len, info->nr_zstd,
				       rr->zpages, crcs, err, errlen);
		if (ret)
			return ret;
		*darea = frame + info->zstd_len;
	}
	return info->nr_delta ? check_area(*darea, info, err, errlen) : 0;
}

/* Every entry, in order, once the whole batch passed its checks. */
static int store_pages(struct ram_recv *rr, const uint8_t *head, struct ram_batch_info *info,
		       const uint8_t *darea, char *err, size_t errlen)
{
	const uint8_t *e, *delta, *zp = rr->zpages;
	size_t xpos = 0, dlen;
	uint64_t word, gpa;
	uint8_t *dst;
	uint32_t i;
	bool torn;
	int ret;

	for (i = 0; i < info->count; i++) {
		e = head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;
		word = wire__get_le64(e);
		gpa = word & ~(uint64_t)RAM_FLAG_MASK;
		if (word & RAM_FLAG_XBZRLE) {
			ret = ram_batch__next_delta(darea, info->delta_len, &xpos, &delta,
						    &dlen, err, errlen);
			if (!ret)
				ret = apply_delta(rr, i, gpa, wire__get_le32(e + 8), delta, dlen,
						  err, errlen);
			if (ret)
				return ret;
			continue;
		}
		if (word & RAM_FLAG_ZERO) {
			ret = ram_recv__page(rr, gpa, NULL, false);
		} else if (word & RAM_FLAG_ZERO_RUN) {
			ret = store_zero_run(rr, gpa, wire__get_le32(e + 8));
		} else if (word & RAM_FLAG_ZSTD) {
			/* Its CRC passed in check_tail. */
			ret = ram_recv__page(rr, gpa, zp, false);
			zp += RAM_PAGE_SIZE;
			rr->zstd_pages++;
		} else {
			dst = rr->hva(rr->ctx, gpa);
			torn = crc32c__extend(0, dst, RAM_PAGE_SIZE) != wire__get_le32(e + 8);
			info->nr_torn += torn;
			ret = ram_recv__page(rr, gpa, dst, torn);
		}
		if (ret) {
			errmsg__set(err, errlen, "RAM batch entry %u (gpa 0x%llx): no such page",
				     i, (unsigned long long)gpa);
			return ret;
		}
	}
	return 0;
}

int ram_recv__section(struct ram_recv *rr, struct stream *s, struct section *sec,
		      struct ram_batch_info *info, char *err, size_t errlen)
{
	struct ram_batch_info local;
	const uint8_t *darea;
	int ret, n;

	if (!info)
		info = &local;
	/* The whole table first: a bad entry writes nothing. */
	ret = ram_batch__check(sec->payload, sec->head_len, sec->len, rr->cfg, info, err,
			       errlen);
	if (!ret)
		ret = check_version(s, info, err, errlen);
	if (!ret)
		ret = need_buffers(rr, info, err, errlen);
	if (ret)
		return ret;
	n = page_iov(rr, sec->payload, info->count);
	if (rr->prefault)
		ram_prefault__ahead(rr->prefault, rr->iov, n);
	if (info->tail_len) {
		rr->iov[n].iov_base = rr->xarea;
		rr->iov[n].iov_len = info->tail_len;
		n++;
	}
	ret = stream__recv_pages(s, sec, rr->iov, n, err, errlen);
	if (!ret)
		ret = check_tail(rr, sec->payload, info, &darea, err, errlen);
	if (ret)
		return ret;
	rr->zstd_bytes += info->nr_zstd ? RAM_ZSTD_PREFIX_LEN + info->zstd_len : 0;
	return store_pages(rr, sec->payload, info, darea, err, errlen);
}

/* The gpa of page index `page`, for the message. */
static uint64_t page_gpa(const struct ram_recv *rr, uint64_t page)
{
	const struct vm_config *cfg = rr->cfg;
	uint64_t n;
	uint32_t i;

	for (i = 0; i < cfg->nr_slots && i < VM_CONFIG_MAX_SLOTS; i++) {
		n = cfg->slots[i].size / RAM_PAGE_SIZE;
		if (page < n)
			return cfg->slots[i].gpa + page * RAM_PAGE_SIZE;
		page -= n;
	}
	return UINT64_MAX;
}

int ram_recv__check_end(const struct ram_recv *rr, char *err, size_t errlen)
{
	uint64_t w;

	if (!rr->torn_now)
		return 0;
	for (w = 0; w < (rr->nr_pages + 63) / 64; w++) {
		if (!rr->torn[w])
			continue;
		errmsg__set(err, errlen,
			     "END: %llu page(s) arrived torn (data not matching its CRC) and were never sent again intact, the first at gpa 0x%llx",
			     (unsigned long long)rr->torn_now,
			     (unsigned long long)page_gpa(rr, w * 64 + (uint64_t)__builtin_ctzll(rr->torn[w])));
		break;
	}
	return -EBADMSG;
}
