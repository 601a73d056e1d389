#include "blk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "blk_dirty.h"
#include "errmsg.h"
#include "fd_io.h"

#define SECTOR 512

static uint64_t round_down(uint64_t v)
{
	return v / SECTOR * SECTOR;
}

static uint64_t round_up(uint64_t v)
{
	return (v + SECTOR - 1) / SECTOR * SECTOR;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int blk_image__next_extent(int fd, uint64_t size, uint64_t pos, struct blk_extent *e)
{
	uint64_t end = min_u64(size, (pos / BLK_DIRTY_BLOCK + 1) * BLK_DIRTY_BLOCK);
	off_t data, hole;

	if (pos >= size || pos % SECTOR || size % SECTOR)
		return -EINVAL;
	e->offset = pos;
	data = lseek(fd, (off_t)pos, SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		data = (off_t)pos;	/* no SEEK_DATA here: all data */
	if (data < 0 || round_down((uint64_t)data) > pos) {
		/* ENXIO: nothing but hole from pos to the end. */
		e->hole = true;
		e->len = (uint32_t)(min_u64(end, data < 0 ? size :
					    round_down((uint64_t)data)) - pos);
		return 0;
	}
	hole = lseek(fd, (off_t)pos, SEEK_HOLE);
	if (hole < 0)
		hole = (off_t)size;
	e->hole = false;
	e->len = (uint32_t)(min_u64(end, round_up((uint64_t)hole)) - pos);
	if (!e->len)		/* a hole reported inside a sector: take the sector */
		e->len = SECTOR;
	return 0;
}

int blk_image__check_target(const char *path, uint64_t size, bool readonly,
			    uint64_t src_size, char *err, size_t errlen)
{
	if (readonly)
		return errmsg__fail(-EINVAL, err, errlen, "drive %s is readonly=on: block "
				    "migration writes the source's image into it", path);
	if (size < src_size)
		return errmsg__fail(-EINVAL, err, errlen, "drive %s has %llu bytes, the "
				    "source's image %llu: give an image at least that large",
				    path, (unsigned long long)size,
				    (unsigned long long)src_size);
	return 0;
}

static int zero_range(int fd, uint64_t off, uint32_t len)
{
	static const uint8_t zeroes[64 * 1024];
	int ret = 0;

	if (!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len))
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	while (len && !ret) {
		uint32_t n = min_u64(len, sizeof(zeroes));

		ret = fd__pwrite_all(fd, zeroes, n, off);
		off += n;
		len -= n;
	}
	return ret;
}

int blk_image__apply(int fd, const struct blk_extent *e, const uint8_t *data,
		     char *err, size_t errlen)
{
	int ret = e->hole ? zero_range(fd, e->offset, e->len) :
			    fd__pwrite_all(fd, data, e->len, e->offset);

	if (ret)
		return errmsg__fail(ret, err, errlen, "drive %u bytes %llu + %u: %s",
				    e->drive, (unsigned long long)e->offset, e->len,
				    strerror(-ret));
	return 0;
}
