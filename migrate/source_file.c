/* A save to a regular file, with pages at fixed offsets (file_layout.h):
 * the stream (preamble, CONFIG, an empty round 0, the state, END) goes
 * after the RAM region through the stream's own fd; the pages go through
 * file_ram.c on a second, O_DIRECT fd; the bitmap, the page checksums and
 * the header go in last, before transport__commit_file syncs and renames.
 */
#include "migrate_source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "fd_io.h"
#include "file_ram.h"
#include "log.h"
#include "migration_internal.h"
#include "vm.h"

int source_file__open(struct source_run *r)
{
	struct stat st;
	char path[sizeof(r->uri.path) + 16];
	uint64_t nr = r->vm->mem.size / GUEST_PAGE_SIZE;

	r->ram_fd = -1;
	/* A FIFO cannot hold pages at offsets: it gets the stream. */
	if (fstat(r->s.fd, &st) || !S_ISREG(st.st_mode))
		return 0;
	file_layout__init(&r->layout, nr);
	r->bitmap = calloc(1, r->layout.bitmap_len);
	r->crcs = calloc(1, r->layout.crc_len);
	if (!r->bitmap || !r->crcs)
		return source__fail(r, -ENOMEM, "out of memory");
	transport__partial_path(&r->uri, path, sizeof(path));
	r->ram_fd = file_ram__open(path, O_WRONLY, r->err, sizeof(r->err));
	if (r->ram_fd < 0)
		return r->ram_fd;
	if (lseek(r->s.fd, (off_t)r->layout.stream_offset, SEEK_SET) < 0)
		return source__fail(r, -errno, "seeking in %s: %s", path, strerror(errno));
	r->mapped = true;
	return 0;
}

static bool cancelled(void *ctx)
{
	return source__cancelled(ctx);
}

/* Round 0 of a mapped file: every page the guest has goes to its place,
 * the stream carries the round's ROUND_END with no pages. */
int source_file__save_ram(struct source_run *r, struct round_stats *rs)
{
	struct migrate_stats *st = &r->m->stats;
	struct file_ram_job j = {
		.fd = r->ram_fd, .base = r->vm->mem.base, .layout = &r->layout,
		.bitmap = r->bitmap, .crcs = r->crcs, .cancelled = cancelled, .ctx = r,
	};
	uint64_t t0 = clock__mono_us();
	uint64_t *populated;
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->start_us = t0 - st->start_mono_us;
	rs->dirty_pages = dirty_log__count_pending(&r->log);
	populated = source__populated_pages(r, rs);
	j.populated = populated;
	ret = file_ram__save(&j, r->err, sizeof(r->err));
	free(populated);
	if (ret)
		return source__fail(r, ret, "%s", r->err);
	r->file_ram_bytes = j.pages * GUEST_PAGE_SIZE;
	if (log_level() >= 2)
		log_info("wrote %" PRIu64 " pages of RAM in %.3f ms (%s)", j.pages,
			 (double)(clock__mono_us() - t0) / 1e3, j.used_uring ? "io_uring" : "pwrite");
	ret = source__send_round_end(r, 0, 0, 0);
	if (ret)
		return ret;
	rs->pages_sent = r->layout.nr_pages;
	rs->zero_pages = j.zero_pages + j.unread_pages;
	rs->bytes = r->file_ram_bytes + r->s.bytes_out;
	rs->duration_us = clock__mono_us() - t0;
	rs->bandwidth_bps = rs->duration_us ? rs->bytes * 1e6 / rs->duration_us : 0;
	rs->link_bps = rs->bandwidth_bps;
	migrate_stats__count_unread(st, j.unread_pages);
	migrate_stats__count_pages(st, rs->pages_sent, rs->zero_pages, 0, rs->bytes);
	return 0;
}

/* The header last: until it is there, the file is not a saved VM. */
int source_file__write_tables(struct source_run *r)
{
	uint8_t header[FILE_HEADER_LEN];
	struct file_layout *l = &r->layout;
	int ret;

	l->stream_len = r->s.bytes_out;
	l->bitmap_crc = crc32c__extend(0, r->bitmap, l->bitmap_len);
	l->crc_table_crc = crc32c__extend(0, r->crcs, l->crc_len);
	file_layout__encode(l, header);
	ret = fd__pwrite_all(r->s.fd, r->bitmap, l->bitmap_len, l->bitmap_offset);
	if (!ret)
		ret = fd__pwrite_all(r->s.fd, r->crcs, l->crc_len, l->crc_offset);
	if (!ret)
		ret = fd__pwrite_all(r->s.fd, header, sizeof(header), 0);
	if (ret)
		return source__fail(r, ret, "writing %s's tables: %s", r->uri.path, strerror(-ret));
	return 0;
}

void source_file__close(struct source_run *r)
{
	if (r->ram_fd >= 0)
		close(r->ram_fd);
	r->ram_fd = -1;
	free(r->bitmap);
	free(r->crcs);
	r->bitmap = r->crcs = NULL;
}
