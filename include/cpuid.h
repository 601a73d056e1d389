/* CPUID the guest sees: what KVM supports on this host, with the hypervisor
 * bit set and per-vCPU APIC ids. */
#ifndef VMM__CPUID_H
#define VMM__CPUID_H

#include <stddef.h>
#include <linux/kvm.h>

/* Returns a malloc'd table from KVM_GET_SUPPORTED_CPUID, or NULL (errno). */
struct kvm_cpuid2 *cpuid__host_supported(int kvm_fd);
struct kvm_cpuid2 *cpuid__dup(const struct kvm_cpuid2 *c);
/* Adjusts a base table for vCPU apic_id (APIC ids, hypervisor bit). */
void cpuid__for_vcpu(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int nr_cpus);

#endif
