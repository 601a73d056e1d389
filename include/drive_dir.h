/* --drive-dir DIR: a destination that makes the images a block migration
 * (migrate -b) copies into, rather than being given them with --drive.
 * The stream carries no drive names, only their number and sizes, so the
 * images are DIR/disk0.img, disk1.img, ... in virtio-blk.N order: raw,
 * the source's size, sparse, mode 0600. Nothing is ever overwritten: a
 * name that exists refuses the migration.
 *
 * The directory and the drives' rings are opened at start, before the
 * sandbox (which lets no ring be made later); the images are created once
 * the source's configuration says how many and how big, on the thread
 * that receives the stream.
 */
#ifndef VMM__DRIVE_DIR_H
#define VMM__DRIVE_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "drive.h"

struct drive_dir {
	const char *path;		/* as given, for messages */
	int fd;				/* the directory; -1: none */
	/* DRIVE_MAX drives whose backends are reserved, without images
	 * until create (the program's array: it closes them). */
	struct board_drive *drives;
	/* The images made, as --drive would have described them. */
	struct drive_config cfgs[DRIVE_MAX];
	unsigned int nr_created;
};

/* Opens path (an existing directory, refused by name otherwise) and
 * reserves a backend in each of drives[0..DRIVE_MAX-1]. Before the
 * sandbox. Returns 0 or -errno with err. */
int drive_dir__open(struct drive_dir *dd, const char *path, struct board_drive *drives,
		    char *err, size_t errlen);
/* Creates n images of sizes[i] bytes and attaches drives[i] to them.
 * Refuses (-errno, err naming the file and why) a name that exists, a
 * directory that cannot be written or is gone; then removes whatever it
 * had created. */
int drive_dir__create(struct drive_dir *dd, const uint64_t *sizes, unsigned int n,
		      char *err, size_t errlen);
/* Removes the images create made (the migration they were for failed). */
void drive_dir__discard(struct drive_dir *dd);
/* Closes the directory (not the drives). Safe on one never opened. */
void drive_dir__close(struct drive_dir *dd);

#endif
