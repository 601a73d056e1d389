#include "vm_sections.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

int vm_sections__describe(struct vm *vm, struct vm_config *c, char *err, size_t errlen)
{
	unsigned int i;

	vm_config__init(c);
	c->ram_size = vm->mem.size;
	c->nr_slots = vm->mem.nr_slots;
	for (i = 0; i < vm->mem.nr_slots; i++) {
		c->slots[i].gpa = vm->mem.slots[i].gpa;
		c->slots[i].size = vm->mem.slots[i].size;
	}
	c->nr_cpus = vm->nr_cpus;
	if (vm->cpuid->nent > VM_CONFIG_MAX_CPUID) {
		snprintf(err, errlen, "%u CPUID entries, the stream carries at most %d",
			 vm->cpuid->nent, VM_CONFIG_MAX_CPUID);
		return -E2BIG;
	}
	c->nr_cpuid = vm->cpuid->nent;
	memcpy(c->cpuid, vm->cpuid->entries, c->nr_cpuid * sizeof(c->cpuid[0]));
	c->nr_devices = vm->nr_devices;
	for (i = 0; i < vm->nr_devices; i++) {
		snprintf(c->devices[i].name, sizeof(c->devices[i].name), "%s", vm->devices[i]->name);
		c->devices[i].version = vm->devices[i]->state_version;
	}
	return vm_config__validate(c, err, errlen);
}

uint64_t vm_sections__state_estimate(const struct vm *vm)
{
	/* Per vCPU: XSAVE area, LAPIC page, MSRs and registers; per VM: the
	 * irqchips and PIT; devices are small. Measured sizes are ~7 KiB and
	 * ~2 KiB; a little more is a safer forecast. */
	return vm->nr_cpus * 8192ULL + 4096 + vm->nr_devices * 256ULL;
}

static int send_buf(struct stream *s, uint32_t type, struct wbuf *b, char *err, size_t errlen)
{
	int ret = b->err ? b->err : stream__send(s, type, b->data, b->len);

	if (ret)
		snprintf(err, errlen, "sending %s: %s", stream__type_name(type), strerror(-ret));
	return ret;
}

int vm_sections__send_state(struct vm *vm, struct stream *s, char *err, size_t errlen)
{
	struct vcpu_state *vs;
	struct vm_state vms;
	struct wbuf b;
	unsigned int i;
	int ret;

	vs = malloc(sizeof(*vs));
	if (!vs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	wbuf__init(&b);
	ret = vm_state__save(vm->vm_fd, &vms, err, errlen);
	if (!ret) {
		vm_state__encode(&vms, &b);
		ret = send_buf(s, SECTION_VM_STATE, &b, err, errlen);
	}
	for (i = 0; !ret && i < vm->nr_cpus; i++) {
		ret = vcpu_state__save(vm->kvm_fd, vm->vm_fd, vm->vcpus[i].fd, vs, err, errlen);
		if (ret)
			break;
		wbuf__reset(&b);
		wbuf__put_u32(&b, i);
		vcpu_state__encode(vs, &b);
		ret = send_buf(s, SECTION_VCPU, &b, err, errlen);
	}
	for (i = 0; !ret && i < vm->nr_devices; i++) {
		struct device *d = vm->devices[i];

		wbuf__reset(&b);
		wbuf__put_str(&b, d->name);
		wbuf__put_u32(&b, d->state_version);
		ret = d->save(d, &b);
		if (ret) {
			snprintf(err, errlen, "saving device %s: %s", d->name, strerror(-ret));
			break;
		}
		ret = send_buf(s, SECTION_DEVICE, &b, err, errlen);
	}
	wbuf__free(&b);
	free(vs);
	return ret;
}

int vm_state_set__init(struct vm_state_set *set, unsigned int nr_cpus)
{
	memset(set, 0, sizeof(*set));
	set->nr_cpus = nr_cpus;
	set->vcpus = calloc(nr_cpus, sizeof(*set->vcpus));
	if (!set->vcpus) {
		vm_state_set__free(set);
		return -ENOMEM;
	}
	return 0;
}

void vm_state_set__free(struct vm_state_set *set)
{
	free(set->vcpus);
	memset(set, 0, sizeof(*set));
}

static int take_device(struct vm *vm, struct rbuf *r, char *err, size_t errlen)
{
	char name[DEVICE_NAME_MAX], shown[4 * DEVICE_NAME_MAX];
	struct device *d;
	uint32_t version;
	int ret;

	rbuf__get_str(r, name, sizeof(name));
	version = rbuf__get_u32(r);
	if (r->err) {
		snprintf(err, errlen, "DEVICE section: malformed header");
		return -EBADMSG;
	}
	stream__escape(name, strlen(name), shown, sizeof(shown));
	d = vm__find_device(vm, name);
	if (!d) {
		snprintf(err, errlen, "state for a device this VM does not have: %s", shown);
		return -ENODEV;
	}
	if (version > d->state_version) {
		snprintf(err, errlen, "device %s: state version %u, this vmm reads up to %u",
			 shown, version, d->state_version);
		return -EPROTONOSUPPORT;
	}
	ret = d->load(d, r, version);
	if (ret)
		snprintf(err, errlen, "device %s: state refused: %s", shown, strerror(-ret));
	return ret;
}

/* The state decoders stop where their state ends: bytes after it are a
 * payload the format does not have. */
static int check_consumed(const struct rbuf *r, const char *what, char *err, size_t errlen)
{
	if (!rbuf__remaining(r))
		return 0;
	snprintf(err, errlen, "%s: %zu bytes after the state", what, rbuf__remaining(r));
	return -EBADMSG;
}

int vm_state_set__take(struct vm_state_set *set, struct vm *vm, const struct section *sec,
		       char *err, size_t errlen)
{
	char what[64];
	struct rbuf r;
	uint32_t idx;
	int ret;

	rbuf__init(&r, sec->payload, sec->len);
	switch (sec->type) {
	case SECTION_VM_STATE:
		ret = vm_state__decode(&set->vm, &r, err, errlen);
		return ret ? ret : check_consumed(&r, "VM_STATE section", err, errlen);
	case SECTION_VCPU:
		idx = rbuf__get_u32(&r);
		/* stream_ledger vetted the index; this guards the array. */
		if (r.err || idx >= set->nr_cpus) {
			snprintf(err, errlen, "VCPU section for vCPU %u: %s", idx,
				 r.err ? "truncated" : "no such vCPU");
			return -EPROTO;
		}
		ret = vcpu_state__decode(&set->vcpus[idx], &r, err, errlen);
		snprintf(what, sizeof(what), "VCPU section for vCPU %u", idx);
		return ret ? ret : check_consumed(&r, what, err, errlen);
	case SECTION_DEVICE:
		return take_device(vm, &r, err, errlen);
	default:
		snprintf(err, errlen, "unexpected %s section", stream__type_name(sec->type));
		return -EPROTO;
	}
}

int vm_state_set__apply(struct vm_state_set *set, struct vm *vm, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	/* The irqchip and PIT first: the vCPUs' LAPIC state refers to them. */
	ret = vm_state__load(vm->vm_fd, &set->vm, err, errlen);
	for (i = 0; !ret && i < set->nr_cpus; i++)
		ret = vcpu_state__load(vm->vm_fd, vm->vcpus[i].fd, &set->vcpus[i], err, errlen);
	return ret;
}
