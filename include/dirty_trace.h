/* Dirty traces: a guest's dirty log sampled in time slices and written to
 * a file (the format, byte by byte, is migrate/TRACE.md), so that the
 * writable working set can be drawn and pre-copy replayed offline on
 * exactly the same memory behaviour. This header has the file's writer
 * and reader (no KVM; tested alone) and the recorder that feeds a writer
 * from a running VM's dirty log.
 */
#ifndef VMM__DIRTY_TRACE_H
#define VMM__DIRTY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DIRTY_TRACE_MAJOR 1
#define DIRTY_TRACE_MINOR 0
#define DIRTY_TRACE_MAX_REGIONS 8
/* 1 TiB of 4 KiB pages: the largest RAM vmm builds */
#define DIRTY_TRACE_MAX_PAGES (1ULL << 28)

enum dirty_trace_log_mode {
	DIRTY_TRACE_LOG_PLAIN = 0,		/* KVM_GET_DIRTY_LOG */
	DIRTY_TRACE_LOG_MANUAL_PROTECT = 1,	/* get, then KVM_CLEAR_DIRTY_LOG */
	DIRTY_TRACE_LOG_RING = 2,		/* the vCPUs' dirty rings */
};

/* A stretch of RAM pages in guest-physical space. */
struct dirty_trace_region {
	uint64_t gpa;
	uint64_t size;			/* bytes */
	uint64_t first_page;		/* its first page's number in the bitmaps */
};

struct dirty_trace_header {
	uint16_t major, minor;
	uint32_t page_size;
	uint32_t log_mode;		/* enum dirty_trace_log_mode */
	uint32_t nr_regions;
	uint64_t ram_size;		/* bytes; nr_pages = ram_size / page_size */
	uint64_t interval_us;		/* asked for */
	uint64_t duration_us;		/* asked for */
	uint64_t start_unix_us;		/* host CLOCK_REALTIME at the first slice's start */
	struct dirty_trace_region regions[DIRTY_TRACE_MAX_REGIONS];
};

struct dirty_trace_slice {
	uint32_t index;			/* 0, 1, ... */
	uint64_t start_us;		/* since the first slice's start */
	uint64_t duration_us;		/* as it happened (the interval is a target) */
	uint64_t dirty_pages;		/* bits set in the bitmap */
};

struct dirty_trace_writer {
	FILE *f;
	void *cctx;			/* ZSTD_CCtx */
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint8_t *raw;			/* a bitmap in the file's byte order */
	uint64_t nr_pages;
	uint32_t nr_slices;
};

struct dirty_trace_reader {
	FILE *f;
	struct dirty_trace_header h;
	uint64_t nr_pages;
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint32_t nr_slices;		/* read so far */
	uint64_t total_us;		/* from the end record, once read */
	bool ended;
};

/* Pages for a header (ram_size / page_size). */
uint64_t dirty_trace__nr_pages(const struct dirty_trace_header *h);
/* 64-bit words of one slice's bitmap. */
uint64_t dirty_trace__bitmap_words(uint64_t nr_pages);

/* Creates path (truncating it) and writes the header. */
int dirty_trace__create(struct dirty_trace_writer *w, const char *path,
			const struct dirty_trace_header *h, char *err, size_t errlen);
/* Appends one slice; bitmap holds dirty_trace__bitmap_words() words, bit
 * i of word j for page 64 j + i. s->dirty_pages is counted here. */
int dirty_trace__add_slice(struct dirty_trace_writer *w, struct dirty_trace_slice *s,
			   const uint64_t *bitmap, char *err, size_t errlen);
/* Writes the end record, flushes, syncs and closes. */
int dirty_trace__finish(struct dirty_trace_writer *w, uint64_t total_us, char *err, size_t errlen);
/* Closes without an end record (after an error). Safe on a zeroed one. */
void dirty_trace__close_writer(struct dirty_trace_writer *w);

/* Opens a trace and reads and checks its header into r->h. */
int dirty_trace__open(struct dirty_trace_reader *r, const char *path, char *err, size_t errlen);
/* Reads the next slice into s and bitmap (dirty_trace__bitmap_words()
 * words): 1 for a slice, 0 at the end record, -errno (-EBADMSG for a
 * damaged or truncated file) with err set. */
int dirty_trace__next_slice(struct dirty_trace_reader *r, struct dirty_trace_slice *s,
			    uint64_t *bitmap, char *err, size_t errlen);
void dirty_trace__close(struct dirty_trace_reader *r);

struct vm;
/* What a recording did. */
struct dirty_trace_result {
	uint32_t slices;
	uint64_t total_us;
	uint64_t dirty_pages;		/* summed over the slices */
	bool guest_ended;		/* it stopped early: the guest ended */
};
/* Records vm's dirty log every interval_us for duration_us into path:
 * turns dirty logging on, gets and clears it once a slice, turns it off.
 * The caller makes sure nothing else uses the dirty log meanwhile (no
 * migration). Blocks for the duration. */
int dirty_trace__record(struct vm *vm, const char *path, uint64_t duration_us,
			uint64_t interval_us, bool force_plain, struct dirty_trace_result *res,
			char *err, size_t errlen);

#endif
