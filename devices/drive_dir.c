#include "drive_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blk_backend.h"
#include "errmsg.h"
#include "log.h"

#define IMAGE_NAME_MAX 24	/* "disk3.img", room for any index */

static void image_name(unsigned int i, char *name, size_t len)
{
	snprintf(name, len, "disk%u.img", i);
}

int drive_dir__open(struct drive_dir *dd, const char *path, struct board_drive *drives,
		    char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	memset(dd, 0, sizeof(*dd));
	dd->path = path;
	dd->drives = drives;
	/* Room for "/disk0.img" in the path --drive would carry. */
	if (strlen(path) + 1 + IMAGE_NAME_MAX >= DRIVE_PATH_MAX)
		return errmsg__fail(-ENAMETOOLONG, err, errlen, "--drive-dir %.60s...: longer "
				    "than %d bytes", path, DRIVE_PATH_MAX - 1 - IMAGE_NAME_MAX);
	dd->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dd->fd < 0)
		return errmsg__fail(-errno, err, errlen, "--drive-dir %s: %s%s", path,
				    strerror(errno), errno == ENOTDIR ? " (a directory the "
				    "images are created in)" : "");
	for (i = 0; i < DRIVE_MAX; i++) {
		ret = blk_backend__reserve("--drive-dir", &drives[i].backend, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int create_failed(const struct drive_dir *dd, const char *name, int e, char *err,
			 size_t errlen)
{
	if (e == EEXIST)
		return errmsg__fail(-e, err, errlen, "--drive-dir %s: %s already exists: vmm "
				    "never overwrites an image (remove it, or give another "
				    "directory)", dd->path, name);
	if (e == ENOENT)
		return errmsg__fail(-e, err, errlen, "--drive-dir %s: cannot create %s: the "
				    "directory was removed since vmm started", dd->path, name);
	return errmsg__fail(-e, err, errlen, "--drive-dir %s: cannot create %s: %s", dd->path,
			    name, strerror(e));
}

/* One image: created (never opened if it exists), sized, attached. */
static int create_one(struct drive_dir *dd, unsigned int i, uint64_t size, char *err,
		      size_t errlen)
{
	struct drive_config *d = &dd->cfgs[i];
	char name[IMAGE_NAME_MAX];
	int fd, ret;

	image_name(i, name, sizeof(name));
	fd = openat(dd->fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return create_failed(dd, name, errno, err, errlen);
	dd->nr_created = i + 1;
	/* A hole of the source's size: the copy's holes stay holes. */
	if (ftruncate(fd, (off_t)size)) {
		ret = errmsg__fail(-errno, err, errlen, "--drive-dir %s: sizing %s to %llu "
				   "bytes: %s", dd->path, name, (unsigned long long)size,
				   strerror(errno));
		close(fd);
		return ret;
	}
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s/%s", dd->path, name);
	d->format = DRIVE_FORMAT_RAW;
	d->cache = DRIVE_CACHE_WRITEBACK;
	ret = blk_backend__attach(dd->drives[i].backend, fd, d, err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	dd->drives[i].readonly = false;
	return 0;
}

int drive_dir__create(struct drive_dir *dd, const uint64_t *sizes, unsigned int n,
		      char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	if (dd->fd < 0 || n > DRIVE_MAX)
		return errmsg__fail(-EINVAL, err, errlen, "--drive-dir: %u images, at most %d",
				    n, DRIVE_MAX);
	if (dd->nr_created)
		return errmsg__fail(-EBUSY, err, errlen, "--drive-dir %s: the images were made "
				    "already", dd->path);
	for (i = 0; i < n; i++) {
		ret = create_one(dd, i, sizes[i], err, errlen);
		if (ret) {
			drive_dir__discard(dd);
			return ret;
		}
	}
	for (i = 0; i < n; i++)
		log_info("--drive-dir: created %s (%llu bytes) for drive %u", dd->cfgs[i].path,
			 (unsigned long long)sizes[i], i);
	return 0;
}

void drive_dir__discard(struct drive_dir *dd)
{
	char name[IMAGE_NAME_MAX];
	unsigned int i;

	for (i = 0; i < dd->nr_created; i++) {
		image_name(i, name, sizeof(name));
		if (unlinkat(dd->fd, name, 0))
			log_warn("--drive-dir %s: removing %s: %s", dd->path, name,
				 strerror(errno));
		else
			log_info("--drive-dir %s: removed %s, made for a migration that did "
				 "not complete", dd->path, name);
	}
	dd->nr_created = 0;
}

void drive_dir__close(struct drive_dir *dd)
{
	if (dd->fd >= 0)
		close(dd->fd);
	dd->fd = -1;
}
