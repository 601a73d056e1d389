#include "dirty_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <linux/kvm.h>

#include "clock.h"

/* KVM_CLEAR_DIRTY_LOG re-protects one chunk per call so the MMU lock is
 * never held for a whole large slot at once. 256 Ki pages = 1 GiB. */
#define CLEAR_CHUNK_PAGES (256ULL * 1024)

static uint64_t words_for(uint64_t pages)
{
	return (pages + 63) / 64;
}

int dirty_log__start(struct dirty_log *d, int kvm_fd, int vm_fd, struct guest_memory *mem,
		     bool force_plain, char *err, size_t errlen)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	unsigned int i;
	int ret;

	memset(d, 0, sizeof(*d));
	d->vm_fd = vm_fd;
	d->mem = mem;
	d->nr_pages = mem->size / GUEST_PAGE_SIZE;
	d->pending = calloc(words_for(d->nr_pages), sizeof(uint64_t));
	if (!d->pending)
		goto nomem;
	for (i = 0; i < mem->nr_slots; i++) {
		d->slot_bitmap[i] = calloc(words_for(mem->slots[i].size / GUEST_PAGE_SIZE),
					   sizeof(uint64_t));
		if (!d->slot_bitmap[i])
			goto nomem;
	}
	/* Manual protect must be chosen before logging is switched on. Bit 0
	 * only: with INITIALLY_SET pages would start out dirty, but round 0
	 * sends everything anyway. */
	if (!force_plain && ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		d->manual_protect = !ioctl(vm_fd, KVM_ENABLE_CAP, &cap);
	} else {
		cap.args[0] = 0;
		ioctl(vm_fd, KVM_ENABLE_CAP, &cap);	/* may be on from a previous run */
	}
	ret = guest_memory__set_dirty_logging(mem, vm_fd, true, 0);
	if (ret) {
		snprintf(err, errlen, "enabling KVM dirty logging: %s", strerror(-ret));
		dirty_log__stop(d);
		return ret;
	}
	/* Writes the VMM made before now are part of round 0's full copy. */
	memset(mem->vmm_dirty, 0, words_for(d->nr_pages) * sizeof(uint64_t));
	return 0;
nomem:
	snprintf(err, errlen, "out of memory for dirty bitmaps");
	dirty_log__stop(d);
	return -ENOMEM;
}

static int clear_chunks(struct dirty_log *d, const struct guest_mem_slot *s, uint64_t *bitmap)
{
	uint64_t pages = s->size / GUEST_PAGE_SIZE, first, w;

	for (first = 0; first < pages; first += CLEAR_CHUNK_PAGES) {
		uint64_t n = pages - first < CLEAR_CHUNK_PAGES ? pages - first : CLEAR_CHUNK_PAGES;
		struct kvm_clear_dirty_log c = {
			.slot = s->id, .first_page = first, .num_pages = (uint32_t)n,
			.dirty_bitmap = bitmap + first / 64,
		};
		bool any = false;

		for (w = 0; w < words_for(n) && !any; w++)
			any = bitmap[first / 64 + w] != 0;
		if (any && ioctl(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &c))
			return -errno;
	}
	return 0;
}

int64_t dirty_log__sync(struct dirty_log *d, char *err, size_t errlen)
{
	uint64_t t0, t1, w, base, nwords;
	unsigned int i;
	int ret;

	d->last_get_us = d->last_clear_us = 0;
	for (i = 0; i < d->mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &d->mem->slots[i];
		struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = d->slot_bitmap[i] };

		nwords = words_for(s->size / GUEST_PAGE_SIZE);
		t0 = clock__mono_us();
		if (ioctl(d->vm_fd, KVM_GET_DIRTY_LOG, &log)) {
			snprintf(err, errlen, "KVM_GET_DIRTY_LOG slot %u: %s", s->id, strerror(errno));
			return -errno;
		}
		t1 = clock__mono_us();
		d->last_get_us += t1 - t0;
		if (d->manual_protect) {
			ret = clear_chunks(d, s, d->slot_bitmap[i]);
			if (ret) {
				snprintf(err, errlen, "KVM_CLEAR_DIRTY_LOG slot %u: %s", s->id,
					 strerror(-ret));
				return ret;
			}
			d->last_clear_us += clock__mono_us() - t1;
		}
		/* Slots start on 64-page boundaries of RAM, so whole words map. */
		base = s->ram_offset / GUEST_PAGE_SIZE / 64;
		for (w = 0; w < nwords; w++)
			d->pending[base + w] |= d->slot_bitmap[i][w];
	}
	nwords = words_for(d->nr_pages);
	for (w = 0; w < nwords; w++) {
		uint64_t v = __atomic_exchange_n(&d->mem->vmm_dirty[w], 0, __ATOMIC_RELAXED);

		d->pending[w] |= v;
	}
	d->cursor = 0;
	return (int64_t)dirty_log__count_pending(d);
}

int64_t dirty_log__peek_count(struct dirty_log *d, char *err, size_t errlen)
{
	uint64_t w, nwords, n = 0;
	unsigned int i;

	if (!d->manual_protect)
		return -EOPNOTSUPP;
	for (i = 0; i < d->mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &d->mem->slots[i];
		/* slot_bitmap is scratch between syncs: the next get fills it. */
		struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = d->slot_bitmap[i] };

		if (ioctl(d->vm_fd, KVM_GET_DIRTY_LOG, &log)) {
			snprintf(err, errlen, "KVM_GET_DIRTY_LOG slot %u: %s", s->id, strerror(errno));
			return -errno;
		}
		nwords = words_for(s->size / GUEST_PAGE_SIZE);
		for (w = 0; w < nwords; w++)
			n += (uint64_t)__builtin_popcountll(d->slot_bitmap[i][w]);
	}
	return (int64_t)n;
}

void dirty_log__mark_all(struct dirty_log *d)
{
	uint64_t nwords = words_for(d->nr_pages);

	memset(d->pending, 0xff, nwords * sizeof(uint64_t));
	if (d->nr_pages % 64)
		d->pending[nwords - 1] = (1ULL << (d->nr_pages % 64)) - 1;
	d->cursor = 0;
}

bool dirty_log__next_dirty(struct dirty_log *d, uint64_t *page)
{
	uint64_t nwords = words_for(d->nr_pages), w, bit;

	for (w = d->cursor; w < nwords; w++) {
		if (d->pending[w]) {
			bit = (uint64_t)__builtin_ctzll(d->pending[w]);
			d->pending[w] &= d->pending[w] - 1;
			d->cursor = w;
			*page = w * 64 + bit;
			return true;
		}
	}
	d->cursor = nwords;
	return false;
}

void dirty_log__take_pending(struct dirty_log *d, uint64_t *out)
{
	size_t bytes = words_for(d->nr_pages) * sizeof(uint64_t);

	memcpy(out, d->pending, bytes);
	memset(d->pending, 0, bytes);
	d->cursor = 0;
}

uint64_t dirty_log__count_pending(const struct dirty_log *d)
{
	uint64_t w, n = 0;

	for (w = 0; w < words_for(d->nr_pages); w++)
		n += (uint64_t)__builtin_popcountll(d->pending[w]);
	return n;
}

void dirty_log__stop(struct dirty_log *d)
{
	unsigned int i;

	if (d->mem && d->mem->dirty_logging)
		guest_memory__set_dirty_logging(d->mem, d->vm_fd, false, 0);
	for (i = 0; i < GUEST_MEM_MAX_SLOTS; i++)
		free(d->slot_bitmap[i]);
	free(d->pending);
	memset(d, 0, sizeof(*d));
}

const char *dirty_log__mode_name(const struct dirty_log *d)
{
	return d->manual_protect ? "manual-protect" : "plain";
}
