/* RAM section payloads (stream 3.6): u32 round, u32 count, count entries
 * of u64 (gpa | flag) and u32 CRC32C of the page (a ZERO_RUN's length),
 * then the DATA pages' bytes in entry order, then (with ZSTD entries) the
 * zstd frame behind its u32 length, then the XBZRLE entries' deltas. The
 * encoder reads pages where they are, in guest memory; see FORMAT.md for
 * why a page may change on the way. Part of the stream module
 * (include/stream.h). */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "mem_zero.h"
#include "ram_zstd.h"
#include "vm_config.h"
#include "xbzrle.h"

#define KNOWN_FLAGS	(RAM_FLAG_ZERO | RAM_FLAG_DATA | RAM_FLAG_XBZRLE | RAM_FLAG_ZSTD | \
			 RAM_FLAG_ZERO_RUN)
#define BAD_LOW_BITS	(RAM_FLAG_MASK & ~KNOWN_FLAGS)

static void reset(struct ram_batch *b)
{
	b->round = b->count = b->nr_zero = b->nr_data = b->nr_delta = b->nr_zstd = 0;
	b->nr_run = 0;
	b->pages = b->zero_pages = 0;
	b->run_end = UINT64_MAX;
	b->xlen = 0;
	b->zarea = NULL;
	b->zlen = 0;
	b->nr_iov = 0;
	b->begun = false;
}

void ram_batch__init(struct ram_batch *b)
{
	reset(b);
	b->xdata = NULL;
	b->xcap = 0;
}

void ram_batch__set_delta_area(struct ram_batch *b, uint8_t *area, size_t cap)
{
	b->xdata = area;
	b->xcap = cap;
}

void ram_batch__free(struct ram_batch *b)
{
	ram_batch__init(b);
}

void ram_batch__begin(struct ram_batch *b, uint32_t round)
{
	reset(b);
	b->round = round;
	b->begun = true;
	wire__le32(b->head, round);
	b->iov[0].iov_base = b->head;
	b->iov[0].iov_len = RAM_BATCH_HEADER_LEN;
	b->nr_iov = 1;
}

bool ram_batch__full(const struct ram_batch *b)
{
	return b->count >= RAM_BATCH_MAX_PAGES;
}

static int can_add(const struct ram_batch *b, uint64_t gpa)
{
	if (!b->begun || (gpa & RAM_FLAG_MASK))
		return -EINVAL;
	if (ram_batch__full(b))
		return -ENOSPC;
	return 0;
}

static uint8_t *entry(const struct ram_batch *b, uint32_t i)
{
	return (uint8_t *)b->head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;
}

static void put_entry(struct ram_batch *b, uint64_t word)
{
	uint8_t *e = entry(b, b->count);

	wire__le64(e, word);
	wire__le32(e + 8, 0);	/* a DATA page's CRC comes in finish */
	b->count++;
	b->pages++;
	b->run_end = UINT64_MAX;
}

/* The pages the last entry covers if it is a zero one that the page at
 * gpa would extend, else 0. Guest RAM's slots lie apart (the PCI hole
 * between them), so pages adjacent in guest-physical space share a slot. */
static uint32_t run_before(const struct ram_batch *b, uint64_t gpa)
{
	const uint8_t *e;

	/* run_end is UINT64_MAX, never a page's address, after any other
	 * entry. */
	if (!b->begun || !b->count || (gpa & RAM_FLAG_MASK) || gpa != b->run_end)
		return 0;
	e = entry(b, b->count - 1);
	return (wire__get_le64(e) & RAM_FLAG_ZERO_RUN) ? wire__get_le32(e + 8) : 1;
}

/* n more zero pages on the last entry, a zero one (run_before): a ZERO
 * entry becomes a ZERO_RUN. */
static void grow_run(struct ram_batch *b, uint32_t len, uint32_t n)
{
	uint8_t *e = entry(b, b->count - 1);

	if (len == 1) {
		wire__le64(e, (wire__get_le64(e) & ~(uint64_t)RAM_FLAG_MASK) | RAM_FLAG_ZERO_RUN);
		b->nr_zero--;
		b->nr_run++;
	}
	wire__le32(e + 8, len + n);
	b->pages += n;
	b->zero_pages += n;
	b->run_end += (uint64_t)n * RAM_PAGE_SIZE;
}

int ram_batch__add_zero(struct ram_batch *b, uint64_t gpa)
{
	uint32_t len = run_before(b, gpa);
	int ret;

	/* A run grows in place: it takes no entry, even in a full batch. */
	if (len && len < UINT32_MAX) {
		grow_run(b, len, 1);
		return 0;
	}
	ret = can_add(b, gpa);
	if (ret)
		return ret;
	put_entry(b, gpa | RAM_FLAG_ZERO);
	b->nr_zero++;
	b->zero_pages++;
	b->run_end = gpa + RAM_PAGE_SIZE;
	return 0;
}

int ram_batch__add_zeros(struct ram_batch *b, uint64_t gpa, uint64_t n)
{
	uint32_t len = run_before(b, gpa);
	int ret;

	/* All n join the run before them, or start one, or none is added. */
	if (!n || n > UINT32_MAX - len)
		return -EINVAL;
	ret = ram_batch__add_zero(b, gpa);
	if (ret || n == 1)
		return ret;
	grow_run(b, len ? len + 1 : 1, (uint32_t)(n - 1));
	return 0;
}

int ram_batch__add_delta(struct ram_batch *b, uint64_t gpa, const uint8_t *delta, size_t len,
			 uint32_t crc)
{
	uint8_t *e;
	int ret = can_add(b, gpa);

	if (ret)
		return ret;
	if (len > XBZRLE_MAX_DELTA)
		return -EINVAL;
	if (!b->xdata || b->xcap - b->xlen < RAM_DELTA_PREFIX_LEN + len)
		return -ENOSPC;
	e = entry(b, b->count);
	put_entry(b, gpa | RAM_FLAG_XBZRLE);
	/* The CRC of the page the delta makes: the destination checks it
	 * before it writes the page. */
	wire__le32(e + 8, crc);
	b->xdata[b->xlen] = (uint8_t)len;
	b->xdata[b->xlen + 1] = (uint8_t)(len >> 8);
	memcpy(b->xdata + b->xlen + RAM_DELTA_PREFIX_LEN, delta, len);
	b->xlen += RAM_DELTA_PREFIX_LEN + len;
	b->nr_delta++;
	return 0;
}

int ram_batch__add_page(struct ram_batch *b, uint64_t gpa, const void *page)
{
	struct iovec *last;
	int ret = can_add(b, gpa);

	if (ret)
		return ret;
	/* A page that turns non-zero after this test is written after its
	 * dirty bit was cleared: the next round sends it again. */
	if (mem__is_zero(page, RAM_PAGE_SIZE))
		return ram_batch__add_zero(b, gpa);
	put_entry(b, gpa | RAM_FLAG_DATA);
	b->page[b->nr_data++] = page;
	last = &b->iov[b->nr_iov - 1];
	/* Adjacent pages go out as one run. */
	if (b->nr_iov > 1 && (const uint8_t *)last->iov_base + last->iov_len == page) {
		last->iov_len += RAM_PAGE_SIZE;
	} else {
		b->iov[b->nr_iov].iov_base = (void *)page;
		b->iov[b->nr_iov].iov_len = RAM_PAGE_SIZE;
		b->nr_iov++;
	}
	return 0;
}

int ram_batch__use_zstd(struct ram_batch *b, const uint8_t *area, size_t len,
			const uint32_t *crc)
{
	uint32_t i, k = 0;
	uint8_t *e;

	if (!b->begun || !b->nr_data || b->nr_zstd || len <= RAM_ZSTD_PREFIX_LEN)
		return -EINVAL;
	for (i = 0; i < b->count; i++) {
		e = entry(b, i);
		if (!(wire__get_le64(e) & RAM_FLAG_DATA))
			continue;
		wire__le64(e, (wire__get_le64(e) & ~(uint64_t)RAM_FLAG_DATA) | RAM_FLAG_ZSTD);
		wire__le32(e + 8, crc[k++]);
	}
	b->nr_zstd = b->nr_data;
	b->nr_data = 0;
	b->zarea = area;
	b->zlen = len;
	/* The pages travel inside the frame: only the head stays. */
	b->iov[1].iov_base = (void *)area;
	b->iov[1].iov_len = len;
	b->nr_iov = 2;
	return 0;
}

int ram_batch__finish(struct ram_batch *b)
{
	uint32_t i, d = 0;
	uint8_t *e;

	if (!b->begun)
		return -EINVAL;
	wire__le32(b->head + 4, b->count);
	b->iov[0].iov_len = RAM_BATCH_HEADER_LEN + (size_t)b->count * RAM_ENTRY_LEN;
	/* Taken from guest memory as late as possible: the closer to the
	 * send, the less time the guest has to tear the page. */
	for (i = 0; i < b->count; i++) {
		e = entry(b, i);
		if (wire__get_le64(e) & RAM_FLAG_DATA)
			wire__le32(e + 8, crc32c__extend(0, b->page[d++], RAM_PAGE_SIZE));
	}
	if (b->xlen && (b->nr_iov < 1 || b->iov[b->nr_iov - 1].iov_base != b->xdata)) {
		b->iov[b->nr_iov].iov_base = b->xdata;
		b->iov[b->nr_iov].iov_len = b->xlen;
		b->nr_iov++;
	}
	return 0;
}

const struct iovec *ram_batch__iov(const struct ram_batch *b, int *iovcnt)
{
	*iovcnt = b->nr_iov;
	return b->iov;
}

size_t ram_batch__len(const struct ram_batch *b)
{
	return RAM_BATCH_HEADER_LEN + (size_t)b->count * RAM_ENTRY_LEN +
	       (size_t)b->nr_data * RAM_PAGE_SIZE + b->zlen + b->xlen;
}

/* --- decoding ------------------------------------------------------------ */

/* The pages from gpa to the end of its slot; 0 outside every slot. Slots
 * are page aligned, so a page that starts inside one ends inside it too. */
static uint64_t pages_to_slot_end(const struct vm_config *cfg, uint64_t gpa)
{
	uint32_t i, n = cfg->nr_slots;

	if (n > VM_CONFIG_MAX_SLOTS)
		n = VM_CONFIG_MAX_SLOTS;
	for (i = 0; i < n; i++)
		if (gpa >= cfg->slots[i].gpa &&
		    gpa - cfg->slots[i].gpa < cfg->slots[i].size)
			return (cfg->slots[i].size - (gpa - cfg->slots[i].gpa)) / RAM_PAGE_SIZE;
	return 0;
}

/* What one entry covers: a run its length, any other entry one page. */
static uint64_t entry_pages(const uint8_t *e)
{
	return (wire__get_le64(e) & RAM_FLAG_ZERO_RUN) ? wire__get_le32(e + 8) : 1;
}

uint64_t ram_batch__pages(const uint8_t *head, size_t head_len)
{
	uint64_t pages = 0;
	uint32_t i, count;

	if (head_len < RAM_BATCH_HEADER_LEN)
		return 0;
	count = wire__get_le32(head + 4);
	for (i = 0; i < count && (size_t)i < (head_len - RAM_BATCH_HEADER_LEN) / RAM_ENTRY_LEN; i++)
		pages += entry_pages(head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN);
	return pages;
}

static int check_entry(const struct vm_config *cfg, const uint8_t *e,
		       uint32_t i, char *err, size_t errlen)
{
	uint64_t word = wire__get_le64(e);
	uint64_t gpa = word & ~(uint64_t)RAM_FLAG_MASK;
	uint32_t flags = word & RAM_FLAG_MASK, crc = wire__get_le32(e + 8);
	uint64_t room;

	if (flags & BAD_LOW_BITS) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u: 0x%llx has bits 0x%x set below the page boundary (gpa not page aligned, or an unknown flag)",
			     i, (unsigned long long)word, flags & BAD_LOW_BITS);
		return -EBADMSG;
	}
	if (flags != RAM_FLAG_ZERO && flags != RAM_FLAG_DATA && flags != RAM_FLAG_XBZRLE &&
	    flags != RAM_FLAG_ZSTD && flags != RAM_FLAG_ZERO_RUN) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): flags 0x%x, exactly one of ZERO, DATA, XBZRLE, ZSTD and ZERO_RUN must be set",
			     i, (unsigned long long)gpa, flags);
		return -EBADMSG;
	}
	if (flags == RAM_FLAG_ZERO && crc) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): a ZERO page with CRC 0x%08x, must be 0",
			     i, (unsigned long long)gpa, crc);
		return -EBADMSG;
	}
	room = pages_to_slot_end(cfg, gpa);
	if (!room) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u: gpa 0x%llx is outside guest RAM",
			     i, (unsigned long long)gpa);
		return -EBADMSG;
	}
	if (flags == RAM_FLAG_ZERO_RUN && crc < RAM_ZERO_RUN_MIN) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): a ZERO_RUN of %u page(s), at least %u (one zero page is a ZERO entry)",
			     i, (unsigned long long)gpa, crc, RAM_ZERO_RUN_MIN);
		return -EBADMSG;
	}
	if (flags == RAM_FLAG_ZERO_RUN && crc > room) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): a ZERO_RUN of %u pages runs past its RAM slot's end (%llu pages left in it)",
			     i, (unsigned long long)gpa, crc, (unsigned long long)room);
		return -EBADMSG;
	}
	return 0;
}

/* The payload is the head, the DATA pages and a tail: with ZSTD entries
 * a u32 length and a frame of 1 to 4096 bytes per ZSTD entry, then a
 * delta area in which each delta takes 2 to 4096 bytes. */
static int check_length(struct ram_batch_info *info, size_t head_len, uint64_t payload_len,
			char *err, size_t errlen)
{
	uint64_t pages = (uint64_t)info->nr_data * RAM_PAGE_SIZE, area, lo, hi;

	if (payload_len - head_len < pages ||
	    (!info->nr_delta && !info->nr_zstd && payload_len - head_len != pages)) {
		errmsg__set(err, errlen,
			     "RAM batch: %u DATA entries need %llu page bytes, the payload has %llu",
			     info->nr_data, (unsigned long long)pages,
			     (unsigned long long)(payload_len - head_len));
		return -EBADMSG;
	}
	area = payload_len - head_len - pages;
	lo = (uint64_t)info->nr_delta * RAM_DELTA_PREFIX_LEN;
	hi = (uint64_t)info->nr_delta * (RAM_DELTA_PREFIX_LEN + XBZRLE_MAX_DELTA);
	if (info->nr_zstd) {
		lo += RAM_ZSTD_PREFIX_LEN + 1;
		hi += RAM_ZSTD_PREFIX_LEN + (uint64_t)info->nr_zstd * RAM_PAGE_SIZE;
	}
	if ((area < lo || area > hi) && !info->nr_zstd) {
		errmsg__set(err, errlen,
			     "RAM batch: %u DATA entries need %llu page bytes and %u XBZRLE entries %llu..%llu delta bytes, the payload has %llu",
			     info->nr_data, (unsigned long long)pages, info->nr_delta,
			     (unsigned long long)lo, (unsigned long long)hi,
			     (unsigned long long)(payload_len - head_len));
		return -EBADMSG;
	}
	if (area < lo || area > hi) {
		errmsg__set(err, errlen,
			     "RAM batch: %u DATA entries need %llu page bytes, %u ZSTD and %u XBZRLE entries %llu..%llu bytes after them, the payload has %llu",
			     info->nr_data, (unsigned long long)pages, info->nr_zstd, info->nr_delta,
			     (unsigned long long)lo, (unsigned long long)hi,
			     (unsigned long long)(payload_len - head_len));
		return -EBADMSG;
	}
	info->tail_len = area;
	info->delta_len = info->nr_zstd ? 0 : area;
	return 0;
}

int ram_batch__check(const uint8_t *head, size_t head_len, uint64_t payload_len,
		     const struct vm_config *cfg, struct ram_batch_info *info,
		     char *err, size_t errlen)
{
	struct ram_batch_info local;
	uint32_t i;
	int ret;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!cfg) {
		errmsg__set(err, errlen, "RAM batch: no configuration to check it against");
		return -EINVAL;
	}
	if (head_len < RAM_BATCH_HEADER_LEN || payload_len < head_len) {
		errmsg__set(err, errlen,
			     "RAM batch: payload of %llu bytes is shorter than its %d-byte header",
			     (unsigned long long)payload_len, RAM_BATCH_HEADER_LEN);
		return -EBADMSG;
	}
	info->round = wire__get_le32(head);
	info->count = wire__get_le32(head + 4);
	if (info->count > RAM_BATCH_MAX_PAGES) {
		errmsg__set(err, errlen, "RAM batch: %u pages, at most %u",
			     info->count, RAM_BATCH_MAX_PAGES);
		return -EBADMSG;
	}
	if (head_len != RAM_BATCH_HEADER_LEN + (size_t)info->count * RAM_ENTRY_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: an entry table of %u entries does not fit a payload of %llu bytes",
			     info->count, (unsigned long long)payload_len);
		return -EBADMSG;
	}
	for (i = 0; i < info->count; i++) {
		const uint8_t *e = head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;

		ret = check_entry(cfg, e, i, err, errlen);
		if (ret)
			return ret;
		info->pages += entry_pages(e);
		if (wire__get_le64(e) & (RAM_FLAG_ZERO | RAM_FLAG_ZERO_RUN))
			info->zero_pages += entry_pages(e);
		if (wire__get_le64(e) & RAM_FLAG_ZERO)
			info->nr_zero++;
		else if (wire__get_le64(e) & RAM_FLAG_ZERO_RUN)
			info->nr_run++;
		else if (wire__get_le64(e) & RAM_FLAG_DATA)
			info->nr_data++;
		else if (wire__get_le64(e) & RAM_FLAG_ZSTD)
			info->nr_zstd++;
		else
			info->nr_delta++;
	}
	return check_length(info, head_len, payload_len, err, errlen);
}

int ram_batch__split_tail(const uint8_t *tail, struct ram_batch_info *info,
			  const uint8_t **frame, char *err, size_t errlen)
{
	uint64_t max = (uint64_t)info->nr_zstd * RAM_PAGE_SIZE, n;

	if (!info->nr_zstd || info->tail_len < RAM_ZSTD_PREFIX_LEN) {
		errmsg__set(err, errlen, "RAM batch: no zstd frame to split off");
		return -EINVAL;
	}
	n = wire__get_le32(tail);
	if (!n || n > max) {
		errmsg__set(err, errlen,
			     "RAM batch: a zstd frame of %llu bytes for %u ZSTD entries, must be 1..%llu",
			     (unsigned long long)n, info->nr_zstd, (unsigned long long)max);
		return -EBADMSG;
	}
	if (n > info->tail_len - RAM_ZSTD_PREFIX_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: a zstd frame of %llu bytes runs past the payload's end (%llu bytes left)",
			     (unsigned long long)n,
			     (unsigned long long)(info->tail_len - RAM_ZSTD_PREFIX_LEN));
		return -EBADMSG;
	}
	*frame = tail + RAM_ZSTD_PREFIX_LEN;
	info->zstd_len = n;
	info->delta_len = info->tail_len - RAM_ZSTD_PREFIX_LEN - n;
	return 0;
}

int ram_batch__next_delta(const uint8_t *area, size_t len, size_t *pos,
			  const uint8_t **delta, size_t *dlen, char *err, size_t errlen)
{
	size_t at = *pos, n;
	int ret;

	if (len - at < RAM_DELTA_PREFIX_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: delta area ends at byte %zu, inside a delta's length", at);
		return -EBADMSG;
	}
	n = area[at] | (size_t)area[at + 1] << 8;
	at += RAM_DELTA_PREFIX_LEN;
	if (n > XBZRLE_MAX_DELTA) {
		errmsg__set(err, errlen,
			     "RAM batch: a delta of %zu bytes at byte %zu of the delta area, at most %u",
			     n, at, XBZRLE_MAX_DELTA);
		return -EBADMSG;
	}
	if (n > len - at) {
		errmsg__set(err, errlen,
			     "RAM batch: a delta of %zu bytes at byte %zu of the delta area runs past its end (%zu bytes)",
			     n, at, len);
		return -EBADMSG;
	}
	ret = xbzrle__check(area + at, n, err, errlen);
	if (ret)
		return ret;
	*delta = area + at;
	*dlen = n;
	*pos = at + n;
	return 0;
}

/* Walks every delta of the area, which they must fill exactly. */
static int check_deltas(const uint8_t *area, size_t len, uint32_t nr, char *err,
			size_t errlen)
{
	const uint8_t *d;
	size_t pos = 0, n;
	uint32_t i;
	int ret;

	for (i = 0; i < nr; i++) {
		ret = ram_batch__next_delta(area, len, &pos, &d, &n, err, errlen);
		if (ret)
			return ret;
	}
	if (pos != len) {
		errmsg__set(err, errlen, "RAM batch: %zu bytes after the last delta", len - pos);
		return -EBADMSG;
	}
	return 0;
}

/* The ZSTD pages of an in-memory payload, decompressed into a buffer of
 * their own (*out, freed by the caller) and checked against their CRCs;
 * the delta area's place comes with it. */
static int decode_zstd(const uint8_t *p, const uint8_t *tail, struct ram_batch_info *info,
		       uint8_t **out, const uint8_t **darea, char *err, size_t errlen)
{
	uint32_t crcs[RAM_BATCH_MAX_PAGES];
	const uint8_t *frame;
	int ret;

	*darea = tail;
	if (!info->nr_zstd)
		return 0;
	ret = ram_batch__split_tail(tail, info, &frame, err, errlen);
	if (ret)
		return ret;
	*darea = frame + info->zstd_len;
	*out = malloc((size_t)info->nr_zstd * RAM_PAGE_SIZE);
	if (!*out) {
		errmsg__set(err, errlen, "RAM batch: out of memory for its zstd pages");
		return -ENOMEM;
	}
	ram_zstd__entry_crcs(p, info->count, crcs);
	return ram_zstd__decode(NULL, frame, info->zstd_len, info->nr_zstd, *out, crcs, err,
				errlen);
}

static int decode_pages(const uint8_t *p, const uint8_t *data, const uint8_t *zpages,
			ram_page_fn page_fn, void *ctx, struct ram_batch_info *info,
			char *err, size_t errlen)
{
	const uint8_t *e;
	uint64_t word;
	uint32_t i, k;
	bool torn;
	int ret;

	for (i = 0; i < info->count; i++) {
		e = p + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;
		word = wire__get_le64(e);
		if (word & RAM_FLAG_XBZRLE)
			continue;
		if (word & RAM_FLAG_ZERO) {
			ret = page_fn(ctx, word & ~(uint64_t)RAM_FLAG_MASK, NULL, false);
		} else if (word & RAM_FLAG_ZERO_RUN) {
			ret = 0;
			for (k = 0; k < wire__get_le32(e + 8) && !ret; k++)
				ret = page_fn(ctx, (word & ~(uint64_t)RAM_FLAG_MASK) +
						   (uint64_t)k * RAM_PAGE_SIZE, NULL, false);
		} else if (word & RAM_FLAG_ZSTD) {
			/* Its CRC passed in decode_zstd. */
			ret = page_fn(ctx, word & ~(uint64_t)RAM_FLAG_MASK, zpages, false);
			zpages += RAM_PAGE_SIZE;
		} else {
			torn = crc32c__extend(0, data, RAM_PAGE_SIZE) != wire__get_le32(e + 8);
			info->nr_torn += torn;
			ret = page_fn(ctx, word & ~(uint64_t)RAM_FLAG_MASK, data, torn);
			data += RAM_PAGE_SIZE;
		}
		if (ret) {
			errmsg__set(err, errlen,
				     "RAM batch entry %u (gpa 0x%llx): storing the page failed (%d)",
				     i, (unsigned long long)(word & ~(uint64_t)RAM_FLAG_MASK),
				     ret);
			return ret;
		}
	}
	return 0;
}

int ram_batch__decode(const uint8_t *p, size_t len,
		      const struct vm_config *cfg, ram_page_fn page_fn,
		      void *ctx, struct ram_batch_info *info, char *err,
		      size_t errlen)
{
	struct ram_batch_info local;
	const uint8_t *data, *darea;
	uint8_t *zpages = NULL;
	size_t head;
	int ret;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!page_fn) {
		errmsg__set(err, errlen, "RAM batch: nowhere to store the pages");
		return -EINVAL;
	}
	head = len < RAM_BATCH_HEADER_LEN ? len :
	       RAM_BATCH_HEADER_LEN + (size_t)wire__get_le32(p + 4) * RAM_ENTRY_LEN;
	if (head > len)
		head = len;
	ret = ram_batch__check(p, head, len, cfg, info, err, errlen);
	if (ret)
		return ret;
	data = p + head;
	ret = decode_zstd(p, data + (size_t)info->nr_data * RAM_PAGE_SIZE, info, &zpages,
			  &darea, err, errlen);
	if (!ret)
		ret = check_deltas(darea, info->delta_len, info->nr_delta, err, errlen);
	if (!ret)
		ret = decode_pages(p, data, zpages, page_fn, ctx, info, err, errlen);
	free(zpages);
	return ret;
}
