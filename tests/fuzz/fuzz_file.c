/* libFuzzer target for a saved file's header and tables (file_layout.c):
 * the input is a whole file. Whatever it holds, decoding must not crash,
 * and a header it accepts must place the tables inside the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "file_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct file_layout l;
	char err[256];

	if (file_layout__decode(data, size, size, &l, err, sizeof(err)))
		return 0;
	if (l.crc_offset + l.crc_len > size || l.bitmap_offset + l.bitmap_len > size)
		abort();
	file_layout__check_tables(&l, data + l.bitmap_offset, data + l.crc_offset, err,
				  sizeof(err));
	return 0;
}
