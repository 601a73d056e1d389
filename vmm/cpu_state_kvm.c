#include "cpu_state.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "errmsg.h"
#include "mem_zero.h"

/* KVM refuses KVM_GET_MSRS/KVM_SET_MSRS with 256 or more entries at once. */
#define MSR_BATCH	255

/* The MSR index list belongs to the host's KVM, not to a VM, so one copy
 * serves every vCPU. A mutex rather than pthread_once: the first fetch can
 * fail, and a later call should then try again and report why. */
static pthread_mutex_t msr_list_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t msr_list[CPU_MSRS_MAX];
static uint32_t msr_list_len;
static int msr_list_valid;

static int do_ioctl(int fd, unsigned long req, void *arg, const char *name,
		    char *err, size_t errlen)
{
	int ret = ioctl(fd, req, arg);

	if (ret < 0) {
		ret = -errno;
		return errmsg__fail(ret, err, errlen, "%s: %s", name, strerror(-ret));
	}
	return ret;
}

#define KVM_IOCTL(fd, req, arg, err, errlen) \
	do_ioctl(fd, req, arg, #req, err, errlen)

static int fetch_msr_list(int kvm_fd, char *err, size_t errlen)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;
	int ret;

	/* Asking for zero entries makes KVM answer E2BIG with the count. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return errmsg__fail(-errno, err, errlen, "KVM_GET_MSR_INDEX_LIST: %s",
			    strerror(errno));
	if (probe.nmsrs > CPU_MSRS_MAX)
		return errmsg__fail(-E2BIG, err, errlen,
			    "KVM_GET_MSR_INDEX_LIST: %u MSRs, more than the %u supported",
			    probe.nmsrs, CPU_MSRS_MAX);
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return errmsg__fail(-ENOMEM, err, errlen, "MSR index list: out of memory");
	list->nmsrs = probe.nmsrs;
	ret = KVM_IOCTL(kvm_fd, KVM_GET_MSR_INDEX_LIST, list, err, errlen);
	if (ret >= 0) {
		memcpy(msr_list, list->indices, list->nmsrs * sizeof(msr_list[0]));
		msr_list_len = list->nmsrs;
		msr_list_valid = 1;
		ret = 0;
	}
	free(list);
	return ret;
}

static int get_msr_list(int kvm_fd, char *err, size_t errlen)
{
	int ret = 0;

	pthread_mutex_lock(&msr_list_lock);
	if (!msr_list_valid)
		ret = fetch_msr_list(kvm_fd, err, errlen);
	pthread_mutex_unlock(&msr_list_lock);
	return ret;
}

static struct kvm_msrs *alloc_msr_batch(char *err, size_t errlen)
{
	struct kvm_msrs *m;

	m = calloc(1, sizeof(*m) + MSR_BATCH * sizeof(m->entries[0]));
	if (!m)
		errmsg__fail(-ENOMEM, err, errlen, "MSR buffer: out of memory");
	return m;
}

/* KVM_GET_MSRS stops at the first MSR it cannot read (one the host or the
 * vCPU's CPUID lacks) and returns how many it read: keep those, step over
 * the unreadable one, and go on, so the result is every readable MSR. */
static int save_msrs(int kvm_fd, int vcpu_fd, struct vcpu_state *s,
		     char *err, size_t errlen)
{
	struct kvm_msrs *m;
	uint32_t pos = 0, i, n;
	int ret;

	ret = get_msr_list(kvm_fd, err, errlen);
	if (ret)
		return ret;
	m = alloc_msr_batch(err, errlen);
	if (!m)
		return -ENOMEM;
	s->nmsrs = 0;
	while (pos < msr_list_len) {
		n = msr_list_len - pos < MSR_BATCH ? msr_list_len - pos : MSR_BATCH;
		memset(m->entries, 0, n * sizeof(m->entries[0]));
		for (i = 0; i < n; i++)
			m->entries[i].index = msr_list[pos + i];
		m->nmsrs = n;
		ret = KVM_IOCTL(vcpu_fd, KVM_GET_MSRS, m, err, errlen);
		if (ret < 0)
			goto out;
		if ((uint32_t)ret > n) {
			ret = errmsg__fail(-EIO, err, errlen, "KVM_GET_MSRS: read %d of %u",
				   ret, n);
			goto out;
		}
		memcpy(&s->msrs[s->nmsrs], m->entries, ret * sizeof(m->entries[0]));
		s->nmsrs += ret;
		pos += ret;
		if ((uint32_t)ret < n)
			pos++;
	}
	ret = 0;
out:
	free(m);
	return ret;
}

/* KVM_SET_MSRS also stops at the first failure; unlike on save, a short
 * count is an error: the destination cannot hold state the guest had. */
static int load_msrs(int vcpu_fd, const struct vcpu_state *s, char *err,
		     size_t errlen)
{
	struct kvm_msrs *m;
	uint32_t pos = 0, n;
	int ret = 0;

	if (s->nmsrs > CPU_MSRS_MAX)
		return errmsg__fail(-EINVAL, err, errlen, "vcpu state: %u MSRs", s->nmsrs);
	m = alloc_msr_batch(err, errlen);
	if (!m)
		return -ENOMEM;
	while (pos < s->nmsrs) {
		n = s->nmsrs - pos < MSR_BATCH ? s->nmsrs - pos : MSR_BATCH;
		memcpy(m->entries, &s->msrs[pos], n * sizeof(m->entries[0]));
		m->nmsrs = n;
		ret = KVM_IOCTL(vcpu_fd, KVM_SET_MSRS, m, err, errlen);
		if (ret < 0)
			goto out;
		if ((uint32_t)ret < n) {
			ret = errmsg__fail(-EINVAL, err, errlen,
				   "KVM_SET_MSRS: MSR 0x%x (value 0x%llx) refused",
				   s->msrs[pos + ret].index,
				   (unsigned long long)s->msrs[pos + ret].data);
			goto out;
		}
		pos += n;
	}
	ret = 0;
out:
	free(m);
	return ret;
}

/* The size KVM_GET_XSAVE2/KVM_SET_XSAVE use: KVM_CAP_XSAVE2 on the VM,
 * or the legacy 4096 bytes when the capability is missing. */
static int xsave_size(int vm_fd, char *err, size_t errlen)
{
	int size = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	if (size < CPU_XSAVE_MIN)
		size = CPU_XSAVE_MIN;
	if (size > CPU_XSAVE_MAX)
		return errmsg__fail(-E2BIG, err, errlen,
			    "KVM_CAP_XSAVE2: XSAVE area of %d bytes, more than the %d supported",
			    size, CPU_XSAVE_MAX);
	return size;
}

static int save_xsave(int vm_fd, int vcpu_fd, struct vcpu_state *s,
		      char *err, size_t errlen)
{
	int size = xsave_size(vm_fd, err, errlen);
	int ret;

	if (size < 0)
		return size;
	if (size > CPU_XSAVE_MIN)
		ret = KVM_IOCTL(vcpu_fd, KVM_GET_XSAVE2, s->xsave, err, errlen);
	else
		ret = KVM_IOCTL(vcpu_fd, KVM_GET_XSAVE, s->xsave, err, errlen);
	if (ret < 0)
		return ret;
	s->xsave_len = size;
	return 0;
}

/* KVM_SET_XSAVE reads exactly the destination's size. A smaller saved
 * area is zero-extended (its header marks the rest absent); a larger one
 * fits only if the extra bytes are unused. */
static int load_xsave(int vm_fd, int vcpu_fd, const struct vcpu_state *s,
		      char *err, size_t errlen)
{
	int size = xsave_size(vm_fd, err, errlen);
	uint32_t len = s->xsave_len;
	uint8_t *buf;
	int ret;

	if (size < 0)
		return size;
	if (len > CPU_XSAVE_MAX)
		return errmsg__fail(-EINVAL, err, errlen, "vcpu state: xsave length %u", len);
	if (len > (uint32_t)size && !mem__is_zero(s->xsave + size, len - size))
		return errmsg__fail(-EINVAL, err, errlen,
			    "KVM_SET_XSAVE: saved XSAVE area of %u bytes does not fit this host's %d",
			    len, size);
	buf = calloc(1, size);
	if (!buf)
		return errmsg__fail(-ENOMEM, err, errlen, "XSAVE buffer: out of memory");
	memcpy(buf, s->xsave, len < (uint32_t)size ? len : (uint32_t)size);
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_XSAVE, buf, err, errlen);
	free(buf);
	return ret < 0 ? ret : 0;
}

/* Order matters; see the comment on each step. */
int vcpu_state__save(int kvm_fd, int vm_fd, int vcpu_fd, struct vcpu_state *s,
		     char *err, size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	/* First: reading MP_STATE makes KVM process a pending INIT or SIPI,
	 * which can change the registers read after it. */
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_MP_STATE, &s->mp_state, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_REGS, &s->regs, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_SREGS, &s->sregs, err, errlen);
	if (ret < 0)
		return ret;
	ret = save_xsave(vm_fd, vcpu_fd, s, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_XCRS, &s->xcrs, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_DEBUGREGS, &s->debugregs, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_LAPIC, &s->lapic, err, errlen);
	if (ret < 0)
		return ret;
	ret = save_msrs(kvm_fd, vcpu_fd, s, err, errlen);
	if (ret < 0)
		return ret;
	/* Last: pending events are whatever is left after everything else
	 * was read. */
	ret = KVM_IOCTL(vcpu_fd, KVM_GET_VCPU_EVENTS, &s->events, err, errlen);
	return ret < 0 ? ret : 0;
}

int vcpu_state__load(int vm_fd, int vcpu_fd, const struct vcpu_state *s,
		     char *err, size_t errlen)
{
	/* The ioctls take non-const pointers but only read through them. */
	struct vcpu_state *w = (struct vcpu_state *)s;
	int ret;

	/* First, as on save: whatever setting it touches, the steps below
	 * then have the final word on. */
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_MP_STATE, &w->mp_state, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_REGS, &w->regs, err, errlen);
	if (ret < 0)
		return ret;
	/* SREGS before LAPIC: the APIC base MSR (enable bit, x2APIC mode)
	 * travels in sregs, and KVM_SET_LAPIC interprets the page by it. */
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_SREGS, &w->sregs, err, errlen);
	if (ret < 0)
		return ret;
	ret = load_xsave(vm_fd, vcpu_fd, s, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_XCRS, &w->xcrs, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_DEBUGREGS, &w->debugregs, err, errlen);
	if (ret < 0)
		return ret;
	/* LAPIC before MSRS: MSRs such as IA32_TSC_DEADLINE arm the LAPIC
	 * timer, which must already hold its restored mode. */
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_LAPIC, &w->lapic, err, errlen);
	if (ret < 0)
		return ret;
	ret = load_msrs(vcpu_fd, s, err, errlen);
	if (ret < 0)
		return ret;
	/* Last: a pending exception or interrupt refers to the registers,
	 * LAPIC and MSRs above, and setting them could clear it again. */
	ret = KVM_IOCTL(vcpu_fd, KVM_SET_VCPU_EVENTS, &w->events, err, errlen);
	return ret < 0 ? ret : 0;
}

int vm_state__save(int vm_fd, struct vm_state *s, char *err, size_t errlen)
{
	uint32_t i;
	int ret;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++) {
		s->irqchip[i].chip_id = i;
		ret = KVM_IOCTL(vm_fd, KVM_GET_IRQCHIP, &s->irqchip[i], err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = KVM_IOCTL(vm_fd, KVM_GET_PIT2, &s->pit, err, errlen);
	if (ret < 0)
		return ret;
	ret = KVM_IOCTL(vm_fd, KVM_GET_CLOCK, &s->clock, err, errlen);
	return ret < 0 ? ret : 0;
}

int vm_state__load(int vm_fd, const struct vm_state *s, char *err,
		   size_t errlen)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	uint32_t i;
	int ret;

	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++) {
		chip = s->irqchip[i];
		chip.chip_id = i;
		ret = KVM_IOCTL(vm_fd, KVM_SET_IRQCHIP, &chip, err, errlen);
		if (ret < 0)
			return ret;
	}
	pit = s->pit;
	ret = KVM_IOCTL(vm_fd, KVM_SET_PIT2, &pit, err, errlen);
	if (ret < 0)
		return ret;
	/* Clock last, so the guest's time starts from here. KVM_SET_CLOCK
	 * acts on the clock value and, with KVM_CLOCK_REALTIME, the realtime
	 * stamp; the other flags KVM_GET_CLOCK reports describe the source
	 * host and are dropped. */
	memset(&clock, 0, sizeof(clock));
	clock.clock = s->clock.clock;
	clock.flags = s->clock.flags & KVM_CLOCK_REALTIME;
	if (clock.flags)
		clock.realtime = s->clock.realtime;
	ret = KVM_IOCTL(vm_fd, KVM_SET_CLOCK, &clock, err, errlen);
	return ret < 0 ? ret : 0;
}
