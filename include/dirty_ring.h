/* KVM's dirty ring (KVM_CAP_DIRTY_LOG_RING, or its _ACQ_REL variant): one
 * ring of (slot, offset) entries per vCPU, shared with KVM, which pushes an
 * entry when the vCPU first writes a page after it was (re)protected. The
 * harvester walks each ring from its fetch index, takes the entries KVM
 * marked dirty and marks them for reset; KVM_RESET_DIRTY_RINGS then
 * re-protects those pages and frees the entries.
 *
 * Only the ring's own pieces live here: the size rule, enabling it on a VM,
 * mapping a vCPU's ring, and the walk, which needs no KVM (tests run it on
 * a ring in ordinary memory). The dirty log (dirty_log.h) drives them.
 */
#ifndef VMM__DIRTY_RING_H
#define VMM__DIRTY_RING_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "guest_memory.h"

/* Fewest entries: KVM wants the ring at least one page long. */
#define DIRTY_RING_MIN_ENTRIES (4096 / sizeof(struct kvm_dirty_gfn))

struct dirty_ring {
	struct kvm_dirty_gfn *gfns;	/* entries of them, shared with KVM */
	uint32_t entries;		/* a power of two; 0: no ring */
	uint32_t fetch;			/* next entry to look at, free running */
	size_t map_len;			/* bytes mmapped (0: not a mapping) */
};

/* The largest ring KVM takes, in bytes, and the capability to enable it
 * with (the ACQ_REL variant where offered); 0 and cap 0 when the host has
 * no dirty ring. */
uint64_t dirty_ring__host_max_bytes(int kvm_fd, int *cap);
/* Whether a ring of entries entries is one KVM takes when its largest is
 * max_bytes (dirty_ring__host_max_bytes): entries x 16
 * bytes a power of two, at least a page, at most max_bytes. -EINVAL with
 * a message saying what would work, -EOPNOTSUPP when max_bytes is 0 (the
 * host has no ring). */
int dirty_ring__check_entries(uint64_t entries, uint64_t max_bytes, char *err, size_t errlen);
/* Checks entries against this host and enables the ring on the VM: before
 * any vCPU exists. 0 or -errno with err set. */
int dirty_ring__enable(int kvm_fd, int vm_fd, uint32_t entries, char *err, size_t errlen);
/* Maps a vCPU's ring from its fd. 0 or -errno with err set. */
int dirty_ring__map(struct dirty_ring *r, int vcpu_fd, uint32_t entries, char *err,
		    size_t errlen);
/* Unmaps it; safe on a zeroed ring. */
void dirty_ring__unmap(struct dirty_ring *r);

/* The RAM page (guest_memory's numbering) of a ring entry's slot (address
 * space in the upper 16 bits, slot id below) and page offset in it, or
 * GUEST_NO_PAGE when no RAM slot of mem holds it. */
uint64_t dirty_ring__entry_page(const struct guest_memory *mem, uint32_t slot, uint64_t offset);
/* What walks took: entries, of which pages not yet set in the bits (KVM
 * may push one page more than once between resets: its own writes to the
 * guest's page tables land there too), and entries no RAM slot holds. */
struct dirty_ring_counts {
	uint64_t taken;
	uint64_t fresh;
	uint64_t refused;
};
/* Takes every entry KVM has marked dirty, from the fetch index on, at most
 * one ring's worth: sets its RAM page's bit in bits (one bit per RAM page)
 * and marks the entry for reset. An entry no RAM slot holds is still
 * reset, and counted refused instead. Adds to *c; returns the entries
 * taken. The caller then asks KVM_RESET_DIRTY_RINGS. */
uint64_t dirty_ring__harvest(struct dirty_ring *r, const struct guest_memory *mem,
			     uint64_t *bits, struct dirty_ring_counts *c);
/* How many entries are marked dirty and not taken yet, taking none. */
uint64_t dirty_ring__count(const struct dirty_ring *r);

#endif
