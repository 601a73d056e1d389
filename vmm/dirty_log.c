#include "dirty_log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "clock.h"
#include "errmsg.h"

/* KVM_CLEAR_DIRTY_LOG re-protects one chunk per call so the MMU lock is
 * never held for a whole large slot at once. 256 Ki pages = 1 GiB. */
#define CLEAR_CHUNK_PAGES (256ULL * 1024)

static uint64_t words_for(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* Walks every vCPU's ring into carry and resets what it took; releases
 * the vCPUs waiting for it. Under ring_lock. */
static int harvest_locked(struct dirty_log *d, char *err, size_t errlen)
{
	uint64_t n, total = 0, t0 = clock__mono_us(), t1;
	unsigned int i;

	for (i = 0; i < d->vm->nr_cpus; i++) {
		struct dirty_ring_counts c = { 0 };

		n = dirty_ring__harvest(&d->vm->vcpus[i].ring, d->mem, d->carry, &c);
		/* Pages new since the last sync, not entries: the vCPUs'
		 * counts then add up to the pages found. */
		d->vcpu_pages[i] += c.fresh;
		d->entries += n;
		d->refused += c.refused;
		total += n;
	}
	t1 = clock__mono_us();
	d->walk_us += t1 - t0;
	if (total) {
		d->harvests++;
		if (ioctl(d->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
			return errmsg__fail(-errno, err, errlen, "KVM_RESET_DIRTY_RINGS: %s",
					    strerror(errno));
		d->reset_us += clock__mono_us() - t1;
	}
	/* Even when this walk found nothing: a vCPU whose entries an earlier
	 * walk took, just before it began to wait, must not wait for more. */
	vm__ring_harvested(d->vm);
	return 0;
}

static int ring_start(struct dirty_log *d, char *err, size_t errlen)
{
	int ret;

	d->ring = true;
	d->carry = calloc(words_for(d->nr_pages), sizeof(uint64_t));
	if (!d->carry)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory for the dirty ring's pages");
	pthread_mutex_init(&d->ring_lock, NULL);
	d->ring_lock_init = true;
	vm__ring_full_stats(d->vm, &d->full_exits_at_sync, &d->wait_us_at_sync);
	/* Before logging starts, so a vCPU that fills its ring waits. */
	vm__ring_tracking(d->vm, true);
	ret = guest_memory__set_dirty_logging(d->mem, d->vm_fd, true, 0);
	if (ret)
		return errmsg__fail(ret, err, errlen, "enabling KVM dirty logging: %s",
				    strerror(-ret));
	return 0;
}

int dirty_log__start(struct dirty_log *d, struct vm *vm, bool force_plain, char *err,
		     size_t errlen)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	struct guest_memory *mem = &vm->mem;
	unsigned int i;
	int ret;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->vm_fd = vm->vm_fd;
	d->mem = mem;
	d->nr_pages = mem->size / GUEST_PAGE_SIZE;
	d->pending = calloc(words_for(d->nr_pages), sizeof(uint64_t));
	if (!d->pending)
		goto nomem;
	if (vm->dirty_ring_entries) {
		ret = ring_start(d, err, errlen);
		if (ret) {
			dirty_log__stop(d);
			return ret;
		}
		goto started;
	}
	for (i = 0; i < mem->nr_slots; i++) {
		d->slot_bitmap[i] = calloc(words_for(mem->slots[i].size / GUEST_PAGE_SIZE),
					   sizeof(uint64_t));
		if (!d->slot_bitmap[i])
			goto nomem;
	}
	/* Manual protect must be chosen before logging is switched on. Bit 0
	 * only: with INITIALLY_SET pages would start out dirty, but round 0
	 * sends everything anyway. */
	if (!force_plain && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		d->manual_protect = !ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
	} else {
		cap.args[0] = 0;
		ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);	/* may be on from a previous run */
	}
	ret = guest_memory__set_dirty_logging(mem, vm->vm_fd, true, 0);
	if (ret) {
		snprintf(err, errlen, "enabling KVM dirty logging: %s", strerror(-ret));
		dirty_log__stop(d);
		return ret;
	}
started:
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

/* The ring's sync: what the vCPUs' rings hold now plus what earlier
 * harvests carried, and each vCPU's share since the last sync. The walks
 * are the "get", the resets the "clear", as for the bitmap; both count
 * every harvest since the last sync, mid-round ones included. */
static int ring_sync(struct dirty_log *d, char *err, size_t errlen)
{
	uint64_t w, exits, wait_us;
	unsigned int i;
	int ret;

	pthread_mutex_lock(&d->ring_lock);
	ret = harvest_locked(d, err, errlen);
	d->last_get_us = d->walk_us;
	d->last_clear_us = d->reset_us;
	d->walk_us = d->reset_us = 0;
	for (w = 0; w < words_for(d->nr_pages); w++) {
		d->pending[w] |= d->carry[w];
		d->carry[w] = 0;
	}
	for (i = 0; i < d->vm->nr_cpus; i++) {
		d->vcpu_found[i] += d->vcpu_pages[i] - d->vcpu_at_sync[i];
		d->vcpu_at_sync[i] = d->vcpu_pages[i];
	}
	pthread_mutex_unlock(&d->ring_lock);
	vm__ring_full_stats(d->vm, &exits, &wait_us);
	d->last_full_exits = exits - d->full_exits_at_sync;
	d->last_wait_us = wait_us - d->wait_us_at_sync;
	d->full_exits_at_sync = exits;
	d->wait_us_at_sync = wait_us;
	return ret;
}

int64_t dirty_log__sync(struct dirty_log *d, char *err, size_t errlen)
{
	uint64_t t0, t1, w, base, nwords;
	unsigned int i;
	int ret;

	d->last_get_us = d->last_clear_us = 0;
	if (d->ring) {
		/* Sets last_get_us and last_clear_us. */
		ret = ring_sync(d, err, errlen);
		if (ret)
			return ret;
	}
	for (i = 0; !d->ring && i < d->mem->nr_slots; i++) {
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
	int ret;

	if (d->ring) {
		/* Harvested into carry, which the next sync still adds: a
		 * count of entries would count a page KVM pushed twice twice. */
		pthread_mutex_lock(&d->ring_lock);
		ret = harvest_locked(d, err, errlen);
		for (w = 0; !ret && w < words_for(d->nr_pages); w++)
			n += (uint64_t)__builtin_popcountll(d->carry[w]);
		pthread_mutex_unlock(&d->ring_lock);
		return ret ? ret : (int64_t)n;
	}
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

uint32_t dirty_log__take_run(struct dirty_log *d, uint64_t page, uint64_t allowed)
{
	uint64_t w = page / 64, b = page % 64, after, taken;
	uint32_t n;

	if (page >= d->nr_pages || b == 63)
		return 0;
	/* The bits above b; the top b + 1 are 0, so ~after is never 0. */
	after = (d->pending[w] & allowed) >> (b + 1);
	n = (uint32_t)__builtin_ctzll(~after);
	taken = (n == 64 ? ~0ULL : (1ULL << n) - 1) << (b + 1);
	d->pending[w] &= ~taken;
	return n;
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
	char err[128];	/* nothing to tell: the pages are discarded */
	unsigned int i;

	if (d->mem && d->mem->dirty_logging)
		guest_memory__set_dirty_logging(d->mem, d->vm_fd, false, 0);
	if (d->ring && d->carry) {
		/* Logging is off, so KVM pushes nothing more: empty the rings
		 * for the next tracker, then let every waiter go. */
		pthread_mutex_lock(&d->ring_lock);
		harvest_locked(d, err, sizeof(err));
		pthread_mutex_unlock(&d->ring_lock);
	}
	if (d->ring)
		vm__ring_tracking(d->vm, false);
	if (d->ring_lock_init)
		pthread_mutex_destroy(&d->ring_lock);
	for (i = 0; i < GUEST_MEM_MAX_SLOTS; i++)
		free(d->slot_bitmap[i]);
	free(d->carry);
	free(d->pending);
	memset(d, 0, sizeof(*d));
}

const char *dirty_log__mode_name(const struct dirty_log *d)
{
	return d->ring ? "ring" : d->manual_protect ? "manual-protect" : "plain";
}

void dirty_log__take_vcpu_pages(struct dirty_log *d, uint64_t *out, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n && i < VM_MAX_CPUS; i++) {
		out[i] = d->vcpu_found[i];
		d->vcpu_found[i] = 0;
	}
}

int dirty_log__harvest_fd(const struct dirty_log *d)
{
	return d->ring ? d->vm->ring_full_fd : -1;
}

bool dirty_log__harvest_wanted(struct dirty_log *d)
{
	uint64_t v;

	return d->ring && read(d->vm->ring_full_fd, &v, sizeof(v)) == sizeof(v) && v;
}

int dirty_log__harvest(struct dirty_log *d, char *err, size_t errlen)
{
	int ret;

	if (!d->ring)
		return 0;
	pthread_mutex_lock(&d->ring_lock);
	ret = harvest_locked(d, err, errlen);
	pthread_mutex_unlock(&d->ring_lock);
	return ret;
}

int dirty_log__sleep_us(struct dirty_log *d, uint64_t us, char *err, size_t errlen)
{
	uint64_t end = clock__mono_us() + us, now;
	struct pollfd p = { .fd = dirty_log__harvest_fd(d), .events = POLLIN };
	int ret;

	if (!d->ring) {
		usleep((useconds_t)(us < 1000000 ? us : 1000000));
		return 0;
	}
	while ((now = clock__mono_us()) < end) {
		uint64_t left_ms = (end - now + 999) / 1000;

		ret = poll(&p, 1, left_ms > 1000 ? 1000 : (int)left_ms);
		if (ret > 0 && dirty_log__harvest_wanted(d)) {
			ret = dirty_log__harvest(d, err, errlen);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int dirty_log__vcpu_dirtied(struct dirty_log *d, uint64_t *pages, unsigned int n, char *err,
			    size_t errlen)
{
	unsigned int i;
	int ret;

	if (!d->ring)
		return errmsg__fail(-EOPNOTSUPP, err, errlen, "per-vCPU dirty counts need the "
				    "dirty ring (--dirty-ring)");
	if (n > d->vm->nr_cpus)
		n = d->vm->nr_cpus;
	pthread_mutex_lock(&d->ring_lock);
	ret = harvest_locked(d, err, errlen);
	for (i = 0; !ret && i < n; i++) {
		pages[i] = d->vcpu_pages[i] - d->vcpu_at_call[i];
		d->vcpu_at_call[i] = d->vcpu_pages[i];
	}
	pthread_mutex_unlock(&d->ring_lock);
	return ret ? ret : (int)n;
}
