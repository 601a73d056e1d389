/* diskverify: checks that what the guest wrote to its disk reads back,
 * across a migration. It fills its working set (ws, in blocks of bs) with
 * a pattern derived from each block's number and generation, then keeps
 * rewriting random blocks at `rate` per second, reading each back at once
 * and checking it. The generations live in guest RAM, so they migrate
 * with the guest: after a migration over shared storage, the disk must
 * hold exactly what RAM says was last written.
 *
 * Every CPU works: CPU i owns the i-th of ncpus equal slices of the
 * working set and draws its blocks from its own random stream (seed 1,
 * CPU i), at `rate` per CPU. With writes=N each CPU stops after exactly N
 * rewrites, so the image it leaves depends on the parameters and the CPU
 * count alone, not on timing: a migrated run can be compared byte for
 * byte with one that never moved.
 *
 * At the end (duration, writes, or a byte 'q' on COM1) CPU 0 waits for
 * every CPU, reads every block of the working set, checks it, and prints
 * its verdict:
 *   diskverify: PASS blocks=N cpus=C writes=W ...
 *   diskverify: FAIL block=B gen=G word=I expected=X got=Y   (exit 1)
 *
 * Test hook: garbage=1 first sends a read past the end of the disk (must
 * get IOERR) and a chain pointing outside RAM (the device must set
 * NEEDS_RESET), then resets the device and goes on.
 */
#include "kit.h"
#include "kit_blk.h"
#include "kit_io.h"

#define NAME		"diskverify"
#define MAX_BLOCKS	65536
#define COM1		0x3f8
#define COM1_LSR	(COM1 + 5)

static uint64_t ws = 4 << 20, bs = 4096, rate = 200, duration_us = 10000000;
static uint64_t report_us = 1000000, garbage, max_writes;

static const struct kit_param params[] = {
	{ .key = "ws", .type = KIT_PARAM_SIZE, .value = &ws },
	{ .key = "bs", .type = KIT_PARAM_SIZE, .value = &bs, .max = KIT_BLK_MAX_BYTES },
	{ .key = "rate", .type = KIT_PARAM_UINT, .value = &rate },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "writes", .type = KIT_PARAM_UINT, .value = &max_writes },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
	{ .key = "garbage", .type = KIT_PARAM_UINT, .value = &garbage, .max = 1 },
};

/* One CPU's share: its blocks [first, first + count), its I/O buffer, its
 * counters (summed by CPU 0 for the reports). */
struct slice {
	uint64_t first, count;
	uint64_t *buf;
	uint64_t writes, reads, rewrites;
	bool done;
} __attribute__((aligned(64)));

static uint32_t gen[MAX_BLOCKS];
static struct slice slices[KIT_MAX_CPUS];
static uint64_t nblocks;
static bool quit;

static uint64_t word(uint64_t block, uint32_t g, uint64_t i)
{
	return kit__mix64(block << 32 ^ g) + i;
}

static void fill(struct slice *s, uint64_t block)
{
	uint64_t i;

	for (i = 0; i < bs / 8; i++)
		s->buf[i] = word(block, gen[block], i);
}

static void check(const struct slice *s, uint64_t block)
{
	uint64_t i;

	for (i = 0; i < bs / 8; i++)
		if (s->buf[i] != word(block, gen[block], i))
			kit__die(KIT_EXIT_VERIFY, NAME ": FAIL block=%lu gen=%u word=%lu "
				 "expected=0x%lx got=0x%lx\n", block, gen[block], i,
				 word(block, gen[block], i), s->buf[i]);
}

static void io(struct slice *s, bool write, uint64_t block)
{
	enum kit_blk_status st = kit__blk_rw(write, block * (bs / KIT_BLK_SECTOR), s->buf,
					     (uint32_t)bs);

	if (st != KIT_BLK_OK)
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL %s of block %lu: status %d\n",
			 write ? "write" : "read", block, (int)st);
	/* Read by CPU 0 for its reports while this CPU counts. */
	if (write)
		__atomic_store_n(&s->writes, s->writes + 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&s->reads, s->reads + 1, __ATOMIC_RELAXED);
}

static void rewrite(struct slice *s, uint64_t block)
{
	gen[block]++;
	fill(s, block);
	io(s, true, block);
	io(s, false, block);
	check(s, block);
	s->rewrites++;
}

static long quit_r0(void *arg)
{
	(void)arg;
	return (inb(COM1_LSR) & 1) && inb(COM1) == 'q';
}

static void garbage_test(const struct kit_blk *d)
{
	enum kit_blk_status st = kit__blk_rw(false, d->sectors, slices[0].buf,
					       KIT_BLK_SECTOR);
	uint8_t status;

	if (st != KIT_BLK_IOERR)
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL read past the end: status %d\n", (int)st);
	status = kit__blk_send_garbage();
	if (!(status & 64))
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL garbage chain: status 0x%x\n", status);
	if (!kit__blk_reinit())
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL reset after NEEDS_RESET\n");
	kit__printf(NAME ": garbage: read past the end got IOERR, bad chain set "
		    "NEEDS_RESET (status 0x%x), reset worked\n", status);
}

static void setup(struct kit_blk *d, unsigned int ncpus)
{
	uint64_t start, end, i;

	kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
	if (bs < KIT_BLK_SECTOR || bs % KIT_BLK_SECTOR)
		kit__bad_value(NAME, "bs", bs, "not a multiple of 512");
	nblocks = ws / bs;
	if (!nblocks || nblocks > MAX_BLOCKS)
		kit__bad_value(NAME, "ws", ws, "between bs and 65536 blocks");
	if (nblocks < ncpus)
		kit__bad_value(NAME, "ws", ws, "fewer blocks than CPUs");
	if (!kit__blk_init(d))
		kit__exit(KIT_EXIT_KIT);
	if (d->readonly)
		kit__die(KIT_EXIT_PARAM, NAME ": the disk is read-only\n");
	if (nblocks * (bs / KIT_BLK_SECTOR) > d->sectors)
		kit__bad_value(NAME, "ws", ws, "larger than the disk");
	/* The buffers: one block per CPU, page aligned, in the free RAM. */
	kit__mem_region(&start, &end);
	for (i = 0; i < ncpus; i++) {
		struct slice *s = &slices[i];

		s->first = nblocks * i / ncpus;
		s->count = nblocks * (i + 1) / ncpus - s->first;
		s->buf = (uint64_t *)(uintptr_t)start;
		start += (bs + KIT_PAGE_SIZE - 1) & ~(KIT_PAGE_SIZE - 1);
	}
	if (start > end)
		kit__die(KIT_EXIT_KIT, NAME ": no RAM for %u buffers of %lu bytes\n", ncpus, bs);
}

/* CPU 0's report: every CPU's counters summed; also where it flushes and
 * looks for a 'q'. */
static void report(const struct kit_blk *d, unsigned int ncpus, uint64_t t_us)
{
	uint64_t w = 0, r = 0;
	unsigned int i;

	if (d->flush && kit__blk_flush() != KIT_BLK_OK)
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL flush\n");
	if (kit__ring0_call(quit_r0, 0))
		__atomic_store_n(&quit, true, __ATOMIC_RELAXED);
	for (i = 0; i < ncpus; i++) {
		w += __atomic_load_n(&slices[i].writes, __ATOMIC_RELAXED);
		r += __atomic_load_n(&slices[i].reads, __ATOMIC_RELAXED);
	}
	kit__printf(NAME ": t=%lu ms writes=%lu reads=%lu\n", t_us / 1000, w, r);
}

static bool all_done(unsigned int ncpus)
{
	unsigned int i;

	for (i = 0; i < ncpus; i++)
		if (!__atomic_load_n(&slices[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* The rewrites of one CPU's slice, paced at `rate`; CPU 0 also reports,
 * and after its own share waits for the other CPUs. */
static void run(const struct kit_blk *d, unsigned int cpu, unsigned int ncpus)
{
	struct slice *s = &slices[cpu];
	struct kit_rng rng;
	uint64_t start, now, next_report, end, next_write;
	bool mine = true;

	kit__rng_init(&rng, 1, cpu);
	start = now = kit__now_us();
	next_report = start + report_us;
	next_write = start;
	/* A write count ends the run by itself, whatever the time. */
	end = duration_us && !max_writes ? start + duration_us : UINT64_MAX;
	for (;;) {
		if (mine && (now >= end || __atomic_load_n(&quit, __ATOMIC_RELAXED) ||
			     (max_writes && s->rewrites == max_writes))) {
			mine = false;
			__atomic_store_n(&s->done, true, __ATOMIC_RELEASE);
			if (cpu)
				return;
		}
		if (!mine && all_done(ncpus))
			return;
		if (mine) {
			rewrite(s, s->first + kit__rng_below(&rng, s->count));
			if (rate) {
				next_write += 1000000 / rate;
				if (next_write > now)
					kit__sleep_us(next_write - now);
			}
		} else {
			kit__sleep_us(1000);
		}
		now = kit__now_us();
		if (!cpu && now >= next_report) {
			report(d, ncpus, now - start);
			next_report = now + report_us;
		}
	}
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	static struct kit_blk d;	/* set by CPU 0 before the barrier */
	struct slice *s = &slices[cpu];
	uint64_t b, w = 0, r = 0;
	unsigned int i;

	if (!cpu) {
		setup(&d, ncpus);
		kit__printf(NAME ": disk %lu sectors, device %x in slot %u; ws=%lu bs=%lu "
			    "rate=%lu/s per CPU, cpus=%u writes=%lu\n", d.sectors, d.device_id,
			    d.slot, ws, bs, rate, ncpus, max_writes);
		if (garbage)
			garbage_test(&d);
	}
	/* The others wait for the parameters, the disk and the slices. */
	kit__barrier();
	for (b = s->first; b < s->first + s->count; b++) {
		gen[b] = 1;
		fill(s, b);
		io(s, true, b);
	}
	kit__barrier();
	if (!cpu)
		kit__printf(NAME ": filled %lu blocks\n", nblocks);
	run(&d, cpu, ncpus);
	if (cpu)
		return;
	for (b = 0; b < nblocks; b++) {
		io(&slices[0], false, b);
		check(&slices[0], b);
	}
	for (i = 0; i < ncpus; i++) {
		w += slices[i].writes;
		r += slices[i].reads;
	}
	kit__printf(NAME ": PASS blocks=%lu cpus=%u writes=%lu reads=%lu%s\n", nblocks, ncpus,
		    w, r, quit ? " (asked to stop)" : "");
	kit__exit(KIT_EXIT_OK);
}
