#include "vm_config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "errmsg.h"
#include "mem_zero.h"
#include "stream.h"

#ifndef VMM_VERSION
#define VMM_VERSION "unknown"
#endif

#define PAGE_MASK_4K	4095ull
#define CPUID_KNOWN_FLAGS	(uint32_t)(KVM_CPUID_FLAG_SIGNIFCANT_INDEX | \
				 KVM_CPUID_FLAG_STATEFUL_FUNC | \
				 KVM_CPUID_FLAG_STATE_READ_NEXT)

void vm_config__init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	strncpy(c->source_version, VMM_VERSION, sizeof(c->source_version) - 1);
}

/* --- validation (shared by encode and decode) ---------------------------- */

static int check_counts(const struct vm_config *c, char *err, size_t errlen)
{
	if (c->nr_slots > VM_CONFIG_MAX_SLOTS) {
		errmsg__set(err, errlen, "config: %u memory slots, at most %d",
			     c->nr_slots, VM_CONFIG_MAX_SLOTS);
		return -EBADMSG;
	}
	if (c->nr_cpuid > VM_CONFIG_MAX_CPUID) {
		errmsg__set(err, errlen, "config: %u CPUID entries, at most %d",
			     c->nr_cpuid, VM_CONFIG_MAX_CPUID);
		return -EBADMSG;
	}
	if (c->nr_devices > VM_CONFIG_MAX_DEVICES) {
		errmsg__set(err, errlen, "config: %u devices, at most %d",
			     c->nr_devices, VM_CONFIG_MAX_DEVICES);
		return -EBADMSG;
	}
	if (c->nr_cpus < 1 || c->nr_cpus > VM_CONFIG_MAX_CPUS) {
		errmsg__set(err, errlen, "config: %u vCPUs, must be 1..%d",
			     c->nr_cpus, VM_CONFIG_MAX_CPUS);
		return -EBADMSG;
	}
	return 0;
}

static int check_slot(const struct vm_config_slot *s, uint32_t i, char *err,
		      size_t errlen)
{
	if (!s->size || (s->gpa & PAGE_MASK_4K) || (s->size & PAGE_MASK_4K)) {
		errmsg__set(err, errlen,
			     "config: slot %u (gpa 0x%llx, size 0x%llx) is empty or not 4 KiB aligned",
			     i, (unsigned long long)s->gpa,
			     (unsigned long long)s->size);
		return -EBADMSG;
	}
	if (s->size > UINT64_MAX - s->gpa) {
		errmsg__set(err, errlen,
			     "config: slot %u (gpa 0x%llx, size 0x%llx) wraps past the end of the address space",
			     i, (unsigned long long)s->gpa,
			     (unsigned long long)s->size);
		return -EBADMSG;
	}
	return 0;
}

static int check_ram(const struct vm_config *c, char *err, size_t errlen)
{
	const struct vm_config_slot *a, *b;
	uint64_t sum = 0;
	uint32_t i, j;
	int ret;

	if (!c->ram_size || (c->ram_size & PAGE_MASK_4K) ||
	    c->ram_size > VM_CONFIG_MAX_RAM) {
		errmsg__set(err, errlen,
			     "config: RAM size 0x%llx must be a non-zero multiple of 4096 of at most 1 TiB",
			     (unsigned long long)c->ram_size);
		return -EBADMSG;
	}
	for (i = 0; i < c->nr_slots; i++) {
		a = &c->slots[i];
		ret = check_slot(a, i, err, errlen);
		if (ret)
			return ret;
		for (j = 0; j < i; j++) {
			b = &c->slots[j];
			if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size) {
				errmsg__set(err, errlen,
					     "config: slot %u overlaps slot %u", i, j);
				return -EBADMSG;
			}
		}
		/* Compared before adding, so the sum cannot overflow. */
		if (a->size > c->ram_size - sum) {
			sum = UINT64_MAX;
			break;
		}
		sum += a->size;
	}
	if (sum != c->ram_size) {
		errmsg__set(err, errlen,
			     "config: RAM size 0x%llx is not the sum of the slot sizes",
			     (unsigned long long)c->ram_size);
		return -EBADMSG;
	}
	return 0;
}

static int check_cpuid(const struct vm_config *c, char *err, size_t errlen)
{
	const struct kvm_cpuid_entry2 *a, *b;
	uint32_t i, j;

	for (i = 0; i < c->nr_cpuid; i++) {
		a = &c->cpuid[i];
		if (a->flags & ~CPUID_KNOWN_FLAGS) {
			errmsg__set(err, errlen,
				     "config: CPUID entry 0x%x.%u has unknown flags 0x%x",
				     a->function, a->index, a->flags);
			return -EBADMSG;
		}
		for (j = 0; j < i; j++) {
			b = &c->cpuid[j];
			if (a->function == b->function && a->index == b->index) {
				errmsg__set(err, errlen,
					     "config: CPUID entry 0x%x.%u appears twice",
					     a->function, a->index);
				return -EBADMSG;
			}
		}
	}
	return 0;
}

/* Names end up in messages and logs: printable ASCII keeps a hostile
 * stream from writing terminal escapes there. */
static int check_name(const char *name, const char *what, uint32_t i,
		      bool may_be_empty, char *err, size_t errlen)
{
	size_t n = strnlen(name, VM_CONFIG_NAME_LEN), k;

	if (n == VM_CONFIG_NAME_LEN || (!n && !may_be_empty)) {
		errmsg__set(err, errlen, "config: %s %u: name is %s", what, i,
			     n ? "not terminated" : "empty");
		return -EBADMSG;
	}
	for (k = 0; k < n; k++)
		if (name[k] < 0x20 || name[k] > 0x7e) {
			errmsg__set(err, errlen,
				     "config: %s %u: name has byte 0x%02x at offset %zu, only printable ASCII is allowed",
				     what, i, (uint8_t)name[k], k);
			return -EBADMSG;
		}
	return 0;
}

static int check_devices(const struct vm_config *c, char *err, size_t errlen)
{
	uint32_t i, j;
	int ret;

	for (i = 0; i < c->nr_devices; i++) {
		ret = check_name(c->devices[i].name, "device", i, false, err,
				 errlen);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (!strcmp(c->devices[i].name, c->devices[j].name)) {
				errmsg__set(err, errlen,
					     "config: device \"%s\" appears twice",
					     c->devices[i].name);
				return -EBADMSG;
			}
	}
	return check_name(c->source_version, "source version", 0, true, err,
			  errlen);
}

static bool any_incremental(const struct vm_config *c)
{
	uint32_t i;

	for (i = 0; i < c->nr_block_drives && i < VM_CONFIG_MAX_BLOCK_DRIVES; i++)
		if (c->block_incremental[i])
			return true;
	return false;
}

/* A full copy names no base; an incremental one a base of some bytes. */
static int check_block_base(const struct vm_config *c, uint32_t i, char *err, size_t errlen)
{
	if (c->block_incremental[i] > 1) {
		errmsg__set(err, errlen, "config: block-migrated drive %u: mode %u (0 full "
			     "copy, 1 incremental)", i, c->block_incremental[i]);
		return -EBADMSG;
	}
	if (c->block_incremental[i] && !c->block_base_size[i]) {
		errmsg__set(err, errlen, "config: block-migrated drive %u: incremental over "
			     "a base of 0 bytes", i);
		return -EBADMSG;
	}
	if (!c->block_incremental[i] && (c->block_base_size[i] || c->block_bulk_bytes[i] ||
					 !mem__is_zero(c->block_base_digest[i],
						       VM_CONFIG_DIGEST_LEN))) {
		errmsg__set(err, errlen, "config: block-migrated drive %u: a full copy with "
			     "a base or bulk bytes", i);
		return -EBADMSG;
	}
	if (c->block_bulk_bytes[i] > c->block_drive_size[i]) {
		errmsg__set(err, errlen, "config: block-migrated drive %u: %llu bulk bytes, "
			     "more than its %llu", i, (unsigned long long)c->block_bulk_bytes[i],
			     (unsigned long long)c->block_drive_size[i]);
		return -EBADMSG;
	}
	return 0;
}

static int check_block_drives(const struct vm_config *c, char *err, size_t errlen)
{
	uint32_t i;
	int ret;

	if (c->nr_block_drives > VM_CONFIG_MAX_BLOCK_DRIVES) {
		errmsg__set(err, errlen, "config: %u block-migrated drives, at most %d",
			     c->nr_block_drives, VM_CONFIG_MAX_BLOCK_DRIVES);
		return -EBADMSG;
	}
	for (i = 0; i < c->nr_block_drives; i++)
		if (!c->block_drive_size[i] || c->block_drive_size[i] % 512) {
			errmsg__set(err, errlen, "config: block-migrated drive %u: size %llu "
				     "is not a non-zero multiple of 512", i,
				     (unsigned long long)c->block_drive_size[i]);
			return -EBADMSG;
		}
	for (i = 0; i < VM_CONFIG_MAX_BLOCK_DRIVES; i++) {
		if (i >= c->nr_block_drives && (c->block_incremental[i] ||
						c->block_base_size[i] ||
						c->block_bulk_bytes[i])) {
			errmsg__set(err, errlen, "config: a base for drive %u, which is not "
				     "block-migrated", i);
			return -EBADMSG;
		}
		ret = check_block_base(c, i, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int vm_config__validate(const struct vm_config *c, char *err, size_t errlen)
{
	int ret;

	ret = check_counts(c, err, errlen);
	if (!ret)
		ret = check_ram(c, err, errlen);
	if (!ret)
		ret = check_cpuid(c, err, errlen);
	if (!ret)
		ret = check_devices(c, err, errlen);
	if (!ret)
		ret = check_block_drives(c, err, errlen);
	return ret;
}

int vm_config__check_minor(const struct vm_config *c, unsigned int minor, char *err,
			   size_t errlen)
{
	if (any_incremental(c) && minor < 4) {
		errmsg__set(err, errlen, "CONFIG carries the drives' bases in a stream of "
			     "version %u.%u (they came with %u.4)", STREAM_VERSION_MAJOR, minor,
			     STREAM_VERSION_MAJOR);
		return -EPROTO;
	}
	return 0;
}

/* --- encoding ------------------------------------------------------------ */

static void put_name(struct wbuf *out, const char *name)
{
	size_t n = strnlen(name, VM_CONFIG_NAME_LEN - 1);

	wbuf__put_u16(out, (uint16_t)n);
	wbuf__put_bytes(out, name, n);
}

static void put_cpuid(struct wbuf *out, const struct kvm_cpuid_entry2 *e)
{
	wbuf__put_u32(out, e->function);
	wbuf__put_u32(out, e->index);
	wbuf__put_u32(out, e->flags);
	wbuf__put_u32(out, e->eax);
	wbuf__put_u32(out, e->ebx);
	wbuf__put_u32(out, e->ecx);
	wbuf__put_u32(out, e->edx);
}

int vm_config__encode(const struct vm_config *c, struct wbuf *out)
{
	uint32_t i;

	if (vm_config__validate(c, NULL, 0))
		return -EINVAL;
	wbuf__put_u64(out, c->ram_size);
	wbuf__put_u32(out, c->nr_slots);
	for (i = 0; i < c->nr_slots; i++) {
		wbuf__put_u64(out, c->slots[i].gpa);
		wbuf__put_u64(out, c->slots[i].size);
	}
	wbuf__put_u32(out, c->nr_cpus);
	wbuf__put_u32(out, c->nr_cpuid);
	for (i = 0; i < c->nr_cpuid; i++)
		put_cpuid(out, &c->cpuid[i]);
	wbuf__put_u32(out, c->nr_devices);
	for (i = 0; i < c->nr_devices; i++) {
		put_name(out, c->devices[i].name);
		wbuf__put_u32(out, c->devices[i].version);
	}
	put_name(out, c->source_version);
	/* Only block migration appends: every other CONFIG stays what a
	 * 3.2 reader decodes. */
	if (c->nr_block_drives) {
		wbuf__put_u32(out, c->nr_block_drives);
		for (i = 0; i < c->nr_block_drives; i++)
			wbuf__put_u64(out, c->block_drive_size[i]);
	}
	/* 3.4: only migrate -i appends the bases. */
	if (any_incremental(c))
		for (i = 0; i < c->nr_block_drives; i++) {
			wbuf__put_u8(out, c->block_incremental[i]);
			wbuf__put_u64(out, c->block_base_size[i]);
			wbuf__put_bytes(out, c->block_base_digest[i], VM_CONFIG_DIGEST_LEN);
			wbuf__put_u64(out, c->block_bulk_bytes[i]);
		}
	return out->err;
}

/* --- decoding ------------------------------------------------------------ */

static int truncated(const struct rbuf *in, const char *where, char *err,
		     size_t errlen)
{
	if (!in->err)
		return 0;
	errmsg__set(err, errlen, "config: payload ends inside %s", where);
	return -EBADMSG;
}

/* A u16-prefixed string into a fixed name field. Content rules are
 * checked later with everything else; here only the length matters. */
static int get_name(struct rbuf *in, char *out, const char *what,
		    char *err, size_t errlen)
{
	uint16_t n = rbuf__get_u16(in);
	const uint8_t *p;

	if (in->err)
		return truncated(in, what, err, errlen);
	if (n >= VM_CONFIG_NAME_LEN) {
		errmsg__set(err, errlen,
			     "config: %s is %u bytes, at most %d", what, n,
			     VM_CONFIG_NAME_LEN - 1);
		return -EBADMSG;
	}
	p = rbuf__get_span(in, n);
	if (!p)
		return truncated(in, what, err, errlen);
	if (memchr(p, '\0', n)) {
		errmsg__set(err, errlen, "config: %s contains a NUL byte", what);
		return -EBADMSG;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static void get_cpuid(struct rbuf *in, struct kvm_cpuid_entry2 *e)
{
	e->function = rbuf__get_u32(in);
	e->index = rbuf__get_u32(in);
	e->flags = rbuf__get_u32(in);
	e->eax = rbuf__get_u32(in);
	e->ebx = rbuf__get_u32(in);
	e->ecx = rbuf__get_u32(in);
	e->edx = rbuf__get_u32(in);
}

static int get_slots_and_cpus(struct vm_config *c, struct rbuf *in,
			      char *err, size_t errlen)
{
	uint32_t i;

	c->ram_size = rbuf__get_u64(in);
	c->nr_slots = rbuf__get_u32(in);
	if (truncated(in, "the RAM layout", err, errlen))
		return -EBADMSG;
	if (c->nr_slots > VM_CONFIG_MAX_SLOTS)
		return check_counts(c, err, errlen);
	for (i = 0; i < c->nr_slots; i++) {
		c->slots[i].gpa = rbuf__get_u64(in);
		c->slots[i].size = rbuf__get_u64(in);
	}
	c->nr_cpus = rbuf__get_u32(in);
	c->nr_cpuid = rbuf__get_u32(in);
	if (truncated(in, "the vCPU count", err, errlen))
		return -EBADMSG;
	if (c->nr_cpuid > VM_CONFIG_MAX_CPUID)
		return check_counts(c, err, errlen);
	for (i = 0; i < c->nr_cpuid; i++)
		get_cpuid(in, &c->cpuid[i]);
	return truncated(in, "the CPUID table", err, errlen);
}

static int get_devices(struct vm_config *c, struct rbuf *in, char *err,
		       size_t errlen)
{
	uint32_t i;
	int ret;

	c->nr_devices = rbuf__get_u32(in);
	if (truncated(in, "the device list", err, errlen))
		return -EBADMSG;
	if (c->nr_devices > VM_CONFIG_MAX_DEVICES)
		return check_counts(c, err, errlen);
	for (i = 0; i < c->nr_devices; i++) {
		ret = get_name(in, c->devices[i].name, "a device name", err,
			       errlen);
		if (ret)
			return ret;
		c->devices[i].version = rbuf__get_u32(in);
		if (truncated(in, "the device list", err, errlen))
			return -EBADMSG;
	}
	return get_name(in, c->source_version, "the source version", err,
			errlen);
}

/* The block-migration trailer: u32 count (1..4), then each size. */
static int get_block_drives(struct vm_config *c, struct rbuf *in, char *err, size_t errlen)
{
	uint32_t i;

	c->nr_block_drives = rbuf__get_u32(in);
	if (truncated(in, "the block-migrated drives", err, errlen))
		return -EBADMSG;
	if (!c->nr_block_drives || c->nr_block_drives > VM_CONFIG_MAX_BLOCK_DRIVES) {
		errmsg__set(err, errlen, "config: %u block-migrated drives, 1 to %d",
			     c->nr_block_drives, VM_CONFIG_MAX_BLOCK_DRIVES);
		return -EBADMSG;
	}
	for (i = 0; i < c->nr_block_drives; i++)
		c->block_drive_size[i] = rbuf__get_u64(in);
	return truncated(in, "the block-migrated drives", err, errlen);
}

/* The incremental trailer (3.4): per drive u8 mode, u64 base bytes, the
 * base's SHA-256, u64 bulk bytes; sent only when a drive is incremental. */
static int get_block_bases(struct vm_config *c, struct rbuf *in, char *err, size_t errlen)
{
	const uint8_t *p;
	uint32_t i;

	for (i = 0; i < c->nr_block_drives; i++) {
		c->block_incremental[i] = rbuf__get_u8(in);
		c->block_base_size[i] = rbuf__get_u64(in);
		p = rbuf__get_span(in, VM_CONFIG_DIGEST_LEN);
		if (!p)
			return truncated(in, "the drives' bases", err, errlen);
		memcpy(c->block_base_digest[i], p, VM_CONFIG_DIGEST_LEN);
		c->block_bulk_bytes[i] = rbuf__get_u64(in);
	}
	if (truncated(in, "the drives' bases", err, errlen))
		return -EBADMSG;
	if (!any_incremental(c)) {
		errmsg__set(err, errlen, "config: the drives' bases, but no drive is "
			     "incremental");
		return -EBADMSG;
	}
	return 0;
}

int vm_config__decode(struct vm_config *c, struct rbuf *in, char *err,
		      size_t errlen)
{
	int ret;

	memset(c, 0, sizeof(*c));
	ret = get_slots_and_cpus(c, in, err, errlen);
	if (!ret)
		ret = get_devices(c, in, err, errlen);
	if (!ret && rbuf__remaining(in))
		ret = get_block_drives(c, in, err, errlen);
	if (!ret && rbuf__remaining(in))
		ret = get_block_bases(c, in, err, errlen);
	if (!ret && rbuf__remaining(in)) {
		errmsg__set(err, errlen, "config: %zu unexpected bytes after the end",
			     rbuf__remaining(in));
		ret = -EBADMSG;
	}
	if (!ret)
		ret = vm_config__validate(c, err, errlen);
	if (ret)
		memset(c, 0, sizeof(*c));
	return ret;
}
