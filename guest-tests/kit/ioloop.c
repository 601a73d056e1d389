/* Timing loops for the cost of a port-I/O exit. The loops run in ring 0
 * because a PVM host runs ring 3 with IOPL 0 (kit_priv.h); they are entered
 * through a syscall, so interrupts stay off while they run and nothing but
 * the host can preempt them.
 *
 * Both loops are the same three instructions but for the first, so their
 * difference is the cost of the outb alone: its exit to the VMM and back.
 */
#include "kit.h"
#include "kit_priv.h"

uint64_t kit_outb_loop_r0(uint16_t port, uint64_t count)
{
	uint64_t t0;

	if (!count)
		return 0;
	t0 = kit__rdtsc();
	__asm__ volatile("1:\n\t"
			 "outb %%al, %%dx\n\t"
			 "dec %0\n\t"
			 "jnz 1b"
			 : "+c"(count) : "a"(0), "d"(port) : "memory", "cc");
	return kit__rdtsc() - t0;
}

uint64_t kit_nop_loop_r0(uint64_t count)
{
	uint64_t t0;

	if (!count)
		return 0;
	t0 = kit__rdtsc();
	/* Same operands as the outb loop, so both keep the same registers live. */
	__asm__ volatile("1:\n\t"
			 "nop\n\t"
			 "dec %0\n\t"
			 "jnz 1b"
			 : "+c"(count) : "a"(0), "d"(0) : "memory", "cc");
	return kit__rdtsc() - t0;
}

uint64_t kit__outb_loop(uint16_t port, uint64_t count)
{
	return (uint64_t)kit_syscall(KIT_SYS_OUTB_LOOP, count, port);
}

uint64_t kit__nop_loop(uint64_t count)
{
	return (uint64_t)kit_syscall(KIT_SYS_NOP_LOOP, count, 0);
}

long kit__ring0_call(long (*fn)(void *arg), void *arg)
{
	return kit_syscall(KIT_SYS_RING0_CALL, (uint64_t)(uintptr_t)fn,
			   (uint64_t)(uintptr_t)arg);
}
