/* Kit internals shared by its C files and entry.S. Not for workloads. */
#ifndef KIT__KIT_PRIV_H
#define KIT__KIT_PRIV_H

/* Same text as in kit.h (an identical redefinition is legal C). */
#define KIT_MAX_CPUS		64

#define KIT_SEL_KCODE32		0x08
#define KIT_SEL_KCODE64		0x10
#define KIT_SEL_KDATA		0x18
#define KIT_SEL_UDATA		0x20
#define KIT_SEL_UCODE		0x28
#define KIT_SEL_TSS		0x30	/* cpu K's TSS is at 0x30 + 16 * K */
#define KIT_GDT_ENTRIES		(6 + 2 * KIT_MAX_CPUS)

#define KIT_TRAMP_BASE		0x8000	/* SIPI vector 0x08 */
#define KIT_LAPIC_BASE		0xfee00000
#define KIT_VEC_TIMER		0x40
#define KIT_VEC_SYSCALL		6	/* #UD, raised by ud2 */
#define KIT_VEC_SPURIOUS	0xff
#define KIT_STUB_SIZE		16

/* Syscalls are "ud2" with r10 = KIT_SYSCALL_MAGIC, rax = number, rdi and
 * rsi = arguments, result in rax; the handler moves RIP past the ud2.
 * Why ud2: a PVM host (PLATFORM.md) turns "int 0x80" from ring 3 into #UD
 * and runs the syscall instruction's target in ring 3. int3 worked until a
 * migration lost one: PVM takes it as a trap, RIP already past it, and
 * queues #BP; KVM_GET_VCPU_EVENTS never reports a queued software
 * exception (KVM expects RIP still on the instruction, so that it runs
 * again), so a vCPU paused between the trap and the delivery carried no
 * trace of the call, and its syscall returned without running. #UD is a
 * fault: RIP stays on the ud2 and a pending #UD is reported like any
 * exception, so a pause anywhere leaves either the call to make again or
 * its delivery in the saved state.
 * Port I/O goes through syscalls too: PVM also runs ring 3 with IOPL 0,
 * whatever RFLAGS the guest asked for. */
#define KIT_SYSCALL_MAGIC	0x6b697473797363ULL	/* "kitsysc" */
#define KIT_SYS_SLEEP_UNTIL	1	/* rdi = TSC deadline */
#define KIT_SYS_SETUP		2	/* BSP, once: TSC, timer, APs; returns CPUs up */
#define KIT_SYS_WRITE		3	/* rdi = buffer, rsi = length: to COM1 */
#define KIT_SYS_EXIT		4	/* rdi = code: to the debug-exit port */
#define KIT_SYS_TRIPLE_FAULT	5
#define KIT_SYS_OUTB_LOOP	6	/* rdi = count, rsi = port; returns TSC ticks */
#define KIT_SYS_NOP_LOOP	7	/* rdi = count; returns TSC ticks */
#define KIT_SYS_RING0_CALL	8	/* rdi = function, rsi = its argument */

#define KIT_RFLAGS_USER		0x3002	/* IOPL=3, IF=0: ring 3 takes no IRQs */

#ifndef __ASSEMBLER__

#include "kit.h"
#include "kit_io.h"

#define KIT_CMDLINE_MAX		1024
#define KIT_MAX_RANGES		32

struct kit_range {
	uint64_t start;
	uint64_t end;
};

/* Filled by ring 0 at boot, read by ring 3 (all RAM is user-accessible). */
struct kit_module {
	uint64_t start, end;
	char name[KIT_MODULE_NAME_MAX];
};

struct kit_boot_info {
	unsigned int ncpus;
	bool has_fw_cfg;
	bool tsc_deadline;		/* LAPIC timer has TSC-deadline mode */
	bool cmdline_too_long;
	uint64_t ram_bytes;
	uint64_t ram_top;		/* end of the highest usable range */
	uint64_t mem_start, mem_end;	/* workload region */
	unsigned int nranges;
	struct kit_range ranges[KIT_MAX_RANGES];	/* usable RAM */
	char cmdline[KIT_CMDLINE_MAX];
	unsigned int nr_modules;
	struct kit_module modules[KIT_MAX_MODULES];
	uint64_t tsc_hz;		/* set by ring 3 before KIT_SYS_SETUP */
	uint64_t tsc_start;
	uint64_t lapic_hz;		/* one-shot mode only */
};

/* Register frame built by the interrupt stubs, lowest address first. */
struct kit_trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

extern struct kit_boot_info kit_boot;
extern uint64_t kit_gdt[KIT_GDT_ENTRIES];
extern uint64_t kit_pml4[512];
extern uint64_t kit_pdpt[512];
extern uint64_t kit_kstack_top[KIT_MAX_CPUS];
extern uint64_t kit_ustack_top[KIT_MAX_CPUS];
extern uint64_t kit_istack_top[KIT_MAX_CPUS];

/* entry.S */
extern const char kit_image_start[], kit_image_end[];
extern const char kit_tramp_start[], kit_tramp_end[];
extern const char kit_isr_stubs[], kit_isr_timer[], kit_isr_spurious[];
__attribute__((noreturn))
void kit_enter_user(unsigned int cpu, uint64_t stack_top,
		    void (*entry)(unsigned int cpu));
__attribute__((noreturn)) void kit_triple_fault_r0(void);

/* boot.c (ring 0) */
__attribute__((noreturn)) void kit_boot_bsp(uint32_t magic, uint32_t mbi);
__attribute__((noreturn)) void kit_fail_r0(const char *msg);

/* cpu.c (ring 0) */
void kit_cpu_tables_init(void);
void kit_cpu_init(unsigned int cpu);
__attribute__((noreturn)) void kit_boot_ap(unsigned int cpu);
void kit_trap(struct kit_trap_frame *f);

/* timer.c (ring 0) */
int kit_timer_setup(void);
void kit_timer_cpu_init(void);
void kit_timer_sleep_until(uint64_t deadline);
void kit_delay_us(uint64_t us);

/* ioloop.c (ring 0) */
uint64_t kit_outb_loop_r0(uint16_t port, uint64_t count);
uint64_t kit_nop_loop_r0(uint64_t count);

/* user.c (ring 3) */
__attribute__((noreturn)) void kit_user_entry(unsigned int cpu);
long kit_syscall(long nr, uint64_t a1, uint64_t a2);
bool kit_in_ring0(void);
void kit_debug_exit_r0(int code);

/* serial.c (both rings) */
void kit_serial_init(void);
void kit_serial_lock(bool from_ring0);
void kit_serial_unlock(void);
void kit_uart_write(const char *s, size_t n);
void kit_uart_flush(void);
void kit_vprintf_locked(const char *fmt, va_list ap);
__attribute__((format(printf, 1, 2)))
void kit_printf_locked(const char *fmt, ...);

#define LAPIC_SVR		0x0f0
#define LAPIC_ICR_LO		0x300
#define LAPIC_ICR_HI		0x310
#define LAPIC_LVT_TIMER		0x320
#define LAPIC_LVT_LINT0		0x350
#define LAPIC_LVT_ERROR		0x370
#define LAPIC_TIMER_INIT	0x380
#define LAPIC_TIMER_CUR		0x390
#define LAPIC_TIMER_DIV		0x3e0
#define LAPIC_SVR_ENABLE	0x100
#define LVT_MASKED		(1u << 16)

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(KIT_LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(KIT_LAPIC_BASE + reg) = v;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v),
			 "d"((uint32_t)(v >> 32)));
}

/* a * num / den without a 128-bit division (there is no libgcc here). */
static inline uint64_t kit_scale(uint64_t a, uint64_t num, uint64_t den)
{
	return a / den * num + a % den * num / den;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

#endif /* __ASSEMBLER__ */
#endif
