/* The saved-VM file with pages at fixed offsets ("mapped" file, FORMAT.md
 * "Saved file"): a 4 KiB header, a bitmap of the pages present, a CRC32C
 * per page, the RAM region where guest page N lives at ram_offset + N x
 * 4 KiB (absent pages are holes), and the state stream (preamble, CONFIG,
 * state sections, END) after it. Pure encode, decode and checks: no I/O.
 */
#ifndef VMM__FILE_LAYOUT_H
#define VMM__FILE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define FILE_MAGIC "LMIGMAP\n"
#define FILE_MAGIC_LEN 8
#define FILE_MAJOR 1
#define FILE_MINOR 0
#define FILE_HEADER_LEN 4096
#define FILE_PAGE_SIZE 4096
/* The RAM region starts on this boundary: O_DIRECT-aligned on any disk,
 * and huge-page aligned for a reader that maps the file. */
#define FILE_RAM_ALIGN (1ULL << 20)
/* 1 TiB of RAM, vmm's --mem limit. */
#define FILE_MAX_PAGES ((1ULL << 40) / FILE_PAGE_SIZE)
/* The state stream holds no RAM: CONFIG and the state of at most 64
 * vCPUs and the devices. */
#define FILE_MAX_STREAM (64ULL << 20)

struct file_layout {
	uint16_t major, minor;
	uint64_t nr_pages;
	uint64_t present_pages;
	uint64_t bitmap_offset, bitmap_len;
	uint64_t crc_offset, crc_len;
	uint64_t ram_offset, ram_len;
	uint64_t stream_offset, stream_len;
	uint32_t bitmap_crc;
	uint32_t crc_table_crc;
};

/* Fills every offset and length for a RAM of nr_pages pages; the counts
 * and checksums stay 0 for the writer to fill. */
void file_layout__init(struct file_layout *l, uint64_t nr_pages);
/* Encodes into FILE_HEADER_LEN bytes, header checksum included. */
void file_layout__encode(const struct file_layout *l, uint8_t *out);
/* Decodes a header and checks everything it can alone and against the
 * file's size: magic, version, every offset and length where this layout
 * puts it, reserved bytes zero, the header checksum. -errno with the
 * field named in err. */
int file_layout__decode(const uint8_t *in, size_t len, uint64_t file_size,
			struct file_layout *l, char *err, size_t errlen);
/* Checks the bitmap (bitmap_len bytes) and the CRC table (crc_len bytes)
 * against the header: their checksums, no bit past the last page, as
 * many pages present as the header counts, no CRC for an absent page. */
int file_layout__check_tables(const struct file_layout *l, const uint8_t *bitmap,
			      const uint8_t *crcs, char *err, size_t errlen);
/* True if the first bytes of a file are this format's magic. */
int file_layout__is_mapped(const uint8_t *in, size_t len);

static inline int file_layout__present(const uint8_t *bitmap, uint64_t page)
{
	return bitmap[page / 8] >> (page % 8) & 1;
}

#endif
