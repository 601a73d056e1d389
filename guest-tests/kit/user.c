/* Ring 3: the start of every CPU's user life, time keeping, the barrier,
 * the syscall wrapper and exit. Ring 3 runs natively even where ring 0 is
 * emulated, so all the rest of the kit's work happens here.
 */
#include "kit.h"
#include "kit_priv.h"

#define TSC_HZ_MIN		100000000ULL	/* 100 MHz */
#define TSC_HZ_MAX		20000000000ULL	/* 20 GHz */

static unsigned int barrier_count, barrier_gen;

long kit_syscall(long nr, uint64_t a1, uint64_t a2)
{
	register uint64_t magic __asm__("r10") = KIT_SYSCALL_MAGIC;

	__asm__ volatile("ud2" : "+a"(nr) : "D"(a1), "S"(a2), "r"(magic)
			 : "memory");
	return nr;
}

bool kit_in_ring0(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return (cs & 3) == 0;
}

/* Only the exact sources; ring 0 tries the rest (kvmclock, leaf 0x16's
 * whole MHz, the PIT) in KIT_SYS_SETUP. */
static uint64_t tsc_hz_from_cpuid(void)
{
	uint32_t r[4], max;

	cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2])
			return (uint64_t)r[2] * r[1] / r[0];
	}
	cpuid(1, 0, r);
	if (r[2] & (1u << 31)) {
		/* Hypervisor timing leaf (TSC in kHz), when offered. */
		cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010) {
			cpuid(0x40000010, 0, r);
			if (r[0])
				return r[0] * 1000ULL;
		}
	}
	return 0;
}

static void bsp_setup(void)
{
	uint64_t hz;
	long up;

	kit_boot.tsc_start = kit__rdtsc();
	if (kit_boot.cmdline_too_long)
		kit__die(KIT_EXIT_PARAM, "kit: command line longer than %d bytes",
			 KIT_CMDLINE_MAX - 1);
	kit_boot.tsc_hz = tsc_hz_from_cpuid();
	up = kit_syscall(KIT_SYS_SETUP, 0, 0);
	hz = kit_boot.tsc_hz;
	if (hz < TSC_HZ_MIN || hz > TSC_HZ_MAX)
		kit__die(KIT_EXIT_KIT, "kit: cannot measure the TSC (got %lu Hz)",
			 hz);
	if (up != (long)kit_boot.ncpus)
		kit__die(KIT_EXIT_KIT, "kit: only %ld of %u CPUs started", up,
			 kit_boot.ncpus);
}

void kit_user_entry(unsigned int cpu)
{
	if (cpu == 0)
		bsp_setup();
	kit__barrier();
	workload_main(cpu, kit_boot.ncpus);
	for (;;)
		kit__sleep_until_tsc(UINT64_MAX);
}

unsigned int kit__ncpus(void)
{
	return kit_boot.ncpus;
}

uint64_t kit__ram_bytes(void)
{
	return kit_boot.ram_bytes;
}

void kit__mem_region(uint64_t *start, uint64_t *end)
{
	*start = kit_boot.mem_start;
	*end = kit_boot.mem_end;
}

const char *kit__cmdline(void)
{
	return kit_boot.cmdline;
}

unsigned int kit__nr_modules(void)
{
	return kit_boot.nr_modules;
}

void kit__module(unsigned int i, uint64_t *start, uint64_t *end, const char **name)
{
	const struct kit_module *m = &kit_boot.modules[i < KIT_MAX_MODULES ? i : 0];

	*start = m->start;
	*end = m->end;
	*name = m->name;
}

uint64_t kit__start_tsc(void)
{
	return kit_boot.tsc_start;
}

uint64_t kit__tsc_hz(void)
{
	return kit_boot.tsc_hz;
}

uint64_t kit__tsc_to_us(uint64_t ticks)
{
	return kit_scale(ticks, 1000000, kit_boot.tsc_hz);
}

uint64_t kit__us_to_tsc(uint64_t us)
{
	return kit_scale(us, kit_boot.tsc_hz, 1000000);
}

uint64_t kit__now_us(void)
{
	return kit__tsc_to_us(kit__rdtsc() - kit_boot.tsc_start);
}

void kit__sleep_until_tsc(uint64_t deadline)
{
	kit_syscall(KIT_SYS_SLEEP_UNTIL, deadline, 0);
}

void kit__sleep_us(uint64_t us)
{
	uint64_t now = kit__rdtsc(), d = kit__us_to_tsc(us);

	kit__sleep_until_tsc(now + d < now ? UINT64_MAX : now + d);
}

/* Sense-reversing: the last CPU in bumps the generation the rest wait on. */
void kit__barrier(void)
{
	unsigned int gen = __atomic_load_n(&barrier_gen, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_ACQ_REL) ==
	    kit_boot.ncpus) {
		__atomic_store_n(&barrier_count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&barrier_gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&barrier_gen, __ATOMIC_ACQUIRE) == gen)
		kit__pause();
}

void kit__exit(int code)
{
	if (kit_in_ring0()) {
		kit_debug_exit_r0(code);
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	kit_syscall(KIT_SYS_EXIT, (uint64_t)(uint32_t)code, 0);
	/* Only reached when nothing listens on the debug-exit port. */
	for (;;)
		kit__sleep_until_tsc(UINT64_MAX);
}

void kit__triple_fault(void)
{
	kit_syscall(KIT_SYS_TRIPLE_FAULT, 0, 0);
	for (;;)
		kit__sleep_until_tsc(UINT64_MAX);
}
