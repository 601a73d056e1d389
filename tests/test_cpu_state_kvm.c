/* vCPU and VM state through real KVM: set distinctive state in one VM, save,
 * encode, decode, load into a second VM, save again and compare. Uses raw
 * ioctls for the VM itself so only cpu_state is under test. */
#include "cpu_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_kvm.h"

#define MEM_SIZE	0x10000
#define APIC_TPR	0x80
#define APIC_SPIV	0xf0
#define APIC_TMCCT	0x390		/* timer current count: runs freely */

#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_LSTAR		0xc0000082
#define MSR_KERNEL_GS_BASE	0xc0000102

static int kvm_fd = -1;

struct test_vm {
	int vm;
	int vcpu;
	void *mem;
};

static const struct {
	uint32_t index;
	uint64_t value;
} test_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0x10 },
	{ MSR_IA32_SYSENTER_ESP, 0xffff8000aaaa0000ull },
	{ MSR_IA32_SYSENTER_EIP, 0xffff8000bbbb0000ull },
	{ MSR_LSTAR, 0xffffffff81000040ull },
	{ MSR_KERNEL_GS_BASE, 0xffff888012345678ull },
};

/* The TSC is written relative to what the vCPU reads first, far enough
 * ahead (2^48 ticks: a day or more at any rate) that an honoured write
 * and a host TSC running on cannot be confused, however long the host
 * has been up. A few seconds' worth of ticks bounds how far it may run on
 * between two reads. */
#define TSC_JUMP	(1ull << 48)
#define TSC_RUN_ON	20000000000ull
#define CLOCK_JUMP	(1ull << 50)	/* ns, about 13 days */

struct tsc_probe {
	uint64_t before;	/* read before the write */
	uint64_t written;
};

static struct tsc_probe tsc_probe;

#define NR_TEST_MSRS (sizeof(test_msrs) / sizeof(test_msrs[0]))

static void set_cpuid(int vcpu)
{
	struct kvm_cpuid2 *c;
	int n = 64;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		assert_non_null(c);
		c->nent = n;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			break;
		assert_int_equal(errno, E2BIG);
		free(c);
		n *= 2;
	}
	assert_int_equal(ioctl(vcpu, KVM_SET_CPUID2, c), 0);
	free(c);
}

static void vm_create(struct test_vm *t, int with_pit)
{
	struct kvm_pit_config pit = { .flags = 0 };
	struct kvm_userspace_memory_region slot = { 0 };

	t->vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	assert_true(t->vm >= 0);
	/* Irqchip before the vCPU, so the vCPU gets an in-kernel LAPIC. */
	assert_int_equal(ioctl(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
	if (with_pit)
		assert_int_equal(ioctl(t->vm, KVM_CREATE_PIT2, &pit), 0);
	t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->mem != MAP_FAILED);
	slot.memory_size = MEM_SIZE;
	slot.userspace_addr = (uintptr_t)t->mem;
	assert_int_equal(ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &slot), 0);
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	assert_true(t->vcpu >= 0);
	set_cpuid(t->vcpu);
}

static void vm_destroy(struct test_vm *t)
{
	close(t->vcpu);
	close(t->vm);
	munmap(t->mem, MEM_SIZE);
}

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS. */
static void tsc_ioctl(int vcpu, unsigned long req, uint64_t *val)
{
	struct kvm_msrs *m;

	m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	assert_non_null(m);
	m->nmsrs = 1;
	m->entries[0].index = MSR_IA32_TSC;
	m->entries[0].data = *val;
	assert_int_equal(ioctl(vcpu, req, m), 1);
	*val = m->entries[0].data;
	free(m);
}

static void set_tsc(int vcpu, struct tsc_probe *p)
{
	uint64_t v = 0;

	tsc_ioctl(vcpu, KVM_GET_MSRS, &v);
	p->before = v;
	assert_true(p->before < UINT64_MAX - 2 * TSC_JUMP);
	p->written = p->before + TSC_JUMP;
	v = p->written;
	tsc_ioctl(vcpu, KVM_SET_MSRS, &v);
}

static void set_msrs(int vcpu)
{
	struct kvm_msrs *m;
	size_t i;

	m = calloc(1, sizeof(*m) + NR_TEST_MSRS * sizeof(m->entries[0]));
	assert_non_null(m);
	m->nmsrs = NR_TEST_MSRS;
	for (i = 0; i < NR_TEST_MSRS; i++) {
		m->entries[i].index = test_msrs[i].index;
		m->entries[i].data = test_msrs[i].value;
	}
	assert_int_equal(ioctl(vcpu, KVM_SET_MSRS, m), NR_TEST_MSRS);
	free(m);
}

/* State a fresh vCPU would never have, in every part that is saved. */
static void make_distinctive(int vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_lapic_state lapic;
	struct kvm_debugregs dr;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };

	memset(&regs, 0, sizeof(regs));
	regs.rax = 0x1111111111111111ull;
	regs.rbx = 0x2222222222222222ull;
	regs.rcx = 0x3333333333333333ull;
	regs.rdx = 0x4444444444444444ull;
	regs.rsi = 0x5555555555555555ull;
	regs.rdi = 0x6666666666666666ull;
	regs.rsp = 0x7777777777777770ull;
	regs.rbp = 0x8888888888888888ull;
	regs.r8 = 8;
	regs.r9 = 9;
	regs.r10 = 10;
	regs.r11 = 11;
	regs.r12 = 12;
	regs.r13 = 13;
	regs.r14 = 14;
	regs.r15 = 0xf15f15f15ull;
	regs.rip = 0x1234;
	regs.rflags = 0x2 | 0x4 | 0x80;		/* reserved bit 1, PF, SF */
	assert_int_equal(ioctl(vcpu, KVM_SET_REGS, &regs), 0);

	assert_int_equal(ioctl(vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.fs.base = 0x12345000;
	sregs.gs.base = 0xabcd0000;
	sregs.cr2 = 0xdead000;
	sregs.gdt.base = 0x5000;
	sregs.gdt.limit = 0x27;
	sregs.idt.base = 0x6000;
	sregs.idt.limit = 0xfff;
	assert_int_equal(ioctl(vcpu, KVM_SET_SREGS, &sregs), 0);

	assert_int_equal(ioctl(vcpu, KVM_GET_LAPIC, &lapic), 0);
	*(uint32_t *)&lapic.regs[APIC_TPR] = 0x20;
	*(uint32_t *)&lapic.regs[APIC_SPIV] = 0x1ff;
	assert_int_equal(ioctl(vcpu, KVM_SET_LAPIC, &lapic), 0);

	assert_int_equal(ioctl(vcpu, KVM_GET_DEBUGREGS, &dr), 0);
	dr.db[0] = 0x1000;
	dr.db[3] = 0x4000;
	dr.dr7 = 0x401;
	assert_int_equal(ioctl(vcpu, KVM_SET_DEBUGREGS, &dr), 0);

	set_msrs(vcpu);
	set_tsc(vcpu, &tsc_probe);

	assert_int_equal(ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
	ev.nmi.masked = 1;
	assert_int_equal(ioctl(vcpu, KVM_SET_VCPU_EVENTS, &ev), 0);
	assert_int_equal(ioctl(vcpu, KVM_SET_MP_STATE, &mp), 0);
}

static const struct kvm_msr_entry *find_msr(const struct vcpu_state *s,
					    uint32_t index)
{
	uint32_t i;

	for (i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			return &s->msrs[i];
	return NULL;
}

static void transfer_vcpu(const struct vcpu_state *in, struct vcpu_state *out)
{
	char err[256] = "";
	struct wbuf w;
	struct rbuf r;

	wbuf__init(&w);
	assert_int_equal(vcpu_state__encode(in, &w), 0);
	rbuf__init(&r, w.data, w.len);
	assert_int_equal(vcpu_state__decode(out, &r, err, sizeof(err)), 0);
	wbuf__free(&w);
}

static void assert_msrs_carried(const struct vcpu_state *a,
				const struct vcpu_state *b)
{
	const struct kvm_msr_entry *ma, *mb;
	uint32_t i;

	assert_int_equal(a->nmsrs, b->nmsrs);
	for (i = 0; i < NR_TEST_MSRS; i++) {
		ma = find_msr(a, test_msrs[i].index);
		mb = find_msr(b, test_msrs[i].index);
		assert_non_null(ma);
		assert_non_null(mb);
		assert_true(ma->data == test_msrs[i].value);
		assert_true(mb->data == test_msrs[i].value);
	}
	for (i = 0; i < a->nmsrs; i++)
		if (a->msrs[i].index != MSR_IA32_TSC)
			assert_true(find_msr(b, a->msrs[i].index)->data ==
				    a->msrs[i].data);
}

/* A host may keep the guest's TSC equal to its own and ignore writes to
 * it (PVM does). Then only the continuation can be checked: the saved TSC
 * runs on from the one read before the write. Either way the loaded TSC
 * runs on from the saved one. */
static void assert_tsc_carried(const struct vcpu_state *a,
			       const struct vcpu_state *b,
			       const struct tsc_probe *p)
{
	const struct kvm_msr_entry *ma = find_msr(a, MSR_IA32_TSC);
	const struct kvm_msr_entry *mb = find_msr(b, MSR_IA32_TSC);
	uint64_t from;

	assert_non_null(ma);
	assert_non_null(mb);
	if (ma->data >= p->written) {
		from = p->written;
	} else {
		print_message("note: this host ignores writes to the guest's TSC "
			      "(wrote 0x%llx, read 0x%llx): checked only that "
			      "the TSC runs on\n",
			      (unsigned long long)p->written,
			      (unsigned long long)ma->data);
		from = p->before;
	}
	assert_true(ma->data >= from);
	assert_true(ma->data - from < TSC_RUN_ON);
	assert_true(mb->data >= ma->data);
	assert_true(mb->data - ma->data < TSC_RUN_ON);
}

static void assert_vcpu_carried(const struct vcpu_state *a,
				const struct vcpu_state *b)
{
	assert_int_equal(a->mp_state.mp_state, KVM_MP_STATE_HALTED);
	assert_int_equal(b->mp_state.mp_state, KVM_MP_STATE_HALTED);
	assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
	assert_true(b->regs.rip == 0x1234);
	assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
	assert_true(b->sregs.fs.base == 0x12345000 && b->sregs.cr2 == 0xdead000);
	assert_int_equal(a->xsave_len, b->xsave_len);
	assert_memory_equal(a->xsave, b->xsave, a->xsave_len);
	assert_memory_equal(&a->xcrs, &b->xcrs, sizeof(a->xcrs));
	assert_memory_equal(&a->debugregs, &b->debugregs, sizeof(a->debugregs));
	assert_true(b->debugregs.db[3] == 0x4000);
	assert_memory_equal(a->lapic.regs, b->lapic.regs, APIC_TMCCT);
	assert_int_equal(*(uint32_t *)&b->lapic.regs[APIC_TPR], 0x20);
	assert_memory_equal(&a->events, &b->events, sizeof(a->events));
	assert_int_equal(b->events.nmi.masked, 1);
	assert_msrs_carried(a, b);
	assert_tsc_carried(a, b, &tsc_probe);
}

static void test_vcpu_roundtrip(void **unused)
{
	struct vcpu_state *s1 = calloc(1, sizeof(*s1));
	struct vcpu_state *s2 = calloc(1, sizeof(*s2));
	struct vcpu_state *s3 = calloc(1, sizeof(*s3));
	struct test_vm src, dst;
	char err[256] = "";
	int ret;

	assert_true(s1 && s2 && s3);
	vm_create(&src, 1);
	vm_create(&dst, 1);
	make_distinctive(src.vcpu);
	ret = vcpu_state__save(kvm_fd, src.vm, src.vcpu, s1, err, sizeof(err));
	assert_int_equal(ret, 0);
	print_message("vcpu: %u MSRs, xsave %u bytes, %u XCRs\n", s1->nmsrs,
		      s1->xsave_len, s1->xcrs.nr_xcrs);
	if (getenv("DUMP_MSRS"))
		for (ret = 0; ret < (int)s1->nmsrs; ret++)
			print_message("  msr 0x%x = 0x%llx\n", s1->msrs[ret].index,
				      (unsigned long long)s1->msrs[ret].data);
	transfer_vcpu(s1, s2);
	ret = vcpu_state__load(dst.vm, dst.vcpu, s2, err, sizeof(err));
	if (ret)
		print_error("load: %s\n", err);
	assert_int_equal(ret, 0);
	ret = vcpu_state__save(kvm_fd, dst.vm, dst.vcpu, s3, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_vcpu_carried(s1, s3);
	vm_destroy(&src);
	vm_destroy(&dst);
	free(s1);
	free(s2);
	free(s3);
}

static void test_vcpu_errors(void **unused)
{
	struct vcpu_state *s = calloc(1, sizeof(*s));
	struct test_vm t;
	char err[256] = "";

	assert_non_null(s);
	vm_create(&t, 1);
	assert_int_equal(vcpu_state__save(kvm_fd, t.vm, -1, s, err, sizeof(err)),
			 -EBADF);
	assert_non_null(strstr(err, "KVM_GET_MP_STATE"));
	assert_int_equal(vcpu_state__save(kvm_fd, t.vm, t.vcpu, s, err,
					  sizeof(err)), 0);
	/* An MSR the destination does not have must be named, not dropped. */
	s->msrs[s->nmsrs].index = 0xdeadbeef;
	s->msrs[s->nmsrs].data = 1;
	s->nmsrs++;
	assert_int_equal(vcpu_state__load(t.vm, t.vcpu, s, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "0xdeadbeef"));
	/* An XSAVE area larger than this host's, with content past its end. */
	s->nmsrs--;
	s->xsave_len = CPU_XSAVE_MAX;
	s->xsave[CPU_XSAVE_MAX - 1] = 1;
	assert_int_equal(vcpu_state__load(t.vm, t.vcpu, s, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "KVM_SET_XSAVE"));
	vm_destroy(&t);
	free(s);
}

/* The clock is set relative to what it reads, like the TSC: a fixed value
 * could lie below the host's own clock on one host and above it on
 * another. Returns the value set. */
static uint64_t make_distinctive_vm(int vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };

	assert_int_equal(ioctl(vm, KVM_GET_IRQCHIP, &chip), 0);
	/* vector 0x35, level triggered, unmasked, destination 1 */
	chip.chip.ioapic.redirtbl[5].bits = 0x35 | 1ull << 15 | 1ull << 56;
	assert_int_equal(ioctl(vm, KVM_SET_IRQCHIP, &chip), 0);
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	assert_int_equal(ioctl(vm, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.pic.imr = 0xfa;
	chip.chip.pic.irq_base = 0x20;
	assert_int_equal(ioctl(vm, KVM_SET_IRQCHIP, &chip), 0);
	assert_int_equal(ioctl(vm, KVM_GET_PIT2, &pit), 0);
	pit.channels[0].count = 0x1234;
	pit.channels[0].mode = 2;
	pit.channels[0].rw_mode = 3;
	assert_int_equal(ioctl(vm, KVM_SET_PIT2, &pit), 0);
	assert_int_equal(ioctl(vm, KVM_GET_CLOCK, &clock), 0);
	assert_true(clock.clock < UINT64_MAX - 2 * CLOCK_JUMP);
	clock.clock += CLOCK_JUMP;
	clock.flags = 0;
	assert_int_equal(ioctl(vm, KVM_SET_CLOCK, &clock), 0);
	return clock.clock;
}

static void transfer_vm(const struct vm_state *in, struct vm_state *out)
{
	char err[256] = "";
	struct wbuf w;
	struct rbuf r;

	wbuf__init(&w);
	assert_int_equal(vm_state__encode(in, &w), 0);
	rbuf__init(&r, w.data, w.len);
	assert_int_equal(vm_state__decode(out, &r, err, sizeof(err)), 0);
	wbuf__free(&w);
}

static void test_vm_roundtrip(void **unused)
{
	struct vm_state s1, s2, s3;
	struct test_vm src, dst;
	char err[256] = "";
	uint64_t clock;
	int i;

	vm_create(&src, 1);
	vm_create(&dst, 1);
	clock = make_distinctive_vm(src.vm);
	assert_int_equal(vm_state__save(src.vm, &s1, err, sizeof(err)), 0);
	transfer_vm(&s1, &s2);
	assert_int_equal(vm_state__load(dst.vm, &s2, err, sizeof(err)), 0);
	assert_int_equal(vm_state__save(dst.vm, &s3, err, sizeof(err)), 0);
	for (i = 0; i < 2; i++)
		assert_memory_equal(&s1.irqchip[i].chip.pic, &s3.irqchip[i].chip.pic,
				    sizeof(s1.irqchip[i].chip.pic));
	assert_int_equal(s3.irqchip[0].chip.pic.imr, 0xfa);
	assert_memory_equal(&s1.irqchip[2].chip.ioapic, &s3.irqchip[2].chip.ioapic,
			    sizeof(s1.irqchip[2].chip.ioapic));
	assert_true(s3.irqchip[2].chip.ioapic.redirtbl[5].bits ==
		    (0x35 | 1ull << 15 | 1ull << 56));
	for (i = 0; i < 3; i++) {
		assert_int_equal(s1.pit.channels[i].count, s3.pit.channels[i].count);
		assert_int_equal(s1.pit.channels[i].mode, s3.pit.channels[i].mode);
		assert_int_equal(s1.pit.channels[i].rw_mode, s3.pit.channels[i].rw_mode);
		assert_int_equal(s1.pit.channels[i].gate, s3.pit.channels[i].gate);
	}
	assert_int_equal(s3.pit.channels[0].count, 0x1234);
	assert_int_equal(s1.pit.flags, s3.pit.flags);
	/* The clock runs on from where it was, a few seconds at most. */
	assert_true(s1.clock.clock >= clock);
	assert_true(s1.clock.clock - clock < 5000000000ull);
	assert_true(s3.clock.clock >= s1.clock.clock);
	assert_true(s3.clock.clock - s1.clock.clock < 5000000000ull);
	vm_destroy(&src);
	vm_destroy(&dst);
}

static void test_vm_errors(void **unused)
{
	struct vm_state s;
	struct test_vm t;
	char err[256] = "";

	vm_create(&t, 1);
	assert_int_equal(vm_state__save(t.vm, &s, err, sizeof(err)), 0);
	vm_destroy(&t);
	/* No PIT on the destination: refused, naming the ioctl. */
	vm_create(&t, 0);
	assert_true(vm_state__load(t.vm, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "KVM_SET_PIT2"));
	assert_int_equal(vm_state__save(t.vm, &s, err, sizeof(err)), -ENXIO);
	assert_non_null(strstr(err, "KVM_GET_PIT2"));
	vm_destroy(&t);
	assert_int_equal(vm_state__save(-1, &s, err, sizeof(err)), -EBADF);
	assert_non_null(strstr(err, "KVM_GET_IRQCHIP"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcpu_roundtrip),
		cmocka_unit_test(test_vcpu_errors),
		cmocka_unit_test(test_vm_roundtrip),
		cmocka_unit_test(test_vm_errors),
	};

	kvm_fd = kvm_open_or_skip();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
