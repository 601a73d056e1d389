/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum on
 * every section of the migration stream.
 *
 * The SSE4.2 crc32 instruction computes exactly this polynomial, so hosts
 * that have it (every x86_64 CPU since 2008) checksum at memory speed; the
 * table-driven version is the fallback and the reference the tests compare
 * the instruction against.
 *
 * All three functions continue a running value the way zlib's crc32() does:
 * start from 0, pass the previous result back in, and the value for a
 * buffer split into pieces equals the value for the whole buffer.
 */
#ifndef VMM__CRC32C_H
#define VMM__CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Picks the fastest implementation this CPU supports (decided once). */
uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len);

/* Table-driven (slicing-by-8), any CPU. */
uint32_t crc32c__extend_sw(uint32_t crc, const void *buf, size_t len);

/* SSE4.2 crc32 instruction. Only call it when crc32c__have_hw() is true. */
uint32_t crc32c__extend_hw(uint32_t crc, const void *buf, size_t len);
bool crc32c__have_hw(void);

#endif
