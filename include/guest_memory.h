/* Guest RAM: one anonymous mapping backed by transparent huge pages, split
 * into KVM memory slots around the 3-4 GiB PCI hole (RAM past 3 GiB is
 * placed at 4 GiB, as on a PC).
 */
#ifndef VMM__GUEST_MEMORY_H
#define VMM__GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_PAGE_SIZE 4096ULL
#define GUEST_PAGE_SHIFT 12
#define GUEST_MEM_MAX_SLOTS 2
#define GUEST_PCI_HOLE_START (3ULL << 30)
#define GUEST_HIGH_RAM_START (4ULL << 30)
#define GUEST_RAM_MIN (2ULL << 20)
#define GUEST_RAM_MAX (1ULL << 40)

struct guest_mem_slot {
	uint32_t id;			/* KVM slot number */
	uint64_t gpa;
	uint64_t size;
	uint64_t ram_offset;		/* offset of gpa in the host mapping */
	uint8_t *hva;
};

struct guest_memory {
	uint8_t *base;			/* host mapping of all RAM, contiguous */
	uint64_t size;			/* bytes of RAM */
	size_t map_len;			/* bytes mapped (aligned for THP) */
	void *map_addr;
	unsigned int nr_slots;
	struct guest_mem_slot slots[GUEST_MEM_MAX_SLOTS];
	bool dirty_logging;
	/* Pages the VMM itself wrote (KVM's log never sees those writes); one
	 * bit per RAM page (page numbers as for guest_memory__page_gpa).
	 * Collected and cleared only by the dirty log (dirty_log__sync). */
	uint64_t *vmm_dirty;
};

/* Pure layout: fills slots for a RAM size (no mapping, no KVM). */
int guest_memory__layout(struct guest_memory *mem, uint64_t ram_size);
/* Maps ram_size bytes of guest RAM (THP advised, slots laid out, no KVM
 * yet); with prealloc every page is also allocated now (--mem-prealloc,
 * guest_memory__populate). On failure nothing is left and err says why. */
int guest_memory__map(struct guest_memory *mem, uint64_t ram_size, bool prealloc,
		      char *err, size_t errlen);
/* Allocates every page of the mapping now, so that no first touch of the
 * guest's or of an incoming migration's later pays for it: a
 * destination's first touches of fresh memory are most of round 0's cost
 * where the host must back them (bench/RESULTS.md). MADV_POPULATE_WRITE,
 * or a write to every page before Linux 5.14. -errno (ENOMEM: the host
 * has not that much) with err set. */
int guest_memory__populate(struct guest_memory *mem, char *err, size_t errlen);
/* Gives a mapped RAM's slots to the VM vm_fd. */
int guest_memory__register(struct guest_memory *mem, int vm_fd, char *err, size_t errlen);
void guest_memory__destroy(struct guest_memory *mem);
/* RAM pages are numbered 0.. in the order of the host mapping; the slots
 * place them in guest-physical space. Every mapping between the two goes
 * through these (no other module knows where the PCI hole is). */
#define GUEST_NO_PAGE UINT64_MAX
/* Guest-physical address of RAM page n; GUEST_NO_PAGE past the end. */
uint64_t guest_memory__page_gpa(const struct guest_memory *mem, uint64_t page);
/* RAM page holding gpa; GUEST_NO_PAGE in the hole or past the end. */
uint64_t guest_memory__gpa_page(const struct guest_memory *mem, uint64_t gpa);
/* Host pointer to RAM page n; NULL past the end. */
uint8_t *guest_memory__page_hva(const struct guest_memory *mem, uint64_t page);
/* Host pointer for [gpa, gpa+len) if the range lies inside one slot. */
void *guest_memory__hva(struct guest_memory *mem, uint64_t gpa, uint64_t len);
/* Copies into guest RAM and records the pages as dirtied by the VMM. */
int guest_memory__write(struct guest_memory *mem, uint64_t gpa, const void *src,
			uint64_t len);
/* Records [gpa, gpa+len) as dirtied by the VMM, for writes made in place
 * (a device's DMA through a host pointer); -EFAULT outside one slot. */
int guest_memory__mark(struct guest_memory *mem, uint64_t gpa, uint64_t len);
/* Opens /proc/self/pagemap once for the process and keeps it: call before
 * privileges are dropped (a process that changed its uid can no longer
 * open its own pagemap). Later calls return the first one's result; the
 * query below opens it on first use where no one called this. Returns 0
 * or -errno with the reason in err. */
int guest_memory__pagemap_open(char *err, size_t errlen);
/* Sets bit n of bits (one bit per RAM page, as many words as RAM has pages
 * / 64, rounded up) for every RAM page the host has populated: present in
 * RAM or swapped out. A clear bit is a page never written nor read since
 * the mapping was made, so it reads as zero; the query does not touch
 * guest memory, so asking populates nothing. A page the kernel is moving
 * (compaction, NUMA) reads as swapped, so as populated. KVM maps guest
 * memory through these same host page tables, so a page the guest has
 * touched through KVM is populated here too. A page may be populated
 * right after it was found clear: callers that rely on a clear bit must
 * have KVM's dirty log on before asking. Under a transparent huge page,
 * all its 4 KiB pages read as populated. Returns 0, or -errno with the
 * reason in err when the pagemap cannot be read. */
int guest_memory__populated(const struct guest_memory *mem, uint64_t *bits,
			    char *err, size_t errlen);
/* Turns KVM dirty logging on or off for every slot. */
int guest_memory__set_dirty_logging(struct guest_memory *mem, int vm_fd, bool on,
				    uint32_t extra_flags);

#endif
