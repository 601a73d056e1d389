/* Whether memory is all zero: the one test behind zero pages in the
 * migration stream, holes in a saved file, holes in block migration's bulk
 * pass and the zero fields a config or a vCPU's XSAVE area must have.
 *
 * Any length and any alignment. Reads no byte outside [p, p + len), and
 * stops at the first 64-byte block that holds a non-zero byte, so a page
 * of data (the common case in RAM) usually costs one block.
 */
#ifndef VMM__MEM_ZERO_H
#define VMM__MEM_ZERO_H

#include <stdbool.h>
#include <stddef.h>

bool mem__is_zero(const void *p, size_t len);

#endif
