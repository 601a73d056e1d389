/* Ring-0 start on the BSP: read what the multiboot loader gave us, map all
 * usable RAM, allocate per-CPU stacks, then leave for ring 3. Every loop
 * here runs at emulation speed on some hosts: keep them short.
 */
#include "kit.h"
#include "kit_priv.h"

#define MB_BOOT_MAGIC		0x2BADB002
#define MB_INFO_MEM		(1u << 0)
#define MB_INFO_CMDLINE		(1u << 2)
#define MB_INFO_MODS		(1u << 3)
#define MB_INFO_MMAP		(1u << 6)
#define MB_INFO_DRIVES		(1u << 7)
#define MB_INFO_LOADER_NAME	(1u << 9)
#define MB_MMAP_USABLE		1

#define FW_CFG_PORT_SEL		0x510
#define FW_CFG_PORT_DATA	0x511
#define FW_CFG_SIGNATURE	0x0000
#define FW_CFG_RAM_SIZE		0x0003
#define FW_CFG_NB_CPUS		0x0005

#define PTE_P			(1ULL << 0)
#define PTE_W			(1ULL << 1)
#define PTE_U			(1ULL << 2)
#define PTE_PWT			(1ULL << 3)
#define PTE_PCD			(1ULL << 4)
#define PTE_PS			(1ULL << 7)
#define SZ_2M			(2ULL << 20)
#define SZ_1G			(1ULL << 30)
#define MAX_RAM_TOP		(512ULL * SZ_1G)	/* one PDPT */

#define KSTACK_SIZE		(16 * 1024)
#define ISTACK_SIZE		(4 * 1024)
#define USTACK_SIZE		(64 * 1024)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

struct mb_mod {
	uint32_t start, end, string, reserved;
} __attribute__((packed));

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

struct kit_boot_info kit_boot;
uint64_t kit_kstack_top[KIT_MAX_CPUS];
uint64_t kit_ustack_top[KIT_MAX_CPUS];
uint64_t kit_istack_top[KIT_MAX_CPUS];

static uint64_t alloc_next, alloc_limit;

__attribute__((noreturn)) void kit_fail_r0(const char *msg)
{
	kit_serial_lock(true);
	kit_printf_locked("kit: %s\n", msg);
	kit_serial_unlock();
	kit__exit(KIT_EXIT_KIT);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t str_end(uint32_t addr)
{
	const char *s = (const char *)(uintptr_t)addr;

	return addr + strlen(s) + 1;
}

static void add_range(uint64_t start, uint64_t end)
{
	struct kit_boot_info *b = &kit_boot;

	start = align_up(start, KIT_PAGE_SIZE);
	end &= ~(KIT_PAGE_SIZE - 1);
	if (end > MAX_RAM_TOP)
		end = MAX_RAM_TOP;
	if (start >= end)
		return;
	if (b->nranges == KIT_MAX_RANGES)
		kit_fail_r0("too many usable memory ranges in the mmap");
	b->ranges[b->nranges].start = start;
	b->ranges[b->nranges].end = end;
	b->nranges++;
	b->ram_bytes += end - start;
	b->ram_top = max_u64(b->ram_top, end);
}

/* Returns the end of the mmap so the allocator can start past it. */
static uint64_t read_mmap(const struct mb_info *mbi)
{
	uint64_t p, end;

	if (!(mbi->flags & MB_INFO_MMAP)) {
		if (!(mbi->flags & MB_INFO_MEM))
			kit_fail_r0("the loader gave neither an mmap nor mem_upper");
		add_range(0, (uint64_t)mbi->mem_lower << 10);
		add_range(1 << 20, (1 << 20) + ((uint64_t)mbi->mem_upper << 10));
		return 0;
	}
	p = mbi->mmap_addr;
	end = p + mbi->mmap_length;
	while (p + sizeof(struct mb_mmap) <= end) {
		const struct mb_mmap *e = (const void *)(uintptr_t)p;

		if (e->size < 20)
			kit_fail_r0("corrupt multiboot mmap entry");
		if (e->type == MB_MMAP_USABLE && e->len)
			add_range(e->addr, e->addr + e->len);
		p += e->size + 4;
	}
	return end;
}

/* The loader may put the command line, module list and modules right after
 * the image: the first free byte is past all of them. */
static uint64_t loader_data_end(const struct mb_info *mbi)
{
	uint64_t end = (uintptr_t)kit_image_end;
	const struct mb_mod *mods;
	uint32_t i;

	end = max_u64(end, (uintptr_t)mbi + sizeof(*mbi));
	if (mbi->flags & MB_INFO_CMDLINE)
		end = max_u64(end, str_end(mbi->cmdline));
	if (mbi->flags & MB_INFO_LOADER_NAME)
		end = max_u64(end, str_end(mbi->boot_loader_name));
	if (mbi->flags & MB_INFO_DRIVES)
		end = max_u64(end, (uint64_t)mbi->drives_addr + mbi->drives_length);
	if (mbi->flags & MB_INFO_MODS) {
		mods = (const void *)(uintptr_t)mbi->mods_addr;
		end = max_u64(end, mbi->mods_addr +
			      (uint64_t)mbi->mods_count * sizeof(*mods));
		for (i = 0; i < mbi->mods_count; i++) {
			end = max_u64(end, mods[i].end);
			if (mods[i].string)
				end = max_u64(end, str_end(mods[i].string));
		}
	}
	return end;
}

/* Kept for the workloads: the list itself may be overwritten later. */
static void copy_modules(const struct mb_info *mbi)
{
	const struct mb_mod *mods = (const void *)(uintptr_t)mbi->mods_addr;
	uint32_t i;

	if (!(mbi->flags & MB_INFO_MODS))
		return;
	for (i = 0; i < mbi->mods_count && i < KIT_MAX_MODULES; i++) {
		struct kit_module *m = &kit_boot.modules[i];
		const char *name = (const char *)(uintptr_t)mods[i].string;
		size_t n = name ? strlen(name) : 0;

		if (n >= sizeof(m->name))
			n = sizeof(m->name) - 1;
		m->start = mods[i].start;
		m->end = mods[i].end;
		memcpy(m->name, name ? name : "", n);
		m->name[n] = '\0';
	}
	kit_boot.nr_modules = i;
}

static void copy_cmdline(const struct mb_info *mbi)
{
	const char *s;
	size_t n;

	if (!(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline)
		return;
	s = (const char *)(uintptr_t)mbi->cmdline;
	n = strlen(s);
	if (n >= KIT_CMDLINE_MAX) {
		kit_boot.cmdline_too_long = true;
		return;
	}
	memcpy(kit_boot.cmdline, s, n + 1);
}

static void fw_cfg_read(uint16_t key, void *buf, unsigned int len)
{
	uint8_t *p = buf;

	outw(FW_CFG_PORT_SEL, key);
	while (len--)
		*p++ = inb(FW_CFG_PORT_DATA);
}

static void read_fw_cfg(void)
{
	char sig[4];
	uint16_t n = 1;
	uint64_t ram = 0;

	fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
	kit_boot.ncpus = 1;
	if (memcmp(sig, "QEMU", 4))
		return;
	kit_boot.has_fw_cfg = true;
	fw_cfg_read(FW_CFG_NB_CPUS, &n, 2);
	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, 8);
	if (n > KIT_MAX_CPUS)
		kit_fail_r0("more CPUs than the kit supports (64)");
	kit_boot.ncpus = n ? n : 1;
	if (ram)
		kit_boot.ram_bytes = ram;
}

/* Finds the usable range holding addr: allocations must stay inside it. */
static uint64_t range_end_of(uint64_t addr)
{
	unsigned int i;

	for (i = 0; i < kit_boot.nranges; i++)
		if (addr >= kit_boot.ranges[i].start &&
		    addr < kit_boot.ranges[i].end)
			return kit_boot.ranges[i].end;
	return 0;
}

static uint64_t alloc_bytes(uint64_t size)
{
	uint64_t p = alloc_next;

	if (p + size > alloc_limit || p + size < p)
		kit_fail_r0("no free RAM after the image for the kit's tables");
	alloc_next = align_up(p + size, KIT_PAGE_SIZE);
	return p;
}

/* PDs are made only for GiBs that hold something: each costs 512 stores. */
static uint64_t *pds[512];

static uint64_t *pd_for(uint64_t addr)
{
	unsigned int g = (unsigned int)(addr >> 30), i;
	uint64_t *pd = pds[g];

	if (pd)
		return pd;
	pd = (uint64_t *)(uintptr_t)alloc_bytes(KIT_PAGE_SIZE);
	for (i = 0; i < 512; i++)
		pd[i] = 0;
	pds[g] = pd;
	return pd;
}

static void map_2m(uint64_t a, uint64_t flags)
{
	pd_for(a)[(a >> 21) & 511] = a | flags;
}

/* 2 MiB pages over every usable range, user-accessible so ring-3 tests can
 * touch all RAM, plus the LAPIC and vmm's test device uncached for ring 0
 * (today both sit in one 2 MiB page), and the rest of the PCI hole's
 * KIT_PCI_MMIO_START..4 GiB uncached for ring 0, where BARs live. */
static void map_ram(void)
{
	const uint64_t ram = PTE_P | PTE_W | PTE_U | PTE_PS;
	unsigned int g, i, ngib;
	uint64_t a, *pd;

	for (i = 0; i < kit_boot.nranges; i++) {
		a = kit_boot.ranges[i].start & ~(SZ_2M - 1);
		for (; a < kit_boot.ranges[i].end; a += SZ_2M)
			map_2m(a, ram);
	}
	/* Low memory holds the AP trampoline and the loader's info. */
	map_2m(0, ram);
	map_2m(KIT_LAPIC_BASE & ~(SZ_2M - 1),
	       PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT);
	map_2m(KIT_TESTDEV_BASE & ~(SZ_2M - 1),
	       PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT);
	for (a = KIT_PCI_MMIO_START; a < (4ULL << 30); a += SZ_2M) {
		pd = pd_for(a);
		if (!pd[(a >> 21) & 511])
			map_2m(a, PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT);
	}
	/* Each PD is complete before the PDPT points at it, so the image stays
	 * mapped throughout; the CR3 write then drops stale TLB entries. */
	ngib = (unsigned int)(align_up(max_u64(kit_boot.ram_top, max_u64(KIT_LAPIC_BASE,
					 KIT_TESTDEV_BASE) + 1), SZ_1G) >> 30);
	for (g = 0; g < ngib; g++)
		if (pds[g])
			kit_pdpt[g] = (uintptr_t)pds[g] | PTE_P | PTE_W | PTE_U;
	__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
}

static void alloc_stacks(void)
{
	unsigned int c;

	for (c = 0; c < kit_boot.ncpus; c++) {
		kit_kstack_top[c] = alloc_bytes(KSTACK_SIZE) + KSTACK_SIZE;
		kit_istack_top[c] = alloc_bytes(ISTACK_SIZE) + ISTACK_SIZE;
		kit_ustack_top[c] = alloc_bytes(USTACK_SIZE) + USTACK_SIZE;
	}
}

/* The workload gets the largest usable stretch past everything in use. */
static void pick_workload_region(void)
{
	uint64_t s, e, best = 0;
	unsigned int i;

	for (i = 0; i < kit_boot.nranges; i++) {
		s = max_u64(kit_boot.ranges[i].start, alloc_next);
		e = kit_boot.ranges[i].end;
		if (e > s && e - s > best) {
			best = e - s;
			kit_boot.mem_start = s;
			kit_boot.mem_end = e;
		}
	}
}

void kit_boot_bsp(uint32_t magic, uint32_t mbi_addr)
{
	const struct mb_info *mbi = (const void *)(uintptr_t)mbi_addr;
	uint64_t end;
	uint32_t r[4];

	kit_serial_init();
	if (magic != MB_BOOT_MAGIC)
		kit_fail_r0("not started by a multiboot v1 loader (bad EAX)");
	copy_cmdline(mbi);
	copy_modules(mbi);
	end = max_u64(loader_data_end(mbi), read_mmap(mbi));
	if (!kit_boot.nranges)
		kit_fail_r0("no usable RAM in the mmap");
	alloc_next = align_up(end, KIT_PAGE_SIZE);
	alloc_limit = range_end_of(alloc_next);
	read_fw_cfg();
	map_ram();
	alloc_stacks();
	pick_workload_region();
	cpuid(1, 0, r);
	kit_boot.tsc_deadline = r[2] & (1u << 24);
	kit_cpu_tables_init();
	kit_cpu_init(0);
	kit_enter_user(0, kit_ustack_top[0], kit_user_entry);
}
