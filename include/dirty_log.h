/* KVM dirty-page tracking for a migration: which guest pages changed since
 * the last look. Uses KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (get the bitmap,
 * then re-protect with KVM_CLEAR_DIRTY_LOG in chunks) where the host has
 * it, plain KVM_GET_DIRTY_LOG (get-and-clear in one call) where not, and
 * the vCPUs' dirty rings (dirty_ring.h) when the VM was made with them
 * (--dirty-ring): KVM then has no bitmap at all. Pages the VMM wrote
 * itself are merged in from guest_memory's own bitmap.
 *
 * Threads: one owner (the migration thread, or a measurement's) calls
 * everything; in ring mode dirty_log__harvest and dirty_log__vcpu_dirtied
 * may also come from one other thread, under ring_lock.
 */
#ifndef VMM__DIRTY_LOG_H
#define VMM__DIRTY_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_memory.h"
#include "vm.h"

struct dirty_log {
	int vm_fd;
	struct guest_memory *mem;
	struct vm *vm;
	bool manual_protect;
	bool ring;			/* harvesting the vCPUs' dirty rings */
	uint64_t nr_pages;		/* RAM pages */
	uint64_t *slot_bitmap[GUEST_MEM_MAX_SLOTS];
	/* Pages to send, indexed by RAM page number: sync and mark_all add
	 * to it, dirty_log__next_dirty takes them off. No one else writes it. */
	uint64_t *pending;
	uint64_t cursor;		/* no pending bit in words below this */
	uint64_t last_get_us;		/* time of the last sync's get */
	uint64_t last_clear_us;		/* and of its clear (manual mode) */
	/* (ring mode: the walks and KVM_RESET_DIRTY_RINGS of every harvest
	 * since the sync before, mid-round ones included) */

	/* Ring mode. ring_lock covers the walk of the rings, carry and the
	 * per-vCPU counts. carry holds pages harvested between syncs (a vCPU
	 * asked, its ring being full): the next sync adds them to pending. */
	pthread_mutex_t ring_lock;
	bool ring_lock_init;
	uint64_t *carry;
	/* Pages each vCPU's ring gave first since the last sync (a page two
	 * vCPUs wrote counts for the one whose ring was walked first; one
	 * given again after a sync counts again), summed since start. */
	uint64_t vcpu_pages[VM_MAX_CPUS];
	uint64_t vcpu_at_sync[VM_MAX_CPUS];	/* vcpu_pages at the last sync */
	uint64_t vcpu_at_call[VM_MAX_CPUS];	/* at the last vcpu_dirtied */
	uint64_t entries;		/* ring entries taken since start */
	uint64_t refused;		/* of those, no RAM slot holds them */
	uint64_t walk_us, reset_us;	/* harvests since the last sync */
	uint64_t harvests;		/* walks that found entries (mid-round too) */
	/* Each vCPU's pages found by the syncs since the last
	 * dirty_log__take_vcpu_pages; and filled by each sync, the ring-full
	 * exits and vCPU wait time since the previous sync. */
	uint64_t vcpu_found[VM_MAX_CPUS];
	uint64_t last_full_exits;
	uint64_t last_wait_us;
	uint64_t full_exits_at_sync;
	uint64_t wait_us_at_sync;
};

/* Tracks vm's RAM: with its dirty rings if vm has them, else the bitmap.
 * force_plain: do not use manual protect even if offered (for tests and
 * comparison runs; no meaning with the ring). Never with KVM's
 * initially-all-set: round 0 sends everything anyway. */
int dirty_log__start(struct dirty_log *d, struct vm *vm, bool force_plain, char *err,
		     size_t errlen);
/* Collects pages dirtied since the last sync (or since start) into
 * d->pending; returns the number of pages now pending, or -errno. In ring
 * mode also counts vcpu_found and fills last_full_exits and last_wait_us. */
int64_t dirty_log__sync(struct dirty_log *d, char *err, size_t errlen);
/* Ring mode: each vCPU's pages found by the syncs since the previous
 * call (or start) into out[0..n), and those counts zeroed: what a round
 * or a measurement found, by vCPU. All 0 in bitmap mode. */
void dirty_log__take_vcpu_pages(struct dirty_log *d, uint64_t *out, unsigned int n);
/* Ring mode: an fd that polls readable when a vCPU's ring is full and it
 * waits for a harvest (-1 in bitmap mode), and whether one asked since the
 * last look (reading the fd empties it). */
int dirty_log__harvest_fd(const struct dirty_log *d);
bool dirty_log__harvest_wanted(struct dirty_log *d);
/* Ring mode: harvests every ring now and resets them, releasing waiting
 * vCPUs; the pages wait for the next sync. 0 (also in bitmap mode, where
 * it does nothing) or -errno. */
int dirty_log__harvest(struct dirty_log *d, char *err, size_t errlen);
/* Sleeps us microseconds; in ring mode harvests whenever a vCPU asks
 * meanwhile, so no vCPU waits out the sleep. 0 or -errno. */
int dirty_log__sleep_us(struct dirty_log *d, uint64_t us, char *err, size_t errlen);
/* For dirty-limit: each vCPU's pages dirtied since the previous call (or
 * since start), into pages[0..n), n at most the VM's vCPUs; harvests
 * first so the counts are current. Ring mode only (-EOPNOTSUPP in bitmap
 * mode, where KVM does not say which vCPU wrote). Safe from a thread
 * other than the owner's. Returns the vCPUs filled, or -errno. */
int dirty_log__vcpu_dirtied(struct dirty_log *d, uint64_t *pages, unsigned int n, char *err,
			    size_t errlen);
/* How many pages the guest has dirtied since the last sync (or start),
 * without taking them: with manual protect KVM_GET_DIRTY_LOG neither
 * clears nor re-protects, so the next sync still finds them; in ring mode
 * it harvests into the carried pages, which the next sync adds, and
 * counts those. Returns the count, or
 * -EOPNOTSUPP in plain mode (where a get would clear), or -errno. Pages
 * vmm wrote itself are not counted. */
int64_t dirty_log__peek_count(struct dirty_log *d, char *err, size_t errlen);
/* Marks every RAM page pending (round 0). */
void dirty_log__mark_all(struct dirty_log *d);
uint64_t dirty_log__count_pending(const struct dirty_log *d);
/* Takes the lowest pending page off the pending set: true with its RAM
 * page number in *page, false when none is left. Pages, once taken, come
 * back only when a sync finds them dirty again. */
bool dirty_log__next_dirty(struct dirty_log *d, uint64_t *page);
/* After next_dirty gave `page`: takes off the pending set the pages right
 * after it in its 64-page word, as far as each is pending and has its bit
 * set in `allowed` (the mask of that word); returns how many it took (0 to
 * 63). A caller walking long runs of alike pages (round 0's untouched
 * ones) takes them a word at a time instead of a page at a time. */
uint32_t dirty_log__take_run(struct dirty_log *d, uint64_t page, uint64_t allowed);
/* Moves the whole pending set into out (as many words as RAM has pages
 * / 64, rounded up) and empties it: one time slice's pages for a trace. */
void dirty_log__take_pending(struct dirty_log *d, uint64_t *out);
/* Turns tracking off and frees everything; in ring mode empties the rings
 * and releases every vCPU waiting for a harvest. Safe on a zeroed struct. */
void dirty_log__stop(struct dirty_log *d);
/* "ring", "manual-protect" or "plain". */
const char *dirty_log__mode_name(const struct dirty_log *d);

#endif
