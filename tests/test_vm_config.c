/* The CONFIG payload: encoding, every validation rule, and the
 * destination's compatibility check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_config.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Byte offsets in the sample's encoding (FORMAT.md, CONFIG payload). */
#define OFF_RAM_SIZE	0
#define OFF_NR_SLOTS	8
#define OFF_SLOT1_GPA	28
#define OFF_SLOT1_SIZE	36
#define OFF_NR_CPUS	44
#define OFF_NR_CPUID	48
#define OFF_CPUID	52
#define CPUID_LEN	28
#define NR_SAMPLE_CPUID	6
#define OFF_NR_DEVICES	(OFF_CPUID + NR_SAMPLE_CPUID * CPUID_LEN)
#define OFF_DEV0_LEN	(OFF_NR_DEVICES + 4)
#define OFF_DEV0_NAME	(OFF_DEV0_LEN + 2)

static struct vm_config sample, decoded;

static void set_cpuid(struct kvm_cpuid_entry2 *e, uint32_t fn, uint32_t idx,
		      bool indexed, uint32_t eax, uint32_t ebx, uint32_t ecx,
		      uint32_t edx)
{
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

static void make_sample(struct vm_config *c)
{
	vm_config__init(c);
	c->ram_size = 512 * MiB;
	c->nr_slots = 2;
	c->slots[0].gpa = 0;
	c->slots[0].size = 256 * MiB;
	c->slots[1].gpa = 4 * GiB;
	c->slots[1].size = 256 * MiB;
	c->nr_cpus = 2;
	c->nr_cpuid = NR_SAMPLE_CPUID;
	set_cpuid(&c->cpuid[0], 0, 0, false, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
	/* sse4_2 plus the VM-described bits hypervisor, osxsave, apic, ht */
	set_cpuid(&c->cpuid[1], 1, 0, false, 0x806f8, 0x10800,
		  (1u << 20) | (1u << 27) | (1u << 31),
		  1u | (1u << 9) | (1u << 25) | (1u << 26) | (1u << 28));
	set_cpuid(&c->cpuid[2], 7, 0, true, 1, 1u << 5, 0, 0);
	set_cpuid(&c->cpuid[3], 7, 1, true, 0, 0, 0, 0);
	set_cpuid(&c->cpuid[4], 0xd, 0, true, 7, 0x340, 0x340, 0);
	set_cpuid(&c->cpuid[5], 0x80000001, 0, false, 0, 0, 1,
		  (1u << 20) | (1u << 29));
	c->nr_devices = 2;
	strcpy(c->devices[0].name, "uart16550");
	c->devices[0].version = 1;
	strcpy(c->devices[1].name, "debug-exit");
	c->devices[1].version = 2;
}

/* KVM_GET_SUPPORTED_CPUID of a host that offers exactly what the sample
 * uses, minus the bits that describe the VM rather than the CPU. */
static struct kvm_cpuid2 *host_for(const struct vm_config *c)
{
	struct kvm_cpuid2 *h = calloc(1, sizeof(*h) + c->nr_cpuid *
				      sizeof(struct kvm_cpuid_entry2));
	uint32_t i;

	assert_non_null(h);
	h->nent = c->nr_cpuid;
	for (i = 0; i < c->nr_cpuid; i++)
		h->entries[i] = c->cpuid[i];
	h->entries[1].ecx &= ~((1u << 27) | (1u << 31));
	h->entries[1].edx &= ~((1u << 9) | (1u << 28));
	return h;
}

static struct kvm_cpuid_entry2 *host_leaf(struct kvm_cpuid2 *h, uint32_t fn,
					  uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < h->nent; i++)
		if (h->entries[i].function == fn && h->entries[i].index == idx)
			return &h->entries[i];
	fail_msg("no leaf 0x%x.%u", fn, idx);
	return NULL;
}

static void encode(const struct vm_config *c, struct wbuf *b)
{
	wbuf__init(b);
	assert_int_equal(vm_config__encode(c, b), 0);
}

static int decode(const uint8_t *p, size_t n, struct vm_config *c, char *err,
		  size_t len)
{
	struct rbuf r;

	rbuf__init(&r, p, n);
	return vm_config__decode(c, &r, err, len);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return false;
	return true;
}

/* --- encoding ------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
	struct wbuf b;
	char err[256];

	make_sample(&sample);
	encode(&sample, &b);
	assert_int_equal(b.len, OFF_DEV0_NAME + 9 + 4 + 2 + 10 + 4 + 2 + 5);
	assert_int_equal(wire__get_le64(b.data + OFF_RAM_SIZE), 512 * MiB);
	assert_int_equal(wire__get_le32(b.data + OFF_NR_CPUS), 2);
	assert_int_equal(wire__get_le32(b.data + OFF_CPUID + CPUID_LEN * 2), 7);
	assert_int_equal(decode(b.data, b.len, &decoded, err, sizeof(err)), 0);
	assert_memory_equal(&decoded, &sample, sizeof(sample));
	assert_string_equal(decoded.source_version, "0.1.0");
	wbuf__free(&b);
}

static void test_truncations(void **state)
{
	struct wbuf b;
	char err[256];
	size_t cut;

	make_sample(&sample);
	encode(&sample, &b);
	for (cut = 0; cut < b.len; cut++) {
		memset(&decoded, 0xa5, sizeof(decoded));
		assert_int_equal(decode(b.data, cut, &decoded, err, sizeof(err)),
				 -EBADMSG);
		if (!strstr(err, "config: payload ends inside"))
			fail_msg("prefix %zu: \"%s\"", cut, err);
		assert_true(all_zero(&decoded, sizeof(decoded)));
	}
	/* Past the source version only block migration's trailer may come
	 * (stream 3.3): a stray byte is a trailer cut short. */
	wbuf__put_u8(&b, 0);
	assert_int_equal(decode(b.data, b.len, &decoded, err, sizeof(err)),
			 -EBADMSG);
	assert_string_equal(err, "config: payload ends inside the block-migrated drives");
	wbuf__free(&b);
}

/* Block migration's trailer: the drives' sizes round-trip; a count of 0
 * or an odd size is refused, and so are bytes after it. */
static void test_block_drives(void **state)
{
	struct vm_config *c = calloc(1, sizeof(*c)), *d = calloc(1, sizeof(*d));
	char err[256];
	struct wbuf b;

	assert_non_null(c);
	assert_non_null(d);
	vm_config__init(c);
	c->ram_size = 2 << 20;
	c->nr_slots = 1;
	c->slots[0].size = 2 << 20;
	c->nr_cpus = 1;
	c->nr_block_drives = 2;
	c->block_drive_size[0] = 64 << 20;
	c->block_drive_size[1] = 512;
	wbuf__init(&b);
	assert_int_equal(vm_config__encode(c, &b), 0);
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), 0);
	assert_int_equal(d->nr_block_drives, 2);
	assert_int_equal(d->block_drive_size[0], 64 << 20);
	assert_int_equal(d->block_drive_size[1], 512);
	/* Past the sizes only migrate -i's bases may come (3.4). */
	wbuf__put_u8(&b, 0);
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: payload ends inside the drives' bases");
	c->block_drive_size[1] = 513;
	assert_int_equal(vm_config__validate(c, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: block-migrated drive 1: size 513 is not a non-zero "
			    "multiple of 512");
	wbuf__free(&b);
	free(c);
	free(d);
}

static void block_sample(struct vm_config *c)
{
	vm_config__init(c);
	c->ram_size = 2 << 20;
	c->nr_slots = 1;
	c->slots[0].size = 2 << 20;
	c->nr_cpus = 1;
	c->nr_block_drives = 2;
	c->block_drive_size[0] = 64 << 20;
	c->block_drive_size[1] = 1 << 20;
	c->block_incremental[1] = 1;
	c->block_base_size[1] = 1000;
	memset(c->block_base_digest[1], 0xd5, VM_CONFIG_DIGEST_LEN);
	c->block_bulk_bytes[1] = 65536;
}

static void expect_refused(const struct vm_config *c, const char *msg)
{
	char err[256];

	assert_int_equal(vm_config__validate(c, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, msg);
}

/* migrate -i's trailer (stream 3.4): each drive's mode, base size and
 * digest round-trip; every cut inside it, a byte after it, a trailer
 * with no incremental drive, an unknown mode, an incremental drive
 * without a base and a full copy with one are refused by name. */
static void test_block_bases(void **state)
{
	struct vm_config *c = calloc(1, sizeof(*c)), *d = calloc(1, sizeof(*d));
	size_t start, cut;
	char err[256];
	struct wbuf b;

	assert_non_null(c);
	assert_non_null(d);
	block_sample(c);
	c->block_incremental[1] = 0;
	c->block_base_size[1] = 0;
	memset(c->block_base_digest[1], 0, VM_CONFIG_DIGEST_LEN);
	c->block_bulk_bytes[1] = 0;
	wbuf__init(&b);
	assert_int_equal(vm_config__encode(c, &b), 0);
	start = b.len;		/* a full copy: no trailer */
	wbuf__free(&b);
	block_sample(c);
	wbuf__init(&b);
	assert_int_equal(vm_config__encode(c, &b), 0);
	assert_int_equal(b.len, start + 2 * (1 + 8 + VM_CONFIG_DIGEST_LEN + 8));
	assert_int_equal(b.data[start + 49], 1);
	assert_int_equal(wire__get_le64(b.data + start + 50), 1000);
	assert_int_equal(wire__get_le64(b.data + start + 90), 65536);
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), 0);
	assert_memory_equal(d, c, sizeof(*c));
	for (cut = start + 1; cut < b.len; cut++) {
		assert_int_equal(decode(b.data, cut, d, err, sizeof(err)), -EBADMSG);
		if (strcmp(err, "config: payload ends inside the drives' bases"))
			fail_msg("cut at %zu: \"%s\"", cut, err);
		assert_true(all_zero(d, sizeof(*d)));
	}
	wbuf__put_u8(&b, 0);
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: 1 unexpected bytes after the end");
	b.len--;
	b.data[start + 49] = 0;
	memset(b.data + start + 50, 0, 8 + VM_CONFIG_DIGEST_LEN + 8);
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: the drives' bases, but no drive is incremental");
	b.data[start + 49] = 2;
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: block-migrated drive 1: mode 2 (0 full copy, "
			    "1 incremental)");
	b.data[start + 49] = 1;
	assert_int_equal(decode(b.data, b.len, d, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: block-migrated drive 1: incremental over a base "
			    "of 0 bytes");
	wbuf__free(&b);
	block_sample(c);
	c->block_base_size[0] = 512;
	expect_refused(c, "config: block-migrated drive 0: a full copy with a base or bulk "
		       "bytes");
	block_sample(c);
	c->block_base_digest[0][31] = 1;
	expect_refused(c, "config: block-migrated drive 0: a full copy with a base or bulk "
		       "bytes");
	block_sample(c);
	c->block_bulk_bytes[0] = 512;
	expect_refused(c, "config: block-migrated drive 0: a full copy with a base or bulk "
		       "bytes");
	block_sample(c);
	c->block_bulk_bytes[1] = (1 << 20) + 512;
	expect_refused(c, "config: block-migrated drive 1: 1049088 bulk bytes, more than its "
		       "1048576");
	block_sample(c);
	c->block_incremental[2] = 1;
	c->block_base_size[2] = 512;
	expect_refused(c, "config: a base for drive 2, which is not block-migrated");
	/* The bases came with 3.4: an older preamble cannot carry them. */
	block_sample(c);
	assert_int_equal(vm_config__check_minor(c, 4, err, sizeof(err)), 0);
	assert_int_equal(vm_config__check_minor(c, 3, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "CONFIG carries the drives' bases in a stream of version 3.3 "
			    "(they came with 3.4)");
	c->block_incremental[1] = 0;
	c->block_base_size[1] = 0;
	memset(c->block_base_digest[1], 0, VM_CONFIG_DIGEST_LEN);
	c->block_bulk_bytes[1] = 0;
	assert_int_equal(vm_config__check_minor(c, 3, err, sizeof(err)), 0);
	block_sample(c);
	wbuf__init(&b);
	c->block_incremental[1] = 3;
	assert_int_equal(vm_config__encode(c, &b), -EINVAL);
	wbuf__free(&b);
	free(c);
	free(d);
}

/* Encodes the sample, lets `patch` damage it at a known offset, and
 * expects decode to refuse with msg. */
static void expect_patched(size_t off, int width, uint64_t v, const char *msg)
{
	struct wbuf b;
	char err[256];

	make_sample(&sample);
	encode(&sample, &b);
	if (width == 8)
		wire__le64(b.data + off, v);
	else if (width == 4)
		wire__le32(b.data + off, (uint32_t)v);
	else
		b.data[off] = (uint8_t)v;
	assert_int_equal(decode(b.data, b.len, &decoded, err, sizeof(err)),
			 -EBADMSG);
	if (!strstr(err, msg))
		fail_msg("expected \"%s\" in \"%s\"", msg, err);
	assert_true(all_zero(&decoded, sizeof(decoded)));
	wbuf__free(&b);
}

static void test_decode_refuses(void **state)
{
	expect_patched(OFF_NR_SLOTS, 4, 9, "config: 9 memory slots, at most 8");
	expect_patched(OFF_NR_SLOTS, 4, 0xffffffff, "memory slots, at most 8");
	expect_patched(OFF_RAM_SIZE, 8, 512 * MiB + 1, "multiple of 4096");
	expect_patched(OFF_RAM_SIZE, 8, 0, "non-zero");
	expect_patched(OFF_RAM_SIZE, 8, 2048 * GiB, "at most 1 TiB");
	expect_patched(OFF_RAM_SIZE, 8, 256 * MiB, "not the sum of the slot sizes");
	expect_patched(OFF_SLOT1_GPA, 8, 4 * GiB + 0x800, "not 4 KiB aligned");
	expect_patched(OFF_SLOT1_SIZE, 8, 0, "is empty");
	expect_patched(OFF_SLOT1_GPA, 8, 128 * MiB, "slot 1 overlaps slot 0");
	expect_patched(OFF_SLOT1_GPA, 8, 0xfffffffff0000000ull, "wraps");
	expect_patched(OFF_NR_CPUS, 4, 0, "config: 0 vCPUs, must be 1..288");
	expect_patched(OFF_NR_CPUS, 4, 289, "config: 289 vCPUs, must be 1..288");
	expect_patched(OFF_NR_CPUID, 4, 257, "config: 257 CPUID entries, at most 256");
	/* entry 3 (7.1) becomes a second 7.0 */
	expect_patched(OFF_CPUID + 3 * CPUID_LEN + 4, 4, 0,
		       "config: CPUID entry 0x7.0 appears twice");
	expect_patched(OFF_CPUID + 8, 4, 0x80, "unknown flags 0x80");
	expect_patched(OFF_NR_DEVICES, 4, 33, "config: 33 devices, at most 32");
	expect_patched(OFF_DEV0_LEN, 1, 40, "a device name is 40 bytes, at most 31");
	expect_patched(OFF_DEV0_NAME + 2, 1, 0, "contains a NUL byte");
	expect_patched(OFF_DEV0_NAME + 2, 1, 0x1b,
		       "device 0: name has byte 0x1b at offset 2");
	expect_patched(OFF_DEV0_NAME + 2, 1, 0xc3, "only printable ASCII");
}

static void test_duplicate_device(void **state)
{
	struct wbuf b;
	char err[256];

	make_sample(&sample);
	strcpy(sample.devices[1].name, "uart16551");
	encode(&sample, &b);
	/* the last byte of the second name: "uart16551" -> "uart16550" */
	b.data[OFF_DEV0_NAME + 9 + 4 + 2 + 8] = '0';
	assert_int_equal(decode(b.data, b.len, &decoded, err, sizeof(err)),
			 -EBADMSG);
	assert_string_equal(err, "config: device \"uart16550\" appears twice");
	wbuf__free(&b);
}

static void test_encode_refuses(void **state)
{
	struct wbuf b;
	char err[256];

	wbuf__init(&b);
	make_sample(&sample);
	sample.nr_slots = 100;	/* must not read past slots[] */
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	assert_int_equal(vm_config__validate(&sample, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: 100 memory slots, at most 8");
	make_sample(&sample);
	sample.nr_cpuid = 1000;
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	make_sample(&sample);
	sample.nr_devices = 33;
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	make_sample(&sample);
	memset(sample.devices[0].name, 'a', sizeof(sample.devices[0].name));
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	assert_int_equal(vm_config__validate(&sample, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: device 0: name is not terminated");
	make_sample(&sample);
	strcpy(sample.devices[1].name, "uart16550");
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	make_sample(&sample);
	sample.devices[1].name[0] = '\0';
	assert_int_equal(vm_config__validate(&sample, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "config: device 1: name is empty");
	make_sample(&sample);
	sample.source_version[0] = '\n';
	assert_int_equal(vm_config__encode(&sample, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	/* A tiny error buffer is cut, never overrun. */
	assert_int_equal(vm_config__validate(&sample, err, 5), -EBADMSG);
	assert_string_equal(err, "conf");
	wbuf__free(&b);
}

/* --- compatibility ------------------------------------------------------- */

static struct vm_host host;
static int layout_slots = 2;	/* how many slots the test layout makes */

/* The sample's layout: RAM in two halves, the second at 4 GiB; one slot
 * when layout_slots says so; nothing under 2 MiB. */
static int halves(uint64_t ram_size, struct vm_config_slot *slots, uint32_t *nr_slots)
{
	if (ram_size < 2 * MiB)
		return -EINVAL;
	slots[0].gpa = 0;
	slots[0].size = layout_slots == 1 ? ram_size : ram_size / 2;
	slots[1].gpa = 4 * GiB;
	slots[1].size = ram_size / 2;
	*nr_slots = (uint32_t)layout_slots;
	return 0;
}

/* A destination that can host c exactly: its layout, its devices, a CPU
 * with its features, no options, up to 64 vCPUs. */
static struct vm_host *host_like(const struct vm_config *c)
{
	uint32_t i;

	memset(&host, 0, sizeof(host));
	layout_slots = 2;
	host.cpuid = host_for(c);
	host.max_cpus = 64;
	host.layout = halves;
	host.nr_devices = c->nr_devices;
	for (i = 0; i < c->nr_devices; i++)
		host.devices[i] = c->devices[i];
	return &host;
}

static struct kvm_cpuid2 *host_cpuid(void)
{
	return (struct kvm_cpuid2 *)host.cpuid;
}

static int compat(const struct vm_config *in, char *err, size_t len)
{
	return vm_config__check_compat(in, &host, err, len);
}

static void test_compat_ok(void **state)
{
	char err[512];

	make_sample(&sample);
	host_like(&sample);
	/* hypervisor, osxsave, apic, ht: set for the guest, absent on the
	 * host, and still compatible. */
	assert_int_equal(compat(&sample, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* The options, when given, agree. */
	host.ram_size = 512 * MiB;
	host.nr_cpus = 2;
	assert_int_equal(compat(&sample, err, sizeof(err)), 0);
	assert_int_equal(vm_config__check_compat(&sample, NULL, err, sizeof(err)), -EINVAL);
	free(host_cpuid());
	host.cpuid = NULL;
	assert_int_equal(compat(&sample, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no host CPUID"));
}

/* What the destination's --mem and --cpus ask for, and what it can build. */
static void test_compat_ram_and_cpus(void **state)
{
	char err[512];

	make_sample(&sample);
	host_like(&sample);
	host.ram_size = 256 * MiB;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source RAM 512 MiB, this VM 256 MiB");
	host.ram_size = 0;

	host.nr_cpus = 1;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source has 2 vCPUs, this VM 1");
	sample.nr_cpus = 1;
	host.nr_cpus = 2;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source has 1 vCPU, this VM 2");
	make_sample(&sample);
	host.nr_cpus = 0;
	host.max_cpus = 1;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source has 2 vCPUs, this host runs at most 1");
	host.max_cpus = 64;

	/* The layout this vmm builds for the source's RAM size. */
	sample.slots[1].gpa = 8 * GiB;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "RAM slot 1: source 256 MiB at 0x200000000, this vmm 256 MiB at 0x100000000");
	make_sample(&sample);
	layout_slots = 1;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source RAM is in 2 slots, this vmm's in 1");
	layout_slots = 2;
	sample.ram_size = 1 * MiB;
	sample.slots[0].size = sample.slots[1].size = 512 * 1024;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source RAM 1 MiB: this vmm cannot build RAM of that size");

	/* Every problem at once, and no overrun of a short buffer. */
	make_sample(&sample);
	host.ram_size = 1 * GiB + 512 * MiB;
	host.nr_cpus = 4;
	host.nr_devices = 1;
	snprintf(host.missing_caps, sizeof(host.missing_caps), "KVM_CAP_XSAVE, KVM_CAP_XCRS");
	host_leaf(host_cpuid(), 7, 0)->ebx = 0;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source RAM 512 MiB, this VM 1536 MiB; source has 2 vCPUs, this VM 4; "
			    "source has device debug-exit, this vmm does not; "
			    "this host's KVM lacks: KVM_CAP_XSAVE, KVM_CAP_XCRS; "
			    "this host's CPU lacks: avx2");
	assert_int_equal(compat(&sample, err, 12), -ENOTSUP);
	assert_string_equal(err, "source RAM ");
	free(host_cpuid());
}

static void test_compat_devices(void **state)
{
	char err[512];

	make_sample(&sample);
	host_like(&sample);
	host.devices[1].version = 1;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "device debug-exit: source state version 2, this vmm reads up to 1");
	host.devices[1].version = 3;	/* newer reader: fine */
	assert_int_equal(compat(&sample, err, sizeof(err)), 0);
	strcpy(host.devices[1].name, "fw_cfg");
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source has device debug-exit, this vmm does not; this vmm has device fw_cfg, the source does not");
	/* Names are shown escaped, like every string from the stream. */
	strcpy(sample.devices[1].name, "a\\x1b");
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "source has device a\\x5cx1b, this vmm does not; this vmm has device fw_cfg, the source does not");
	free(host_cpuid());
}

static void test_compat_cpu_features(void **state)
{
	char err[512];

	make_sample(&sample);
	host_like(&sample);
	/* The guest saw avx512f, sha_ni and reserved bit 22 of 7.0.ebx. */
	sample.cpuid[2].ebx |= (1u << 16) | (1u << 29) | (1u << 22);
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "this host's CPU lacks: avx512f, cpuid.7.0.ebx[bit 22], sha_ni");
	free(host_cpuid());

	/* Leaves 1, 0x80000001 and 0xd, and an unnamed bit of a leaf without
	 * subleaves. */
	make_sample(&sample);
	host_like(&sample);
	host_leaf(host_cpuid(), 1, 0)->ecx &= ~(1u << 20);
	host_leaf(host_cpuid(), 0x80000001, 0)->edx &= ~(1u << 29);
	host_leaf(host_cpuid(), 0xd, 0)->eax &= ~(1u << 2);
	sample.cpuid[5].ecx |= 1u << 14;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "this host's CPU lacks: sse4_2, lm, cpuid.80000001.ecx[bit 14], xstate_avx");
	free(host_cpuid());
}

static void test_compat_missing_leaf(void **state)
{
	char err[512];

	make_sample(&sample);
	host_like(&sample);
	/* A host whose CPUID has no leaf 7 lacks everything in it. */
	host_leaf(host_cpuid(), 7, 0)->function = 0x40000000;
	assert_int_equal(compat(&sample, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "this host's CPU lacks: avx2");
	free(host_cpuid());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_block_drives),
		cmocka_unit_test(test_block_bases),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_duplicate_device),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_compat_ok),
		cmocka_unit_test(test_compat_ram_and_cpus),
		cmocka_unit_test(test_compat_devices),
		cmocka_unit_test(test_compat_cpu_features),
		cmocka_unit_test(test_compat_missing_leaf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
