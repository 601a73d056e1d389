#include "crc32c.h"

#include <isa-l/crc.h>

/* ISA-L takes an int length: longer buffers go in pieces of this size. */
#define PIECE	(1u << 30)

uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L's pointer is not const, but it only reads through it. */
	unsigned char *p = (unsigned char *)(uintptr_t)buf;
	unsigned int reg = ~crc;

	/* crc32_iscsi continues the CRC register as it is, with neither the
	 * inversion before nor the one after: both are done here, once. */
	for (; len > PIECE; len -= PIECE, p += PIECE)
		reg = crc32_iscsi(p, (int)PIECE, reg);
	return ~crc32_iscsi(p, (int)len, reg);
}
