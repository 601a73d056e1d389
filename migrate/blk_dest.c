#include "blk_dest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "blk_image.h"
#include "blk_section.h"
#include "errmsg.h"

int blk_dest__init(struct blk_dest *d, const int *fds, const uint64_t *src_sizes,
		   unsigned int n)
{
	if (!n || n > BLK_DEST_MAX_DRIVES)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	memcpy(d->fd, fds, n * sizeof(fds[0]));
	memcpy(d->size, src_sizes, n * sizeof(src_sizes[0]));
	d->ndrives = n;
	return 0;
}

static int apply_fmt(struct blk_backend *b, const struct blk_extent *e, const uint8_t *data,
		     char *err, size_t errlen)
{
	int ret = e->hole ? blk_backend__fmt_zeroes(b, e->offset, e->len) :
			    blk_backend__fmt_write(b, e->offset, data, e->len);

	if (ret)
		return errmsg__fail(ret, err, errlen, "drive %u (qcow2) bytes %llu + %u: %s",
				    e->drive, (unsigned long long)e->offset, e->len,
				    strerror(-ret));
	return 0;
}

/* Asks the kernel to start writing [offset, offset + len) out (len 0:
 * the whole file, as for a qcow2 image, whose data lands at offsets of its
 * own). Best effort: the sync before READY is what makes it durable, so a
 * failure here (a file system without it) costs only time. */
static void start_writeback(int fd, uint64_t offset, uint64_t len)
{
	(void)sync_file_range(fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

int blk_dest__section(struct blk_dest *d, const void *payload, size_t len,
		      char *err, size_t errlen)
{
	struct blk_extent e;
	const uint8_t *data;
	int ret;

	ret = blk_section__decode(payload, len, d->size, d->ndrives, &e, &data, err, errlen);
	if (ret)
		return ret;
	if (e.round != d->round)
		return errmsg__fail(-EBADMSG, err, errlen, "BLOCK section of round %u in "
				    "round %u", e.round, d->round);
	if (d->fmt[e.drive])
		ret = apply_fmt(d->fmt[e.drive], &e, data, err, errlen);
	else
		ret = blk_image__apply(d->fd[e.drive], &e, data, err, errlen);
	if (ret)
		return ret;
	d->round_sections++;
	d->round_bytes += e.len;
	d->sections++;
	d->bytes += e.len;
	/* What arrives goes to the disk while the guest still runs on the
	 * source: the sync before READY, inside the downtime, is then left
	 * with what the disk has not yet taken. Writeback starts at once
	 * (sync_file_range returns without waiting for it): a periodic sync
	 * alone left up to BLK_DEST_SYNC_EVERY to write in that last sync,
	 * and the last periodic sync itself could still be running when END
	 * came. The periodic sync stays, so that a disk slower than the
	 * link holds the source back rather than the page cache filling. */
	if (!e.hole)
		start_writeback(d->fd[e.drive], d->fmt[e.drive] ? 0 : e.offset,
				d->fmt[e.drive] ? 0 : e.len);
	d->unsynced += e.len;
	if (d->unsynced >= BLK_DEST_SYNC_EVERY)
		return blk_dest__sync(d, err, errlen);
	return 0;
}

int blk_dest__end_round(struct blk_dest *d, uint64_t sections, uint64_t bytes,
			char *err, size_t errlen)
{
	if (sections != d->round_sections || bytes != d->round_bytes)
		return errmsg__fail(-EBADMSG, err, errlen, "round %u: the source sent %llu "
				    "BLOCK sections of %llu bytes, %llu of %llu arrived (a "
				    "BLOCK section is missing or extra)", d->round,
				    (unsigned long long)sections, (unsigned long long)bytes,
				    (unsigned long long)d->round_sections,
				    (unsigned long long)d->round_bytes);
	d->round++;
	d->round_sections = d->round_bytes = 0;
	return 0;
}

int blk_dest__sync(struct blk_dest *d, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	for (i = 0; i < d->ndrives; i++) {
		/* A qcow2's flush writes the table entries it keeps pending. */
		if (d->fmt[i])
			ret = blk_backend__fmt_flush(d->fmt[i]);
		else
			ret = fdatasync(d->fd[i]) ? -errno : 0;
		if (ret)
			return errmsg__fail(ret, err, errlen, "drive %u: syncing the image: %s", i,
					    strerror(-ret));
	}
	d->unsynced = 0;
	return 0;
}
