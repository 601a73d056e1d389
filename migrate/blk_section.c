#include "blk_section.h"

#include <errno.h>

#include "crc32c.h"
#include "errmsg.h"

#define SECTOR 512

static bool extent_ok(const struct blk_extent *e)
{
	return e->len && e->len <= BLK_SECTION_MAX_LEN && !(e->len % SECTOR) &&
	       !(e->offset % SECTOR) && e->offset <= UINT64_MAX - e->len;
}

int blk_section__encode(struct wbuf *w, const struct blk_extent *e, const void *data)
{
	uint32_t crc = 0;

	if (!extent_ok(e) || (!e->hole && !data))
		return -EINVAL;
	if (!e->hole)
		crc = crc32c__extend(0, data, e->len);
	wbuf__put_u32(w, e->drive);
	wbuf__put_u32(w, e->hole ? BLK_SECTION_F_HOLE : 0);
	wbuf__put_u64(w, e->offset);
	wbuf__put_u32(w, e->len);
	wbuf__put_u32(w, e->round);
	wbuf__put_u32(w, crc);
	wbuf__put_u32(w, 0);
	if (!e->hole)
		wbuf__put_bytes(w, data, e->len);
	return w->err;
}

static int bad(char *err, size_t errlen, const char *what, unsigned long long v)
{
	return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section: %s (%llu)", what, v);
}

static int check_range(const struct blk_extent *e, const uint64_t *sizes, unsigned int n,
		       char *err, size_t errlen)
{
	if (e->drive >= n)
		return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section: drive %u, but "
				    "%u drive(s) announced", e->drive, n);
	if (!e->len || e->len > BLK_SECTION_MAX_LEN || e->len % SECTOR)
		return bad(err, errlen, "length not a multiple of 512 in 512 .. 1 MiB", e->len);
	if (e->offset % SECTOR)
		return bad(err, errlen, "offset not a multiple of 512", e->offset);
	if (e->offset > sizes[e->drive] || e->len > sizes[e->drive] - e->offset)
		return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section: drive %u bytes "
				    "%llu + %u past its end (%llu bytes)", e->drive,
				    (unsigned long long)e->offset, e->len,
				    (unsigned long long)sizes[e->drive]);
	return 0;
}

int blk_section__decode(const void *payload, size_t len, const uint64_t *drive_sizes,
			unsigned int ndrives, struct blk_extent *e, const uint8_t **data,
			char *err, size_t errlen)
{
	struct rbuf r;
	uint32_t flags, crc, reserved;
	size_t want;
	int ret;

	if (len < BLK_SECTION_HDR)
		return bad(err, errlen, "payload shorter than its 32-byte header", len);
	rbuf__init(&r, payload, len);
	e->drive = rbuf__get_u32(&r);
	flags = rbuf__get_u32(&r);
	e->offset = rbuf__get_u64(&r);
	e->len = rbuf__get_u32(&r);
	e->round = rbuf__get_u32(&r);
	crc = rbuf__get_u32(&r);
	reserved = rbuf__get_u32(&r);
	if (flags & ~BLK_SECTION_F_HOLE)
		return bad(err, errlen, "unknown flags", flags);
	if (reserved)
		return bad(err, errlen, "reserved field not 0", reserved);
	e->hole = flags & BLK_SECTION_F_HOLE;
	ret = check_range(e, drive_sizes, ndrives, err, errlen);
	if (ret)
		return ret;
	want = BLK_SECTION_HDR + (e->hole ? 0 : e->len);
	if (len != want)
		return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section: payload of %zu "
				    "bytes, its header says %zu", len, want);
	if (e->hole) {
		if (crc)
			return bad(err, errlen, "a hole with a checksum", crc);
		*data = NULL;
		return 0;
	}
	*data = rbuf__get_span(&r, e->len);
	if (crc32c__extend(0, *data, e->len) != crc)
		return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section: drive %u bytes "
				    "%llu + %u: data checksum differs", e->drive,
				    (unsigned long long)e->offset, e->len);
	return 0;
}
