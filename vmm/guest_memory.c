#include "guest_memory.h"
#include "fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#define THP_ALIGN (2ULL << 20)

int guest_memory__layout(struct guest_memory *mem, uint64_t ram_size)
{
	uint64_t low;

	if (ram_size < GUEST_RAM_MIN || ram_size > GUEST_RAM_MAX ||
	    ram_size % GUEST_PAGE_SIZE)
		return -EINVAL;
	memset(mem->slots, 0, sizeof(mem->slots));
	mem->size = ram_size;
	low = ram_size < GUEST_PCI_HOLE_START ? ram_size : GUEST_PCI_HOLE_START;
	mem->slots[0] = (struct guest_mem_slot){ .id = 0, .gpa = 0, .size = low };
	mem->nr_slots = 1;
	if (ram_size > low) {
		mem->slots[1] = (struct guest_mem_slot){
			.id = 1, .gpa = GUEST_HIGH_RAM_START,
			.size = ram_size - low, .ram_offset = low,
		};
		mem->nr_slots = 2;
	}
	return 0;
}

static int set_slot(int vm_fd, const struct guest_mem_slot *s, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = s->id,
		.flags = flags,
		.guest_phys_addr = s->gpa,
		.memory_size = s->size,
		.userspace_addr = (uintptr_t)s->hva,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

/* Linux 5.14's; older headers lack the name. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int guest_memory__populate(struct guest_memory *mem, char *err, size_t errlen)
{
	uint64_t off;
	volatile uint8_t *p;

	if (!madvise(mem->base, mem->size, MADV_POPULATE_WRITE))
		return 0;
	if (errno != EINVAL) {
		int ret = -errno;

		snprintf(err, errlen, "cannot preallocate %llu MiB of guest RAM: %s",
			 (unsigned long long)(mem->size >> 20), strerror(-ret));
		return ret;
	}
	/* A kernel before 5.14: a write to every page does the same (fresh
	 * anonymous memory reads as zero, so writing zero changes nothing). */
	p = mem->base;
	for (off = 0; off < mem->size; off += GUEST_PAGE_SIZE)
		p[off] = 0;
	return 0;
}

int guest_memory__map(struct guest_memory *mem, uint64_t ram_size, bool prealloc,
		      char *err, size_t errlen)
{
	unsigned int i;
	uintptr_t aligned;
	int ret;

	memset(mem, 0, sizeof(*mem));
	if (guest_memory__layout(mem, ram_size)) {
		snprintf(err, errlen, "RAM size %llu is not a multiple of 4 KiB between 2 MiB and 1 TiB",
			 (unsigned long long)ram_size);
		return -EINVAL;
	}
	/* Over-map by 2 MiB so the RAM can start on a huge-page boundary:
	 * THP only backs aligned 2 MiB extents. */
	mem->map_len = ram_size + THP_ALIGN;
	mem->map_addr = mmap(NULL, mem->map_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem->map_addr == MAP_FAILED) {
		ret = -errno;
		mem->map_addr = NULL;
		snprintf(err, errlen, "cannot map %llu MiB of guest RAM: %s",
			 (unsigned long long)(ram_size >> 20), strerror(-ret));
		return ret;
	}
	aligned = ((uintptr_t)mem->map_addr + THP_ALIGN - 1) & ~(uintptr_t)(THP_ALIGN - 1);
	mem->base = (uint8_t *)aligned;
	/* Advisory: without THP the guest runs, only slower. */
	madvise(mem->base, ram_size, MADV_HUGEPAGE);
	for (i = 0; i < mem->nr_slots; i++)
		mem->slots[i].hva = mem->base + mem->slots[i].ram_offset;
	mem->vmm_dirty = calloc((ram_size / GUEST_PAGE_SIZE + 63) / 64, sizeof(uint64_t));
	if (!mem->vmm_dirty) {
		snprintf(err, errlen, "out of memory for the dirty bitmap");
		ret = -ENOMEM;
		goto err;
	}
	if (prealloc) {
		ret = guest_memory__populate(mem, err, errlen);
		if (ret)
			goto err;
	}
	return 0;

err:
	guest_memory__destroy(mem);
	return ret;
}

int guest_memory__register(struct guest_memory *mem, int vm_fd, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	for (i = 0; i < mem->nr_slots; i++) {
		ret = set_slot(vm_fd, &mem->slots[i], 0);
		if (ret) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION slot %u: %s",
				 i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void guest_memory__destroy(struct guest_memory *mem)
{
	if (mem->map_addr)
		munmap(mem->map_addr, mem->map_len);
	free(mem->vmm_dirty);
	memset(mem, 0, sizeof(*mem));
}

uint64_t guest_memory__page_gpa(const struct guest_memory *mem, uint64_t page)
{
	uint64_t off = page * GUEST_PAGE_SIZE;
	unsigned int i;

	if (page >= mem->size / GUEST_PAGE_SIZE)
		return GUEST_NO_PAGE;
	for (i = 0; i < mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &mem->slots[i];

		if (off >= s->ram_offset && off - s->ram_offset < s->size)
			return s->gpa + (off - s->ram_offset);
	}
	return GUEST_NO_PAGE;
}

uint64_t guest_memory__gpa_page(const struct guest_memory *mem, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &mem->slots[i];

		if (gpa >= s->gpa && gpa - s->gpa < s->size)
			return (s->ram_offset + (gpa - s->gpa)) / GUEST_PAGE_SIZE;
	}
	return GUEST_NO_PAGE;
}

uint8_t *guest_memory__page_hva(const struct guest_memory *mem, uint64_t page)
{
	if (page >= mem->size / GUEST_PAGE_SIZE)
		return NULL;
	return mem->base + page * GUEST_PAGE_SIZE;
}

void *guest_memory__hva(struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nr_slots; i++) {
		const struct guest_mem_slot *s = &mem->slots[i];

		if (gpa >= s->gpa && len <= s->size && gpa - s->gpa <= s->size - len)
			return s->hva + (gpa - s->gpa);
	}
	return NULL;
}

static void mark_hva(struct guest_memory *mem, const uint8_t *hva, uint64_t len)
{
	uint64_t first = (uint64_t)(hva - mem->base) / GUEST_PAGE_SIZE;
	uint64_t last = ((uint64_t)(hva - mem->base) + len - 1) / GUEST_PAGE_SIZE;
	uint64_t p;

	for (p = first; p <= last; p++)
		__atomic_fetch_or(&mem->vmm_dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

int guest_memory__write(struct guest_memory *mem, uint64_t gpa, const void *src,
			uint64_t len)
{
	uint8_t *dst = guest_memory__hva(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	if (!len)
		return 0;
	memcpy(dst, src, len);
	mark_hva(mem, dst, len);
	return 0;
}

int guest_memory__mark(struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	uint8_t *hva = guest_memory__hva(mem, gpa, len);

	if (!hva)
		return -EFAULT;
	if (len)
		mark_hva(mem, hva, len);
	return 0;
}

int guest_memory__set_dirty_logging(struct guest_memory *mem, int vm_fd, bool on,
				    uint32_t extra_flags)
{
	unsigned int i;
	int ret;

	for (i = 0; i < mem->nr_slots; i++) {
		ret = set_slot(vm_fd, &mem->slots[i],
			       on ? KVM_MEM_LOG_DIRTY_PAGES | extra_flags : 0);
		if (ret)
			return ret;
	}
	mem->dirty_logging = on;
	return 0;
}

/* The process's own pagemap, opened once (see the header). */
static pthread_once_t pagemap_once = PTHREAD_ONCE_INIT;
static int pagemap_fd = -1;
static int pagemap_errno;

static void open_pagemap(void)
{
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0)
		pagemap_errno = errno;
}

int guest_memory__pagemap_open(char *err, size_t errlen)
{
	pthread_once(&pagemap_once, open_pagemap);
	if (pagemap_fd >= 0)
		return 0;
	snprintf(err, errlen, "cannot open /proc/self/pagemap: %s", strerror(pagemap_errno));
	return -pagemap_errno;
}

/* Entries read per pread: 32 KiB of pagemap, 128 MiB of RAM. */
#define PAGEMAP_CHUNK 4096
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)

static int read_pagemap(const struct guest_memory *mem, uint64_t first, uint64_t n,
			uint64_t *entries, char *err, size_t errlen)
{
	uintptr_t vpage = (uintptr_t)(mem->base + first * GUEST_PAGE_SIZE) / GUEST_PAGE_SIZE;
	int ret = fd__pread_all(pagemap_fd, entries, n * sizeof(uint64_t),
				vpage * sizeof(uint64_t));

	if (ret)
		snprintf(err, errlen, "reading /proc/self/pagemap: %s", strerror(-ret));
	return ret;
}

int guest_memory__populated(const struct guest_memory *mem, uint64_t *bits,
			    char *err, size_t errlen)
{
	uint64_t nr_pages = mem->size / GUEST_PAGE_SIZE, first, n, i;
	uint64_t *entries;
	int ret;

	ret = guest_memory__pagemap_open(err, errlen);
	if (ret)
		return ret;
	entries = malloc(PAGEMAP_CHUNK * sizeof(uint64_t));
	if (!entries) {
		snprintf(err, errlen, "out of memory for pagemap entries");
		return -ENOMEM;
	}
	memset(bits, 0, (nr_pages + 63) / 64 * sizeof(uint64_t));
	for (first = 0; first < nr_pages; first += n) {
		n = nr_pages - first < PAGEMAP_CHUNK ? nr_pages - first : PAGEMAP_CHUNK;
		ret = read_pagemap(mem, first, n, entries, err, errlen);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			if (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
				bits[(first + i) / 64] |= 1ULL << ((first + i) % 64);
	}
	free(entries);
	return ret;
}
