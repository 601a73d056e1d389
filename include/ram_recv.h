/* The destination's side of RAM sections (stream 3.0): pages read from the
 * connection straight into guest memory, each checked against its CRC
 * afterwards, and a record of the pages that arrived torn.
 *
 * A torn page (its bytes do not match the CRC the source took) is one the
 * guest wrote while the source sent it. That write came after the source
 * cleared the page's dirty bit, so a later round sends the page again; a
 * page still torn when the stream ends was never repaired and the stream
 * is refused (FORMAT.md, "Torn pages").
 */
#ifndef VMM__RAM_RECV_H
#define VMM__RAM_RECV_H

#include <stdint.h>
#include <sys/uio.h>

#include "stream.h"

struct ram_prefault;
struct vm_config;

/* Where guest page gpa lives in this process (page aligned, inside one
 * of CONFIG's slots: ram_batch__check made sure). */
typedef uint8_t *(*ram_hva_fn)(void *ctx, uint64_t gpa);

struct ram_recv {
	const struct vm_config *cfg;
	ram_hva_fn hva;
	void *ctx;
	uint64_t nr_pages;		/* of all slots */
	uint64_t *written;		/* one bit per page: holds data */
	uint64_t *torn;			/* one bit per page: torn, not resent */
	uint64_t *seen;			/* one bit per page: received, ZERO or DATA */
	uint8_t *xarea;			/* a batch's tail: zstd frame, deltas (on use) */
	uint8_t *zpages;		/* a batch's ZSTD pages, decompressed (on use) */
	void *dctx;			/* zstd decompression context (on use) */
	uint64_t zstd_pages;		/* ZSTD entries written */
	uint64_t zstd_bytes;		/* their frames' bytes */
	uint8_t scratch[RAM_PAGE_SIZE];	/* a delta's page, until its CRC passed */
	uint64_t delta_pages;		/* XBZRLE entries applied */
	uint64_t torn_now;		/* bits set in torn */
	uint64_t torn_total;		/* torn arrivals, repaired or not */
	struct ram_prefault *prefault;	/* NULL, or populates ahead (ram_prefault.h) */
	struct iovec iov[RAM_BATCH_MAX_PAGES + 1];
};

/* Fresh guest RAM reads as zero: nothing is written, nothing torn.
 * Returns 0 or -ENOMEM. */
int ram_recv__init(struct ram_recv *rr, const struct vm_config *cfg, ram_hva_fn hva,
		   void *ctx);
void ram_recv__free(struct ram_recv *rr);

/* Finishes a RAM section whose head stream__recv_head read into sec:
 * checks the whole entry table (ram_batch__check) before a page byte is
 * read, reads the pages into guest memory (adjacent pages in one run) and
 * the delta area into a buffer, the section checksum, every delta's form,
 * then each page's CRC. An XBZRLE entry (stream 3.1 only) applies its
 * delta to a copy of the page held here, which must have arrived intact
 * before; the copy is written to guest memory only when the result
 * matches the entry's CRC, and anything else fails the stream. ZSTD
 * entries (stream 3.2 only): the frame is checked and decompressed into a
 * buffer held here (ram_zstd__decode), every page's CRC must match, and
 * only then does any of them reach guest memory. info (may be NULL) gets the
 * counts. Returns 0, or the check's, the stream's error with err set. */
int ram_recv__section(struct ram_recv *rr, struct stream *s, struct section *sec,
		      struct ram_batch_info *info, char *err, size_t errlen);

/* Applies one page of an in-memory batch (a ram_page_fn for
 * ram_batch__decode; ctx is the ram_recv). */
int ram_recv__page(void *ctx, uint64_t gpa, const uint8_t *data, bool torn);

/* At END: -EBADMSG naming the first page still torn, else 0. */
int ram_recv__check_end(const struct ram_recv *rr, char *err, size_t errlen);

#endif
