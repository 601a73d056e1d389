/* RAM section payloads: u32 round, u32 count, then per page a u64 (gpa |
 * flag) and, for DATA pages only, the 4096 bytes. Part of the stream
 * module (include/stream.h). */
#include "stream.h"

#include <errno.h>
#include <string.h>

#include "errmsg.h"
#include "vm_config.h"

#define ENTRY_LEN	8
#define BAD_LOW_BITS	(RAM_FLAG_MASK & ~(RAM_FLAG_ZERO | RAM_FLAG_DATA))

void ram_batch__init(struct ram_batch *b)
{
	memset(b, 0, sizeof(*b));
	wbuf__init(&b->buf);
}

void ram_batch__free(struct ram_batch *b)
{
	wbuf__free(&b->buf);
	ram_batch__init(b);
}

void ram_batch__begin(struct ram_batch *b, uint32_t round)
{
	wbuf__reset(&b->buf);
	/* One allocation for the whole migration: the buffer is kept at its
	 * largest size from batch to batch. */
	wbuf__reserve(&b->buf, RAM_BATCH_MAX_BYTES);
	b->round = round;
	b->count = 0;
	b->nr_zero = 0;
	wbuf__put_u32(&b->buf, round);
	wbuf__put_u32(&b->buf, 0);	/* count, filled in by finish */
}

bool ram_batch__full(const struct ram_batch *b)
{
	return b->count >= RAM_BATCH_MAX_PAGES;
}

static int can_add(const struct ram_batch *b, uint64_t gpa)
{
	if (b->buf.err)
		return b->buf.err;
	if (b->buf.len < RAM_BATCH_HEADER_LEN || (gpa & RAM_FLAG_MASK))
		return -EINVAL;
	if (ram_batch__full(b))
		return -ENOSPC;
	return 0;
}

int ram_batch__add_zero(struct ram_batch *b, uint64_t gpa)
{
	int ret = can_add(b, gpa);

	if (ret)
		return ret;
	wbuf__put_u64(&b->buf, gpa | RAM_FLAG_ZERO);
	if (b->buf.err)
		return b->buf.err;
	b->count++;
	b->nr_zero++;
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	uint64_t acc, v;
	size_t i, j;

	/* 64-byte blocks: vectorisable, and a non-zero page (the common
	 * case) usually stops in the first block. */
	for (i = 0; i < RAM_PAGE_SIZE; i += 64) {
		acc = 0;
		for (j = 0; j < 64; j += 8) {
			memcpy(&v, p + i + j, sizeof(v));
			acc |= v;
		}
		if (acc)
			return false;
	}
	return true;
}

int ram_batch__add_page(struct ram_batch *b, uint64_t gpa, const void *page)
{
	int ret = can_add(b, gpa);
	size_t at = b->buf.len;

	if (ret)
		return ret;
	wbuf__put_u64(&b->buf, gpa | RAM_FLAG_DATA);
	wbuf__put_bytes(&b->buf, page, RAM_PAGE_SIZE);
	if (b->buf.err)
		return b->buf.err;
	if (page_is_zero(b->buf.data + at + ENTRY_LEN)) {
		b->buf.len = at;
		wbuf__put_u64(&b->buf, gpa | RAM_FLAG_ZERO);
		b->nr_zero++;
	}
	b->count++;
	return 0;
}

int ram_batch__finish(struct ram_batch *b)
{
	if (b->buf.err)
		return b->buf.err;
	if (b->buf.len < RAM_BATCH_HEADER_LEN)
		return -EINVAL;
	wire__le32(b->buf.data + 4, b->count);
	return 0;
}

/* --- decoding ------------------------------------------------------------ */

static bool in_slots(const struct vm_config *cfg, uint64_t gpa)
{
	uint32_t i, n = cfg->nr_slots;

	if (n > VM_CONFIG_MAX_SLOTS)
		n = VM_CONFIG_MAX_SLOTS;
	/* Slots are page aligned, so a page that starts inside one ends
	 * inside it too. */
	for (i = 0; i < n; i++)
		if (gpa >= cfg->slots[i].gpa &&
		    gpa - cfg->slots[i].gpa < cfg->slots[i].size)
			return true;
	return false;
}

static int check_entry(const struct vm_config *cfg, uint64_t word,
		       uint32_t i, char *err, size_t errlen)
{
	uint64_t gpa = word & ~(uint64_t)RAM_FLAG_MASK;
	uint32_t flags = word & RAM_FLAG_MASK;

	if (flags & BAD_LOW_BITS) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u: 0x%llx has bits 0x%x set below the page boundary (gpa not page aligned, or an unknown flag)",
			     i, (unsigned long long)word, flags & BAD_LOW_BITS);
		return -EBADMSG;
	}
	if (flags != RAM_FLAG_ZERO && flags != RAM_FLAG_DATA) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u (gpa 0x%llx): %s, exactly one must be set",
			     i, (unsigned long long)gpa,
			     flags ? "both ZERO and DATA" : "neither ZERO nor DATA");
		return -EBADMSG;
	}
	if (!in_slots(cfg, gpa)) {
		errmsg__set(err, errlen,
			     "RAM batch entry %u: gpa 0x%llx is outside guest RAM",
			     i, (unsigned long long)gpa);
		return -EBADMSG;
	}
	return 0;
}

/* First pass: the whole batch is checked before anything is written. */
static int check_batch(const uint8_t *p, size_t len,
		       const struct vm_config *cfg, struct ram_batch_info *info,
		       char *err, size_t errlen)
{
	size_t pos = RAM_BATCH_HEADER_LEN;
	uint64_t word;
	uint32_t i;
	int ret;

	for (i = 0; i < info->count; i++) {
		if (len - pos < ENTRY_LEN) {
			errmsg__set(err, errlen,
				     "RAM batch: payload ends at entry %u of %u",
				     i, info->count);
			return -EBADMSG;
		}
		word = wire__get_le64(p + pos);
		pos += ENTRY_LEN;
		ret = check_entry(cfg, word, i, err, errlen);
		if (ret)
			return ret;
		if (word & RAM_FLAG_ZERO) {
			info->nr_zero++;
			continue;
		}
		if (len - pos < RAM_PAGE_SIZE) {
			errmsg__set(err, errlen,
				     "RAM batch: payload ends inside the data of entry %u",
				     i);
			return -EBADMSG;
		}
		pos += RAM_PAGE_SIZE;
		info->nr_data++;
	}
	if (pos != len) {
		errmsg__set(err, errlen,
			     "RAM batch: %zu bytes after the last of %u entries",
			     len - pos, info->count);
		return -EBADMSG;
	}
	return 0;
}

int ram_batch__decode(const uint8_t *p, size_t len,
		      const struct vm_config *cfg, ram_page_fn page_fn,
		      void *ctx, struct ram_batch_info *info, char *err,
		      size_t errlen)
{
	struct ram_batch_info local = { 0 };
	size_t pos = RAM_BATCH_HEADER_LEN;
	uint64_t word;
	uint32_t i;
	int ret;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!cfg || !page_fn) {
		errmsg__set(err, errlen, "RAM batch: no configuration to check it against");
		return -EINVAL;
	}
	if (len < RAM_BATCH_HEADER_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: payload of %zu bytes is shorter than its %d-byte header",
			     len, RAM_BATCH_HEADER_LEN);
		return -EBADMSG;
	}
	info->round = wire__get_le32(p);
	info->count = wire__get_le32(p + 4);
	if (info->count > RAM_BATCH_MAX_PAGES) {
		errmsg__set(err, errlen, "RAM batch: %u pages, at most %u",
			     info->count, RAM_BATCH_MAX_PAGES);
		return -EBADMSG;
	}
	ret = check_batch(p, len, cfg, info, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < info->count; i++) {
		word = wire__get_le64(p + pos);
		pos += ENTRY_LEN;
		if (word & RAM_FLAG_ZERO) {
			ret = page_fn(ctx, word & ~(uint64_t)RAM_FLAG_MASK, NULL);
		} else {
			ret = page_fn(ctx, word & ~(uint64_t)RAM_FLAG_MASK, p + pos);
			pos += RAM_PAGE_SIZE;
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
