/* Guest RAM to and from a saved file's RAM region (file_layout.h) through
 * io_uring: runs of pages written straight from guest memory and read
 * straight back into it, several requests in flight, O_DIRECT where the
 * file system takes it. Where io_uring cannot be set up (an old kernel,
 * io_uring disabled) the same runs go through pwrite/pread, one at a time.
 */
#ifndef VMM__FILE_RAM_H
#define VMM__FILE_RAM_H

#include <stdbool.h>
#include <stdint.h>

#include "file_layout.h"

/* Requests in flight and the largest run of pages one request carries. */
#define FILE_RAM_DEPTH 16
#define FILE_RAM_MAX_RUN (2ULL << 20)
/* A restore's threads, each with its own ring (file_ram__load). */
#define FILE_RAM_LOAD_THREADS 2

struct file_ram_job {
	int fd;				/* for the RAM region */
	uint8_t *base;			/* host address of guest page 0 */
	struct file_layout *layout;
	uint8_t *bitmap;		/* layout->bitmap_len bytes */
	uint8_t *crcs;			/* layout->crc_len bytes, CRC32C LE */
	/* Save: pages the host never populated (bit clear) are holes, never
	 * read; NULL = read every page. */
	const uint64_t *populated;
	bool (*cancelled)(void *ctx);	/* polled between requests */
	void *ctx;
	/* Results. */
	uint64_t pages;			/* written or read */
	uint64_t zero_pages;		/* populated but zero: holes */
	uint64_t unread_pages;		/* never populated: holes */
	bool used_uring;
};

/* Makes the process's rings (FILE_RAM_LOAD_THREADS, each restricted to
 * reads and writes), once, before the sandbox: every save and restore
 * reuses them. 0 if at least one was made; otherwise -errno, logged, and
 * saves and restores go through pwrite/pread. Idempotent. */
int file_ram__rings_init(void);
void file_ram__rings_exit(void);
/* Opens path with O_DIRECT (flags added), or without where the file
 * system refuses it (logged once, with the reason). -errno and err. */
int file_ram__open(const char *path, int flags, char *err, size_t errlen);
/* Writes every populated non-zero page at its offset, filling bitmap,
 * crcs and layout->present_pages. -ECANCELED once cancelled (nothing is
 * left in flight on any return). */
int file_ram__save(struct file_ram_job *j, char *err, size_t errlen);
/* Reads every page the bitmap marks into guest memory and checks each
 * against its CRC, in FILE_RAM_LOAD_THREADS threads (each run of pages
 * goes to one of them); pages not marked are left untouched (zero). */
int file_ram__load(struct file_ram_job *j, char *err, size_t errlen);

#endif
