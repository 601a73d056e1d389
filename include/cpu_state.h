/* vCPU and VM (in-kernel irqchip, PIT, clock) state: captured from KVM,
 * restored into KVM, and encoded for the migration stream.
 *
 * The state structs hold KVM's own UAPI structs, so save and load are plain
 * ioctls; the encoding (vmm/cpu_state.c) writes every field by name
 * through wire.h, so the stream never carries host byte order or padding.
 * Only what KVM itself treats as an opaque register image travels as bytes:
 * the LAPIC register page and the XSAVE area.
 *
 * Both structs are fixed size and pointer free: they can be copied, zeroed
 * and compared as plain memory. A vcpu_state is about 35 KiB, so prefer the
 * heap to the stack.
 */
#ifndef VMM__CPU_STATE_H
#define VMM__CPU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "wire.h"

/* Version of the encoding below; decode refuses any other. */
#define CPU_STATE_VERSION	1

/* KVM_GET_MSR_INDEX_LIST is a few dozen to a few hundred entries; more
 * than this is refused (never silently truncated). */
#define CPU_MSRS_MAX		1024

/* The XSAVE area is 4096 bytes unless dynamic features (AMX, about 11 KiB
 * in all) are enabled. A fixed 16 KiB keeps the struct pointer free; a host
 * whose KVM_CAP_XSAVE2 size is larger is refused with a clear message. */
#define CPU_XSAVE_MIN		4096
#define CPU_XSAVE_MAX		16384

struct vcpu_state {
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint32_t xsave_len;			/* CPU_XSAVE_MIN..CPU_XSAVE_MAX */
	/* struct kvm_xsave image; bytes past xsave_len are zero */
	uint8_t xsave[CPU_XSAVE_MAX] __attribute__((aligned(64)));
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	uint32_t nmsrs;				/* 0..CPU_MSRS_MAX */
	struct kvm_msr_entry msrs[CPU_MSRS_MAX];
	struct kvm_vcpu_events events;
};

#define VM_STATE_NR_IRQCHIPS	3	/* PIC master, PIC slave, IOAPIC */

struct vm_state {
	struct kvm_irqchip irqchip[VM_STATE_NR_IRQCHIPS]; /* chip_id == index */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

uint32_t cpu_state__version(void);

/* --- encoding (vmm/cpu_state.c): pure, no KVM needed ------------------ */

/* Append the state to out; returns out->err (0 or -errno). */
int vcpu_state__encode(const struct vcpu_state *s, struct wbuf *out);
int vm_state__encode(const struct vm_state *s, struct wbuf *out);

/* Read one state from in. Counts and lengths are checked before any array
 * is written. On error *s is fully zeroed, err (if not NULL) says why, and
 * the return is -EPROTONOSUPPORT (unknown version) or -EBADMSG (truncated
 * or invalid content). */
int vcpu_state__decode(struct vcpu_state *s, struct rbuf *in,
		       char *err, size_t errlen);
int vm_state__decode(struct vm_state *s, struct rbuf *in,
		     char *err, size_t errlen);

/* --- KVM glue (vmm/cpu_state_kvm.c) --------------------------------------- */

/* Capture a stopped vCPU (its thread outside KVM_RUN). kvm_fd is /dev/kvm
 * (for the MSR index list, fetched once and cached), vm_fd gives the XSAVE
 * size. Returns 0 or -errno with err naming the failed ioctl. */
int vcpu_state__save(int kvm_fd, int vm_fd, int vcpu_fd, struct vcpu_state *s,
		     char *err, size_t errlen);

/* Restore into a freshly created vCPU whose CPUID the caller has already
 * set with KVM_SET_CPUID2 (KVM checks MSRs and XSAVE against it). */
int vcpu_state__load(int vm_fd, int vcpu_fd, const struct vcpu_state *s,
		     char *err, size_t errlen);

/* The VM must have its in-kernel irqchip (KVM_CREATE_IRQCHIP) and PIT
 * (KVM_CREATE_PIT2) created. The clock is loaded last; when the saved clock
 * carries KVM_CLOCK_REALTIME, KVM advances it by the wall-clock time elapsed
 * since the save, so the guest's kvmclock counts the migration downtime
 * (this assumes both hosts' clocks agree, as NTP keeps them). */
int vm_state__save(int vm_fd, struct vm_state *s, char *err, size_t errlen);
int vm_state__load(int vm_fd, const struct vm_state *s, char *err,
		   size_t errlen);

#endif
