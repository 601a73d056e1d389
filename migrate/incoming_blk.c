/* Block migration on the destination: the source's images arrive in
 * BLOCK sections and are written into this side's --drive images (raw,
 * or qcow2 through its format) or the raw ones made in --drive-dir,
 * which the VM built here then runs on (showing the source's size, in an
 * image that may be bigger). Everything that can refuse does so at
 * CONFIG, before ACCEPT: a missing, read-only or too small image, one
 * --drive-dir cannot create; for migrate -i one that is no fresh qcow2
 * overlay over the source's very base. */
#include "incoming.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blk_backend.h"
#include "blk_base_cache.h"
#include "blk_dest.h"
#include "blk_image.h"
#include "blk_section.h"
#include "board.h"
#include "drive.h"
#include "drive_dir.h"
#include "errmsg.h"
#include "log.h"
#include "stream.h"
#include "vm_config.h"

/* The payload is copied here at an offset that puts its data on a 4 KiB
 * boundary: an image opened with cache=none (O_DIRECT) takes only
 * aligned buffers. */
#define BUF_DATA_OFF 4096

/* --drive-dir: one new image per drive the source copies. Raw images
 * only: migrate -i needs an overlay over this host's copy of the base,
 * which only the user can point at, so it is refused before any file is
 * made. */
static int create_images(struct incoming *in, const struct vm_config *cfg, char *err,
			 size_t errlen)
{
	unsigned int i;
	int ret;

	if (!in->drive_dir || in->nr_drives)
		return 0;
	for (i = 0; i < cfg->nr_block_drives; i++)
		if (cfg->block_incremental[i])
			return errmsg__fail(-EINVAL, err, errlen, "the source sends only what "
					    "drive %u's qcow2 overlay adds to its base (migrate -i), "
					    "and --drive-dir makes raw images: give --drive "
					    "file=OVERLAY,format=qcow2, a fresh overlay over this "
					    "host's copy of the base (qemu-img create -f qcow2 -b BASE "
					    "-F raw OVERLAY)", i);
	ret = drive_dir__create(in->drive_dir, cfg->block_drive_size, cfg->nr_block_drives,
				err, errlen);
	if (ret)
		return ret;
	in->nr_drives = cfg->nr_block_drives;
	in->drive_cfgs = in->drive_dir->cfgs;
	return 0;
}

/* migrate -i: this drive must be a fresh qcow2 overlay over the very
 * base the source's lies over, or the overlay's clusters alone would not
 * rebuild the disk. The cheap checks first: the digest reads the base. */
static int check_base(struct incoming *in, const struct vm_config *cfg, unsigned int i,
		      char *err, size_t errlen)
{
	const struct drive_config *d = &in->drive_cfgs[i];
	struct blk_backend *b = in->drives[i].backend;
	uint8_t digest[BLK_BASE_DIGEST_LEN];
	struct blk_base_origin how;
	char mine[65], theirs[65], took[128];
	uint64_t size, held;
	int ret;

	if (d->format != DRIVE_FORMAT_QCOW2 || !blk_backend__base_path(b))
		return errmsg__fail(-EINVAL, err, errlen, "drive %u (%s) is %s: the source "
				    "sends only what its qcow2 overlay adds to a base image of "
				    "%" PRIu64 " bytes (migrate -i); give a qcow2 overlay over the "
				    "same base (qemu-img create -f qcow2 -b BASE -F raw OVERLAY)",
				    i, d->path, d->format == DRIVE_FORMAT_QCOW2 ?
				    "a qcow2 image without a backing file" : "raw",
				    cfg->block_base_size[i]);
	ret = blk_backend__fmt_defined(b, &held);
	if (ret)
		return errmsg__fail(ret, err, errlen, "drive %u (%s): %s", i, d->path,
				    strerror(-ret));
	if (held)
		return errmsg__fail(-EINVAL, err, errlen, "drive %u (%s) already holds %" PRIu64
				    " bytes over its base: migrate -i writes only what the "
				    "source's overlay holds; give a fresh overlay (qemu-img create "
				    "-f qcow2 -b BASE -F raw OVERLAY)", i, d->path, held);
	ret = blk_base_cache__digest(b, &size, digest, &how, err, errlen);
	if (ret)
		return ret;
	blk_base_cache__describe(&how, took, sizeof(took));
	log_info("block migration: drive %u: base %s, %" PRIu64 " bytes, SHA-256 %s", i,
		 blk_backend__base_path(b), size, took);
	if (size != cfg->block_base_size[i])
		return errmsg__fail(-EINVAL, err, errlen, "base image %s differs from the "
				    "source's: %" PRIu64 " bytes, the source's %" PRIu64,
				    blk_backend__base_path(b), size, cfg->block_base_size[i]);
	if (memcmp(digest, cfg->block_base_digest[i], sizeof(digest))) {
		blk_base__hex(digest, mine);
		blk_base__hex(cfg->block_base_digest[i], theirs);
		return errmsg__fail(-EINVAL, err, errlen, "base image %s differs from the "
				    "source's: SHA-256 %s, the source's %s",
				    blk_backend__base_path(b), mine, theirs);
	}
	return 0;
}

int incoming_blk__check(struct incoming *in, const struct vm_config *cfg, char *err,
			size_t errlen)
{
	int fds[BLK_DEST_MAX_DRIVES];
	unsigned int i, n = cfg->nr_block_drives;
	void *buf;
	int ret;

	if (!n)
		return 0;
	ret = vm_config__check_minor(cfg, in->s.minor_in, err, errlen);
	if (ret)
		return ret;
	ret = create_images(in, cfg, err, errlen);
	if (ret)
		return ret;
	if (in->nr_drives != n || !in->drive_cfgs)
		return errmsg__fail(-EINVAL, err, errlen, "the source copies %u drive image(s) "
				    "(migrate -b) and this destination has %u: give it --drive "
				    "file=PATH for each, a raw image of at least the source's size "
				    "(the first: %" PRIu64 " bytes), or --drive-dir DIR to have "
				    "them created there", n, in->nr_drives,
				    cfg->block_drive_size[0]);
	for (i = 0; i < n; i++) {
		const struct drive_config *d = &in->drive_cfgs[i];

		ret = blk_image__check_target(d->path, blk_backend__size(in->drives[i].backend),
					      d->readonly, cfg->block_drive_size[i], err, errlen);
		if (!ret && cfg->block_incremental[i])
			ret = check_base(in, cfg, i, err, errlen);
		if (ret)
			return ret;
		fds[i] = blk_backend__fd(in->drives[i].backend);
	}
	if (posix_memalign(&buf, 4096, BUF_DATA_OFF + BLK_SECTION_MAX_LEN))
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	in->blk_buf = buf;
	in->blk = calloc(1, sizeof(*in->blk));
	if (!in->blk)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	ret = blk_dest__init(in->blk, fds, cfg->block_drive_size, n);
	if (ret)
		return errmsg__fail(ret, err, errlen, "block migration: %s", strerror(-ret));
	for (i = 0; i < n; i++)
		if (in->drive_cfgs[i].format == DRIVE_FORMAT_QCOW2)
			in->blk->fmt[i] = in->drives[i].backend;
	migrate_stats__lock(&in->stats);
	for (i = 0; i < n; i++)
		in->stats.disk_total += cfg->block_incremental[i] ? cfg->block_bulk_bytes[i] :
					cfg->block_drive_size[i];
	in->stats.disk_remaining = in->stats.disk_total;
	migrate_stats__unlock(&in->stats);
	return 0;
}

int incoming_blk__section(struct incoming *in, const struct section *sec, char *err,
			  size_t errlen)
{
	uint8_t *p = in->blk_buf + BUF_DATA_OFF - BLK_SECTION_HDR;
	uint64_t before;
	int ret;

	/* The ledger refuses BLOCK when CONFIG announced no drive. */
	if (!in->blk || sec->len > BLK_SECTION_MAX_PAYLOAD)
		return errmsg__fail(-EPROTO, err, errlen, "unexpected BLOCK section");
	memcpy(p, sec->payload, sec->len);
	before = in->blk->bytes;
	ret = blk_dest__section(in->blk, p, sec->len, err, errlen);
	if (ret)
		return ret;
	migrate_stats__lock(&in->stats);
	in->stats.disk_transferred += in->blk->bytes - before;
	migrate_stats__unlock(&in->stats);
	return 0;
}

int incoming_blk__end_round(struct incoming *in, const struct round_end_msg *m, char *err,
			    size_t errlen)
{
	if (!in->blk)
		return 0;
	return blk_dest__end_round(in->blk, m->block_sections, m->block_bytes, err, errlen);
}

int incoming_blk__sync(struct incoming *in, char *err, size_t errlen)
{
	int ret;

	if (!in->blk)
		return 0;
	ret = blk_dest__sync(in->blk, err, errlen);
	if (!ret) {
		migrate_stats__lock(&in->stats);
		in->stats.disk_remaining = 0;
		migrate_stats__unlock(&in->stats);
	}
	return ret;
}

void incoming_blk__free(struct incoming *in)
{
	free(in->blk);
	free(in->blk_buf);
	in->blk = NULL;
	in->blk_buf = NULL;
}
