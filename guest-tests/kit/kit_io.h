/* Port I/O for code that runs in ring 0: the kit itself and the functions
 * a guest hands to kit__ring0_call. Ring 3 must not use these: a PVM host
 * gives ring 3 no port I/O whatever IOPL says (see kit.h), and the
 * instruction faults there. */
#ifndef KIT__KIT_IO_H
#define KIT__KIT_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#endif
