/* The VM's configuration as the migration stream carries it (the CONFIG
 * section): what the destination must know to build an identical VM, and
 * what it checks before any RAM is sent.
 *
 * Pointer free and fixed size (about 12 KiB: prefer the heap or a static),
 * so it can be zeroed and compared as plain memory.
 */
#ifndef VMM__VM_CONFIG_H
#define VMM__VM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "wire.h"

#define VM_CONFIG_MAX_SLOTS	8
#define VM_CONFIG_MAX_CPUID	256
#define VM_CONFIG_MAX_DEVICES	32
#define VM_CONFIG_MAX_CPUS	288
#define VM_CONFIG_MAX_RAM	(1ull << 40)
#define VM_CONFIG_NAME_LEN	32	/* bytes, NUL included */

struct vm_config_slot {
	uint64_t gpa;
	uint64_t size;
};

struct vm_config_device {
	char name[VM_CONFIG_NAME_LEN];
	uint32_t version;	/* version of the state the source sends */
};

struct vm_config {
	uint64_t ram_size;		/* == sum of the slot sizes */
	uint32_t nr_slots;
	struct vm_config_slot slots[VM_CONFIG_MAX_SLOTS];
	uint32_t nr_cpus;
	/* The CPUID table the guest sees (vCPU 0's; the others differ only
	 * in APIC ids, which the destination derives again). */
	uint32_t nr_cpuid;
	struct kvm_cpuid_entry2 cpuid[VM_CONFIG_MAX_CPUID];
	uint32_t nr_devices;
	struct vm_config_device devices[VM_CONFIG_MAX_DEVICES];
	char source_version[VM_CONFIG_NAME_LEN];	/* vmm version string */
};

/* Zeroes c and sets source_version to this vmm's version. */
void vm_config__init(struct vm_config *c);

/* Appends the CONFIG payload. Returns 0, -EINVAL if c breaks a rule of
 * vm_config__validate (so a source never sends what every destination
 * must refuse; call validate for the reason), or the buffer's error. */
int vm_config__encode(const struct vm_config *c, struct wbuf *out);

/* Reads and validates a CONFIG payload: counts within the limits above,
 * ram_size a non-zero multiple of 4096, at most 1 TiB and the sum of the
 * slot sizes; slots page aligned, non-empty, not wrapping, not
 * overlapping; 1..288 vCPUs; no duplicate CPUID entry; device names
 * non-empty, unique, printable ASCII; nothing left over. On error c is
 * zeroed, err names the problem, and the result is -EBADMSG. */
int vm_config__decode(struct vm_config *c, struct rbuf *in, char *err,
		      size_t errlen);

/* The same checks on a struct already in memory. */
int vm_config__validate(const struct vm_config *c, char *err, size_t errlen);

/* --- migrate/vm_compat.c --- */

/* Can this host run the incoming VM? local (NULL when the destination
 * builds its VM from the stream) must have the same RAM layout, vCPU count
 * and devices, each device reading at least the incoming state version.
 * host_supported (KVM_GET_SUPPORTED_CPUID) must offer every CPU feature
 * the incoming guest sees, in the leaves listed in vm_config.c; missing
 * ones are named ("this host's CPU lacks: avx512f, sha_ni"). Every problem
 * found is reported, separated by "; ". Returns 0, -ENOTSUP (cannot host)
 * or -EINVAL (no host CPUID given). */
int vm_config__check_compat(const struct vm_config *incoming,
			    const struct vm_config *local,
			    const struct kvm_cpuid2 *host_supported,
			    char *err, size_t errlen);

#endif
