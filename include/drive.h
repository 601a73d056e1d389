/* A drive as --drive describes it: which image, in which format, and how
 * the host side may cache it. Pure data, parsed up front so a bad option
 * is refused before anything is set up.
 *
 *   file=PATH[,format=raw|qcow2][,readonly=on|off][,cache=none|writeback]
 *       [,base-digest=auto|ahead|lazy]
 *
 * A comma inside PATH is written ",," (as QEMU does). cache=none opens the
 * image O_DIRECT (a qcow2 image's data clusters; its tables stay buffered);
 * writeback (the default) goes through the page cache, and the guest's
 * flush requests reach the disk either way.
 */
#ifndef VMM__DRIVE_H
#define VMM__DRIVE_H

#include <stdbool.h>
#include <stddef.h>

#define DRIVE_MAX 4
#define DRIVE_PATH_MAX 1024

enum drive_format {
	DRIVE_FORMAT_RAW,
	DRIVE_FORMAT_QCOW2,	/* the subset blk_qcow2.h reads */
};

enum drive_cache {
	DRIVE_CACHE_WRITEBACK,
	DRIVE_CACHE_NONE,
};

/* When a qcow2 drive's base is hashed for migrate -i: from the start in
 * the background, or only when a migration asks; auto (the default):
 * ahead for a base up to BLK_BASE_CACHE_AHEAD_MAX bytes (blk_base_cache.h). */
enum drive_base_digest {
	DRIVE_BASE_DIGEST_AUTO,
	DRIVE_BASE_DIGEST_AHEAD,
	DRIVE_BASE_DIGEST_LAZY,
};

struct drive_config {
	char path[DRIVE_PATH_MAX];
	enum drive_format format;
	bool readonly;
	enum drive_cache cache;
	enum drive_base_digest base_digest;
};

/* Fills d from spec; returns 0, or -EINVAL with err saying what is wrong
 * (an unknown key or value, no file=, base-digest= on a raw drive). */
int drive__parse(const char *spec, struct drive_config *d, char *err, size_t errlen);
const char *drive__cache_name(enum drive_cache c);
const char *drive__base_digest_name(enum drive_base_digest m);

#endif
