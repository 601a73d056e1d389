#include "vm.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "log.h"

/* Where KVM keeps the real-mode TSS it needs on VMX; any unused page below
 * 4 GiB out of RAM's way works (the same spot kvmtool and QEMU use). */
#define KVM_TSS_ADDR 0xfffbd000

struct required_cap {
	int cap;
	const char *name;
};

/* Everything vm.c, vcpu.c, cpu_state and the migration engine rely on.
 * Checked up front so a missing one is named instead of failing later. */
static const struct required_cap required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS" },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
	{ KVM_CAP_XCRS, "KVM_CAP_XCRS" },
	{ KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK" },
	{ KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS" },
};

/* The most vCPUs a VM may have here: KVM's limit, at most VM_MAX_CPUS. */
static unsigned int max_vcpus(int kvm_fd)
{
	int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	return max > 0 && max < VM_MAX_CPUS ? (unsigned int)max : VM_MAX_CPUS;
}

void vm__host_limits(int kvm_fd, char *missing, size_t len, unsigned int *max_cpus)
{
	size_t i, n;

	if (len)
		missing[0] = '\0';
	for (i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			n = strnlen(missing, len);
			snprintf(missing + n, len - n, "%s%s", n ? ", " : "", required_caps[i].name);
		}
	}
	*max_cpus = max_vcpus(kvm_fd);
}

static int check_kvm(int kvm_fd, char *err, size_t errlen)
{
	char missing[512];
	unsigned int max;
	int api;

	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(err, errlen, "KVM API version %d, this vmm needs %d", api, KVM_API_VERSION);
		return -ENOTSUP;
	}
	vm__host_limits(kvm_fd, missing, sizeof(missing), &max);
	if (missing[0]) {
		snprintf(err, errlen, "this host's KVM lacks: %s", missing);
		return -ENOTSUP;
	}
	return 0;
}

void vm__set_irq_line(void *ctx, unsigned int irq, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE_STATUS, &l))
		log_warn("KVM_IRQ_LINE_STATUS irq %u: %s", irq, strerror(errno));
}

int vm__add_device(struct vm *vm, struct device *dev)
{
	if (!dev)
		return -ENOMEM;
	if (vm->nr_devices == VM_MAX_DEVICES) {
		dev->destroy(dev);
		return -ENOSPC;
	}
	vm->devices[vm->nr_devices++] = dev;
	return 0;
}

int vm__drain_devices(struct vm *vm, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	for (i = 0; i < vm->nr_devices; i++) {
		struct device *d = vm->devices[i];

		ret = d->drain ? d->drain(d) : 0;
		if (ret) {
			snprintf(err, errlen, "draining device %s: %s", d->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

struct device *vm__find_device(struct vm *vm, const char *name)
{
	unsigned int i;

	for (i = 0; i < vm->nr_devices; i++)
		if (!strcmp(vm->devices[i]->name, name))
			return vm->devices[i];
	return NULL;
}

int vm__create_buses(struct vm *vm)
{
	vm->pio = io_bus__create("pio");
	vm->mmio = io_bus__create("mmio");
	return vm->pio && vm->mmio ? 0 : -ENOMEM;
}

void vm__destroy_devices(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_devices; i++)
		vm->devices[i]->destroy(vm->devices[i]);
	vm->nr_devices = 0;
	if (vm->pio)
		io_bus__destroy(vm->pio);
	if (vm->mmio)
		io_bus__destroy(vm->mmio);
	vm->pio = vm->mmio = NULL;
}

static int create_vcpu(struct vm *vm, unsigned int i, char *err, size_t errlen)
{
	struct vcpu *v = &vm->vcpus[i];

	v->vm = vm;
	v->index = i;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
	if (v->fd < 0) {
		v->fd = -1;
		snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		return -errno;
	}
	v->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		snprintf(err, errlen, "mmap of vCPU %u's kvm_run: %s", i, strerror(errno));
		return -errno;
	}
	if (vm->dirty_ring_entries)
		return dirty_ring__map(&v->ring, v->fd, vm->dirty_ring_entries, err, errlen);
	return 0;
}

/* KVM takes the ring only before the first vCPU exists. */
static int enable_dirty_ring(struct vm *vm, uint32_t entries, char *err, size_t errlen)
{
	int ret;

	if (!entries)
		return 0;
	ret = dirty_ring__enable(vm->kvm_fd, vm->vm_fd, entries, err, errlen);
	if (ret)
		return ret;
	vm->ring_full_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->ring_full_fd < 0) {
		snprintf(err, errlen, "eventfd for the dirty ring: %s", strerror(errno));
		return -errno;
	}
	vm->dirty_ring_entries = entries;
	return 0;
}

int vm__open_kvm(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fd = -errno;
		snprintf(err, errlen, "cannot open /dev/kvm: %s%s", strerror(errno),
			 errno == ENOENT ? " (is the kvm module loaded?)" :
			 errno == EACCES ? " (are you in the kvm group?)" : "");
	}
	return fd;
}

int vm__create_shell(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen)
{
	struct kvm_pit_config pit = { .flags = 0 };
	unsigned int i;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->ring_full_fd = -1;
	for (i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->kvm_fd = opts->kvm_fd >= 0 ? opts->kvm_fd : vm__open_kvm(err, errlen);
	if (vm->kvm_fd < 0)
		return vm->kvm_fd;
	ret = check_kvm(vm->kvm_fd, err, errlen);
	if (ret)
		goto err;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		goto err;
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto err;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) ||
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit)) {
		ret = -errno;
		snprintf(err, errlen, "setting up the in-kernel TSS/irqchip/PIT: %s", strerror(errno));
		goto err;
	}
	if (opts->ram_premapped && opts->ram_premapped->base &&
	    opts->ram_premapped->size == opts->ram_size) {
		vm->mem = *opts->ram_premapped;
		memset(opts->ram_premapped, 0, sizeof(*opts->ram_premapped));
	} else {
		ret = guest_memory__map(&vm->mem, opts->ram_size, opts->ram_prealloc, err, errlen);
		if (ret)
			goto err;
	}
	ret = guest_memory__register(&vm->mem, vm->vm_fd, err, errlen);
	if (ret)
		goto err;
	ret = enable_dirty_ring(vm, opts->dirty_ring_entries, err, errlen);
	if (ret)
		goto err;
	return 0;
err:
	vm__destroy(vm);
	return ret;
}

int vm__complete(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen)
{
	unsigned int i, max = max_vcpus(vm->kvm_fd);
	int ret;

	if (opts->ram_size != vm->mem.size) {
		snprintf(err, errlen, "this VM's RAM is %" PRIu64 " MiB, not %" PRIu64 " MiB",
			 vm->mem.size >> 20, opts->ram_size >> 20);
		ret = -EINVAL;
		goto err;
	}
	if (opts->nr_cpus < 1 || opts->nr_cpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "vCPU count %u out of range 1..%d", opts->nr_cpus, VM_MAX_CPUS);
		ret = -EINVAL;
		goto err;
	}
	if (opts->nr_cpus > max) {
		snprintf(err, errlen, "%u vCPUs requested, this host's KVM allows %u", opts->nr_cpus,
			 max);
		ret = -EINVAL;
		goto err;
	}
	vm->nr_cpus = opts->nr_cpus;
	for (i = 0; i < vm->nr_cpus; i++) {
		ret = create_vcpu(vm, i, err, errlen);
		if (ret)
			goto err;
	}
	if (opts->cpuid) {
		vm->cpuid = cpuid__dup(opts->cpuid);
		if (!vm->cpuid) {
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto err;
		}
	}
	ret = vm__setup_cpuid(vm, err, errlen);
	if (ret)
		goto err;
	ret = vm__create_buses(vm);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	vm->state = VM_RUNNING;
	return 0;
err:
	vm__destroy(vm);
	return ret;
}

int vm__create(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen)
{
	int ret = vm__create_shell(vm, opts, err, errlen);

	return ret ? ret : vm__complete(vm, opts, err, errlen);
}

void vm__destroy(struct vm *vm)
{
	unsigned int i;

	vm__destroy_devices(vm);
	for (i = 0; i < VM_MAX_CPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, vm->vcpu_mmap_size);
		dirty_ring__unmap(&v->ring);
		if (v->fd >= 0)
			close(v->fd);
		free(v->cpuid);
		v->run = NULL;
		v->fd = -1;
		v->cpuid = NULL;
	}
	guest_memory__destroy(&vm->mem);
	free(vm->cpuid);
	vm->cpuid = NULL;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->ring_full_fd >= 0)
		close(vm->ring_full_fd);
	vm->ring_full_fd = -1;
	vm->dirty_ring_entries = 0;
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
}
