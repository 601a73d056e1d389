/* hello: CPU 0 prints the TSC at its first ring-3 instruction (for
 * bench/boot_time.py), every CPU says it is online, then CPU 0 prints the
 * machine's size and each multiboot module (size, a checksum of its bytes,
 * its string), and exits 0. Test hooks for the VMM's crash reporting
 * (not for general use): crash=1 takes a page fault in ring 3 on CPU 0 (exit 3 with an
 * EXCEPTION line), crash=triple triple-faults in ring 0 (a shutdown).
 */
#include "kit.h"

#define UNMAPPED_ADDR	0x0000400000000000ULL	/* canonical, never mapped */

enum crash { CRASH_NONE, CRASH_PAGE_FAULT, CRASH_TRIPLE };

static const char *const crash_choices[] = { "0", "1", "triple", NULL };
static uint64_t crash;

static const struct kit_param params[] = {
	{ .key = "crash", .type = KIT_PARAM_CHOICE, .value = &crash,
	  .choices = crash_choices },
};

static void do_crash(void)
{
	if (crash == CRASH_PAGE_FAULT)
		*(volatile uint64_t *)UNMAPPED_ADDR = 1;
	if (crash == CRASH_TRIPLE)
		kit__triple_fault();
}

/* The sum of the bytes, so a host test can check a module arrived intact. */
static void print_modules(void)
{
	unsigned int i;

	for (i = 0; i < kit__nr_modules(); i++) {
		uint64_t start, end, sum = 0, a;
		const char *name;

		kit__module(i, &start, &end, &name);
		for (a = start; a < end; a++)
			sum += *(const volatile uint8_t *)a;
		kit__printf("hello: module %u bytes=%lu sum=%lu name=%s\n", i,
			    end - start, sum, name);
	}
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	/* First line out, before any other CPU may print: a host that
	 * timestamps the first byte it sees can subtract now_tsc - ring3_tsc
	 * to learn when ring 3 started. */
	if (cpu == 0) {
		kit__parse_params("hello", params, 1);
		kit__printf("hello: ring3_tsc=%lu now_tsc=%lu\n",
			    kit__start_tsc(), kit__rdtsc());
	}
	kit__barrier();
	kit__printf("hello: cpu %u online\n", cpu);
	kit__barrier();
	if (cpu)
		return;
	kit__printf("hello: tsc=%lu kHz\n", kit__tsc_hz() / 1000);
	kit__printf("hello: cpus=%u ram=%lu MiB\n", ncpus,
		    (kit__ram_bytes() + (1 << 20) - 1) >> 20);
	print_modules();
	do_crash();
	kit__exit(KIT_EXIT_OK);
}
