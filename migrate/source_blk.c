/* Block migration on the source (migrate -b): the drives' images go in
 * BLOCK sections beside RAM. Round 0 sends the bulk pass before its RAM:
 * the guest's RAM is pending whole in round 0 anyway, so what it dirties
 * meanwhile costs nothing extra, while the disk's blocks written during
 * the bulk pass are tracked and go in round 1. Each later round sends
 * the blocks written since, before its pages; the stop-and-copy round
 * sends the last ones after the drives were drained (their last writes
 * are in the bitmap then). */
#include "migrate_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk_backend.h"
#include "blk_base_cache.h"
#include "blk_source.h"
#include "errmsg.h"
#include "log.h"
#include "migration_internal.h"
#include "vm_config.h"

/* A qcow2 drive is read through its format; with -i only its own
 * clusters go, over a base whose digest the destination checks. */
static int describe_qcow2(struct source_run *r, unsigned int i, struct blk_source_drive *d,
			  char *err, size_t errlen)
{
	struct blk_backend *b = r->drives[i].backend;
	struct blk_base_origin how;
	char took[128];
	int ret;

	d->fmt = b;
	if (!r->params.block_incremental)
		return 0;
	d->incremental = true;
	ret = blk_backend__fmt_defined(b, &d->bulk_bytes);
	if (ret)
		return errmsg__fail(ret, err, errlen, "drive %u: reading its tables: %s", i,
				    strerror(-ret));
	ret = blk_base_cache__digest(b, &d->base_size, d->base_digest, &how, err, errlen);
	if (ret)
		return ret;
	if (!d->base_size)
		return errmsg__fail(-EINVAL, err, errlen, "base image %s is empty",
				    blk_backend__base_path(b));
	blk_base_cache__describe(&how, took, sizeof(took));
	log_info("block migration: drive %u: base %s, %llu bytes, SHA-256 %s; the overlay "
		 "holds %llu bytes", i, blk_backend__base_path(b),
		 (unsigned long long)d->base_size, took, (unsigned long long)d->bulk_bytes);
	return 0;
}

static int fail_setup(struct source_run *r, struct blk_source_drive *d, int ret,
		      const char *why)
{
	unsigned int i;

	for (i = 0; i < r->nr_blk; i++)
		blk_dirty__free(d[i].dirty);
	free(r->blk);
	r->blk = NULL;
	return source__fail(r, ret, "block migration: %s", why);
}

int source_blk__setup(struct source_run *r)
{
	struct blk_source_drive d[BLK_SOURCE_MAX_DRIVES];
	char err[512];
	unsigned int i;
	int ret = 0;

	if (!r->params.caps[MIGRATE_CAP_BLOCK])
		return 0;
	pthread_mutex_lock(&r->m->lock);
	r->nr_blk = r->m->nr_drives;
	memcpy(r->drives, r->m->drives, sizeof(r->drives));
	pthread_mutex_unlock(&r->m->lock);
	if (r->uri.kind == TRANSPORT_FILE)
		return source__fail(r, -EINVAL, "block migration sends the images to a running "
				    "destination; a file: save keeps the VM's state only");
	if (!r->nr_blk || r->nr_blk > BLK_SOURCE_MAX_DRIVES)
		return source__fail(r, -EINVAL, "block migration: this VM has no drive");
	memset(d, 0, sizeof(d));
	for (i = 0; i < r->nr_blk && !ret; i++) {
		d[i].fd = blk_backend__fd(r->drives[i].backend);
		d[i].size = blk_backend__size(r->drives[i].backend);
		ret = blk_dirty__create(d[i].size, &d[i].dirty);
		if (!ret && r->drives[i].qcow2) {
			ret = describe_qcow2(r, i, &d[i], err, sizeof(err));
			if (ret)
				return fail_setup(r, d, ret, err);
		}
	}
	if (!ret) {
		r->blk = calloc(1, sizeof(*r->blk));
		ret = r->blk ? blk_source__init(r->blk, d, r->nr_blk) : -ENOMEM;
	}
	if (ret)
		return fail_setup(r, d, ret, strerror(-ret));
	migrate_stats__lock(&r->m->stats);
	r->m->stats.disk_total = blk_source__total(r->blk);
	r->m->stats.disk_remaining = r->m->stats.disk_total;
	migrate_stats__unlock(&r->m->stats);
	return 0;
}

void source_blk__describe(const struct source_run *r, struct vm_config *cfg)
{
	unsigned int i;

	if (!r->blk)
		return;
	cfg->nr_block_drives = r->blk->ndrives;
	for (i = 0; i < r->blk->ndrives; i++) {
		const struct blk_source_drive *d = &r->blk->drive[i];

		cfg->block_drive_size[i] = d->size;
		if (!d->incremental)
			continue;
		cfg->block_incremental[i] = 1;
		cfg->block_base_size[i] = d->base_size;
		memcpy(cfg->block_base_digest[i], d->base_digest, sizeof(d->base_digest));
		cfg->block_bulk_bytes[i] = d->bulk_bytes;
	}
}

void source_blk__track(struct source_run *r)
{
	unsigned int i;

	if (!r->blk)
		return;
	for (i = 0; i < r->blk->ndrives; i++)
		blk_backend__track_dirty(r->drives[i].backend, r->blk->drive[i].dirty);
	r->blk_tracking = true;
}

uint64_t source_blk__remaining(const struct source_run *r)
{
	return r->blk ? blk_source__remaining(r->blk) : 0;
}

uint64_t source_blk__total(const struct source_run *r)
{
	return r->blk ? blk_source__total(r->blk) : 0;
}

static void publish(struct source_run *r, uint64_t sent)
{
	struct migrate_stats *st = &r->m->stats;

	migrate_stats__lock(st);
	st->disk_transferred += sent;
	st->disk_remaining = blk_source__remaining(r->blk);
	st->bytes_total = r->s.bytes_out;
	migrate_stats__unlock(st);
}

int source_blk__send_round(struct source_run *r, uint32_t round, uint64_t *sections,
			   uint64_t *bytes)
{
	struct wbuf w;
	int ret;

	*sections = *bytes = 0;
	if (!r->blk)
		return 0;
	blk_source__begin_dirty_pass(r->blk);
	wbuf__init(&w);
	for (;;) {
		wbuf__reset(&w);
		ret = blk_source__next(r->blk, round, &w);
		if (ret <= 0) {
			if (ret)
				source__fail(r, ret, "block migration: reading an image: %s",
					     strerror(-ret));
			break;
		}
		ret = source__send(r, SECTION_BLOCK, w.data, w.len);
		if (ret)
			break;
		(*sections)++;
		/* The extent's length, as the destination counts it. */
		*bytes += wire__get_le32(w.data + 16);
		r->blk_sections++;
		publish(r, wire__get_le32(w.data + 16));
		source__throttle_block(r);
		if (source__cancelled(r)) {
			ret = source__fail(r, -ECANCELED, "cancelled");
			break;
		}
	}
	wbuf__free(&w);
	return ret;
}

void source_blk__stop(struct source_run *r)
{
	unsigned int i;

	if (!r->blk)
		return;
	/* The bitmaps must outlive every write that may still mark them. */
	if (r->blk_tracking) {
		for (i = 0; i < r->blk->ndrives; i++)
			blk_backend__track_dirty(r->drives[i].backend, NULL);
		for (i = 0; i < r->blk->ndrives; i++)
			blk_backend__drain(r->drives[i].backend);
		r->blk_tracking = false;
	}
	for (i = 0; i < r->blk->ndrives; i++)
		blk_dirty__free(r->blk->drive[i].dirty);
	blk_source__free(r->blk);
	free(r->blk);
	r->blk = NULL;
}
