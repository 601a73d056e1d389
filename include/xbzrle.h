/* XBZRLE: a page sent before, encoded as the difference from the copy the
 * destination already holds (QEMU's idea; this encoding is vmm's own,
 * described byte by byte in migrate/FORMAT.md, "XBZRLE delta").
 *
 * A delta is a sequence of pairs: u = ULEB128 count of unchanged bytes,
 * c = ULEB128 count of changed bytes, then those c bytes as they are now.
 * Only the first u may be 0 (a change at the page's first byte), every c
 * is at least 1, and the bytes after the last pair are unchanged, so an
 * unchanged page is the empty delta. Every pair ends inside the page.
 * Lengths are at most 4096, so a ULEB128 is 1 or 2 bytes, in its shortest
 * form.
 *
 * Pure functions on caller's buffers: no allocation, no I/O.
 */
#ifndef VMM__XBZRLE_H
#define VMM__XBZRLE_H

#include <stddef.h>
#include <stdint.h>

#define XBZRLE_PAGE_SIZE	4096u
/* Longest delta a stream may carry (ram_batch checks it): with its u16
 * length in front it takes no more room than a whole page would. The
 * codec itself takes any length. */
#define XBZRLE_MAX_DELTA	(XBZRLE_PAGE_SIZE - 2u)

/* Encodes page `cur` against `old` into out (cap bytes). Returns the
 * delta's length (0: the pages are equal), or -ENOSPC when the delta
 * would not fit in cap: the caller then sends the page whole. */
int xbzrle__encode(const uint8_t *old, const uint8_t *cur, uint8_t *out, size_t cap);

/* Checks a delta of len bytes against every rule above without touching a
 * page. Returns 0, or -EBADMSG with err saying which rule and where. */
int xbzrle__check(const uint8_t *delta, size_t len, char *err, size_t errlen);

/* Applies a delta to page (the old copy, updated in place). The whole
 * delta is checked first: a malformed one writes nothing. Returns 0 or
 * xbzrle__check's error. */
int xbzrle__decode(const uint8_t *delta, size_t len, uint8_t *page, char *err,
		   size_t errlen);

#endif
