#include "cpu_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

/* Each struct's fields are listed once, in a function that walks them with
 * a codec: encoding reads every field into the wbuf, decoding writes every
 * field from the rbuf. One list for both directions means encode and
 * decode cannot drift apart in order or width.
 *
 * A record is a u32 version followed by its sections in a fixed order (the
 * vCPU's is the order the state is saved in). Running off the end of the
 * input is left to the sticky rbuf error and reported once per section. */

struct codec {
	struct wire_walk w;
	char *err;
	size_t errlen;
};

struct vcpu_section {
	const char *name;
	int (*walk)(struct codec *c, struct vcpu_state *s);
};

struct vm_section {
	const char *name;
	int (*walk)(struct codec *c, struct vm_state *s);
};

__attribute__((format(printf, 2, 3)))
static int fail(struct codec *c, const char *fmt, ...)
{
	va_list ap;

	if (c->w.out) {
		/* Only an invalid in-memory state fails an encode. */
		if (!c->w.out->err)
			c->w.out->err = -EINVAL;
		return -EINVAL;
	}
	va_start(ap, fmt);
	errmsg__vset(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* The kernel's __u64 is unsigned long long, uint64_t unsigned long: the
 * 64-bit field goes through a temporary; the others share their type. */
static void f8(struct codec *c, __u8 *v)
{
	wire_walk__u8(&c->w, v);
}

static void f16(struct codec *c, __u16 *v)
{
	wire_walk__u16(&c->w, v);
}

static void f32(struct codec *c, __u32 *v)
{
	wire_walk__u32(&c->w, v);
}

static void f64(struct codec *c, __u64 *v)
{
	uint64_t t = *v;

	wire_walk__u64(&c->w, &t);
	*v = t;
}

static void fbytes(struct codec *c, void *p, size_t n)
{
	wire_walk__bytes(&c->w, p, n);
}

/* A count or length in [min, max] that sizes what follows. When decoding,
 * *n is only written once it is known to be in range, so no array is ever
 * indexed by an unchecked value. A truncated count reads as 0: the loop it
 * drives does nothing and the section reports the truncation. */
static int fcount(struct codec *c, __u32 *n, __u32 min, __u32 max,
		  const char *what)
{
	__u32 v;

	if (c->w.out) {
		if (*n < min || *n > max)
			return fail(c, "%s", what);
		wbuf__put_u32(c->w.out, *n);
		return 0;
	}
	v = rbuf__get_u32(c->w.in);
	if (c->w.in->err)
		return 0;
	if (v < min || v > max)
		return fail(c, "vcpu state: %s %u outside %u..%u", what, v, min, max);
	*n = v;
	return 0;
}

uint32_t cpu_state__version(void)
{
	return CPU_STATE_VERSION;
}

/* --- vCPU ------------------------------------------------------------------ */

static int walk_mp_state(struct codec *c, struct vcpu_state *s)
{
	f32(c, &s->mp_state.mp_state);
	return 0;
}

static int walk_regs(struct codec *c, struct vcpu_state *s)
{
	struct kvm_regs *r = &s->regs;

	f64(c, &r->rax);
	f64(c, &r->rbx);
	f64(c, &r->rcx);
	f64(c, &r->rdx);
	f64(c, &r->rsi);
	f64(c, &r->rdi);
	f64(c, &r->rsp);
	f64(c, &r->rbp);
	f64(c, &r->r8);
	f64(c, &r->r9);
	f64(c, &r->r10);
	f64(c, &r->r11);
	f64(c, &r->r12);
	f64(c, &r->r13);
	f64(c, &r->r14);
	f64(c, &r->r15);
	f64(c, &r->rip);
	f64(c, &r->rflags);
	return 0;
}

static void walk_segment(struct codec *c, struct kvm_segment *g)
{
	f64(c, &g->base);
	f32(c, &g->limit);
	f16(c, &g->selector);
	f8(c, &g->type);
	f8(c, &g->present);
	f8(c, &g->dpl);
	f8(c, &g->db);
	f8(c, &g->s);
	f8(c, &g->l);
	f8(c, &g->g);
	f8(c, &g->avl);
	f8(c, &g->unusable);
}

static void walk_dtable(struct codec *c, struct kvm_dtable *t)
{
	f64(c, &t->base);
	f16(c, &t->limit);
}

static int walk_sregs(struct codec *c, struct vcpu_state *s)
{
	struct kvm_sregs *r = &s->sregs;
	size_t i;

	walk_segment(c, &r->cs);
	walk_segment(c, &r->ds);
	walk_segment(c, &r->es);
	walk_segment(c, &r->fs);
	walk_segment(c, &r->gs);
	walk_segment(c, &r->ss);
	walk_segment(c, &r->tr);
	walk_segment(c, &r->ldt);
	walk_dtable(c, &r->gdt);
	walk_dtable(c, &r->idt);
	f64(c, &r->cr0);
	f64(c, &r->cr2);
	f64(c, &r->cr3);
	f64(c, &r->cr4);
	f64(c, &r->cr8);
	f64(c, &r->efer);
	f64(c, &r->apic_base);
	for (i = 0; i < sizeof(r->interrupt_bitmap) / sizeof(r->interrupt_bitmap[0]); i++)
		f64(c, &r->interrupt_bitmap[i]);
	return 0;
}

/* The XSAVE area is the image the XSAVE instruction writes (its header
 * says which components are present), so it travels as bytes. */
static int walk_xsave(struct codec *c, struct vcpu_state *s)
{
	int ret = fcount(c, &s->xsave_len, CPU_XSAVE_MIN, CPU_XSAVE_MAX,
			 "xsave length");

	if (!ret)
		fbytes(c, s->xsave, s->xsave_len);
	return ret;
}

static int walk_xcrs(struct codec *c, struct vcpu_state *s)
{
	struct kvm_xcrs *x = &s->xcrs;
	int ret = fcount(c, &x->nr_xcrs, 0, KVM_MAX_XCRS, "XCR count");
	__u32 i;

	f32(c, &x->flags);
	for (i = 0; !ret && i < x->nr_xcrs; i++) {
		f32(c, &x->xcrs[i].xcr);
		f64(c, &x->xcrs[i].value);
	}
	return ret;
}

static int walk_debugregs(struct codec *c, struct vcpu_state *s)
{
	struct kvm_debugregs *d = &s->debugregs;
	size_t i;

	for (i = 0; i < 4; i++)
		f64(c, &d->db[i]);
	f64(c, &d->dr6);
	f64(c, &d->dr7);
	f64(c, &d->flags);
	return 0;
}

/* KVM hands the LAPIC over as its 1 KiB register page: opaque bytes. */
static int walk_lapic(struct codec *c, struct vcpu_state *s)
{
	fbytes(c, s->lapic.regs, sizeof(s->lapic.regs));
	return 0;
}

static int walk_msrs(struct codec *c, struct vcpu_state *s)
{
	int ret = fcount(c, &s->nmsrs, 0, CPU_MSRS_MAX, "MSR count");
	__u32 i;

	for (i = 0; !ret && i < s->nmsrs; i++) {
		f32(c, &s->msrs[i].index);
		f64(c, &s->msrs[i].data);
	}
	return ret;
}

static int walk_events(struct codec *c, struct vcpu_state *s)
{
	struct kvm_vcpu_events *e = &s->events;

	f8(c, &e->exception.injected);
	f8(c, &e->exception.nr);
	f8(c, &e->exception.has_error_code);
	f8(c, &e->exception.pending);
	f32(c, &e->exception.error_code);
	f8(c, &e->interrupt.injected);
	f8(c, &e->interrupt.nr);
	f8(c, &e->interrupt.soft);
	f8(c, &e->interrupt.shadow);
	f8(c, &e->nmi.injected);
	f8(c, &e->nmi.pending);
	f8(c, &e->nmi.masked);
	f32(c, &e->sipi_vector);
	f32(c, &e->flags);
	f8(c, &e->smi.smm);
	f8(c, &e->smi.pending);
	f8(c, &e->smi.smm_inside_nmi);
	f8(c, &e->smi.latched_init);
	f8(c, &e->triple_fault.pending);
	f8(c, &e->exception_has_payload);
	f64(c, &e->exception_payload);
	return 0;
}

static const struct vcpu_section vcpu_sections[] = {
	{ "mp_state", walk_mp_state },
	{ "regs", walk_regs },
	{ "sregs", walk_sregs },
	{ "xsave", walk_xsave },
	{ "xcrs", walk_xcrs },
	{ "debugregs", walk_debugregs },
	{ "lapic", walk_lapic },
	{ "msrs", walk_msrs },
	{ "events", walk_events },
};

#define NR_VCPU_SECTIONS (sizeof(vcpu_sections) / sizeof(vcpu_sections[0]))

int vcpu_state__encode(const struct vcpu_state *s, struct wbuf *out)
{
	struct codec c = { .w.out = out };
	/* Encoding only reads through the walk functions. */
	struct vcpu_state *r = (struct vcpu_state *)s;
	size_t i;

	wbuf__put_u32(out, CPU_STATE_VERSION);
	for (i = 0; i < NR_VCPU_SECTIONS && !out->err; i++)
		vcpu_sections[i].walk(&c, r);
	return out->err;
}

static int get_version(struct codec *c, const char *what)
{
	uint32_t version = rbuf__get_u32(c->w.in);

	if (c->w.in->err)
		return fail(c, "%s state: truncated before version", what);
	if (version != CPU_STATE_VERSION) {
		fail(c, "%s state: version %u, only %u is supported",
		     what, version, CPU_STATE_VERSION);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

int vcpu_state__decode(struct vcpu_state *s, struct rbuf *in, char *err,
		       size_t errlen)
{
	struct codec c = { .w.in = in, .err = err, .errlen = errlen };
	size_t i;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = get_version(&c, "vcpu");
	for (i = 0; !ret && i < NR_VCPU_SECTIONS; i++) {
		ret = vcpu_sections[i].walk(&c, s);
		if (!ret && in->err)
			ret = fail(&c, "vcpu state: truncated in %s",
				   vcpu_sections[i].name);
	}
	if (ret)
		memset(s, 0, sizeof(*s));
	return ret;
}

/* --- VM --------------------------------------------------------------------- */

static void walk_pic(struct codec *c, struct kvm_pic_state *p)
{
	f8(c, &p->last_irr);
	f8(c, &p->irr);
	f8(c, &p->imr);
	f8(c, &p->isr);
	f8(c, &p->priority_add);
	f8(c, &p->irq_base);
	f8(c, &p->read_reg_select);
	f8(c, &p->poll);
	f8(c, &p->special_mask);
	f8(c, &p->init_state);
	f8(c, &p->auto_eoi);
	f8(c, &p->rotate_on_auto_eoi);
	f8(c, &p->special_fully_nested_mode);
	f8(c, &p->init4);
	f8(c, &p->elcr);
	f8(c, &p->elcr_mask);
}

/* A redirection entry travels as its architectural 64-bit register value,
 * which the bitfield view in the UAPI struct merely overlays. */
static void walk_ioapic(struct codec *c, struct kvm_ioapic_state *a)
{
	size_t i;

	f64(c, &a->base_address);
	f32(c, &a->ioregsel);
	f32(c, &a->id);
	f32(c, &a->irr);
	for (i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		f64(c, &a->redirtbl[i].bits);
}

static int walk_irqchips(struct codec *c, struct vm_state *s)
{
	__u32 i, id;

	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++) {
		/* The id picks the union member that follows: it must be
		 * the slot's own, whatever the input says. */
		id = s->irqchip[i].chip_id;
		f32(c, &id);
		if (c->w.in && c->w.in->err)
			return 0;
		if (id != i)
			return fail(c, "vm state: irqchip %u has id %u", i, id);
		s->irqchip[i].chip_id = id;
		if (i == KVM_IRQCHIP_IOAPIC)
			walk_ioapic(c, &s->irqchip[i].chip.ioapic);
		else
			walk_pic(c, &s->irqchip[i].chip.pic);
	}
	return 0;
}

static void walk_pit_channel(struct codec *c, struct kvm_pit_channel_state *p)
{
	f32(c, &p->count);
	f16(c, &p->latched_count);
	f8(c, &p->count_latched);
	f8(c, &p->status_latched);
	f8(c, &p->status);
	f8(c, &p->read_state);
	f8(c, &p->write_state);
	f8(c, &p->write_latch);
	f8(c, &p->rw_mode);
	f8(c, &p->mode);
	f8(c, &p->bcd);
	f8(c, &p->gate);
	f64(c, (__u64 *)&p->count_load_time);
}

static int walk_pit(struct codec *c, struct vm_state *s)
{
	size_t i;

	for (i = 0; i < 3; i++)
		walk_pit_channel(c, &s->pit.channels[i]);
	f32(c, &s->pit.flags);
	return 0;
}

static int walk_clock(struct codec *c, struct vm_state *s)
{
	f64(c, &s->clock.clock);
	f32(c, &s->clock.flags);
	f64(c, &s->clock.realtime);
	f64(c, &s->clock.host_tsc);
	return 0;
}

static const struct vm_section vm_sections[] = {
	{ "irqchip", walk_irqchips },
	{ "pit", walk_pit },
	{ "clock", walk_clock },
};

#define NR_VM_SECTIONS (sizeof(vm_sections) / sizeof(vm_sections[0]))

int vm_state__encode(const struct vm_state *s, struct wbuf *out)
{
	struct codec c = { .w.out = out };
	/* Encoding only reads through the walk functions. */
	struct vm_state *r = (struct vm_state *)s;
	size_t i;

	wbuf__put_u32(out, CPU_STATE_VERSION);
	for (i = 0; i < NR_VM_SECTIONS && !out->err; i++)
		vm_sections[i].walk(&c, r);
	return out->err;
}

int vm_state__decode(struct vm_state *s, struct rbuf *in, char *err,
		     size_t errlen)
{
	struct codec c = { .w.in = in, .err = err, .errlen = errlen };
	size_t i;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = get_version(&c, "vm");
	for (i = 0; !ret && i < NR_VM_SECTIONS; i++) {
		ret = vm_sections[i].walk(&c, s);
		if (!ret && in->err)
			ret = fail(&c, "vm state: truncated in %s",
				   vm_sections[i].name);
	}
	if (ret)
		memset(s, 0, sizeof(*s));
	return ret;
}
