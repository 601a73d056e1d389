#include "file_layout.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "wire.h"

/* Field offsets in the header (FORMAT.md, "Saved file"). */
#define OFF_MAJOR 8
#define OFF_MINOR 10
#define OFF_HEADER_LEN 12
#define OFF_PAGE_SIZE 16
#define OFF_FLAGS 20
#define OFF_NR_PAGES 24
#define OFF_PRESENT 32
#define OFF_BITMAP 40
#define OFF_CRCS 56
#define OFF_RAM 72
#define OFF_STREAM 88
#define OFF_BITMAP_CRC 104
#define OFF_CRC_TABLE_CRC 108
#define OFF_RESERVED 112
#define OFF_HEADER_CRC (FILE_HEADER_LEN - 4)

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

void file_layout__init(struct file_layout *l, uint64_t nr_pages)
{
	memset(l, 0, sizeof(*l));
	l->major = FILE_MAJOR;
	l->minor = FILE_MINOR;
	l->nr_pages = nr_pages;
	l->bitmap_offset = FILE_HEADER_LEN;
	l->bitmap_len = round_up((nr_pages + 7) / 8, FILE_PAGE_SIZE);
	l->crc_offset = l->bitmap_offset + l->bitmap_len;
	l->crc_len = round_up(nr_pages * 4, FILE_PAGE_SIZE);
	l->ram_offset = round_up(l->crc_offset + l->crc_len, FILE_RAM_ALIGN);
	l->ram_len = nr_pages * FILE_PAGE_SIZE;
	l->stream_offset = l->ram_offset + l->ram_len;
}

void file_layout__encode(const struct file_layout *l, uint8_t *out)
{
	memset(out, 0, FILE_HEADER_LEN);
	memcpy(out, FILE_MAGIC, FILE_MAGIC_LEN);
	out[OFF_MAJOR] = (uint8_t)l->major;
	out[OFF_MAJOR + 1] = (uint8_t)(l->major >> 8);
	out[OFF_MINOR] = (uint8_t)l->minor;
	out[OFF_MINOR + 1] = (uint8_t)(l->minor >> 8);
	wire__le32(out + OFF_HEADER_LEN, FILE_HEADER_LEN);
	wire__le32(out + OFF_PAGE_SIZE, FILE_PAGE_SIZE);
	wire__le64(out + OFF_NR_PAGES, l->nr_pages);
	wire__le64(out + OFF_PRESENT, l->present_pages);
	wire__le64(out + OFF_BITMAP, l->bitmap_offset);
	wire__le64(out + OFF_BITMAP + 8, l->bitmap_len);
	wire__le64(out + OFF_CRCS, l->crc_offset);
	wire__le64(out + OFF_CRCS + 8, l->crc_len);
	wire__le64(out + OFF_RAM, l->ram_offset);
	wire__le64(out + OFF_RAM + 8, l->ram_len);
	wire__le64(out + OFF_STREAM, l->stream_offset);
	wire__le64(out + OFF_STREAM + 8, l->stream_len);
	wire__le32(out + OFF_BITMAP_CRC, l->bitmap_crc);
	wire__le32(out + OFF_CRC_TABLE_CRC, l->crc_table_crc);
	wire__le32(out + OFF_HEADER_CRC, crc32c__extend(0, out, OFF_HEADER_CRC));
}

int file_layout__is_mapped(const uint8_t *in, size_t len)
{
	return len >= FILE_MAGIC_LEN && !memcmp(in, FILE_MAGIC, FILE_MAGIC_LEN);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Every offset and length follows from nr_pages: a header that says
 * otherwise was not written by this layout. */
static int check_field(const char *name, uint64_t got, uint64_t want, char *err, size_t errlen)
{
	if (got == want)
		return 0;
	return errmsg__fail(-EBADMSG, err, errlen,
			    "saved file: header field %s is %" PRIu64 ", this layout puts %" PRIu64,
			    name, got, want);
}

static int check_geometry(const struct file_layout *l, const struct file_layout *want,
			  char *err, size_t errlen)
{
	int ret;

	ret = check_field("bitmap_offset", l->bitmap_offset, want->bitmap_offset, err, errlen);
	ret = ret ? ret : check_field("bitmap_len", l->bitmap_len, want->bitmap_len, err, errlen);
	ret = ret ? ret : check_field("crc_offset", l->crc_offset, want->crc_offset, err, errlen);
	ret = ret ? ret : check_field("crc_len", l->crc_len, want->crc_len, err, errlen);
	ret = ret ? ret : check_field("ram_offset", l->ram_offset, want->ram_offset, err, errlen);
	ret = ret ? ret : check_field("ram_len", l->ram_len, want->ram_len, err, errlen);
	ret = ret ? ret : check_field("stream_offset", l->stream_offset, want->stream_offset,
				      err, errlen);
	return ret;
}

static void read_fields(const uint8_t *in, struct file_layout *l)
{
	l->major = get_le16(in + OFF_MAJOR);
	l->minor = get_le16(in + OFF_MINOR);
	l->nr_pages = wire__get_le64(in + OFF_NR_PAGES);
	l->present_pages = wire__get_le64(in + OFF_PRESENT);
	l->bitmap_offset = wire__get_le64(in + OFF_BITMAP);
	l->bitmap_len = wire__get_le64(in + OFF_BITMAP + 8);
	l->crc_offset = wire__get_le64(in + OFF_CRCS);
	l->crc_len = wire__get_le64(in + OFF_CRCS + 8);
	l->ram_offset = wire__get_le64(in + OFF_RAM);
	l->ram_len = wire__get_le64(in + OFF_RAM + 8);
	l->stream_offset = wire__get_le64(in + OFF_STREAM);
	l->stream_len = wire__get_le64(in + OFF_STREAM + 8);
	l->bitmap_crc = wire__get_le32(in + OFF_BITMAP_CRC);
	l->crc_table_crc = wire__get_le32(in + OFF_CRC_TABLE_CRC);
}

static int check_fixed(const uint8_t *in, char *err, size_t errlen)
{
	size_t i;

	if (wire__get_le32(in + OFF_HEADER_LEN) != FILE_HEADER_LEN ||
	    wire__get_le32(in + OFF_PAGE_SIZE) != FILE_PAGE_SIZE)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: header length %u and page size %u, must be %u and %u",
				    wire__get_le32(in + OFF_HEADER_LEN),
				    wire__get_le32(in + OFF_PAGE_SIZE), FILE_HEADER_LEN, FILE_PAGE_SIZE);
	if (wire__get_le32(in + OFF_FLAGS))
		return errmsg__fail(-EBADMSG, err, errlen, "saved file: flags 0x%x, none is defined",
				    wire__get_le32(in + OFF_FLAGS));
	for (i = OFF_RESERVED; i < OFF_HEADER_CRC; i++)
		if (in[i])
			return errmsg__fail(-EBADMSG, err, errlen,
					    "saved file: reserved header byte %zu is not zero", i);
	return 0;
}

int file_layout__decode(const uint8_t *in, size_t len, uint64_t file_size,
			struct file_layout *l, char *err, size_t errlen)
{
	struct file_layout want;
	uint32_t crc;
	int ret;

	if (len < FILE_HEADER_LEN || file_size < FILE_HEADER_LEN)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: %" PRIu64 " bytes, shorter than its %u-byte header",
				    file_size < len ? file_size : (uint64_t)len, FILE_HEADER_LEN);
	if (!file_layout__is_mapped(in, len))
		return errmsg__fail(-EBADMSG, err, errlen, "saved file: bad magic");
	read_fields(in, l);
	/* The version first: another one may place even the checksum
	 * elsewhere. */
	if (l->major != FILE_MAJOR || l->minor > FILE_MINOR)
		return errmsg__fail(-EPROTONOSUPPORT, err, errlen,
				    "saved file version %u.%u, this vmm reads %u.0 to %u.%u",
				    l->major, l->minor, FILE_MAJOR, FILE_MAJOR, FILE_MINOR);
	crc = crc32c__extend(0, in, OFF_HEADER_CRC);
	if (crc != wire__get_le32(in + OFF_HEADER_CRC))
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: header checksum 0x%08x, the header's bytes give 0x%08x",
				    wire__get_le32(in + OFF_HEADER_CRC), crc);
	ret = check_fixed(in, err, errlen);
	if (ret)
		return ret;
	if (!l->nr_pages || l->nr_pages > FILE_MAX_PAGES)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: %" PRIu64 " pages of RAM, must be 1 to %llu",
				    l->nr_pages, (unsigned long long)FILE_MAX_PAGES);
	if (l->present_pages > l->nr_pages)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: %" PRIu64 " pages present of %" PRIu64,
				    l->present_pages, l->nr_pages);
	file_layout__init(&want, l->nr_pages);
	ret = check_geometry(l, &want, err, errlen);
	if (ret)
		return ret;
	if (l->stream_len < 16 || l->stream_len > FILE_MAX_STREAM)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: state stream of %" PRIu64 " bytes, must be 16 to %llu",
				    l->stream_len, (unsigned long long)FILE_MAX_STREAM);
	if (file_size != l->stream_offset + l->stream_len)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: %" PRIu64 " bytes, its header says %" PRIu64
				    " (truncated or extended)", file_size,
				    l->stream_offset + l->stream_len);
	return 0;
}

static uint64_t count_bits(const uint8_t *bitmap, uint64_t nbytes)
{
	uint64_t i, n = 0;

	for (i = 0; i < nbytes; i++)
		n += (uint64_t)__builtin_popcount(bitmap[i]);
	return n;
}

int file_layout__check_tables(const struct file_layout *l, const uint8_t *bitmap,
			      const uint8_t *crcs, char *err, size_t errlen)
{
	uint64_t used = (l->nr_pages + 7) / 8, i, n;
	uint32_t crc;

	crc = crc32c__extend(0, bitmap, l->bitmap_len);
	if (crc != l->bitmap_crc)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: bitmap checksum 0x%08x, the header says 0x%08x",
				    crc, l->bitmap_crc);
	crc = crc32c__extend(0, crcs, l->crc_len);
	if (crc != l->crc_table_crc)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: page checksum table's checksum 0x%08x, the header says 0x%08x",
				    crc, l->crc_table_crc);
	if ((l->nr_pages % 8 && bitmap[used - 1] >> (l->nr_pages % 8)) ||
	    count_bits(bitmap + used, l->bitmap_len - used))
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: bitmap marks a page past the last of %" PRIu64,
				    l->nr_pages);
	n = count_bits(bitmap, used);
	if (n != l->present_pages)
		return errmsg__fail(-EBADMSG, err, errlen,
				    "saved file: bitmap marks %" PRIu64 " pages, the header counts %" PRIu64,
				    n, l->present_pages);
	for (i = 0; i < l->crc_len / 4; i++)
		if ((i >= l->nr_pages || !file_layout__present(bitmap, i)) &&
		    wire__get_le32(crcs + i * 4))
			return errmsg__fail(-EBADMSG, err, errlen,
					    "saved file: page %" PRIu64 " is absent but has a checksum", i);
	return 0;
}
