/* Ring-0 CPU plumbing: GDT/TSS/IDT, the LAPIC, bringing up the APs, and the
 * trap handler with its syscalls. Ring 0 only runs at boot, to sleep, to do
 * port I/O, and to die; everything else happens in ring 3.
 */
#include "kit.h"
#include "kit_priv.h"

#define ICR_BUSY		(1u << 12)
#define ICR_INIT		0x4500
#define ICR_SIPI		0x4600

#define GATE_KERNEL		0x8e	/* present 64-bit interrupt gate, DPL 0 */
#define TSS_TYPE_AVAIL		0x89
#define AP_START_TIMEOUT_US	2000000
#define DEBUG_EXIT_PORT		0xf4

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_gate {
	uint16_t off_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

uint64_t kit_gdt[KIT_GDT_ENTRIES] = {
	[KIT_SEL_KCODE32 / 8] = 0x00cf9a000000ffffULL,
	[KIT_SEL_KCODE64 / 8] = 0x00af9a000000ffffULL,
	[KIT_SEL_KDATA / 8] = 0x00cf92000000ffffULL,
	[KIT_SEL_UDATA / 8] = 0x00cff2000000ffffULL,
	[KIT_SEL_UCODE / 8] = 0x00affa000000ffffULL,
};

static struct tss tss[KIT_MAX_CPUS];
static struct idt_gate idt[256];
static unsigned int aps_online;

static void set_gate(unsigned int vec, const void *handler, uint8_t type,
		     uint8_t ist)
{
	uint64_t a = (uintptr_t)handler;
	struct idt_gate *g = &idt[vec];

	g->off_lo = (uint16_t)a;
	g->selector = KIT_SEL_KCODE64;
	g->ist = ist;
	g->type = type;
	g->off_mid = (uint16_t)(a >> 16);
	g->off_hi = (uint32_t)(a >> 32);
}

static void set_tss_desc(unsigned int cpu)
{
	uint64_t base = (uintptr_t)&tss[cpu], limit = sizeof(struct tss) - 1;
	unsigned int i = KIT_SEL_TSS / 8 + 2 * cpu;

	kit_gdt[i] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		     (uint64_t)TSS_TYPE_AVAIL << 40 | ((base >> 24) & 0xff) << 56;
	kit_gdt[i + 1] = base >> 32;
	tss[cpu].rsp[0] = kit_kstack_top[cpu];
	tss[cpu].ist[0] = kit_istack_top[cpu];
	/* No I/O bitmap: IOPL=3 alone grants ring 3 its ports. */
	tss[cpu].iomap_base = sizeof(struct tss);
}

void kit_cpu_tables_init(void)
{
	unsigned int v;

	for (v = 0; v < 256; v++)
		set_gate(v, kit_isr_stubs + v * KIT_STUB_SIZE, GATE_KERNEL,
			 v == 8 ? 1 : 0);
	set_gate(KIT_VEC_TIMER, kit_isr_timer, GATE_KERNEL, 0);
	set_gate(KIT_VEC_SPURIOUS, kit_isr_spurious, GATE_KERNEL, 0);
	for (v = 0; v < kit_boot.ncpus; v++)
		set_tss_desc(v);
	/* SeaBIOS leaves the PIC's timer running on vector 8: silence it. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void kit_cpu_init(unsigned int cpu)
{
	struct desc_ptr idtr = { sizeof(idt) - 1, (uintptr_t)idt };
	uint16_t tr = (uint16_t)(KIT_SEL_TSS + 16 * cpu);

	__asm__ volatile("lidt %0" : : "m"(idtr));
	__asm__ volatile("ltr %0" : : "r"(tr));
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | KIT_VEC_SPURIOUS);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	kit_timer_cpu_init();
}

void kit_boot_ap(unsigned int cpu)
{
	if (cpu >= kit_boot.ncpus)
		for (;;)
			__asm__ volatile("cli; hlt");
	kit_cpu_init(cpu);
	__atomic_add_fetch(&aps_online, 1, __ATOMIC_RELEASE);
	kit_enter_user(cpu, kit_ustack_top[cpu], kit_user_entry);
}

static void send_ipi(unsigned int apic_id, uint32_t icr)
{
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		kit__pause();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		kit__pause();
}

/* INIT-SIPI-SIPI to every AP; returns how many CPUs run (BSP included). */
static long start_aps(void)
{
	unsigned int c, n = kit_boot.ncpus;
	uint64_t end;

	memcpy((void *)KIT_TRAMP_BASE, kit_tramp_start,
	       (size_t)(kit_tramp_end - kit_tramp_start));
	for (c = 1; c < n; c++)
		send_ipi(c, ICR_INIT);
	kit_delay_us(10000);
	for (c = 1; c < n; c++)
		send_ipi(c, ICR_SIPI | (KIT_TRAMP_BASE >> 12));
	kit_delay_us(200);
	/* The second SIPI is the documented protocol; a CPU already running
	 * ignores it. */
	for (c = 1; c < n; c++)
		send_ipi(c, ICR_SIPI | (KIT_TRAMP_BASE >> 12));
	end = kit__rdtsc() + kit__us_to_tsc(AP_START_TIMEOUT_US);
	while (__atomic_load_n(&aps_online, __ATOMIC_ACQUIRE) < n - 1 &&
	       kit__rdtsc() < end)
		kit__pause();
	return 1 + __atomic_load_n(&aps_online, __ATOMIC_ACQUIRE);
}

static long sys_setup(void)
{
	if (kit_timer_setup())
		return 0;
	return kit_boot.ncpus > 1 ? start_aps() : 1;
}

static void report_exception(const struct kit_trap_frame *f)
{
	uint64_t cr2;
	uint32_t r[4];

	cpuid(1, 0, r);
	kit_serial_lock(true);
	kit_printf_locked("EXCEPTION vector=%lu error=0x%lx rip=0x%lx cpu=%u\n",
			  f->vector, f->error, f->rip, r[1] >> 24);
	if (f->vector == 14) {
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		kit_printf_locked("  cr2=0x%lx rsp=0x%lx cs=0x%lx\n", cr2, f->rsp,
				  f->cs);
	}
	kit_serial_unlock();
	kit__exit(KIT_EXIT_EXCEPTION);
}

/* Returns only when nothing listens on the port. */
void kit_debug_exit_r0(int code)
{
	kit_uart_flush();
	outl(DEBUG_EXIT_PORT, (uint32_t)code);
	kit_serial_lock(true);
	kit_printf_locked("kit: exit(%d) did not stop the VM "
			  "(no debug-exit device at 0x%x?)\n", code,
			  DEBUG_EXIT_PORT);
	kit_serial_unlock();
}

void kit_trap(struct kit_trap_frame *f)
{
	if (f->vector != KIT_VEC_SYSCALL || (f->cs & 3) != 3 ||
	    f->r10 != KIT_SYSCALL_MAGIC)
		report_exception(f);
	f->rip += 2;	/* past the ud2 (kit_priv.h) */
	switch (f->rax) {
	case KIT_SYS_SLEEP_UNTIL:
		kit_timer_sleep_until(f->rdi);
		f->rax = 0;
		break;
	case KIT_SYS_SETUP:
		f->rax = (uint64_t)sys_setup();
		break;
	case KIT_SYS_WRITE:
		kit_uart_write((const char *)(uintptr_t)f->rdi, f->rsi);
		f->rax = 0;
		break;
	case KIT_SYS_EXIT:
		kit_debug_exit_r0((int)f->rdi);
		f->rax = 0;
		break;
	case KIT_SYS_OUTB_LOOP:
		f->rax = kit_outb_loop_r0((uint16_t)f->rsi, f->rdi);
		break;
	case KIT_SYS_NOP_LOOP:
		f->rax = kit_nop_loop_r0(f->rdi);
		break;
	case KIT_SYS_RING0_CALL:
		f->rax = (uint64_t)((long (*)(void *))f->rdi)((void *)f->rsi);
		break;
	case KIT_SYS_TRIPLE_FAULT:
		kit_triple_fault_r0();
	default:
		f->rax = (uint64_t)-38;	/* -ENOSYS */
	}
}
