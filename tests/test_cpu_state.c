/* Encoding of vCPU and VM state: round trips, the exact wire layout, and
 * every way a damaged record must be refused. No KVM needed. */
#include "cpu_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Wire sizes of the fixed parts, written out by hand so a change of the
 * format shows up here as well as in the code. */
#define HDR_LEN		4			/* version */
#define MP_LEN		4
#define REGS_LEN	(18 * 8)
#define SEG_LEN		(8 + 4 + 2 + 9)
#define DT_LEN		(8 + 2)
#define SREGS_LEN	(8 * SEG_LEN + 2 * DT_LEN + 7 * 8 + 4 * 8)
#define XSAVE_OFF	(HDR_LEN + MP_LEN + REGS_LEN + SREGS_LEN)
#define DEBUGREGS_LEN	(7 * 8)
#define LAPIC_LEN	1024
#define EVENTS_LEN	(8 + 4 + 3 + 4 + 4 + 4 + 1 + 1 + 8)
#define VM_LEN		(4 + 2 * (4 + 16) + (4 + 8 + 3 * 4 + 24 * 8) + \
			 3 * (4 + 2 + 10 + 8) + 4 + (8 + 4 + 8 + 8))

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(void *p, size_t n)
{
	uint8_t *b = p;

	while (n--)
		*b++ = (uint8_t)rng();
}

static size_t xcrs_off(uint32_t xlen)
{
	return XSAVE_OFF + 4 + xlen;
}

static size_t msrs_off(uint32_t xlen, uint32_t nxcrs)
{
	return xcrs_off(xlen) + 8 + 12 * nxcrs + DEBUGREGS_LEN + LAPIC_LEN;
}

static size_t vcpu_len(uint32_t xlen, uint32_t nxcrs, uint32_t nmsrs)
{
	return msrs_off(xlen, nxcrs) + 4 + 12 * nmsrs + EVENTS_LEN;
}

static void zero_segment(struct kvm_segment *g)
{
	g->padding = 0;
}

/* Random bytes everywhere, then zero exactly what does not travel: KVM's
 * padding and reserved fields, array slots past their count, the xsave
 * tail. What is left must come back bit for bit. */
static void random_vcpu(struct vcpu_state *s, uint32_t xlen, uint32_t nxcrs,
			uint32_t nmsrs)
{
	struct kvm_segment *segs[] = {
		&s->sregs.cs, &s->sregs.ds, &s->sregs.es, &s->sregs.fs,
		&s->sregs.gs, &s->sregs.ss, &s->sregs.tr, &s->sregs.ldt,
	};
	size_t i;

	fill(s, sizeof(*s));
	for (i = 0; i < 8; i++)
		zero_segment(segs[i]);
	memset(s->sregs.gdt.padding, 0, sizeof(s->sregs.gdt.padding));
	memset(s->sregs.idt.padding, 0, sizeof(s->sregs.idt.padding));
	s->xsave_len = xlen;
	memset(s->xsave + xlen, 0, CPU_XSAVE_MAX - xlen);
	s->xcrs.nr_xcrs = nxcrs;
	for (i = 0; i < KVM_MAX_XCRS; i++) {
		s->xcrs.xcrs[i].reserved = 0;
		if (i >= nxcrs)
			memset(&s->xcrs.xcrs[i], 0, sizeof(s->xcrs.xcrs[i]));
	}
	memset(s->xcrs.padding, 0, sizeof(s->xcrs.padding));
	memset(s->debugregs.reserved, 0, sizeof(s->debugregs.reserved));
	s->nmsrs = nmsrs;
	for (i = 0; i < CPU_MSRS_MAX; i++) {
		s->msrs[i].reserved = 0;
		if (i >= nmsrs)
			memset(&s->msrs[i], 0, sizeof(s->msrs[i]));
	}
	s->events.nmi.pad = 0;
	memset(s->events.reserved, 0, sizeof(s->events.reserved));
}

static void random_vm(struct vm_state *s)
{
	size_t i;

	fill(s, sizeof(*s));
	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++) {
		struct kvm_irqchip *c = &s->irqchip[i];
		size_t used = i == KVM_IRQCHIP_IOAPIC ?
			sizeof(c->chip.ioapic) : sizeof(c->chip.pic);

		c->chip_id = i;
		c->pad = 0;
		memset(c->chip.dummy + used, 0, sizeof(c->chip.dummy) - used);
		if (i == KVM_IRQCHIP_IOAPIC)
			c->chip.ioapic.pad = 0;
	}
	memset(s->pit.reserved, 0, sizeof(s->pit.reserved));
	s->clock.pad0 = 0;
	memset(s->clock.pad, 0, sizeof(s->clock.pad));
}

/* Top-level fields one by one: the struct itself may have padding between
 * them, which is nobody's state. */
static void assert_vcpu_equal(const struct vcpu_state *a,
			      const struct vcpu_state *b)
{
#define SAME(f) assert_memory_equal(&a->f, &b->f, sizeof(a->f))
	SAME(mp_state);
	SAME(regs);
	SAME(sregs);
	SAME(xsave_len);
	SAME(xsave);
	SAME(xcrs);
	SAME(debugregs);
	SAME(lapic);
	SAME(nmsrs);
	SAME(msrs);
	SAME(events);
#undef SAME
}

static int vcpu_is_zero(const struct vcpu_state *s)
{
	static const struct vcpu_state zero;

	return !memcmp(s, &zero, sizeof(*s));
}

static int vm_is_zero(const struct vm_state *s)
{
	static const struct vm_state zero;

	return !memcmp(s, &zero, sizeof(*s));
}

static struct vcpu_state *vcpu_alloc(void)
{
	struct vcpu_state *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	return s;
}

static void encode_vcpu(const struct vcpu_state *s, struct wbuf *w)
{
	wbuf__init(w);
	assert_int_equal(vcpu_state__encode(s, w), 0);
}

static int decode_vcpu(const uint8_t *p, size_t len, struct vcpu_state *s,
		       char *err, size_t errlen)
{
	struct rbuf r;
	int ret;

	rbuf__init(&r, p, len);
	ret = vcpu_state__decode(s, &r, err, errlen);
	if (!ret)
		assert_int_equal(rbuf__remaining(&r), 0);
	return ret;
}

static void roundtrip_vcpu(uint32_t xlen, uint32_t nxcrs, uint32_t nmsrs)
{
	struct vcpu_state *a = vcpu_alloc(), *b = vcpu_alloc();
	char err[128] = "";
	struct wbuf w;

	random_vcpu(a, xlen, nxcrs, nmsrs);
	encode_vcpu(a, &w);
	assert_int_equal(w.len, vcpu_len(xlen, nxcrs, nmsrs));
	fill(b, sizeof(*b));
	assert_int_equal(decode_vcpu(w.data, w.len, b, err, sizeof(err)), 0);
	assert_vcpu_equal(a, b);
	wbuf__free(&w);
	free(a);
	free(b);
}

static void test_vcpu_roundtrip(void **unused)
{
	rng_state = 0x9e3779b97f4a7c15ull;
	roundtrip_vcpu(4096, 1, 40);
	roundtrip_vcpu(CPU_XSAVE_MAX, KVM_MAX_XCRS, CPU_MSRS_MAX);
	roundtrip_vcpu(4096 + 2696, 0, 0);
}

/* Pins byte order and field order: a fixed value lands at a fixed place. */
static void test_vcpu_layout(void **unused)
{
	struct vcpu_state *s = vcpu_alloc();
	struct wbuf w;

	s->xsave_len = 4096;
	s->mp_state.mp_state = 0xa1b2c3d4;
	s->regs.rax = 0x0102030405060708ull;
	s->regs.rflags = 0x1122334455667788ull;
	s->nmsrs = 1;
	s->msrs[0].index = 0xc0000102;
	s->msrs[0].data = 0xfeedfacecafebeefull;
	encode_vcpu(s, &w);
	assert_int_equal(wire__get_le32(w.data), CPU_STATE_VERSION);
	assert_int_equal(wire__get_le32(w.data + 4), 0xa1b2c3d4);
	assert_int_equal(w.data[8], 0x08);
	assert_int_equal(w.data[15], 0x01);
	assert_true(wire__get_le64(w.data + 8 + 17 * 8) == 0x1122334455667788ull);
	assert_int_equal(wire__get_le32(w.data + XSAVE_OFF), 4096);
	assert_int_equal(wire__get_le32(w.data + msrs_off(4096, 0)), 1);
	assert_int_equal(wire__get_le32(w.data + msrs_off(4096, 0) + 4), 0xc0000102);
	assert_true(wire__get_le64(w.data + msrs_off(4096, 0) + 8) ==
		    0xfeedfacecafebeefull);
	assert_int_equal(cpu_state__version(), CPU_STATE_VERSION);
	wbuf__free(&w);
	free(s);
}

static void test_vcpu_truncated(void **unused)
{
	struct vcpu_state *a = vcpu_alloc(), *b = vcpu_alloc();
	char err[128];
	struct wbuf w;
	size_t len;

	rng_state = 42;
	random_vcpu(a, 4096, 1, 3);
	encode_vcpu(a, &w);
	for (len = 0; len < w.len; len++) {
		fill(b, sizeof(*b));
		err[0] = '\0';
		assert_int_equal(decode_vcpu(w.data, len, b, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "truncated"));
		assert_true(vcpu_is_zero(b));
	}
	/* A NULL err buffer is allowed. */
	assert_int_equal(decode_vcpu(w.data, w.len - 1, b, NULL, 0), -EBADMSG);
	wbuf__free(&w);
	free(a);
	free(b);
}

static void expect_vcpu_error(struct wbuf *w, size_t off, uint32_t value,
			      int want, const char *msg)
{
	struct vcpu_state *b = vcpu_alloc();
	uint8_t *copy = malloc(w->len);
	char err[128] = "";

	assert_non_null(copy);
	memcpy(copy, w->data, w->len);
	wire__le32(copy + off, value);
	fill(b, sizeof(*b));
	assert_int_equal(decode_vcpu(copy, w->len, b, err, sizeof(err)), want);
	assert_non_null(strstr(err, msg));
	assert_true(vcpu_is_zero(b));
	free(copy);
	free(b);
}

static void test_vcpu_bad_version(void **unused)
{
	struct vcpu_state *a = vcpu_alloc();
	struct wbuf w;

	a->xsave_len = 4096;
	encode_vcpu(a, &w);
	expect_vcpu_error(&w, 0, 0, -EPROTONOSUPPORT, "version 0");
	expect_vcpu_error(&w, 0, 2, -EPROTONOSUPPORT, "version 2");
	expect_vcpu_error(&w, 0, UINT32_MAX, -EPROTONOSUPPORT, "version");
	wbuf__free(&w);
	free(a);
}

static void test_vcpu_bad_counts(void **unused)
{
	struct vcpu_state *a = vcpu_alloc();
	struct wbuf w;

	rng_state = 7;
	random_vcpu(a, 4096, 2, 5);
	encode_vcpu(a, &w);
	expect_vcpu_error(&w, XSAVE_OFF, 0, -EBADMSG, "xsave length 0");
	expect_vcpu_error(&w, XSAVE_OFF, 4095, -EBADMSG, "xsave length");
	expect_vcpu_error(&w, XSAVE_OFF, CPU_XSAVE_MAX + 1, -EBADMSG, "xsave length");
	expect_vcpu_error(&w, XSAVE_OFF, UINT32_MAX, -EBADMSG, "xsave length");
	/* Valid but longer than what follows: a truncation, not a crash. */
	expect_vcpu_error(&w, XSAVE_OFF, CPU_XSAVE_MAX, -EBADMSG, "truncated");
	expect_vcpu_error(&w, xcrs_off(4096), KVM_MAX_XCRS + 1, -EBADMSG, "XCR count");
	expect_vcpu_error(&w, xcrs_off(4096), UINT32_MAX, -EBADMSG, "XCR count");
	expect_vcpu_error(&w, msrs_off(4096, 2), CPU_MSRS_MAX + 1, -EBADMSG, "MSR count");
	expect_vcpu_error(&w, msrs_off(4096, 2), UINT32_MAX, -EBADMSG, "MSR count");
	expect_vcpu_error(&w, msrs_off(4096, 2), CPU_MSRS_MAX, -EBADMSG, "truncated");
	wbuf__free(&w);
	free(a);
}

/* A state that cannot be encoded faithfully is refused, not cut short. */
static void test_vcpu_encode_invalid(void **unused)
{
	struct vcpu_state *a = vcpu_alloc();
	struct wbuf w;

	a->xsave_len = 4096;
	a->nmsrs = CPU_MSRS_MAX + 1;
	wbuf__init(&w);
	assert_int_equal(vcpu_state__encode(a, &w), -EINVAL);
	wbuf__free(&w);
	a->nmsrs = 0;
	a->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
	assert_int_equal(vcpu_state__encode(a, &w), -EINVAL);
	wbuf__free(&w);
	a->xcrs.nr_xcrs = 0;
	a->xsave_len = CPU_XSAVE_MAX + 1;
	assert_int_equal(vcpu_state__encode(a, &w), -EINVAL);
	wbuf__free(&w);
	a->xsave_len = 0;
	assert_int_equal(vcpu_state__encode(a, &w), -EINVAL);
	wbuf__free(&w);
	free(a);
}

static int decode_vm(const uint8_t *p, size_t len, struct vm_state *s,
		     char *err, size_t errlen)
{
	struct rbuf r;
	int ret;

	rbuf__init(&r, p, len);
	ret = vm_state__decode(s, &r, err, errlen);
	if (!ret)
		assert_int_equal(rbuf__remaining(&r), 0);
	return ret;
}

static void test_vm_roundtrip(void **unused)
{
	struct vm_state a, b;
	char err[128] = "";
	struct wbuf w;
	int i;

	rng_state = 0x1234567887654321ull;
	for (i = 0; i < 4; i++) {
		random_vm(&a);
		wbuf__init(&w);
		assert_int_equal(vm_state__encode(&a, &w), 0);
		assert_int_equal(w.len, VM_LEN);
		fill(&b, sizeof(b));
		assert_int_equal(decode_vm(w.data, w.len, &b, err, sizeof(err)), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		wbuf__free(&w);
	}
}

static void test_vm_errors(void **unused)
{
	struct vm_state a, b;
	char err[128];
	struct wbuf w;
	size_t len;

	rng_state = 99;
	random_vm(&a);
	wbuf__init(&w);
	assert_int_equal(vm_state__encode(&a, &w), 0);
	for (len = 0; len < w.len; len++) {
		fill(&b, sizeof(b));
		assert_int_equal(decode_vm(w.data, len, &b, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "truncated"));
		assert_true(vm_is_zero(&b));
	}
	wire__le32(w.data, 3);
	assert_int_equal(decode_vm(w.data, w.len, &b, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version 3"));
	wire__le32(w.data, CPU_STATE_VERSION);
	/* A chip id that would make the PIC bytes be read as an IOAPIC. */
	wire__le32(w.data + 4 + 20, KVM_IRQCHIP_IOAPIC);
	fill(&b, sizeof(b));
	assert_int_equal(decode_vm(w.data, w.len, &b, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "irqchip 1 has id 2"));
	assert_true(vm_is_zero(&b));
	wbuf__free(&w);
	/* Nor is a chip in the wrong slot encoded. */
	a.irqchip[0].chip_id = 1;
	assert_int_equal(vm_state__encode(&a, &w), -EINVAL);
	wbuf__free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcpu_roundtrip),
		cmocka_unit_test(test_vcpu_layout),
		cmocka_unit_test(test_vcpu_truncated),
		cmocka_unit_test(test_vcpu_bad_version),
		cmocka_unit_test(test_vcpu_bad_counts),
		cmocka_unit_test(test_vcpu_encode_invalid),
		cmocka_unit_test(test_vm_roundtrip),
		cmocka_unit_test(test_vm_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
