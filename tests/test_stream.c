/* Stream framing, preamble, CRC32C and the small section payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "blk_section.h"
#include "stream.h"

/* --- helpers ------------------------------------------------------------- */

static int new_memfd(void)
{
	int fd = memfd_create("test_stream", 0);

	assert_true(fd >= 0);
	return fd;
}

static int memfd_with(const uint8_t *p, size_t n)
{
	int fd = new_memfd();

	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	return fd;
}

static size_t slurp(int fd, uint8_t **out)
{
	off_t n = lseek(fd, 0, SEEK_END);

	assert_true(n >= 0);
	*out = malloc(n ? (size_t)n : 1);
	assert_non_null(*out);
	assert_int_equal(pread(fd, *out, (size_t)n, 0), n);
	return (size_t)n;
}

struct sample {
	uint32_t type;
	const char *data;
	size_t len;
};

/* A small but complete forward stream: every forward type once. */
static const struct sample fwd_samples[] = {
	{ SECTION_CONFIG, "config bytes", 12 },
	/* round 0, one DATA entry, then 4 bytes standing for its page: the
	 * framing reads the entry table, the section CRC covers it */
	{ SECTION_RAM, "\0\0\0\0\1\0\0\0" "\2\x10\0\0\0\0\0\0" "\xaa\xbb\xcc\xdd" "page", 24 },
	{ SECTION_ROUND_END, "\1\0\0\0\2\0\0\0\0\0\0\0\3\0\0\0\0\0\0\0", 20 },
	{ SECTION_VCPU, "vcpu", 4 },
	{ SECTION_VM_STATE, "", 0 },
	{ SECTION_DEVICE, "uart state", 10 },
	{ SECTION_END, "\2\0\0\0\7\0\0\0\0\0\0\0", 12 },
	{ SECTION_GO, "", 0 },
};

static const struct sample ret_samples[] = {
	{ SECTION_ACCEPT, "", 0 },
	{ SECTION_ROUND_DONE, "\0\0\0\0", 4 },
	{ SECTION_ROUND_DONE, "\1\0\0\0", 4 },
	{ SECTION_READY, "", 0 },
	{ SECTION_RESUMED, "", 0 },
};

#define NSAMPLES(a) (sizeof(a) / sizeof((a)[0]))

static size_t write_samples(enum stream_role role, const struct sample *sm,
			    size_t n, uint8_t **out)
{
	struct stream s;
	int fd = new_memfd();
	size_t i, len;

	stream__init(&s, fd, role);
	assert_int_equal(stream__write_preamble(&s), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(stream__send(&s, sm[i].type, sm[i].data,
					      sm[i].len), 0);
	len = slurp(fd, out);
	assert_int_equal(s.bytes_out, len);
	assert_int_equal(s.sections_out, n);
	close(fd);
	return len;
}

/* Reads preamble and sections until the last expected type; returns the
 * first error, or 0 when the whole stream was read and matches sm. */
static int read_samples(int fd, enum stream_role role,
			const struct sample *sm, size_t n, char *err,
			size_t errlen)
{
	struct stream s;
	struct section sec;
	size_t i = 0;
	int ret;

	err[0] = '\0';
	stream__init(&s, fd, role);
	section__init(&sec);
	ret = stream__read_preamble(&s, err, errlen);
	for (; !ret && i < n; i++) {
		ret = stream__recv(&s, &sec, err, errlen);
		if (ret)
			break;
		if (sec.type != sm[i].type || sec.len != sm[i].len ||
		    (sm[i].len && memcmp(sec.payload, sm[i].data, sm[i].len))) {
			snprintf(err, errlen, "section %zu differs", i);
			ret = -1000;
		}
	}
	section__free(&sec);
	return ret;
}

static int read_bytes(const uint8_t *p, size_t n, enum stream_role role,
		      const struct sample *sm, size_t ns, char *err,
		      size_t errlen)
{
	int fd = memfd_with(p, n), ret;

	ret = read_samples(fd, role, sm, ns, err, errlen);
	close(fd);
	return ret;
}

static size_t put_preamble(uint8_t *out, const char *magic, uint16_t major,
			   uint16_t minor, uint32_t flags)
{
	struct wbuf b;

	wbuf__init(&b);
	wbuf__put_bytes(&b, magic, STREAM_MAGIC_LEN);
	wbuf__put_u16(&b, major);
	wbuf__put_u16(&b, minor);
	wbuf__put_u32(&b, flags);
	assert_int_equal(b.len, STREAM_PREAMBLE_LEN);
	memcpy(out, b.data, b.len);
	wbuf__free(&b);
	return STREAM_PREAMBLE_LEN;
}

/* A section with any header we like and a correct checksum. */
static size_t put_raw(uint8_t *out, uint32_t type, uint32_t reserved,
		      uint64_t len_field, const void *payload, size_t n)
{
	uint32_t crc;

	wire__le32(out, type);
	wire__le32(out + 4, reserved);
	wire__le64(out + 8, len_field);
	memcpy(out + 16, payload, n);
	crc = crc32c__extend(0, out, 16 + n);
	wire__le32(out + 16 + n, crc);
	return 16 + n + 4;
}

/* Reads sections from a forward stream made of raw bytes after a good
 * preamble, until an error; returns it (or 0 if all were read). */
static int recv_raw(enum stream_role role, const uint8_t *raw, size_t n,
		    struct section *sec, char *err, size_t errlen)
{
	uint8_t *buf = malloc(n + STREAM_PREAMBLE_LEN);
	struct stream s;
	int fd, ret;
	off_t end;

	assert_non_null(buf);
	put_preamble(buf, STREAM_MAGIC, STREAM_VERSION_MAJOR, 0, 0);
	memcpy(buf + STREAM_PREAMBLE_LEN, raw, n);
	fd = memfd_with(buf, n + STREAM_PREAMBLE_LEN);
	free(buf);
	stream__init(&s, fd, role);
	ret = stream__read_preamble(&s, err, errlen);
	while (!ret) {
		end = lseek(fd, 0, SEEK_CUR);
		if (end == (off_t)(n + STREAM_PREAMBLE_LEN))
			break;
		ret = stream__recv(&s, sec, err, errlen);
	}
	close(fd);
	return ret;
}

/* --- CRC32C -------------------------------------------------------------- */

static void check_vectors(uint32_t (*fn)(uint32_t, const void *, size_t))
{
	uint8_t buf[32];
	int i;

	assert_int_equal(fn(0, "123456789", 9), 0xe3069283);
	assert_int_equal(fn(0, "", 0), 0);
	/* RFC 3720 (iSCSI) appendix B.4 */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(fn(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(fn(0, buf, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(fn(0, buf, 32), 0x46dd794e);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(fn(0, buf, 32), 0x113fdb5c);
	/* Chaining equals one pass. */
	assert_int_equal(fn(fn(0, "1234", 4), "56789", 5), 0xe3069283);
}

/* The definition, one bit at a time: what the library must agree with. */
static uint32_t crc32c_bitwise(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int k;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (crc & 1 ? 0x82f63b78u : 0);
	}
	return ~crc;
}

static void test_crc32c_vectors(void **state)
{
	(void)state;
	check_vectors(crc32c_bitwise);
	check_vectors(crc32c__extend);
}

/* Every length and alignment the stream uses (headers, a page, a batch)
 * and odd ones, from any running value, and chained at any split. */
static void test_crc32c_matches_the_definition(void **state)
{
	static uint8_t buf[70000];
	uint32_t seed, want;
	size_t i, off, len, cut;
	int iter;

	(void)state;
	srand(12345);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (iter = 0; iter < 3000; iter++) {
		off = (size_t)rand() % 64;
		len = iter < 200 ? (size_t)iter : iter < 300 ? 4096 :
		      (size_t)rand() % (sizeof(buf) - 64);
		seed = (uint32_t)rand();
		want = crc32c_bitwise(seed, buf + off, len);
		assert_int_equal(crc32c__extend(seed, buf + off, len), want);
		cut = len ? (size_t)rand() % len : 0;
		assert_int_equal(crc32c__extend(crc32c__extend(seed, buf + off, cut),
						buf + off + cut, len - cut), want);
	}
}

/* ISA-L takes an int length: a buffer past 1 GiB goes in pieces, and the
 * value must be the one the pieces chained by hand give. Memory never
 * written reads as zero and takes no RAM; a few bytes around the 1 GiB
 * mark are not zero, so a piece read from the wrong place shows. */
static void test_crc32c_past_one_gib(void **state)
{
	size_t len = (1ul << 30) + 3 * 4096 + 5, off;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	uint32_t chained = 7;

	(void)state;
	assert_true(p != MAP_FAILED);
	p[1] = 0x11;
	p[(1ul << 30) - 1] = 0x22;
	p[1ul << 30] = 0x33;
	p[(1ul << 30) + 4096 + 3] = 0x44;
	p[len - 1] = 0x55;
	for (off = 0; off < len; off += 1u << 24)
		chained = crc32c__extend(chained, p + off,
					 len - off < 1u << 24 ? len - off : 1u << 24);
	assert_int_equal(crc32c__extend(7, p, len), chained);
	munmap(p, len);
}

/* --- round trips --------------------------------------------------------- */

static void test_roundtrip_forward(void **state)
{
	uint8_t *bytes;
	size_t n = write_samples(STREAM_SOURCE, fwd_samples,
				 NSAMPLES(fwd_samples), &bytes);
	char err[256];
	struct stream s;
	struct section sec;
	int fd = memfd_with(bytes, n);
	size_t i;

	stream__init(&s, fd, STREAM_DEST);
	section__init(&sec);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), 0);
	for (i = 0; i < NSAMPLES(fwd_samples); i++) {
		assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), 0);
		assert_int_equal(sec.type, fwd_samples[i].type);
		assert_int_equal(sec.len, fwd_samples[i].len);
		assert_memory_equal(sec.payload, fwd_samples[i].data,
				    fwd_samples[i].len);
	}
	assert_int_equal(s.bytes_in, n);
	assert_int_equal(s.sections_in, NSAMPLES(fwd_samples));
	/* Reading past GO is a protocol error, not a hang or a crash. */
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "nothing follows section GO: the stream is complete");
	section__free(&sec);
	close(fd);
	free(bytes);
}

static void test_roundtrip_return(void **state)
{
	const struct sample refuse[] = { { SECTION_REFUSE, "\3\0abc", 5 } };
	const struct sample failed[] = {
		{ SECTION_ACCEPT, "", 0 }, { SECTION_FAILED, "\1\0x", 3 } };
	uint8_t *bytes;
	char err[256];
	size_t n;

	n = write_samples(STREAM_DEST, ret_samples, NSAMPLES(ret_samples), &bytes);
	assert_int_equal(read_bytes(bytes, n, STREAM_SOURCE, ret_samples,
				    NSAMPLES(ret_samples), err, sizeof(err)), 0);
	free(bytes);
	n = write_samples(STREAM_DEST, refuse, 1, &bytes);
	assert_int_equal(read_bytes(bytes, n, STREAM_SOURCE, refuse, 1, err,
				    sizeof(err)), 0);
	free(bytes);
	n = write_samples(STREAM_DEST, failed, 2, &bytes);
	assert_int_equal(read_bytes(bytes, n, STREAM_SOURCE, failed, 2, err,
				    sizeof(err)), 0);
	free(bytes);
}

/* --- damage: every truncation, every flipped bit -------------------------- */

static void check_truncations(enum stream_role writer, enum stream_role reader,
			      const struct sample *sm, size_t ns)
{
	uint8_t *bytes;
	size_t n = write_samples(writer, sm, ns, &bytes), cut;
	char err[256];
	int ret;

	for (cut = 0; cut < n; cut++) {
		ret = read_bytes(bytes, cut, reader, sm, ns, err, sizeof(err));
		if (ret != -ENODATA || !strstr(err, "truncated stream"))
			fail_msg("prefix of %zu/%zu bytes: ret %d, err \"%s\"",
				 cut, n, ret, err);
	}
	assert_int_equal(read_bytes(bytes, n, reader, sm, ns, err, sizeof(err)), 0);
	free(bytes);
}

static void test_every_truncation(void **state)
{
	char err[256];
	uint8_t *bytes;

	write_samples(STREAM_SOURCE, fwd_samples, 2, &bytes);
	check_truncations(STREAM_SOURCE, STREAM_DEST, fwd_samples,
			  NSAMPLES(fwd_samples));
	check_truncations(STREAM_DEST, STREAM_SOURCE, ret_samples,
			  NSAMPLES(ret_samples));
	/* Spot-check the wording at each place a stream can end. */
	read_bytes(bytes, 0, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in preamble (got 0 of 16 bytes)");
	read_bytes(bytes, 16, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream: it ends before the first section");
	read_bytes(bytes, 18, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section header (got 2 of 16 bytes)");
	read_bytes(bytes, 16 + 32 + 6, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section RAM header (got 6 of 16 bytes)");
	read_bytes(bytes, 16 + 32 + 20, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section RAM batch header (got 4 of 8 bytes)");
	read_bytes(bytes, 16 + 32 + 16 + 8 + 5, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section RAM entry table (got 5 of 12 bytes)");
	read_bytes(bytes, 16 + 32 + 16 + 20 + 2, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section RAM pages (got 2 of 4 bytes)");
	read_bytes(bytes, 16 + 32 + 16 + 24 + 1, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream in section RAM checksum (got 1 of 4 bytes)");
	read_bytes(bytes, 16 + 32, STREAM_DEST, fwd_samples, 2, err, sizeof(err));
	assert_string_equal(err, "truncated stream: it ends after section CONFIG");
	free(bytes);
}

/* Every flipped bit is caught, except in [blind_from, blind_to): RAM page
 * bytes, which only their entry's CRC covers (a torn page, for ram_recv),
 * so that there the framing must read on undisturbed. */
static void check_bit_flips(enum stream_role writer, enum stream_role reader,
			    const struct sample *sm, size_t ns, size_t blind_from,
			    size_t blind_to)
{
	uint8_t *bytes;
	size_t n = write_samples(writer, sm, ns, &bytes), bit;
	char err[256];
	int ret;

	for (bit = 0; bit < n * 8; bit++) {
		/* The preamble has no checksum: a minor with one of its set
		 * bits flipped is an older 3.x, which this vmm reads as well. */
		if (bit >= (STREAM_MAGIC_LEN + 2) * 8 && bit < (STREAM_MAGIC_LEN + 4) * 8 &&
		    (STREAM_VERSION_MINOR >> (bit - (STREAM_MAGIC_LEN + 2) * 8) & 1))
			continue;
		bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ret = read_bytes(bytes, n, reader, sm, ns, err, sizeof(err));
		if (bit / 8 >= blind_from && bit / 8 < blind_to) {
			if (ret != -1000)
				fail_msg("flipped page bit %zu: ret %d, err \"%s\"", bit, ret, err);
		} else if (ret == 0 || ret == -1000 || !err[0])
			fail_msg("flipped bit %zu (byte %zu) not detected: ret %d, err \"%s\"",
				 bit, bit / 8, ret, err);
		bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(bytes);
}

static void test_every_bit_flip(void **state)
{
	/* preamble, CONFIG section, RAM header, batch header, entry */
	size_t page_at = 16 + 32 + 16 + 8 + 12;

	check_bit_flips(STREAM_SOURCE, STREAM_DEST, fwd_samples,
			NSAMPLES(fwd_samples), page_at, page_at + 4);
	check_bit_flips(STREAM_DEST, STREAM_SOURCE, ret_samples,
			NSAMPLES(ret_samples), 0, 0);
}

static void test_checksum_message_and_sticky(void **state)
{
	uint8_t *bytes;
	size_t n = write_samples(STREAM_SOURCE, fwd_samples, 2, &bytes);
	struct stream s;
	struct section sec;
	char err[256];
	int fd;

	bytes[16 + 32 + 16] ^= 0x40;	/* first RAM payload byte */
	fd = memfd_with(bytes, n);
	stream__init(&s, fd, STREAM_DEST);
	section__init(&sec);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), 0);
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), 0);
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "section RAM: checksum mismatch"));
	/* The framing is lost: every later read fails the same way. */
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "already failed"));
	section__free(&sec);
	close(fd);
	free(bytes);
}

/* --- preamble ------------------------------------------------------------ */

static int read_preamble_of(const uint8_t *p, size_t n, char *err, size_t len)
{
	struct stream s;
	int fd = memfd_with(p, n), ret;

	stream__init(&s, fd, STREAM_DEST);
	ret = stream__read_preamble(&s, err, len);
	close(fd);
	return ret;
}

static void test_preamble(void **state)
{
	uint8_t p[STREAM_PREAMBLE_LEN];
	char err[256];

	put_preamble(p, "LMIG\r\n\x1a\n", 3, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	assert_memory_equal(p, "LMIG\r\n\x1a\n\3\0\0\0\0\0\0\0", 16);

	put_preamble(p, "LMIG\n\n\x1a\n", 1, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "not a vmm migration stream (bad magic)");
	put_preamble(p, "QEVM\0\0\0\3", 1, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "QEMU"));

	/* 1.0 peers run the guest on END and wait for no GO: refused. */
	put_preamble(p, STREAM_MAGIC, 1, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "stream version 1.0, this vmm reads 3.x");
	/* 2.0 RAM sections copy pages and checksum them with the section:
	 * a 3.0 reader cannot frame them, so a 2.0 stream is refused. */
	put_preamble(p, STREAM_MAGIC, 2, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "stream version 2.0, this vmm reads 3.x");
	put_preamble(p, STREAM_MAGIC, 4, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "stream version 4.0, this vmm reads 3.x");
	put_preamble(p, STREAM_MAGIC, 3, 7, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "stream version 3.7 is newer than this vmm's 3.6");
	/* A 3.6 reader reads 3.0 (a source without XBZRLE), 3.1 (without
	 * zstd), 3.2 (without BLOCK), 3.3 (without migrate -i's bases), 3.4
	 * (without ROUND_DONE), 3.5 (without ZERO_RUN) and 3.6. */
	put_preamble(p, STREAM_MAGIC, 3, 6, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 5, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 4, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 3, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 0, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 1, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 2, 0);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), 0);
	put_preamble(p, STREAM_MAGIC, 3, 0, 4);
	assert_int_equal(read_preamble_of(p, 16, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "flags 0x4"));
}

static void test_preamble_once(void **state)
{
	uint8_t p[2 * STREAM_PREAMBLE_LEN];
	struct section sec;
	struct stream s;
	char err[256];
	int fd;

	/* A refused preamble stays refused; nothing after it is read. */
	put_preamble(p, STREAM_MAGIC, 2, 0, 0);
	put_preamble(p + 16, STREAM_MAGIC, 3, 0, 0);
	fd = memfd_with(p, sizeof(p));
	stream__init(&s, fd, STREAM_DEST);
	section__init(&sec);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_string_equal(err, "the preamble was already read and refused");
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 16);
	close(fd);
	/* Read or written once only. */
	fd = memfd_with(p + 16, 16);
	stream__init(&s, fd, STREAM_DEST);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), 0);
	assert_int_equal(stream__read_preamble(&s, err, sizeof(err)), -EPROTO);
	assert_int_equal(stream__write_preamble(&s), 0);
	assert_int_equal(stream__write_preamble(&s), -EPROTO);
	close(fd);
	/* A section before the preamble. */
	fd = memfd_with(p + 16, 16);
	stream__init(&s, fd, STREAM_DEST);
	assert_int_equal(stream__recv(&s, &sec, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "before the stream's preamble"));
	close(fd);
	section__free(&sec);
}

/* --- header checks and limits -------------------------------------------- */

static void test_limits(void **state)
{
	uint8_t raw[256], big[64];
	struct section sec;
	char err[256];
	size_t n;

	section__init(&sec);
	/* A length near 2^64 is refused from the header alone. */
	n = put_raw(raw, SECTION_CONFIG, 0, 1ull << 63, "", 0);
	assert_int_equal(recv_raw(STREAM_DEST, raw, n, &sec, err, sizeof(err)),
			 -EMSGSIZE);
	assert_string_equal(err, "section CONFIG: payload of 9223372036854775808 bytes exceeds the limit of 1048576");
	assert_int_equal(sec.cap, 0);
	/* Per-type limits are tighter than the global one. */
	n = put_raw(raw, SECTION_CONFIG, 0, STREAM_CONFIG_MAX + 1, "", 0);
	assert_int_equal(recv_raw(STREAM_DEST, raw, n, &sec, err, sizeof(err)),
			 -EMSGSIZE);
	n = put_raw(raw, SECTION_ACCEPT, 0, 1, "x", 1);
	assert_int_equal(recv_raw(STREAM_SOURCE, raw, n, &sec, err, sizeof(err)),
			 -EMSGSIZE);
	n = put_raw(raw, SECTION_REFUSE, 0, STREAM_RETURN_MAX + 1, "", 0);
	assert_int_equal(recv_raw(STREAM_SOURCE, raw, n, &sec, err, sizeof(err)),
			 -EMSGSIZE);
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_END, 0, END_MSG_LEN_BLK + 1, "", 0);
	assert_int_equal(recv_raw(STREAM_DEST, raw, n, &sec, err, sizeof(err)),
			 -EMSGSIZE);
	assert_int_equal(sec.cap, 0);
	/* The sender refuses too. */
	{
		struct stream s;
		int fd = new_memfd();

		memset(big, 0, sizeof(big));
		stream__init(&s, fd, STREAM_SOURCE);
		assert_int_equal(stream__write_preamble(&s), 0);
		assert_int_equal(stream__send(&s, SECTION_CONFIG, big, 8), 0);
		assert_int_equal(stream__send(&s, SECTION_ROUND_END, big, ROUND_END_MSG_LEN_BLK + 1),
				 -EMSGSIZE);
		close(fd);
	}
	section__free(&sec);
}

static void expect_raw(enum stream_role role, const uint8_t *raw, size_t n,
		       int want, const char *msg)
{
	struct section sec;
	char err[256];

	section__init(&sec);
	assert_int_equal(recv_raw(role, raw, n, &sec, err, sizeof(err)), want);
	if (!strstr(err, msg))
		fail_msg("expected \"%s\" in \"%s\"", msg, err);
	section__free(&sec);
}

static void test_bad_headers(void **state)
{
	uint8_t raw[256];
	size_t n;

	n = put_raw(raw, 0x99, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "unknown section type 0x99");
	n = put_raw(raw, SECTION_CONFIG, 1, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO,
		   "section CONFIG: reserved header field is 0x1, must be 0");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO,
		   "section ACCEPT belongs on the return path, not the forward stream");
	n = put_raw(raw, SECTION_RAM, 0, 0, "", 0);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "section RAM belongs on the forward stream");
	/* Order. */
	n = put_raw(raw, SECTION_RAM, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO,
		   "section RAM out of order: the stream must start with CONFIG");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_CONFIG, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "CONFIG may only come first");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_END, 0, 12, "123456789012", 12);
	n += put_raw(raw + n, SECTION_RAM, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "only GO may follow END");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_GO, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "GO may only follow END");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_END, 0, 12, "123456789012", 12);
	n += put_raw(raw + n, SECTION_GO, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_GO, 0, 0, "", 0);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "nothing follows section GO");
	n = put_raw(raw, SECTION_RESUMED, 0, 0, "", 0);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "the return path must start with ACCEPT or REFUSE");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_ACCEPT, 0, 0, "", 0);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "after ACCEPT only ROUND_DONE, READY or FAILED");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_RESUMED, 0, 0, "", 0);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "after ACCEPT only ROUND_DONE, READY or FAILED");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_READY, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_READY, 0, 0, "", 0);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "after READY only RESUMED or FAILED");
	n = put_raw(raw, SECTION_REFUSE, 0, 2, "\0\0", 2);
	n += put_raw(raw + n, SECTION_FAILED, 0, 2, "\0\0", 2);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO, "nothing follows section REFUSE");
	n = put_raw(raw, SECTION_REFUSE, 0, 2, "\0\0", 2);
	n += put_raw(raw + n, SECTION_ROUND_DONE, 0, 4, "\0\0\0\0", 4);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO, "nothing follows section REFUSE");
}

/* A RAM section's head is checked as far as framing needs before its
 * entry table is read: the count and that the table fits the payload. */
static void test_ram_head(void **state)
{
	uint8_t raw[256];
	size_t n;

	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_RAM, 0, 7, "\0\0\0\0\0\0\0", 7);
	expect_raw(STREAM_DEST, raw, n, -EBADMSG,
		   "RAM batch: payload of 7 bytes is shorter than its 8-byte header");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_RAM, 0, 8, "\0\0\0\0\1\4\0\0", 8);
	expect_raw(STREAM_DEST, raw, n, -EBADMSG, "RAM batch: 1025 pages, at most 1024");
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_RAM, 0, 19, "\0\0\0\0\1\0\0\0" "12345678901", 19);
	expect_raw(STREAM_DEST, raw, n, -EBADMSG,
		   "RAM batch: an entry table of 1 entries does not fit a payload of 19 bytes");
	/* An empty batch is a well-framed section. */
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_RAM, 0, 8, "\0\0\0\0\0\0\0\0", 8);
	expect_raw(STREAM_DEST, raw, n, 0, "");
}

/* The section CRC of RAM leaves the pages out: a sender may point into
 * memory that changes, and the CRC is the one over header and table. */
static void test_ram_crc_covers_head(void **state)
{
	static const uint8_t payload[8 + 12 + 4] = { 0, 0, 0, 0, 1, 0, 0, 0, 2, 0x10 };
	uint8_t *bytes, head[16];
	struct stream s;
	int fd = new_memfd();
	size_t n;
	uint32_t crc;

	stream__init(&s, fd, STREAM_SOURCE);
	assert_int_equal(stream__write_preamble(&s), 0);
	assert_int_equal(stream__send(&s, SECTION_CONFIG, "", 0), 0);
	assert_int_equal(stream__send(&s, SECTION_RAM, payload, sizeof(payload)), 0);
	/* A table longer than the payload is refused by the sender too. */
	assert_int_equal(stream__send(&s, SECTION_RAM, payload, 19), -EINVAL);
	assert_int_equal(stream__send(&s, SECTION_RAM, payload, 7), -EINVAL);
	n = slurp(fd, &bytes);
	assert_int_equal(n, 16 + 20 + 16 + sizeof(payload) + 4);
	memcpy(head, bytes + 36, 16);
	crc = crc32c__extend(crc32c__extend(0, head, 16), payload, 20);
	assert_int_equal(wire__get_le32(bytes + n - 4), crc);
	free(bytes);
	close(fd);
}

static void test_send_rules(void **state)
{
	struct stream s;
	int fd = new_memfd();

	stream__init(&s, fd, STREAM_SOURCE);
	/* No section before the preamble. */
	assert_int_equal(stream__send(&s, SECTION_CONFIG, "", 0), -EPROTO);
	assert_int_equal(stream__write_preamble(&s), 0);
	assert_int_equal(stream__send(&s, SECTION_RAM, "", 0), -EPROTO);
	assert_int_equal(stream__send(&s, SECTION_ACCEPT, "", 0), -EPROTO);
	assert_int_equal(stream__send(&s, 0x77, "", 0), -EPROTO);
	assert_int_equal(stream__send(&s, SECTION_CONFIG, "", 0), 0);
	assert_int_equal(stream__sendv(&s, SECTION_RAM, NULL, -1), -EPROTO);
	assert_int_equal(stream__send(&s, SECTION_END, "123456789012", 12), 0);
	assert_int_equal(stream__send(&s, SECTION_RAM, "", 0), -EPROTO);
	assert_int_equal(stream__send(&s, SECTION_END, "123456789012", 12), -EPROTO);
	/* Nothing refused was written. */
	assert_int_equal(lseek(fd, 0, SEEK_END), 16 + 20 + 32);
	close(fd);

	/* A write error sticks: a half-written section cannot be followed. */
	fd = new_memfd();
	stream__init(&s, fd, STREAM_SOURCE);
	assert_int_equal(stream__write_preamble(&s), 0);
	close(fd);
	assert_int_equal(stream__send(&s, SECTION_CONFIG, "", 0), -EBADF);
	assert_int_equal(stream__send(&s, SECTION_CONFIG, "", 0), -EBADF);
}

/* --- sockets: short writes, many iovecs, a peer that hangs up ------------ */

#define MANY_PAGES 200

struct reader_arg {
	int fd;
	int ret;
	uint8_t *payload;
	size_t len;
	char err[256];
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	struct stream s;
	struct section sec;

	stream__init(&s, a->fd, STREAM_DEST);
	section__init(&sec);
	a->ret = stream__read_preamble(&s, a->err, sizeof(a->err));
	if (!a->ret)
		a->ret = stream__recv(&s, &sec, a->err, sizeof(a->err));
	if (!a->ret) {
		a->len = sec.len;
		a->payload = sec.payload;	/* handed over */
		sec.payload = NULL;
	}
	section__free(&sec);
	return NULL;
}

static void test_socket_sendv(void **state)
{
	static uint8_t pages[MANY_PAGES][4096];
	struct iovec iov[2 * MANY_PAGES];
	uint64_t words[MANY_PAGES];
	struct reader_arg a = { 0 };
	int sv[2], i, small = 4096;
	size_t off = 0;
	struct stream s;
	pthread_t t;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* Small buffers force many short writes. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < MANY_PAGES; i++) {
		memset(pages[i], i + 1, sizeof(pages[i]));
		words[i] = (uint64_t)i << 12;
		iov[2 * i] = (struct iovec){ &words[i], 8 };
		iov[2 * i + 1] = (struct iovec){ pages[i], 4096 };
	}
	/* A zero-length element in the middle must be harmless. */
	iov[5].iov_len = 0;
	a.fd = sv[1];
	assert_int_equal(pthread_create(&t, NULL, reader_thread, &a), 0);
	stream__init(&s, sv[0], STREAM_SOURCE);
	assert_true(s.is_socket);
	assert_int_equal(stream__write_preamble(&s), 0);
	assert_int_equal(stream__sendv(&s, SECTION_CONFIG, iov, 2 * MANY_PAGES), 0);
	pthread_join(t, NULL);
	assert_int_equal(a.ret, 0);
	assert_int_equal(a.len, MANY_PAGES * (8 + 4096) - 4096);
	for (i = 0; i < 2 * MANY_PAGES; i++) {
		assert_memory_equal(a.payload + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	assert_int_equal(s.bytes_out, 16 + 16 + a.len + 4);
	free(a.payload);

	/* The peer is gone: EPIPE, and the process is not killed. */
	close(sv[1]);
	assert_int_equal(stream__send(&s, SECTION_DEVICE, "x", 1), -EPIPE);
	close(sv[0]);
}

/* --- full-length I/O under short transfers and signals -------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

static void *dribble_writer(void *p)
{
	int fd = *(int *)p;
	const char *msg = "abcdefgh";
	size_t i;

	/* One byte at a time, slowly: the reader sees short reads and is
	 * interrupted by SIGALRM while it waits. */
	for (i = 0; i < 8; i++) {
		usleep(3000);
		if (write(fd, msg + i, 1) != 1)
			break;
	}
	close(fd);
	return NULL;
}

static void test_full_io(void **state)
{
	struct sigaction sa = { .sa_handler = on_alarm }, ignore = { .sa_handler = SIG_IGN }, old;
	struct itimerval tv = { { 0, 1000 }, { 0, 1000 } }, off = { 0 };
	struct iovec iov[200];
	sigset_t block, prev;
	uint8_t buf[16], big[200];
	size_t got, i;
	pthread_t t;
	int p[2];

	/* sa_flags without SA_RESTART: a blocked read really returns EINTR */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	assert_int_equal(pipe(p), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, &prev);
	assert_int_equal(pthread_create(&t, NULL, dribble_writer, &p[1]), 0);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	setitimer(ITIMER_REAL, &tv, NULL);
	assert_int_equal(stream__read_full(p[0], buf, 10, &got), -ENODATA);
	setitimer(ITIMER_REAL, &off, NULL);
	pthread_join(t, NULL);
	/* A SIGALRM raised just before the timer stopped may still be
	 * pending (valgrind delivers signals late): ignoring it discards it,
	 * where the default action restored at once would end the test. */
	sigaction(SIGALRM, &ignore, NULL);
	sigaction(SIGALRM, &old, NULL);
	assert_int_equal(got, 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_true(alarms > 0);
	assert_int_equal(stream__read_full(p[0], buf, 0, &got), 0);
	close(p[0]);

	/* More iovecs than one writev takes, with empty ones in between. */
	assert_int_equal(pipe(p), 0);
	for (i = 0; i < 200; i++) {
		big[i] = (uint8_t)i;
		iov[i] = (struct iovec){ &big[i], i % 3 ? 1 : 0 };
	}
	assert_int_equal(stream__write_full(p[1], false, iov, 200, &got), 0);
	assert_int_equal(got, 133);
	assert_int_equal(stream__write_full(p[1], false, iov, 0, &got), 0);
	assert_int_equal(got, 0);
	close(p[1]);
	assert_int_equal(stream__read_full(p[0], buf, 3, &got), 0);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 2);
	assert_int_equal(buf[2], 4);
	close(p[0]);
	assert_int_equal(stream__read_full(p[0], buf, 3, &got), -EBADF);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A peer that sends one byte now and then, for far longer than any
 * deadline in the test; it stops when the reader closes its end. */
static void *slow_dribbler(void *arg)
{
	int fd = *(int *)arg, i;

	for (i = 0; i < 2000; i++) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(20000);
	}
	close(fd);
	return NULL;
}

static void test_deadline_io(void **state)
{
	struct stream_wait w = { .cancel_fd = -1 };
	uint8_t buf[64];
	static uint8_t big[256 << 10];
	struct iovec iov = { big, sizeof(big) };
	uint64_t one = 1;
	size_t got;
	pthread_t t;
	int p[2], efd;

	/* Bytes that keep coming do not move an absolute deadline: the
	 * read ends before the 64 bytes are there. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	assert_int_equal(pthread_create(&t, NULL, slow_dribbler, &p[1]), 0);
	w.deadline_us = now_us() + 200000;
	assert_int_equal(stream__read_until(p[0], buf, sizeof(buf), &got, &w), -ETIMEDOUT);
	assert_true(got >= 1 && got < sizeof(buf));
	shutdown(p[0], SHUT_RDWR);
	pthread_join(t, NULL);
	close(p[0]);

	/* The cancel descriptor ends a wait that has no deadline. */
	assert_int_equal(pipe(p), 0);
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	w.deadline_us = 0;
	w.cancel_fd = efd;
	assert_int_equal(stream__read_until(p[0], buf, 1, &got, &w), -ECANCELED);
	assert_int_equal(got, 0);

	/* A writer nobody reads (a full pipe, non-blocking as a FIFO file
	 * target is opened) is cancelled, or stopped by its deadline. */
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(stream__write_until(p[1], false, &iov, 1, &got, &w), -ECANCELED);
	w.cancel_fd = -1;
	w.deadline_us = now_us() + 100000;
	assert_int_equal(stream__write_until(p[1], false, &iov, 1, &got, &w), -ETIMEDOUT);
	/* And the stall limit ends a wait where nothing moves at all. */
	w.deadline_us = 0;
	w.stall_ms = 50;
	assert_int_equal(stream__write_until(p[1], false, &iov, 1, &got, &w), -ETIMEDOUT);
	assert_int_equal(got, 0);
	close(efd);
	close(p[0]);
	close(p[1]);
}

/* --- small payloads ------------------------------------------------------ */

/* BLOCK came with 3.3: an older stream that carries one is not what its
 * preamble says (recv_raw's preamble says 3.0). */
static void test_block_needs_3_3(void **state)
{
	uint8_t raw[256], p[BLK_SECTION_HDR] = { 0 };
	size_t n;

	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_BLOCK, 0, sizeof(p), p, sizeof(p));
	expect_raw(STREAM_DEST, raw, n, -EPROTO,
		   "section BLOCK in a stream of version 3.0 (it came with 3.3)");
}

/* ROUND_DONE came with 3.5 (recv_raw's preamble says 3.0), and only
 * between ACCEPT and READY. */
static void test_round_done(void **state)
{
	uint8_t raw[256];
	char err[256];
	uint32_t round;
	struct wbuf b;
	size_t n;

	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_ROUND_DONE, 0, 4, "\0\0\0\0", 4);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO,
		   "section ROUND_DONE in a return path of version 3.0 (it came with 3.5)");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_READY, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_ROUND_DONE, 0, 4, "\0\0\0\0", 4);
	expect_raw(STREAM_SOURCE, raw, n, -EPROTO, "after READY only RESUMED or FAILED");
	n = put_raw(raw, SECTION_ACCEPT, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_ROUND_DONE, 0, 5, "\0\0\0\0\0", 5);
	expect_raw(STREAM_SOURCE, raw, n, -EMSGSIZE, "exceeds the limit of 4");
	/* A forward stream never carries it. */
	n = put_raw(raw, SECTION_CONFIG, 0, 0, "", 0);
	n += put_raw(raw + n, SECTION_ROUND_DONE, 0, 4, "\0\0\0\0", 4);
	expect_raw(STREAM_DEST, raw, n, -EPROTO, "belongs on the return path");

	wbuf__init(&b);
	stream_msg__encode_round_done(&b, 0xfffffffe);
	assert_int_equal(b.len, ROUND_DONE_MSG_LEN);
	assert_int_equal(stream_msg__decode_round_done(b.data, b.len, &round, err, sizeof(err)), 0);
	assert_int_equal(round, 0xfffffffe);
	assert_int_equal(stream_msg__decode_round_done(b.data, 3, &round, err, sizeof(err)),
			 -EBADMSG);
	assert_string_equal(err, "section ROUND_DONE: payload is 3 bytes, must be 4");
	wbuf__free(&b);
	(void)state;
}

/* Both ends ask the same: a socket, and a peer that came with 3.5 or
 * later. A file has no return path whatever its preamble says. */
static void test_has_round_done(void **state)
{
	struct stream s;
	int sv[2], fd = new_memfd();

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	stream__init(&s, sv[0], STREAM_SOURCE);
	assert_false(stream__has_round_done(&s));
	s.minor_in = 4;
	assert_false(stream__has_round_done(&s));
	s.minor_in = 5;
	assert_true(stream__has_round_done(&s));
	stream__init(&s, fd, STREAM_DEST);
	s.minor_in = 5;
	assert_false(stream__has_round_done(&s));
	close(sv[0]);
	close(sv[1]);
	close(fd);
	(void)state;
}

static void test_round_end_and_end(void **state)
{
	struct round_end_msg re = { 7, 1234567890123ull, 42, 0, 0 }, re2;
	struct end_msg e = { 31, 99999999999ull, 0 }, e2;
	struct wbuf b;
	char err[256];

	wbuf__init(&b);
	stream_msg__encode_round_end(&b, &re);
	assert_int_equal(b.len, ROUND_END_MSG_LEN);
	assert_int_equal(stream_msg__decode_round_end(b.data, b.len, &re2, err,
						      sizeof(err)), 0);
	assert_int_equal(re2.round, 7);
	assert_int_equal(re2.pages, 1234567890123ull);
	assert_int_equal(re2.bytes, 42);
	assert_int_equal(stream_msg__decode_round_end(b.data, b.len - 1, &re2,
						      err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "section ROUND_END: payload is 19 bytes, must be 20");
	wbuf__reset(&b);
	stream_msg__encode_end(&b, &e);
	assert_int_equal(b.len, END_MSG_LEN);
	assert_int_equal(stream_msg__decode_end(b.data, b.len, &e2, err,
						sizeof(err)), 0);
	assert_int_equal(e2.rounds, 31);
	assert_int_equal(e2.total_pages, 99999999999ull);
	wbuf__put_u8(&b, 0);
	assert_int_equal(stream_msg__decode_end(b.data, b.len, &e2, err,
						sizeof(err)), -EBADMSG);
	/* 3.3: with BLOCK sections, the long forms carry their counts. */
	re.block_sections = 5;
	re.block_bytes = 5 << 20;
	e.block_sections = 9;
	wbuf__reset(&b);
	stream_msg__encode_round_end(&b, &re);
	assert_int_equal(b.len, ROUND_END_MSG_LEN_BLK);
	assert_int_equal(stream_msg__decode_round_end(b.data, b.len, &re2, err,
						      sizeof(err)), 0);
	assert_int_equal(re2.block_sections, 5);
	assert_int_equal(re2.block_bytes, 5 << 20);
	assert_int_equal(stream_msg__decode_round_end(b.data, b.len - 8, &re2,
						      err, sizeof(err)), -EBADMSG);
	wbuf__reset(&b);
	stream_msg__encode_end(&b, &e);
	assert_int_equal(b.len, END_MSG_LEN_BLK);
	assert_int_equal(stream_msg__decode_end(b.data, b.len, &e2, err,
						sizeof(err)), 0);
	assert_int_equal(e2.block_sections, 9);
	/* A long form that counts nothing is the short form's message:
	 * refused, so each message has one encoding. */
	memset(b.data + 12, 0, 8);
	assert_int_equal(stream_msg__decode_end(b.data, b.len, &e2, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "section END: the long form counts no BLOCK section (the short "
			    "form says that)");
	wbuf__reset(&b);
	stream_msg__encode_round_end(&b, &re);
	memset(b.data + 20, 0, 16);
	assert_int_equal(stream_msg__decode_round_end(b.data, b.len, &re2, err, sizeof(err)),
			 -EBADMSG);
	wbuf__free(&b);
}

static void test_reason(void **state)
{
	char out[STREAM_REASON_MAX + 1], err[256], *longer;
	struct wbuf b;

	wbuf__init(&b);
	stream_msg__encode_reason(&b, "source RAM 512 MiB, this VM 256 MiB");
	assert_int_equal(stream_msg__decode_reason(b.data, b.len, out,
						   sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "source RAM 512 MiB, this VM 256 MiB");
	/* Truncated into a small buffer, safely. */
	assert_int_equal(stream_msg__decode_reason(b.data, b.len, out, 7, err,
						   sizeof(err)), 0);
	assert_string_equal(out, "source");
	/* Length mismatches. */
	assert_int_equal(stream_msg__decode_reason(b.data, b.len - 1, out,
						   sizeof(out), err, sizeof(err)), -EBADMSG);
	assert_int_equal(stream_msg__decode_reason(b.data, 1, out, sizeof(out),
						   err, sizeof(err)), -EBADMSG);
	/* Everything but printable ASCII is escaped: control characters,
	 * DEL, and bytes over 0x7f (0x9b is CSI on an 8-bit terminal); the
	 * backslash too, so an escape in the text cannot pass for ours. NUL
	 * is refused. */
	wbuf__reset(&b);
	stream_msg__encode_reason(&b, "a\x1b[2Jb\nc\td\x7f\x9b" "1m\\");
	assert_int_equal(stream_msg__decode_reason(b.data, b.len, out,
						   sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "a\\x1b[2Jb\\x0ac\\x09d\\x7f\\x9b1m\\x5c");
	b.data[3] = 0;
	assert_int_equal(stream_msg__decode_reason(b.data, b.len, out,
						   sizeof(out), err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "reason: the string contains a NUL byte");
	/* A reason over the limit is cut by the encoder. */
	longer = malloc(STREAM_REASON_MAX + 100);
	assert_non_null(longer);
	memset(longer, 'x', STREAM_REASON_MAX + 99);
	longer[STREAM_REASON_MAX + 99] = '\0';
	wbuf__reset(&b);
	stream_msg__encode_reason(&b, longer);
	assert_int_equal(b.len, 2 + STREAM_REASON_MAX);
	assert_int_equal(stream_msg__decode_reason(b.data, b.len, out,
						   sizeof(out), err, sizeof(err)), 0);
	assert_int_equal(strlen(out), STREAM_REASON_MAX);
	free(longer);
	wbuf__free(&b);
}

static void test_escape(void **state)
{
	char out[16];

	assert_string_equal(stream__escape("uart16550", 9, out, sizeof(out)), "uart16550");
	assert_string_equal(stream__escape("a\0b\xff", 4, out, sizeof(out)), "a\\x00b\\xff");
	/* Cut before an escape that would not fit, never inside one. */
	assert_string_equal(stream__escape("abcdefghijk\x1b", 12, out, sizeof(out)),
			    "abcdefghijk\\x1b");
	assert_string_equal(stream__escape("abcdefghijkl\x1b", 13, out, sizeof(out)),
			    "abcdefghijkl");
	assert_string_equal(stream__escape("abc", 3, out, 3), "ab");
	assert_string_equal(stream__escape("abc", 3, out, 1), "");
}

static void test_type_names(void **state)
{
	assert_string_equal(stream__type_name(SECTION_CONFIG), "CONFIG");
	assert_string_equal(stream__type_name(SECTION_ROUND_END), "ROUND_END");
	assert_string_equal(stream__type_name(SECTION_FAILED), "FAILED");
	assert_string_equal(stream__type_name(0), "unknown");
	assert_string_equal(stream__type_name(0xffffffff), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_matches_the_definition),
		cmocka_unit_test(test_crc32c_past_one_gib),
		cmocka_unit_test(test_roundtrip_forward),
		cmocka_unit_test(test_roundtrip_return),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_checksum_message_and_sticky),
		cmocka_unit_test(test_preamble),
		cmocka_unit_test(test_preamble_once),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_send_rules),
		cmocka_unit_test(test_ram_head),
		cmocka_unit_test(test_ram_crc_covers_head),
		cmocka_unit_test(test_socket_sendv),
		cmocka_unit_test(test_full_io),
		cmocka_unit_test(test_deadline_io),
		cmocka_unit_test(test_round_end_and_end),
		cmocka_unit_test(test_block_needs_3_3),
		cmocka_unit_test(test_round_done),
		cmocka_unit_test(test_has_round_done),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
