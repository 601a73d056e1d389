/* The destination's side of a saved file with pages at fixed offsets
 * (file_layout.h): everything in the header and the tables is checked
 * before the VM is built; the RAM region is read in parallel straight
 * into guest memory, every page against its checksum, before the state
 * stream that follows it is read as any other stream. */
#include "incoming.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "errmsg.h"
#include "fd_io.h"
#include "file_ram.h"
#include "log.h"

int incoming_file__open(struct incoming *in, char *err, size_t errlen)
{
	struct stat st;

	/* A second open of a FIFO would wait for a writer. */
	if (fstat(in->fd, &st) || !S_ISREG(st.st_mode))
		return 0;
	in->ram_fd = file_ram__open(in->uri.path, O_RDONLY, err, errlen);
	return in->ram_fd < 0 ? in->ram_fd : 0;
}

static int read_tables(struct incoming *in, char *err, size_t errlen)
{
	struct file_layout *l = &in->layout;
	int ret;

	in->bitmap = malloc(l->bitmap_len);
	in->crcs = malloc(l->crc_len);
	if (!in->bitmap || !in->crcs)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory for the saved file's tables");
	ret = fd__pread_all(in->fd, in->bitmap, l->bitmap_len, l->bitmap_offset);
	if (!ret)
		ret = fd__pread_all(in->fd, in->crcs, l->crc_len, l->crc_offset);
	if (ret)
		return errmsg__fail(ret, err, errlen, "reading %s's tables: %s", in->uri.path,
				    strerror(-ret));
	return file_layout__check_tables(l, in->bitmap, in->crcs, err, errlen);
}

int incoming_file__probe(struct incoming *in, char *err, size_t errlen)
{
	uint8_t header[FILE_HEADER_LEN];
	struct stat st;
	ssize_t n;
	int ret;

	if (in->ram_fd < 0 || fstat(in->fd, &st))
		return 0;
	n = pread(in->fd, header, sizeof(header), 0);
	if (n < 0)
		return errmsg__fail(-errno, err, errlen, "reading %s: %s", in->uri.path,
				    strerror(errno));
	/* Not ours: the sequential stream, which checks its own preamble. */
	if (!file_layout__is_mapped(header, (size_t)n))
		return 0;
	ret = file_layout__decode(header, (size_t)n, (uint64_t)st.st_size, &in->layout, err,
				  errlen);
	/* The tables grow with RAM (5 bytes a page): no more of them than
	 * --max-mem lets the VM have, before they are allocated. */
	if (!ret && in->max_ram && in->layout.nr_pages * FILE_PAGE_SIZE > in->max_ram)
		ret = errmsg__fail(-EFBIG, err, errlen, "saved file: RAM %" PRIu64 " MiB is more "
				   "than this destination takes: %" PRIu64 " MiB (%s)",
				   in->layout.nr_pages * FILE_PAGE_SIZE >> 20, in->max_ram >> 20,
				   in->max_ram_origin ? in->max_ram_origin : "--max-mem");
	if (!ret)
		ret = read_tables(in, err, errlen);
	if (ret)
		return ret;
	if (lseek(in->fd, (off_t)in->layout.stream_offset, SEEK_SET) < 0)
		return errmsg__fail(-errno, err, errlen, "seeking in %s: %s", in->uri.path,
				    strerror(errno));
	in->mapped = true;
	return 0;
}

int incoming_file__check_config(struct incoming *in, uint64_t ram_size, char *err,
				size_t errlen)
{
	if (ram_size == in->layout.nr_pages * FILE_PAGE_SIZE)
		return 0;
	return errmsg__fail(-EBADMSG, err, errlen,
			    "saved file: its header holds %" PRIu64 " pages of RAM, its CONFIG %"
			    PRIu64 " MiB", in->layout.nr_pages, ram_size >> 20);
}

static bool cancelled(void *ctx)
{
	struct incoming *in = ctx;
	struct pollfd p = { .fd = in->cancel_fd, .events = POLLIN };

	return in->cancel_fd >= 0 && poll(&p, 1, 0) == 1;
}

int incoming_file__load(struct incoming *in, uint8_t *base, char *err, size_t errlen)
{
	struct file_ram_job j = {
		.fd = in->ram_fd, .base = base, .layout = &in->layout, .bitmap = in->bitmap,
		.crcs = in->crcs, .cancelled = cancelled, .ctx = in,
	};
	uint64_t t0 = clock__mono_us(), nr = in->layout.nr_pages;
	int ret;

	ret = file_ram__load(&j, err, errlen);
	if (ret)
		return ret;
	migrate_stats__count_pages(&in->stats, nr, nr - j.pages, 0, j.pages * FILE_PAGE_SIZE);
	if (log_level() >= 2)
		log_info("read %" PRIu64 " pages of %s in %.3f ms (%s)", j.pages, in->uri.path,
			 (double)(clock__mono_us() - t0) / 1e3, j.used_uring ? "io_uring" : "pread");
	return 0;
}

void incoming_file__close(struct incoming *in)
{
	if (in->ram_fd >= 0)
		close(in->ram_fd);
	in->ram_fd = -1;
	free(in->bitmap);
	free(in->crcs);
	in->bitmap = in->crcs = NULL;
}
