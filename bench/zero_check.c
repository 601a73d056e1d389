/* Per-core speed of what the copy-free data path does to every page on
 * both sides: the zero test in place (mem__is_zero, lib/mem_zero.c, the
 * one zero test of vmm) and the page's CRC32C (crc32c__extend), each over
 * a buffer that fits in the caches (the code's own speed) and over one
 * larger than them, as guest RAM is (what the memory lets one core have). Every page is zero but its
 * last byte: the zero test's worst case, every 64-byte block read.
 *
 *   cc -O2 -Iinclude -D_GNU_SOURCE bench/zero_check.c build/libvmm.a \
 *      -lisal -o build/zero_check && build/zero_check
 *
 * Prints one line per buffer: 10^9 bytes per second of this thread's CPU
 * time (so a busy machine's waits do not count). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"
#include "mem_zero.h"
#include "stream.h"

/* CPU time of this thread: "per core" even when the machine is busy and
 * the thread waits for a CPU now and then. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void measure(size_t bytes, int passes)
{
	uint8_t *buf = aligned_alloc(4096, bytes);
	size_t off, zero = 0;
	uint32_t crc = 0;
	double t0, zero_s, crc_s;
	int pass;

	if (!buf)
		exit(1);
	memset(buf, 0, bytes);
	for (off = RAM_PAGE_SIZE - 1; off < bytes; off += RAM_PAGE_SIZE)
		buf[off] = 1;
	t0 = now_s();
	for (pass = 0; pass < passes; pass++)
		for (off = 0; off < bytes; off += RAM_PAGE_SIZE)
			zero += mem__is_zero(buf + off, RAM_PAGE_SIZE);
	zero_s = now_s() - t0;
	t0 = now_s();
	for (pass = 0; pass < passes; pass++)
		for (off = 0; off < bytes; off += RAM_PAGE_SIZE)
			crc ^= crc32c__extend(crc, buf + off, RAM_PAGE_SIZE);
	crc_s = now_s() - t0;
	printf("zero_check buffer=%zuMiB zero_GBps=%.2f crc32c_GBps=%.2f (zero pages %zu, crc %08x)\n",
	       bytes >> 20, (double)bytes * passes / zero_s / 1e9,
	       (double)bytes * passes / crc_s / 1e9, zero, crc);
	free(buf);
}

int main(void)
{
	measure(1u << 20, 2000);	/* in the caches */
	measure(256u << 20, 8);		/* from memory */
	return 0;
}
