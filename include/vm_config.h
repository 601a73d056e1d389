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
#define VM_CONFIG_MAX_BLOCK_DRIVES 4
#define VM_CONFIG_DIGEST_LEN	32	/* SHA-256 */

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
	/* Stream 3.3, block migration (migrate -b): the drives whose images
	 * travel in BLOCK sections (virtio-blk.0 ..), each image's size in
	 * bytes (a multiple of 512). 0: the images stay where they are
	 * (shared storage), and the payload ends at the source version. */
	uint32_t nr_block_drives;
	uint64_t block_drive_size[VM_CONFIG_MAX_BLOCK_DRIVES];
	/* Stream 3.4, migrate -i: per block-migrated drive, whether only what
	 * its qcow2 overlay holds travels; if so the base it lies over, which
	 * the destination must hold too: its bytes and their SHA-256; and the
	 * bytes the bulk pass sends (the overlay's own clusters when it
	 * starts), the destination's total. Sent only when some drive is
	 * incremental (full copies: 0 and zeros). */
	uint8_t block_incremental[VM_CONFIG_MAX_BLOCK_DRIVES];
	uint64_t block_base_size[VM_CONFIG_MAX_BLOCK_DRIVES];
	uint8_t block_base_digest[VM_CONFIG_MAX_BLOCK_DRIVES][VM_CONFIG_DIGEST_LEN];
	uint64_t block_bulk_bytes[VM_CONFIG_MAX_BLOCK_DRIVES];
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

/* What a decoded CONFIG may carry in a stream of this minor version (the
 * drives' bases came with 3.4): 0, or -EPROTO with err. */
int vm_config__check_minor(const struct vm_config *c, unsigned int minor, char *err,
			   size_t errlen);

/* --- migrate/vm_compat.c --- */

/* A destination as the compatibility check sees it: what this host's KVM
 * offers, what the command line asks for, what this vmm builds. incoming.c
 * fills it from KVM before it builds anything; tests fill it by hand, so
 * the check runs without /dev/kvm. */
struct vm_host {
	const struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID */
	uint64_t ram_size;		/* --mem; 0 = take the stream's */
	uint32_t nr_cpus;		/* --cpus; 0 = take the stream's */
	uint32_t max_cpus;		/* the most vCPUs a VM may have here */
	/* The RAM layout this vmm builds for ram_size (at most
	 * VM_CONFIG_MAX_SLOTS slots): 0, or -EINVAL for a size it cannot
	 * build. */
	int (*layout)(uint64_t ram_size, struct vm_config_slot *slots, uint32_t *nr_slots);
	/* The devices this vmm builds, each with the newest state version
	 * it reads. */
	uint32_t nr_devices;
	struct vm_config_device devices[VM_CONFIG_MAX_DEVICES];
	char missing_caps[512];		/* KVM capabilities lacking, ", "-separated */
};

/* The destination's one compatibility check, run once when CONFIG has
 * decoded, before the VM is built and before any RAM is accepted. Can
 * this host run the incoming VM?
 *   - RAM: the size --mem asked for ("source RAM 512 MiB, this VM 256
 *     MiB"), and the slot layout this vmm builds for the incoming size;
 *   - vCPUs: the count --cpus asked for ("source has 2 vCPUs, this VM
 *     1"), at most host->max_cpus;
 *   - devices: the same set, each read here at the incoming state version
 *     or newer;
 *   - KVM: no capability this vmm needs missing;
 *   - CPU: every feature the incoming guest sees, in the leaves listed in
 *     vm_compat.c, offered by host->cpuid; missing ones are named ("this
 *     host's CPU lacks: avx512f, sha_ni").
 * (The stream version is settled earlier, by the preamble: nothing after
 * it could be decoded otherwise.) Every problem found is reported,
 * separated by "; ". Returns 0, -ENOTSUP (cannot host) or -EINVAL (no
 * host CPUID or layout given). */
int vm_config__check_compat(const struct vm_config *incoming, const struct vm_host *host,
			    char *err, size_t errlen);

#endif
