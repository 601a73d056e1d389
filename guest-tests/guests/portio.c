/* portio: the round trip of one port-I/O exit. CPU 0 writes count bytes to
 * port 0x80 (claimed by no device in vmm; QEMU's is a no-op too) in a tight
 * ring-0 loop, then runs the same loop with a nop in place of the outb; the
 * difference per iteration is the exit's cost: guest to VMM and back.
 *
 * Where ring 0 is emulated (PLATFORM.md) both loops run under emulation, so
 * the figure includes it; on a host with VMX/SVM it is the bare exit.
 */
#include "kit.h"

#define NAME		"portio"
#define PORT		0x80
#define WARMUP		100	/* first exits pay for cold caches and logging */
#define COUNT_MAX	1000000000ULL

static uint64_t count = 100000;

static const struct kit_param params[] = {
	{ .key = "count", .type = KIT_PARAM_UINT, .value = &count,
	  .max = COUNT_MAX },
};

static uint64_t ticks_to_ns(uint64_t ticks)
{
	/* Ticks stay below 2^54 for any count we accept, so x1000 fits. */
	return kit__tsc_to_us(ticks * 1000);
}

/* ns / count with two decimals, sign included: the difference of two
 * noisy loops can come out below zero on a fast host. */
static void format_per_iter(char *buf, int64_t ns)
{
	uint64_t mag = (uint64_t)(ns < 0 ? -ns : ns) * 100 / count;
	char *p = buf;
	char digits[24];
	int n = 0;

	if (ns < 0)
		*p++ = '-';
	do {
		digits[n++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag || n < 3);
	while (n > 2)
		*p++ = digits[--n];
	*p++ = '.';
	*p++ = digits[1];
	*p++ = digits[0];
	*p = '\0';
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t out_ticks, nop_ticks, out_ns, nop_ns;
	char per_exit[32], per_loop[32];

	(void)ncpus;
	if (cpu)
		return;
	kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
	if (!count)
		kit__bad_value(NAME, "count", count, "must be at least 1");
	kit__outb_loop(PORT, WARMUP);
	kit__nop_loop(WARMUP);
	out_ticks = kit__outb_loop(PORT, count);
	nop_ticks = kit__nop_loop(count);
	out_ns = ticks_to_ns(out_ticks);
	nop_ns = ticks_to_ns(nop_ticks);
	kit__printf(NAME ": port=0x%x outb_ticks=%lu nop_ticks=%lu tsc=%lu kHz "
		    "outb_ms=%lu nop_ms=%lu\n", PORT, out_ticks, nop_ticks,
		    kit__tsc_hz() / 1000, out_ns / 1000000, nop_ns / 1000000);
	format_per_iter(per_exit, (int64_t)out_ns - (int64_t)nop_ns);
	format_per_iter(per_loop, (int64_t)nop_ns);
	kit__printf(NAME ": count=%lu ns_per_exit=%s loop_ns=%s\n", count,
		    per_exit, per_loop);
	kit__exit(KIT_EXIT_OK);
}
