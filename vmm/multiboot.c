#include "multiboot.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "guest_memory.h"

#define MB_FLAG_PAGE_ALIGN (1U << 0)
#define MB_FLAG_MEMINFO (1U << 1)
#define MB_FLAG_VIDEO (1U << 2)
#define MB_FLAG_AOUT_KLUDGE (1U << 16)
/* Bits 0-15 are requirements: a loader that cannot meet one must refuse. */
#define MB_FLAGS_UNDERSTOOD (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO)

#define MBI_FLAG_MEM (1U << 0)
#define MBI_FLAG_CMDLINE (1U << 2)
#define MBI_FLAG_MODS (1U << 3)
#define MBI_FLAG_MMAP (1U << 6)
#define MBI_FLAG_LOADER_NAME (1U << 9)

#define MBI_SIZE 128
#define MBI_MMAP_ADDR (MULTIBOOT_INFO_ADDR + MBI_SIZE)
#define MBI_MMAP_MAX 8
#define MBI_MMAP_ENTRY 24
#define MBI_MODS_ADDR (MBI_MMAP_ADDR + MBI_MMAP_MAX * MBI_MMAP_ENTRY)
#define MBI_MOD_ENTRY 16
#define MBI_STRINGS_ADDR (MBI_MODS_ADDR + MULTIBOOT_MAX_MODULES * MBI_MOD_ENTRY)

#define LOW_MEM_END 0x9fc00
#define BIOS_AREA 0xf0000
#define ONE_MIB 0x100000ULL

static int find_header(const uint8_t *file, size_t len, struct mb_image *img,
		       char *err, size_t errlen)
{
	size_t limit = len < MULTIBOOT_SEARCH_LEN ? len : MULTIBOOT_SEARCH_LEN;
	size_t off;

	for (off = 0; off + 12 <= limit; off += 4) {
		uint32_t h[3];

		memcpy(h, file + off, sizeof(h));
		if (h[0] != MULTIBOOT_HEADER_MAGIC)
			continue;
		if ((uint32_t)(h[0] + h[1] + h[2]) != 0) {
			snprintf(err, errlen, "multiboot header at offset %zu has a bad checksum "
				 "(magic+flags+checksum = 0x%08x, must be 0)", off,
				 (uint32_t)(h[0] + h[1] + h[2]));
			return -EINVAL;
		}
		if (h[1] & 0xffff & ~MB_FLAGS_UNDERSTOOD) {
			snprintf(err, errlen, "multiboot header requires features this loader "
				 "does not provide (flag bits 0x%04x)", h[1] & 0xffff & ~MB_FLAGS_UNDERSTOOD);
			return -ENOTSUP;
		}
		img->header_flags = h[1];
		return 0;
	}
	snprintf(err, errlen, "no multiboot header (magic 0x%08x) in the first %d bytes",
		 MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH_LEN);
	return -EINVAL;
}

static int check_elf_header(const uint8_t *file, size_t len, Elf32_Ehdr *eh,
			    char *err, size_t errlen)
{
	if (len < EI_NIDENT || memcmp(file, ELFMAG, SELFMAG)) {
		snprintf(err, errlen, "not an ELF file");
		return -EINVAL;
	}
	if (file[EI_CLASS] == ELFCLASS64) {
		snprintf(err, errlen, "64-bit ELF: multiboot v1 needs ELF32 (convert with objcopy -O elf32-i386)");
		return -EINVAL;
	}
	if (file[EI_CLASS] != ELFCLASS32 || file[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "not a little-endian ELF32 file");
		return -EINVAL;
	}
	if (len < sizeof(*eh)) {
		snprintf(err, errlen, "truncated file: %zu bytes, shorter than an ELF header", len);
		return -EINVAL;
	}
	memcpy(eh, file, sizeof(*eh));
	if (eh->e_machine != EM_386 || eh->e_type != ET_EXEC) {
		snprintf(err, errlen, "not an i386 executable (e_machine %u, e_type %u)",
			 eh->e_machine, eh->e_type);
		return -EINVAL;
	}
	if (eh->e_phentsize != sizeof(Elf32_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64) {
		snprintf(err, errlen, "bad program header table (entry size %u, %u entries)",
			 eh->e_phentsize, eh->e_phnum);
		return -EINVAL;
	}
	if (eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf32_Phdr) > len - eh->e_phoff) {
		snprintf(err, errlen, "truncated file: program headers end past the file's %zu bytes", len);
		return -EINVAL;
	}
	return 0;
}

static int add_segment(const Elf32_Phdr *ph, size_t len, uint64_t low_ram,
		       struct mb_image *img, char *err, size_t errlen)
{
	struct mb_segment *s;
	uint64_t end = (uint64_t)ph->p_paddr + ph->p_memsz;

	if (img->nr_segments == MULTIBOOT_MAX_SEGMENTS) {
		snprintf(err, errlen, "more than %d loadable segments", MULTIBOOT_MAX_SEGMENTS);
		return -EINVAL;
	}
	if (ph->p_filesz > ph->p_memsz) {
		snprintf(err, errlen, "segment at 0x%x: file size larger than memory size", ph->p_paddr);
		return -EINVAL;
	}
	if ((uint64_t)ph->p_offset + ph->p_filesz > len) {
		snprintf(err, errlen, "truncated file: segment at 0x%x needs bytes up to %llu, file has %zu",
			 ph->p_paddr, (unsigned long long)ph->p_offset + ph->p_filesz, len);
		return -EINVAL;
	}
	if (ph->p_paddr < MULTIBOOT_INFO_END) {
		snprintf(err, errlen, "segment at 0x%x overlaps low memory the loader uses (below 0x%x)",
			 ph->p_paddr, MULTIBOOT_INFO_END);
		return -EINVAL;
	}
	if (end > low_ram) {
		snprintf(err, errlen, "segment 0x%x-0x%llx lies outside guest RAM (0-0x%llx)",
			 ph->p_paddr, (unsigned long long)end, (unsigned long long)low_ram);
		return -EINVAL;
	}
	s = &img->segments[img->nr_segments++];
	s->paddr = ph->p_paddr;
	s->file_offset = ph->p_offset;
	s->file_size = ph->p_filesz;
	s->mem_size = ph->p_memsz;
	if (end > img->image_end)
		img->image_end = end;
	return 0;
}

int multiboot__parse(const uint8_t *file, size_t len, uint64_t low_ram,
		     struct mb_image *img, char *err, size_t errlen)
{
	Elf32_Ehdr eh;
	bool entry_ok = false;
	unsigned int i;
	int ret;

	memset(img, 0, sizeof(*img));
	ret = check_elf_header(file, len, &eh, err, errlen);
	if (!ret)
		ret = find_header(file, len, img, err, errlen);
	if (ret)
		return ret;
	img->entry = eh.e_entry;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		ret = add_segment(&ph, len, low_ram, img, err, errlen);
		if (ret)
			return ret;
		/* As QEMU does: an entry given as a virtual address is turned
		 * into the physical one of the segment holding it. */
		if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			img->entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
			entry_ok = true;
		}
	}
	if (!img->nr_segments) {
		snprintf(err, errlen, "no loadable segment");
		return -EINVAL;
	}
	if (!entry_ok) {
		snprintf(err, errlen, "entry point 0x%x is not inside any loaded segment", eh.e_entry);
		return -EINVAL;
	}
	return 0;
}

struct info_writer {
	struct guest_memory *mem;
	uint32_t strings;		/* next free byte in the string area */
};

static int put_string(struct info_writer *w, const char *s, uint32_t *addr)
{
	size_t n = strlen(s) + 1;

	if (n > MULTIBOOT_INFO_END - w->strings)
		return -ENOSPC;
	*addr = w->strings;
	w->strings += n;
	return guest_memory__write(w->mem, *addr, s, n);
}

static void put_mmap(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	uint32_t size = 20;

	memcpy(p, &size, 4);
	memcpy(p + 4, &base, 8);
	memcpy(p + 12, &len, 8);
	memcpy(p + 20, &type, 4);
}

static uint32_t build_mmap(struct guest_memory *mem, uint8_t *buf)
{
	uint64_t low_end = mem->slots[0].size;
	unsigned int n = 0;

	put_mmap(buf + n++ * MBI_MMAP_ENTRY, 0, LOW_MEM_END, 1);
	put_mmap(buf + n++ * MBI_MMAP_ENTRY, LOW_MEM_END, 0xa0000 - LOW_MEM_END, 2);
	put_mmap(buf + n++ * MBI_MMAP_ENTRY, BIOS_AREA, ONE_MIB - BIOS_AREA, 2);
	put_mmap(buf + n++ * MBI_MMAP_ENTRY, ONE_MIB, low_end - ONE_MIB, 1);
	if (mem->nr_slots > 1)
		put_mmap(buf + n++ * MBI_MMAP_ENTRY, mem->slots[1].gpa, mem->slots[1].size, 1);
	return n * MBI_MMAP_ENTRY;
}

static int load_modules(struct info_writer *w, const struct mb_image *img,
			const struct mb_module *mods, unsigned int nr_mods,
			char *err, size_t errlen)
{
	uint64_t next = (img->image_end + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1);
	uint64_t low_end = w->mem->slots[0].size;
	unsigned int i;

	if (nr_mods > MULTIBOOT_MAX_MODULES) {
		snprintf(err, errlen, "%u modules given, at most %d", nr_mods, MULTIBOOT_MAX_MODULES);
		return -EINVAL;
	}
	for (i = 0; i < nr_mods; i++) {
		uint32_t entry[4] = { 0 };

		if (mods[i].size > low_end || next > low_end - mods[i].size) {
			snprintf(err, errlen, "module %s (%zu bytes) does not fit in guest RAM below 0x%llx",
				 mods[i].name, mods[i].size, (unsigned long long)low_end);
			return -ENOSPC;
		}
		guest_memory__write(w->mem, next, mods[i].data, mods[i].size);
		entry[0] = (uint32_t)next;
		entry[1] = (uint32_t)(next + mods[i].size);
		if (put_string(w, mods[i].name, &entry[2])) {
			snprintf(err, errlen, "module names do not fit in the boot information area");
			return -ENOSPC;
		}
		guest_memory__write(w->mem, MBI_MODS_ADDR + i * MBI_MOD_ENTRY, entry, sizeof(entry));
		next = (next + mods[i].size + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1);
	}
	return 0;
}

int multiboot__load(struct guest_memory *mem, const uint8_t *file,
		    const struct mb_image *img, const char *cmdline,
		    const struct mb_module *mods, unsigned int nr_mods,
		    char *err, size_t errlen)
{
	struct info_writer w = { .mem = mem, .strings = MBI_STRINGS_ADDR };
	uint8_t mmap[MBI_MMAP_MAX * MBI_MMAP_ENTRY];
	uint32_t info[MBI_SIZE / 4] = { 0 };
	unsigned int i;
	int ret;

	if (strlen(cmdline) >= MULTIBOOT_CMDLINE_MAX) {
		snprintf(err, errlen, "guest command line is %zu bytes, at most %d",
			 strlen(cmdline), MULTIBOOT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	for (i = 0; i < img->nr_segments; i++) {
		const struct mb_segment *s = &img->segments[i];
		uint8_t *dst = guest_memory__hva(mem, s->paddr, s->mem_size);

		if (!dst) {
			snprintf(err, errlen, "segment at 0x%llx is outside guest RAM",
				 (unsigned long long)s->paddr);
			return -EFAULT;
		}
		guest_memory__write(mem, s->paddr, file + s->file_offset, s->file_size);
		memset(dst + s->file_size, 0, s->mem_size - s->file_size);
	}

	info[0] = MBI_FLAG_MEM | MBI_FLAG_CMDLINE | MBI_FLAG_MMAP | MBI_FLAG_LOADER_NAME;
	info[1] = LOW_MEM_END / 1024;
	info[2] = (uint32_t)((mem->slots[0].size - ONE_MIB) / 1024);
	info[11] = build_mmap(mem, mmap);
	info[12] = MBI_MMAP_ADDR;
	guest_memory__write(mem, MBI_MMAP_ADDR, mmap, info[11]);
	ret = put_string(&w, "vmm " VMM_VERSION, &info[16]);
	if (!ret)
		ret = put_string(&w, cmdline, &info[4]);
	if (ret) {
		snprintf(err, errlen, "the command line does not fit in the boot information area");
		return ret;
	}
	if (nr_mods) {
		ret = load_modules(&w, img, mods, nr_mods, err, errlen);
		if (ret)
			return ret;
		info[0] |= MBI_FLAG_MODS;
		info[5] = nr_mods;
		info[6] = MBI_MODS_ADDR;
	}
	return guest_memory__write(mem, MULTIBOOT_INFO_ADDR, info, sizeof(info));
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

int multiboot__setup_bsp(int vcpu_fd, const struct mb_image *img, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = img->entry,
		.rax = MULTIBOOT_BOOT_MAGIC,
		.rbx = MULTIBOOT_INFO_ADDR,
		.rflags = 0x2,
	};

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs)) {
		snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
		return -errno;
	}
	flat_segment(&sregs.cs, 0x10, 0xb);
	flat_segment(&sregs.ds, 0x18, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	/* VM entry checks want a usable busy TSS and LDT even in a guest that
	 * never loads one. */
	sregs.tr = (struct kvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	sregs.cr0 = 0x11;	/* PE | ET: protected mode, paging off */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) || ioctl(vcpu_fd, KVM_SET_REGS, &regs)) {
		snprintf(err, errlen, "setting the boot vCPU's registers: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
