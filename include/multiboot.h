/* Multiboot v1 loader for ELF32 images, compatible with what QEMU's -kernel
 * does: the guest starts in 32-bit protected mode with EAX = 0x2BADB002 and
 * EBX = the multiboot information structure.
 *
 * Low memory layout the loader uses (guests must leave it alone until they
 * have copied what they need):
 *   0x9000 - 0xffff   multiboot info, memory map, module list, strings
 *   image             at the ELF segments' physical addresses (>= 1 MiB)
 *   modules           page aligned, after the image's highest byte
 */
#ifndef VMM__MULTIBOOT_H
#define VMM__MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC 0x1BADB002
#define MULTIBOOT_BOOT_MAGIC 0x2BADB002
#define MULTIBOOT_SEARCH_LEN 8192
#define MULTIBOOT_INFO_ADDR 0x9000
#define MULTIBOOT_INFO_END 0x10000
#define MULTIBOOT_MAX_SEGMENTS 16
#define MULTIBOOT_MAX_MODULES 16
#define MULTIBOOT_CMDLINE_MAX 4096

struct mb_segment {
	uint64_t paddr;
	uint64_t file_offset;
	uint64_t file_size;
	uint64_t mem_size;
};

struct mb_image {
	uint32_t entry;
	uint32_t header_flags;
	unsigned int nr_segments;
	struct mb_segment segments[MULTIBOOT_MAX_SEGMENTS];
	uint64_t image_end;		/* highest byte + 1 of any segment */
};

struct mb_module {
	const char *name;		/* shown to the guest as the module's string */
	const uint8_t *data;
	size_t size;
};

/* Validates an image in memory (pure: no KVM, no guest memory). low_ram is
 * the RAM below the PCI hole; every segment must fit inside it and stay
 * clear of the loader's info area. */
int multiboot__parse(const uint8_t *file, size_t len, uint64_t low_ram,
		     struct mb_image *img, char *err, size_t errlen);

struct guest_memory;
/* Copies the segments and modules into guest RAM and builds the info
 * structure with the memory map and command line. */
int multiboot__load(struct guest_memory *mem, const uint8_t *file,
		    const struct mb_image *img, const char *cmdline,
		    const struct mb_module *mods, unsigned int nr_mods,
		    char *err, size_t errlen);

/* Sets up the boot vCPU's registers for the multiboot entry. */
int multiboot__setup_bsp(int vcpu_fd, const struct mb_image *img, char *err, size_t errlen);

#endif
