/* Multiboot/ELF validation against well-formed and malformed images. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "guest_memory.h"
#include "multiboot.h"

#define LOAD_ADDR 0x100000
#define IMG_SIZE 0x2000
#define LOW_RAM (64ULL << 20)

struct image {
	uint8_t b[IMG_SIZE];
};

/* A minimal valid image: ELF header, one PT_LOAD covering the whole file at
 * 1 MiB, a multiboot header at offset 0x100, entry at 0x100200. */
static void make_image(struct image *im)
{
	Elf32_Ehdr eh = {
		.e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
		.e_entry = LOAD_ADDR + 0x200, .e_phoff = sizeof(Elf32_Ehdr),
		.e_ehsize = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
		.e_phnum = 1,
	};
	Elf32_Phdr ph = {
		.p_type = PT_LOAD, .p_offset = 0, .p_vaddr = LOAD_ADDR, .p_paddr = LOAD_ADDR,
		.p_filesz = IMG_SIZE, .p_memsz = IMG_SIZE + 0x1000, .p_flags = PF_R | PF_X,
	};
	uint32_t mb[3] = { MULTIBOOT_HEADER_MAGIC, 3, 0 };

	memset(im, 0, sizeof(*im));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(im->b, &eh, sizeof(eh));
	memcpy(im->b + sizeof(eh), &ph, sizeof(ph));
	mb[2] = -(mb[0] + mb[1]);
	memcpy(im->b + 0x100, mb, sizeof(mb));
}

static Elf32_Phdr *phdr(struct image *im)
{
	return (Elf32_Phdr *)(im->b + sizeof(Elf32_Ehdr));
}

static int parse(struct image *im, size_t len, char *err)
{
	struct mb_image img;

	return multiboot__parse(im->b, len, LOW_RAM, &img, err, 256);
}

static void expect_error(struct image *im, size_t len, const char *needle)
{
	char err[256] = "";

	assert_int_not_equal(parse(im, len, err), 0);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_valid_image(void **state)
{
	struct image im;
	struct mb_image img;
	char err[256] = "";

	make_image(&im);
	assert_int_equal(multiboot__parse(im.b, sizeof(im.b), LOW_RAM, &img, err, sizeof(err)), 0);
	assert_int_equal(img.entry, LOAD_ADDR + 0x200);
	assert_int_equal(img.nr_segments, 1);
	assert_int_equal(img.image_end, LOAD_ADDR + IMG_SIZE + 0x1000);
	assert_int_equal(img.header_flags, 3);
}

static void test_not_elf(void **state)
{
	struct image im;

	make_image(&im);
	im.b[1] = 'X';
	expect_error(&im, sizeof(im.b), "not an ELF file");
	expect_error(&im, 3, "not an ELF file");
}

static void test_elf64_refused(void **state)
{
	struct image im;

	make_image(&im);
	im.b[EI_CLASS] = ELFCLASS64;
	expect_error(&im, sizeof(im.b), "elf32-i386");
}

static void test_wrong_machine(void **state)
{
	struct image im;

	make_image(&im);
	((Elf32_Ehdr *)im.b)->e_machine = EM_ARM;
	expect_error(&im, sizeof(im.b), "not an i386 executable");
}

static void test_no_multiboot_header(void **state)
{
	struct image im;

	make_image(&im);
	memset(im.b + 0x100, 0, 12);
	expect_error(&im, sizeof(im.b), "no multiboot header");
}

static void test_bad_checksum(void **state)
{
	struct image im;

	make_image(&im);
	im.b[0x108] ^= 1;
	expect_error(&im, sizeof(im.b), "bad checksum");
}

static void test_unsupported_flags(void **state)
{
	struct image im;
	uint32_t mb[3] = { MULTIBOOT_HEADER_MAGIC, 1u << 5, 0 };

	make_image(&im);
	mb[2] = -(mb[0] + mb[1]);
	memcpy(im.b + 0x100, mb, sizeof(mb));
	expect_error(&im, sizeof(im.b), "requires features");
}

static void test_truncated_everywhere(void **state)
{
	struct image im;
	size_t len;
	char err[256];

	/* Every prefix shorter than the segment's file bytes must be refused,
	 * never read past. */
	make_image(&im);
	for (len = 0; len < IMG_SIZE; len++)
		assert_int_not_equal(parse(&im, len, err), 0);
	expect_error(&im, IMG_SIZE - 1, "truncated");
}

static void test_segment_outside_ram(void **state)
{
	struct image im;

	make_image(&im);
	phdr(&im)->p_paddr = LOW_RAM - 0x1000;
	phdr(&im)->p_vaddr = LOW_RAM - 0x1000;
	expect_error(&im, sizeof(im.b), "outside guest RAM");
	phdr(&im)->p_paddr = 0xfffff000;	/* wraps past 4 GiB */
	expect_error(&im, sizeof(im.b), "outside guest RAM");
}

static void test_segment_in_loader_area(void **state)
{
	struct image im;

	make_image(&im);
	phdr(&im)->p_paddr = 0x9000;
	expect_error(&im, sizeof(im.b), "low memory");
}

static void test_filesz_gt_memsz(void **state)
{
	struct image im;

	make_image(&im);
	phdr(&im)->p_memsz = 16;
	expect_error(&im, sizeof(im.b), "file size larger");
}

static void test_entry_outside(void **state)
{
	struct image im;

	make_image(&im);
	((Elf32_Ehdr *)im.b)->e_entry = 0x500000;
	expect_error(&im, sizeof(im.b), "entry point");
}

static void test_bad_phdrs(void **state)
{
	struct image im;

	make_image(&im);
	((Elf32_Ehdr *)im.b)->e_phoff = IMG_SIZE - 8;
	expect_error(&im, sizeof(im.b), "program headers");
	make_image(&im);
	((Elf32_Ehdr *)im.b)->e_phnum = 0;
	expect_error(&im, sizeof(im.b), "program header table");
	make_image(&im);
	phdr(&im)->p_type = PT_NOTE;
	expect_error(&im, sizeof(im.b), "no loadable segment");
}

static void test_random_bytes_never_crash(void **state)
{
	struct image im;
	unsigned int i, j;
	char err[256];

	srand(1);
	for (i = 0; i < 20000; i++) {
		make_image(&im);
		for (j = 0; j < 4; j++)
			im.b[rand() % 0x140] = (uint8_t)rand();
		(void)parse(&im, sizeof(im.b), err);
	}
}

static void test_memory_layout(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory__layout(&mem, 256ULL << 20), 0);
	assert_int_equal(mem.nr_slots, 1);
	assert_int_equal(mem.slots[0].size, 256ULL << 20);
	assert_int_equal(guest_memory__layout(&mem, 5ULL << 30), 0);
	assert_int_equal(mem.nr_slots, 2);
	assert_int_equal(mem.slots[0].size, 3ULL << 30);
	assert_int_equal(mem.slots[1].gpa, 4ULL << 30);
	assert_int_equal(mem.slots[1].size, 2ULL << 30);
	assert_int_equal(mem.slots[1].ram_offset, 3ULL << 30);
	assert_int_not_equal(guest_memory__layout(&mem, 4095), 0);
	assert_int_not_equal(guest_memory__layout(&mem, 1 << 20), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_image),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_elf64_refused),
		cmocka_unit_test(test_wrong_machine),
		cmocka_unit_test(test_no_multiboot_header),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_unsupported_flags),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_segment_outside_ram),
		cmocka_unit_test(test_segment_in_loader_area),
		cmocka_unit_test(test_filesz_gt_memsz),
		cmocka_unit_test(test_entry_outside),
		cmocka_unit_test(test_bad_phdrs),
		cmocka_unit_test(test_random_bytes_never_crash),
		cmocka_unit_test(test_memory_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
