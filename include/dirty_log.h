/* KVM dirty-page tracking for a migration: which guest pages changed since
 * the last look. Uses KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (get the bitmap,
 * then re-protect with KVM_CLEAR_DIRTY_LOG in chunks) where the host has
 * it, plain KVM_GET_DIRTY_LOG (get-and-clear in one call) where not. Pages
 * the VMM wrote itself are merged in from guest_memory's own bitmap.
 */
#ifndef VMM__DIRTY_LOG_H
#define VMM__DIRTY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_memory.h"

struct dirty_log {
	int vm_fd;
	struct guest_memory *mem;
	bool manual_protect;
	uint64_t nr_pages;		/* RAM pages */
	uint64_t *slot_bitmap[GUEST_MEM_MAX_SLOTS];
	/* Pages to send, indexed by RAM page number: sync and mark_all add
	 * to it, dirty_log__next_dirty takes them off. No one else writes it. */
	uint64_t *pending;
	uint64_t cursor;		/* no pending bit in words below this */
	uint64_t last_get_us;		/* time of the last sync's get */
	uint64_t last_clear_us;		/* and of its clear (manual mode) */
};

/* force_plain: do not use manual protect even if offered (for tests and
 * comparison runs). */
int dirty_log__start(struct dirty_log *d, int kvm_fd, int vm_fd, struct guest_memory *mem,
		     bool force_plain, char *err, size_t errlen);
/* Collects pages dirtied since the last sync (or since start) into
 * d->pending; returns the number of pages now pending, or -errno. */
int64_t dirty_log__sync(struct dirty_log *d, char *err, size_t errlen);
/* How many pages the guest has dirtied since the last sync (or start),
 * without taking them: with manual protect KVM_GET_DIRTY_LOG neither
 * clears nor re-protects, so the next sync still finds them. Returns the
 * count, or -EOPNOTSUPP in plain mode (where a get would clear), or
 * -errno. Pages vmm wrote itself are not counted. */
int64_t dirty_log__peek_count(struct dirty_log *d, char *err, size_t errlen);
/* Marks every RAM page pending (round 0). */
void dirty_log__mark_all(struct dirty_log *d);
uint64_t dirty_log__count_pending(const struct dirty_log *d);
/* Takes the lowest pending page off the pending set: true with its RAM
 * page number in *page, false when none is left. Pages, once taken, come
 * back only when a sync finds them dirty again. */
bool dirty_log__next_dirty(struct dirty_log *d, uint64_t *page);
/* Moves the whole pending set into out (as many words as RAM has pages
 * / 64, rounded up) and empties it: one time slice's pages for a trace. */
void dirty_log__take_pending(struct dirty_log *d, uint64_t *out);
/* Turns tracking off and frees everything. Safe on a zeroed struct. */
void dirty_log__stop(struct dirty_log *d);
const char *dirty_log__mode_name(const struct dirty_log *d);

#endif
