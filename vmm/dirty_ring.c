#include "dirty_ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errmsg.h"

uint64_t dirty_ring__host_max_bytes(int kvm_fd, int *cap)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);

	/* ACQ_REL says the harvest's ordering is ours to get right (it is:
	 * acquire on the flags, release on the reset mark), which is what
	 * weakly ordered hosts need; x86 offers both. */
	*cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
	if (n <= 0) {
		n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
		*cap = KVM_CAP_DIRTY_LOG_RING;
	}
	if (n <= 0) {
		*cap = 0;
		return 0;
	}
	return (uint64_t)n;
}

int dirty_ring__check_entries(uint64_t entries, uint64_t max_bytes, char *err, size_t errlen)
{
	uint64_t max = max_bytes / sizeof(struct kvm_dirty_gfn);

	if (!max_bytes)
		return errmsg__fail(-EOPNOTSUPP, err, errlen, "this host's KVM has no dirty ring "
				    "(KVM_CAP_DIRTY_LOG_RING); use the dirty bitmap (--dirty-ring 0)");
	if (max > UINT32_MAX)
		max = (uint64_t)1 << 31;
	if (entries < DIRTY_RING_MIN_ENTRIES || entries > max || (entries & (entries - 1)))
		return errmsg__fail(-EINVAL, err, errlen, "--dirty-ring %" PRIu64 ": the ring "
				    "must hold a power of two entries from %zu (one page) to %"
				    PRIu64 " (this host's KVM); or 0 for the dirty bitmap",
				    entries, (size_t)DIRTY_RING_MIN_ENTRIES, max);
	return 0;
}

int dirty_ring__enable(int kvm_fd, int vm_fd, uint32_t entries, char *err, size_t errlen)
{
	struct kvm_enable_cap c = { 0 };
	int cap, ret;

	ret = dirty_ring__check_entries(entries, dirty_ring__host_max_bytes(kvm_fd, &cap),
					err, errlen);
	if (ret)
		return ret;
	c.cap = (uint32_t)cap;
	c.args[0] = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
	/* KVM also keeps 64 entries in reserve, plus the CPU's own dirty-log
	 * buffer where it has one (Intel's PML: 512), and refuses a ring no
	 * larger than that: 1024 entries clear it on every host. */
	if (ioctl(vm_fd, KVM_ENABLE_CAP, &c))
		return errmsg__fail(-errno, err, errlen, "KVM refused a dirty ring of %" PRIu32
				    " entries: %s%s", entries, strerror(errno), errno == EINVAL ?
				    " (it must outsize KVM's reserve; 1024 entries or more work "
				    "on every host)" : "");
	return 0;
}

int dirty_ring__map(struct dirty_ring *r, int vcpu_fd, uint32_t entries, char *err,
		    size_t errlen)
{
	size_t len = (size_t)entries * sizeof(struct kvm_dirty_gfn);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		 (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);
	if (p == MAP_FAILED)
		return errmsg__fail(-errno, err, errlen, "mmap of a vCPU's dirty ring: %s",
				    strerror(errno));
	*r = (struct dirty_ring){ .gfns = p, .entries = entries, .map_len = len };
	return 0;
}

void dirty_ring__unmap(struct dirty_ring *r)
{
	if (r->map_len)
		munmap(r->gfns, r->map_len);
	*r = (struct dirty_ring){ 0 };
}

uint64_t dirty_ring__entry_page(const struct guest_memory *mem, uint32_t slot, uint64_t offset)
{
	unsigned int i;

	/* vmm has one address space (no SMM slots): any other is not ours. */
	if (slot >> 16)
		return GUEST_NO_PAGE;
	for (i = 0; i < mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &mem->slots[i];

		if (s->id == slot && offset < s->size / GUEST_PAGE_SIZE)
			return s->ram_offset / GUEST_PAGE_SIZE + offset;
	}
	return GUEST_NO_PAGE;
}

static struct kvm_dirty_gfn *entry_at(const struct dirty_ring *r, uint32_t i)
{
	return &r->gfns[i & (r->entries - 1)];
}

uint64_t dirty_ring__harvest(struct dirty_ring *r, const struct guest_memory *mem,
			     uint64_t *bits, struct dirty_ring_counts *c)
{
	uint64_t n, page, mask;

	/* Bounded by the ring's size: KVM cannot push more than that
	 * between two resets, so a longer walk would be a broken ring. */
	for (n = 0; n < r->entries; n++) {
		struct kvm_dirty_gfn *e = entry_at(r, r->fetch);

		/* Acquire: slot and offset are KVM's once the flag says so. */
		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		page = dirty_ring__entry_page(mem, e->slot, e->offset);
		if (page == GUEST_NO_PAGE) {
			c->refused++;
		} else {
			mask = 1ULL << (page % 64);
			c->fresh += !(bits[page / 64] & mask);
			bits[page / 64] |= mask;
		}
		/* Release: KVM may reuse the entry once it sees the mark. */
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		r->fetch++;
	}
	c->taken += n;
	return n;
}

uint64_t dirty_ring__count(const struct dirty_ring *r)
{
	uint64_t n;

	for (n = 0; n < r->entries; n++) {
		const struct kvm_dirty_gfn *e = entry_at(r, r->fetch + (uint32_t)n);

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
	}
	return n;
}
