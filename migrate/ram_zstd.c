/* zstd pages (stream 3.2): the source's compression of a RAM batch and the
 * destination's checked decompression. Part of the stream module's RAM
 * batches; the rules are in include/ram_zstd.h and FORMAT.md. */
#include "ram_zstd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "clock.h"
#include "crc32c.h"
#include "errmsg.h"

/* A batch is at most 4 MiB of pages: a frame that asks for a larger
 * window is not one a source of ours made, and would make us allocate
 * what it asks. */
#define RAM_ZSTD_WINDOW_LOG_MAX	22

int ram_zstd__create(struct ram_zstd *z, int level)
{
	memset(z, 0, sizeof(*z));
	if (level < RAM_ZSTD_LEVEL_MIN || level > RAM_ZSTD_LEVEL_MAX)
		return -EINVAL;
	z->level = level;
	z->cctx = ZSTD_createCCtx();
	z->snap = malloc((size_t)RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE);
	z->area = malloc(RAM_BATCH_TAIL_MAX);
	if (!z->cctx || !z->snap || !z->area) {
		ram_zstd__destroy(z);
		return -ENOMEM;
	}
	return 0;
}

void ram_zstd__destroy(struct ram_zstd *z)
{
	ZSTD_freeCCtx(z->cctx);
	free(z->snap);
	free(z->area);
	z->cctx = NULL;
	z->snap = z->area = NULL;
}

uint64_t ram_zstd__memory(const struct ram_zstd *z)
{
	return (uint64_t)RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE + RAM_BATCH_TAIL_MAX +
	       (z->cctx ? ZSTD_sizeof_CCtx(z->cctx) : 0);
}

/* Copies the DATA pages out of guest memory and takes their CRCs over
 * the copies: what is compressed is what the CRC describes. */
static size_t snapshot(struct ram_zstd *z, const struct ram_batch *b)
{
	uint32_t k;

	for (k = 0; k < b->nr_data; k++) {
		uint8_t *dst = z->snap + (size_t)k * RAM_PAGE_SIZE;

		memcpy(dst, b->page[k], RAM_PAGE_SIZE);
		z->crc[k] = crc32c__extend(0, dst, RAM_PAGE_SIZE);
	}
	return (size_t)b->nr_data * RAM_PAGE_SIZE;
}

/* A batch sent whole without trying: its pages count as offered and
 * sent as they are. */
static int skip_batch(struct ram_zstd *z, struct ram_batch *b)
{
	z->skip_left--;
	z->n.raw_bytes += (uint64_t)b->nr_data * RAM_PAGE_SIZE;
	z->n.sent_bytes += (uint64_t)b->nr_data * RAM_PAGE_SIZE;
	z->n.raw_batches++;
	z->n.skipped++;
	return ram_batch__finish(b);
}

int ram_zstd__finish(struct ram_zstd *z, struct ram_batch *b)
{
	uint64_t t0;
	size_t raw, out;
	int ret = 0;

	if (!b->begun)
		return -EINVAL;
	if (!b->nr_data)
		return ram_batch__finish(b);
	if (z->skip_left)
		return skip_batch(z, b);
	t0 = clock__us(CLOCK_THREAD_CPUTIME_ID);
	raw = snapshot(z, b);
	/* Room for less than the pages: a frame that does not fit did not
	 * win, and the pages go whole. */
	out = ZSTD_compressCCtx(z->cctx, z->area + RAM_ZSTD_PREFIX_LEN,
				raw - RAM_ZSTD_PREFIX_LEN - 1, z->snap, raw, z->level);
	z->n.raw_bytes += raw;
	if (ZSTD_isError(out)) {
		z->n.sent_bytes += raw;
		z->n.raw_batches++;
		z->backoff = z->backoff ? z->backoff * 2 : 1;
		if (z->backoff > RAM_ZSTD_BACKOFF_MAX)
			z->backoff = RAM_ZSTD_BACKOFF_MAX;
		z->skip_left = z->backoff;
	} else {
		wire__le32(z->area, (uint32_t)out);
		z->n.sent_bytes += RAM_ZSTD_PREFIX_LEN + out;
		z->n.pages += b->nr_data;
		z->n.frames++;
		z->backoff = 0;
		ret = ram_batch__use_zstd(b, z->area, RAM_ZSTD_PREFIX_LEN + out, z->crc);
	}
	if (!ret)
		ret = ram_batch__finish(b);
	z->n.cpu_us += clock__us(CLOCK_THREAD_CPUTIME_ID) - t0;
	return ret;
}

void *ram_zstd__dctx_new(void)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();

	if (d && ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
						     RAM_ZSTD_WINDOW_LOG_MAX))) {
		ZSTD_freeDCtx(d);
		return NULL;
	}
	return d;
}

void ram_zstd__dctx_free(void *dctx)
{
	ZSTD_freeDCtx(dctx);
}

/* Everything the frame's header and block structure say, before a byte
 * is decompressed. */
static int check_frame(const uint8_t *frame, size_t len, uint32_t nr_pages, char *err,
		       size_t errlen)
{
	unsigned long long want = (unsigned long long)nr_pages * RAM_PAGE_SIZE;
	unsigned long long size = ZSTD_getFrameContentSize(frame, len);
	size_t whole;

	if (size == ZSTD_CONTENTSIZE_ERROR) {
		errmsg__set(err, errlen, "RAM batch: the zstd area (%zu bytes) is not a zstd frame",
			     len);
		return -EBADMSG;
	}
	if (size == ZSTD_CONTENTSIZE_UNKNOWN || size != want) {
		errmsg__set(err, errlen,
			     "RAM batch: the zstd frame declares %s%llu bytes, its %u ZSTD entries need %llu",
			     size == ZSTD_CONTENTSIZE_UNKNOWN ? "no size, not " : "",
			     size == ZSTD_CONTENTSIZE_UNKNOWN ? want : size, nr_pages, want);
		return -EBADMSG;
	}
	if (ZSTD_getDictID_fromFrame(frame, len)) {
		errmsg__set(err, errlen, "RAM batch: the zstd frame needs dictionary %u, none is used",
			     ZSTD_getDictID_fromFrame(frame, len));
		return -EBADMSG;
	}
	whole = ZSTD_findFrameCompressedSize(frame, len);
	if (ZSTD_isError(whole)) {
		errmsg__set(err, errlen, "RAM batch: the zstd frame (%zu bytes) is malformed: %s",
			     len, ZSTD_getErrorName(whole));
		return -EBADMSG;
	}
	if (whole != len) {
		errmsg__set(err, errlen, "RAM batch: %zu bytes after the zstd frame's %zu",
			     len - whole, whole);
		return -EBADMSG;
	}
	return 0;
}

static int check_pages(const uint8_t *out, uint32_t nr_pages, const uint32_t *crcs,
		       char *err, size_t errlen)
{
	uint32_t k, crc;

	for (k = 0; crcs && k < nr_pages; k++) {
		crc = crc32c__extend(0, out + (size_t)k * RAM_PAGE_SIZE, RAM_PAGE_SIZE);
		if (crc != crcs[k]) {
			errmsg__set(err, errlen,
				     "RAM batch: ZSTD page %u decompresses to CRC 0x%08x, its entry says 0x%08x (compressed from a snapshot, it cannot be torn: corrupt)",
				     k, crc, crcs[k]);
			return -EBADMSG;
		}
	}
	return 0;
}

int ram_zstd__decode(void *dctx, const uint8_t *frame, size_t len, uint32_t nr_pages,
		     uint8_t *out, const uint32_t *crcs, char *err, size_t errlen)
{
	size_t want = (size_t)nr_pages * RAM_PAGE_SIZE, got;
	void *own = NULL;
	int ret;

	ret = check_frame(frame, len, nr_pages, err, errlen);
	if (ret)
		return ret;
	if (!dctx) {
		dctx = own = ram_zstd__dctx_new();
		if (!dctx) {
			errmsg__set(err, errlen, "RAM batch: out of memory for zstd");
			return -ENOMEM;
		}
	}
	got = ZSTD_decompressDCtx(dctx, out, want, frame, len);
	ram_zstd__dctx_free(own);
	if (ZSTD_isError(got)) {
		errmsg__set(err, errlen, "RAM batch: the zstd frame does not decompress: %s",
			     ZSTD_getErrorName(got));
		return -EBADMSG;
	}
	if (got != want) {
		errmsg__set(err, errlen,
			     "RAM batch: the zstd frame decompressed to %zu bytes, %zu declared",
			     got, want);
		return -EBADMSG;
	}
	return check_pages(out, nr_pages, crcs, err, errlen);
}

void ram_zstd__entry_crcs(const uint8_t *head, uint32_t count, uint32_t *crcs)
{
	const uint8_t *e;
	uint32_t i, k = 0;

	for (i = 0; i < count; i++) {
		e = head + RAM_BATCH_HEADER_LEN + (size_t)i * RAM_ENTRY_LEN;
		if (wire__get_le64(e) & RAM_FLAG_ZSTD)
			crcs[k++] = wire__get_le32(e + 8);
	}
}
