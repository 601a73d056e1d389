/* The dirty-trace file: writer and reader (format in migrate/TRACE.md). */
#include "dirty_trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"
#include "errmsg.h"
#include "wire.h"

static const uint8_t trace_magic[8] = { 'D', 'T', 'R', 'C', '\r', '\n', 0x1a, '\n' };
static const uint8_t slice_tag[4] = { 'S', 'L', 'C', 'E' };
static const uint8_t end_tag[4] = { 'T', 'E', 'N', 'D' };

#define HEADER_FIXED 64
#define REGION_BYTES 24
#define HEADER_MAX 65536
#define SLICE_HEAD 40
#define END_BYTES 20
/* Bitmaps are long runs of zeros or ones: the fastest level is plenty. */
#define ZSTD_LEVEL 1

uint64_t dirty_trace__nr_pages(const struct dirty_trace_header *h)
{
	return h->page_size ? h->ram_size / h->page_size : 0;
}

uint64_t dirty_trace__bitmap_words(uint64_t nr_pages)
{
	return (nr_pages + 63) / 64;
}

static int write_all(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

/* Writes buf and its CRC32C. */
static int write_checked(FILE *f, struct wbuf *b)
{
	uint32_t crc = crc32c__extend(0, b->data, b->len);

	wbuf__put_u32(b, crc);
	if (b->err)
		return b->err;
	return write_all(f, b->data, b->len);
}

/* The header after its magic, every field once for the writer and the
 * reader: the length (fixed part, regions and CRC) and a reserved word
 * travel beside the struct's fields. */
static void walk_header(struct wire_walk *w, struct dirty_trace_header *h, uint32_t *len)
{
	uint32_t i, reserved = 0;

	wire_walk__u16(w, &h->major);
	wire_walk__u16(w, &h->minor);
	wire_walk__u32(w, len);
	wire_walk__u32(w, &h->page_size);
	wire_walk__u32(w, &h->log_mode);
	wire_walk__u64(w, &h->ram_size);
	wire_walk__u64(w, &h->interval_us);
	wire_walk__u64(w, &h->duration_us);
	wire_walk__u64(w, &h->start_unix_us);
	wire_walk__u32(w, &h->nr_regions);
	wire_walk__u32(w, &reserved);
	for (i = 0; i < h->nr_regions && i < DIRTY_TRACE_MAX_REGIONS; i++) {
		wire_walk__u64(w, &h->regions[i].gpa);
		wire_walk__u64(w, &h->regions[i].size);
		wire_walk__u64(w, &h->regions[i].first_page);
	}
}

static void encode_header(struct wbuf *b, const struct dirty_trace_header *h)
{
	struct dirty_trace_header copy = *h;
	uint32_t len = HEADER_FIXED + REGION_BYTES * h->nr_regions + 4;
	struct wire_walk w = { .out = b };

	wbuf__put_bytes(b, trace_magic, sizeof(trace_magic));
	walk_header(&w, &copy, &len);
}

/* What a writer and a reader both insist on. */
static int check_header(const struct dirty_trace_header *h, char *err, size_t errlen)
{
	uint64_t pages = dirty_trace__nr_pages(h);
	uint32_t i;

	if (h->page_size < 512 || h->page_size > (1U << 20) || (h->page_size & (h->page_size - 1)))
		return errmsg__fail(-EINVAL, err, errlen, "%s", "page size not a power of two from 512 to 1 MiB");
	if (!h->ram_size || h->ram_size % h->page_size || pages > DIRTY_TRACE_MAX_PAGES)
		return errmsg__fail(-EINVAL, err, errlen, "%s", "RAM size not a multiple of the page size up to 1 TiB");
	if (!h->nr_regions || h->nr_regions > DIRTY_TRACE_MAX_REGIONS)
		return errmsg__fail(-EINVAL, err, errlen, "%s", "region count not from 1 to 8");
	for (i = 0; i < h->nr_regions; i++) {
		const struct dirty_trace_region *g = &h->regions[i];

		if (g->size % h->page_size || g->first_page > pages ||
		    g->size / h->page_size > pages - g->first_page)
			return errmsg__fail(-EINVAL, err, errlen, "%s", "a region lies outside RAM");
	}
	if (h->log_mode > DIRTY_TRACE_LOG_RING)
		return errmsg__fail(-EINVAL, err, errlen, "%s", "unknown dirty-log mode");
	return 0;
}

int dirty_trace__create(struct dirty_trace_writer *w, const char *path,
			const struct dirty_trace_header *h, char *err, size_t errlen)
{
	struct wbuf b;
	size_t raw;
	int ret;

	memset(w, 0, sizeof(*w));
	ret = check_header(h, err, errlen);
	if (ret)
		return ret;
	w->nr_pages = dirty_trace__nr_pages(h);
	raw = dirty_trace__bitmap_words(w->nr_pages) * sizeof(uint64_t);
	w->cbuf_cap = ZSTD_compressBound(raw);
	w->cbuf = malloc(w->cbuf_cap);
	w->raw = malloc(raw);
	w->cctx = ZSTD_createCCtx();
	if (!w->cbuf || !w->raw || !w->cctx) {
		dirty_trace__close_writer(w);
		return errmsg__fail(-ENOMEM, err, errlen, "%s", "out of memory");
	}
	w->f = fopen(path, "wbe");
	if (!w->f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		dirty_trace__close_writer(w);
		return ret;
	}
	wbuf__init(&b);
	encode_header(&b, h);
	ret = write_checked(w->f, &b);
	wbuf__free(&b);
	if (ret) {
		snprintf(err, errlen, "writing the header: %s", strerror(-ret));
		dirty_trace__close_writer(w);
	}
	return ret;
}

static uint64_t popcount_words(const uint64_t *bitmap, uint64_t words)
{
	uint64_t n = 0, i;

	for (i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bitmap[i]);
	return n;
}

int dirty_trace__add_slice(struct dirty_trace_writer *w, struct dirty_trace_slice *s,
			   const uint64_t *bitmap, char *err, size_t errlen)
{
	uint64_t words = dirty_trace__bitmap_words(w->nr_pages), i;
	struct wbuf b;
	size_t clen;
	int ret;

	/* The file is little-endian whatever the host. */
	for (i = 0; i < words; i++)
		wire__le64(w->raw + 8 * i, bitmap[i]);
	clen = ZSTD_compressCCtx(w->cctx, w->cbuf, w->cbuf_cap, w->raw, words * sizeof(uint64_t),
				 ZSTD_LEVEL);
	if (ZSTD_isError(clen)) {
		snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(clen));
		return -EIO;
	}
	s->index = w->nr_slices;
	s->dirty_pages = popcount_words(bitmap, words);
	wbuf__init(&b);
	wbuf__put_bytes(&b, slice_tag, sizeof(slice_tag));
	wbuf__put_u32(&b, s->index);
	wbuf__put_u64(&b, s->start_us);
	wbuf__put_u64(&b, s->duration_us);
	wbuf__put_u64(&b, s->dirty_pages);
	wbuf__put_u32(&b, (uint32_t)clen);
	wbuf__put_u32(&b, 0);
	wbuf__put_bytes(&b, w->cbuf, clen);
	ret = write_checked(w->f, &b);
	wbuf__free(&b);
	if (ret)
		return errmsg__fail(ret, err, errlen, "%s", "writing a slice failed");
	w->nr_slices++;
	return 0;
}

int dirty_trace__finish(struct dirty_trace_writer *w, uint64_t total_us, char *err, size_t errlen)
{
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	wbuf__put_bytes(&b, end_tag, sizeof(end_tag));
	wbuf__put_u32(&b, w->nr_slices);
	wbuf__put_u64(&b, total_us);
	ret = write_checked(w->f, &b);
	wbuf__free(&b);
	if (!ret && (fflush(w->f) || fsync(fileno(w->f))))
		ret = -errno;
	if (!ret && fclose(w->f))
		ret = -errno;
	w->f = NULL;
	dirty_trace__close_writer(w);
	if (ret)
		snprintf(err, errlen, "finishing the trace: %s", strerror(-ret));
	return ret;
}

void dirty_trace__close_writer(struct dirty_trace_writer *w)
{
	if (w->f)
		fclose(w->f);
	ZSTD_freeCCtx(w->cctx);
	free(w->cbuf);
	free(w->raw);
	memset(w, 0, sizeof(*w));
}

/* Reads exactly n bytes; a short read is a truncated file. */
static int read_exact(FILE *f, void *p, size_t n, char *err, size_t errlen, const char *what)
{
	if (fread(p, 1, n, f) == n)
		return 0;
	if (ferror(f))
		snprintf(err, errlen, "reading %s: %s", what, strerror(errno));
	else
		snprintf(err, errlen, "the trace ends inside %s (truncated)", what);
	return ferror(f) ? -EIO : -EBADMSG;
}

static int check_crc(const uint8_t *p, size_t len_with_crc, char *err, size_t errlen,
		     const char *what)
{
	size_t n = len_with_crc - 4;

	if (crc32c__extend(0, p, n) == wire__get_le32(p + n))
		return 0;
	snprintf(err, errlen, "checksum mismatch in %s", what);
	return -EBADMSG;
}

static void decode_header(struct rbuf *rb, struct dirty_trace_header *h)
{
	struct wire_walk w = { .in = rb };
	uint32_t len;		/* checked by the caller */

	rb->pos = sizeof(trace_magic);
	walk_header(&w, h, &len);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int read_header(struct dirty_trace_reader *r, char *err, size_t errlen)
{
	uint8_t fixed[HEADER_FIXED], *all;
	struct rbuf rb;
	uint32_t len, nr_regions;
	int ret;

	ret = read_exact(r->f, fixed, sizeof(fixed), err, errlen, "the header");
	if (ret)
		return ret;
	if (memcmp(fixed, trace_magic, sizeof(trace_magic)))
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "not a dirty trace (bad magic)");
	if (get_le16(fixed + 8) != DIRTY_TRACE_MAJOR) {
		snprintf(err, errlen, "trace version %u.%u; this reader knows %d.x",
			 get_le16(fixed + 8), get_le16(fixed + 10), DIRTY_TRACE_MAJOR);
		return -EBADMSG;
	}
	len = wire__get_le32(fixed + 12);
	nr_regions = wire__get_le32(fixed + 56);
	/* A newer minor version may make the header longer, never shorter. */
	if (nr_regions > DIRTY_TRACE_MAX_REGIONS || len > HEADER_MAX ||
	    len < HEADER_FIXED + REGION_BYTES * nr_regions + 4)
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "header length or region count out of range");
	all = malloc(len);
	if (!all)
		return errmsg__fail(-ENOMEM, err, errlen, "%s", "out of memory");
	memcpy(all, fixed, sizeof(fixed));
	ret = read_exact(r->f, all + sizeof(fixed), len - sizeof(fixed), err, errlen, "the header");
	if (!ret)
		ret = check_crc(all, len, err, errlen, "the header");
	if (!ret) {
		rbuf__init(&rb, all, len);
		decode_header(&rb, &r->h);
		ret = check_header(&r->h, err, errlen);
		if (ret == -EINVAL)
			ret = -EBADMSG;
	}
	free(all);
	return ret;
}

int dirty_trace__open(struct dirty_trace_reader *r, const char *path, char *err, size_t errlen)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->f = fopen(path, "rbe");
	if (!r->f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = read_header(r, err, errlen);
	if (!ret) {
		r->nr_pages = dirty_trace__nr_pages(&r->h);
		r->cbuf_cap = ZSTD_compressBound(dirty_trace__bitmap_words(r->nr_pages) * 8);
		r->cbuf = malloc(SLICE_HEAD + r->cbuf_cap + 4);
		if (!r->cbuf)
			ret = errmsg__fail(-ENOMEM, err, errlen, "%s", "out of memory");
	}
	if (ret)
		dirty_trace__close(r);
	return ret;
}

static int read_end(struct dirty_trace_reader *r, char *err, size_t errlen)
{
	uint8_t *p = r->cbuf;
	int ret;

	ret = read_exact(r->f, p + 4, END_BYTES - 4, err, errlen, "the end record");
	if (!ret)
		ret = check_crc(p, END_BYTES, err, errlen, "the end record");
	if (ret)
		return ret;
	if (wire__get_le32(p + 4) != r->nr_slices)
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "the end record counts other slices than the file holds");
	r->total_us = wire__get_le64(p + 8);
	if (fgetc(r->f) != EOF)
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "bytes after the end record");
	r->ended = true;
	return 0;
}

static int unpack_bitmap(struct dirty_trace_reader *r, const uint8_t *src, size_t clen,
			 struct dirty_trace_slice *s, uint64_t *bitmap, char *err, size_t errlen)
{
	uint64_t words = dirty_trace__bitmap_words(r->nr_pages), i;
	size_t raw = words * sizeof(uint64_t), got;

	got = ZSTD_decompress(bitmap, raw, src, clen);
	if (ZSTD_isError(got) || got != raw) {
		snprintf(err, errlen, "slice %u: bitmap does not decompress to %zu bytes", s->index, raw);
		return -EBADMSG;
	}
	for (i = 0; i < words; i++)
		bitmap[i] = wire__get_le64((const uint8_t *)&bitmap[i]);
	if (r->nr_pages % 64 && bitmap[words - 1] >> (r->nr_pages % 64)) {
		snprintf(err, errlen, "slice %u: a page past the end of RAM is marked", s->index);
		return -EBADMSG;
	}
	if (popcount_words(bitmap, words) != s->dirty_pages) {
		snprintf(err, errlen, "slice %u: page count does not match its bitmap", s->index);
		return -EBADMSG;
	}
	return 0;
}

int dirty_trace__next_slice(struct dirty_trace_reader *r, struct dirty_trace_slice *s,
			    uint64_t *bitmap, char *err, size_t errlen)
{
	uint8_t *p = r->cbuf;
	uint32_t clen;
	int ret;

	if (r->ended)
		return 0;
	ret = read_exact(r->f, p, 4, err, errlen, "a record");
	if (ret)
		return ret;
	if (!memcmp(p, end_tag, 4))
		return read_end(r, err, errlen);
	if (memcmp(p, slice_tag, 4))
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "neither a slice nor the end record");
	ret = read_exact(r->f, p + 4, SLICE_HEAD - 4, err, errlen, "a slice");
	if (ret)
		return ret;
	clen = wire__get_le32(p + 32);
	if (clen > r->cbuf_cap)
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "a slice longer than its bitmap can compress to");
	ret = read_exact(r->f, p + SLICE_HEAD, clen + 4, err, errlen, "a slice");
	if (!ret)
		ret = check_crc(p, SLICE_HEAD + clen + 4, err, errlen, "a slice");
	if (ret)
		return ret;
	s->index = wire__get_le32(p + 4);
	s->start_us = wire__get_le64(p + 8);
	s->duration_us = wire__get_le64(p + 16);
	s->dirty_pages = wire__get_le64(p + 24);
	if (s->index != r->nr_slices)
		return errmsg__fail(-EBADMSG, err, errlen, "%s", "slices out of order");
	ret = unpack_bitmap(r, p + SLICE_HEAD, clen, s, bitmap, err, errlen);
	if (ret)
		return ret;
	r->nr_slices++;
	return 1;
}

void dirty_trace__close(struct dirty_trace_reader *r)
{
	if (r->f)
		fclose(r->f);
	free(r->cbuf);
	memset(r, 0, sizeof(*r));
}
