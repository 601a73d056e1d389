#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY	0x82f63b78u	/* Castagnoli, bit-reversed */

/* Eight tables let the software path consume 8 bytes per step: table k
 * holds the CRC of a byte followed by k zero bytes. */
static uint32_t crc_table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* The hardware path runs three independent CRCs over three adjacent
 * blocks (the instruction has a latency of 3 and a throughput of 1, so one
 * chain leaves two thirds of the unit idle) and then merges them. Merging
 * shifts a CRC state past n zero bytes, which is a multiplication by
 * x^(8n) mod P; these are the two factors for one and two blocks. */
#define LANE_BYTES	8192
static uint32_t shift_one_lane, shift_two_lanes;
/* The same for a 4 KiB page (every RAM page of the migration stream has
 * its own CRC): three lanes of 1360 bytes cover 4080 of its bytes. */
#define PAGE_LANE_BYTES	1360
static uint32_t shift_one_page_lane, shift_two_page_lanes;

static uint32_t (*crc_impl)(uint32_t, const void *, size_t);
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

/* Product of two polynomials mod P, in the reflected bit order the CRC
 * register uses (bit 31 is x^0). */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
	uint32_t p = 0;
	int i;

	for (i = 0; i < 32; i++) {
		if (a & (0x80000000u >> i))
			p ^= b;
		b = (b >> 1) ^ (b & 1 ? CRC32C_POLY : 0);
	}
	return p;
}

/* x^(8n) mod P: the polynomial 1 run through n zero bytes. */
static uint32_t zero_bytes_factor(size_t n)
{
	uint32_t r = 0x80000000u;

	while (n--)
		r = (r >> 8) ^ crc_table[0][r & 0xff];
	return r;
}

static void build_tables(void)
{
	uint32_t c;
	int i, j, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (c & 1 ? CRC32C_POLY : 0);
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++) {
			c = crc_table[k - 1][i];
			crc_table[k][i] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
	shift_one_lane = zero_bytes_factor(LANE_BYTES);
	shift_two_lanes = gf2_mul(shift_one_lane, shift_one_lane);
	shift_one_page_lane = zero_bytes_factor(PAGE_LANE_BYTES);
	shift_two_page_lanes = gf2_mul(shift_one_page_lane, shift_one_page_lane);
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	/* memcpy, not a cast: the buffer may be unaligned. x86 is little
	 * endian, which the slicing step below relies on. */
	memcpy(&v, p, sizeof(v));
	return v;
}

uint32_t crc32c__extend_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t v;

	pthread_once(&table_once, build_tables);
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		v = load_le64(p) ^ crc;
		crc = crc_table[7][v & 0xff] ^
		      crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^
		      crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^
		      crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^
		      crc_table[0][v >> 56];
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)

/* Three chains over three adjacent lanes of `lane` bytes, merged into c
 * with the lane's shift factors. */
__attribute__((target("sse4.2")))
static uint64_t crc_three_lanes(uint64_t c, const uint8_t *p, size_t lane, uint32_t shift_one,
				uint32_t shift_two)
{
	uint64_t c1 = 0, c2 = 0;
	size_t i;

	for (i = 0; i < lane; i += 8) {
		c = __builtin_ia32_crc32di(c, load_le64(p + i));
		c1 = __builtin_ia32_crc32di(c1, load_le64(p + lane + i));
		c2 = __builtin_ia32_crc32di(c2, load_le64(p + 2 * lane + i));
	}
	return gf2_mul((uint32_t)c, shift_two) ^ gf2_mul((uint32_t)c1, shift_one) ^
	       (uint32_t)c2;
}

__attribute__((target("sse4.2")))
uint32_t crc32c__extend_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	/* Align so the 8-byte loads in the main loop never split a line. */
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	if (len >= 3 * PAGE_LANE_BYTES)
		pthread_once(&table_once, build_tables);
	for (; len >= 3 * LANE_BYTES; len -= 3 * LANE_BYTES, p += 3 * LANE_BYTES)
		c = crc_three_lanes(c, p, LANE_BYTES, shift_one_lane, shift_two_lanes);
	for (; len >= 3 * PAGE_LANE_BYTES; len -= 3 * PAGE_LANE_BYTES, p += 3 * PAGE_LANE_BYTES)
		c = crc_three_lanes(c, p, PAGE_LANE_BYTES, shift_one_page_lane,
				    shift_two_page_lanes);
	for (; len >= 8; len -= 8, p += 8)
		c = __builtin_ia32_crc32di(c, load_le64(p));
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

bool crc32c__have_hw(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

#else

uint32_t crc32c__extend_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c__extend_sw(crc, buf, len);
}

bool crc32c__have_hw(void)
{
	return false;
}

#endif

static void pick_impl(void)
{
	crc_impl = crc32c__have_hw() ? crc32c__extend_hw : crc32c__extend_sw;
}

uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&impl_once, pick_impl);
	return crc_impl(crc, buf, len);
}
