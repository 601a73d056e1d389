/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum on
 * every section of the migration stream and on every RAM page.
 *
 * Computed by Intel's ISA-L (crc32_iscsi), which picks at run time the
 * fastest code the CPU has (carry-less multiplication folding with
 * PCLMULQDQ or VPCLMULQDQ, the crc32 instruction, a table): about four
 * times the crc32 instruction in three interleaved lanes on a 4 KiB page
 * (bench/RESULTS.md, "The checksum through ISA-L").
 *
 * crc32c__extend continues a running value the way zlib's crc32() does:
 * start from 0, pass the previous result back in, and the value for a
 * buffer split into pieces equals the value for the whole buffer.
 */
#ifndef VMM__CRC32C_H
#define VMM__CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len);

#endif
