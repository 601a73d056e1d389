#include "cpuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

#define CPUID_HYPERVISOR_BIT (1U << 31)

static size_t cpuid_size(unsigned int nent)
{
	return sizeof(struct kvm_cpuid2) + nent * sizeof(struct kvm_cpuid_entry2);
}

struct kvm_cpuid2 *cpuid__host_supported(int kvm_fd)
{
	unsigned int nent = 64;
	struct kvm_cpuid2 *c;

	/* KVM says E2BIG until the buffer is large enough. */
	for (;;) {
		c = calloc(1, cpuid_size(nent));
		if (!c)
			return NULL;
		c->nent = nent;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return NULL;
		nent *= 2;
	}
}

struct kvm_cpuid2 *cpuid__dup(const struct kvm_cpuid2 *c)
{
	struct kvm_cpuid2 *d = malloc(cpuid_size(c->nent));

	if (d)
		memcpy(d, c, cpuid_size(c->nent));
	return d;
}

void cpuid__for_vcpu(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int nr_cpus)
{
	unsigned int i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ecx |= CPUID_HYPERVISOR_BIT;
			e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) |
				 ((nr_cpus > 255 ? 255 : nr_cpus) << 16);
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: EDX is the x2APIC id. */
			e->edx = apic_id;
			break;
		}
	}
}

int vm__setup_cpuid(struct vm *vm, char *err, size_t errlen)
{
	unsigned int i;

	if (!vm->cpuid) {
		vm->cpuid = cpuid__host_supported(vm->kvm_fd);
		if (!vm->cpuid) {
			snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return -errno;
		}
		cpuid__for_vcpu(vm->cpuid, 0, vm->nr_cpus);
	}
	for (i = 0; i < vm->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		free(v->cpuid);
		v->cpuid = cpuid__dup(vm->cpuid);
		if (!v->cpuid) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		cpuid__for_vcpu(v->cpuid, i, vm->nr_cpus);
		if (ioctl(v->fd, KVM_SET_CPUID2, v->cpuid)) {
			snprintf(err, errlen, "KVM_SET_CPUID2 on vCPU %u: %s", i, strerror(errno));
			return -errno;
		}
	}
	return 0;
}
