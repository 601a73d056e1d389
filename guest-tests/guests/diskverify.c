/* diskverify: checks that what the guest wrote to its disk reads back,
 * across a migration. It fills its working set (ws, in blocks of bs) with
 * a pattern derived from each block's number and generation, then keeps
 * rewriting random blocks at `rate` per second, reading each back at once
 * and checking it. The generations live in guest RAM, so they migrate
 * with the guest: after a migration over shared storage, the disk must
 * hold exactly what RAM says was last written.
 *
 * At the end (duration, or a byte 'q' on COM1) it reads every block of
 * the working set, checks it, and prints its verdict:
 *   diskverify: PASS blocks=N writes=W ...
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
static uint64_t report_us = 1000000, garbage;

static const struct kit_param params[] = {
	{ .key = "ws", .type = KIT_PARAM_SIZE, .value = &ws },
	{ .key = "bs", .type = KIT_PARAM_SIZE, .value = &bs, .max = KIT_BLK_MAX_BYTES },
	{ .key = "rate", .type = KIT_PARAM_UINT, .value = &rate },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
	{ .key = "garbage", .type = KIT_PARAM_UINT, .value = &garbage, .max = 1 },
};

static uint32_t gen[MAX_BLOCKS];
static uint64_t buf[KIT_BLK_MAX_BYTES / 8] __attribute__((aligned(4096)));
static uint64_t nblocks, writes, reads;

static uint64_t word(uint64_t block, uint32_t g, uint64_t i)
{
	return kit__mix64(block << 32 ^ g) + i;
}

static void fill(uint64_t block)
{
	uint64_t i;

	for (i = 0; i < bs / 8; i++)
		buf[i] = word(block, gen[block], i);
}

static void check(uint64_t block)
{
	uint64_t i;

	for (i = 0; i < bs / 8; i++)
		if (buf[i] != word(block, gen[block], i))
			kit__die(KIT_EXIT_VERIFY, NAME ": FAIL block=%lu gen=%u word=%lu "
				 "expected=0x%lx got=0x%lx\n", block, gen[block], i,
				 word(block, gen[block], i), buf[i]);
}

static void io(bool write, uint64_t block)
{
	enum kit_blk_status st = kit__blk_rw(write, block * (bs / KIT_BLK_SECTOR), buf,
					     (uint32_t)bs);

	if (st != KIT_BLK_OK)
		kit__die(KIT_EXIT_VERIFY, NAME ": FAIL %s of block %lu: status %d\n",
			 write ? "write" : "read", block, (int)st);
	if (write)
		writes++;
	else
		reads++;
}

static void rewrite(uint64_t block)
{
	gen[block]++;
	fill(block);
	io(true, block);
	io(false, block);
	check(block);
}

static long quit_r0(void *arg)
{
	(void)arg;
	return (inb(COM1_LSR) & 1) && inb(COM1) == 'q';
}

static void garbage_test(const struct kit_blk *d)
{
	enum kit_blk_status st = kit__blk_rw(false, d->sectors, buf, KIT_BLK_SECTOR);
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

static void setup(struct kit_blk *d)
{
	kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
	if (bs < KIT_BLK_SECTOR || bs % KIT_BLK_SECTOR)
		kit__bad_value(NAME, "bs", bs, "not a multiple of 512");
	nblocks = ws / bs;
	if (!nblocks || nblocks > MAX_BLOCKS)
		kit__bad_value(NAME, "ws", ws, "between bs and 65536 blocks");
	if (!kit__blk_init(d))
		kit__exit(KIT_EXIT_KIT);
	if (d->readonly)
		kit__die(KIT_EXIT_PARAM, NAME ": the disk is read-only\n");
	if (nblocks * (bs / KIT_BLK_SECTOR) > d->sectors)
		kit__bad_value(NAME, "ws", ws, "larger than the disk");
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	struct kit_blk d;
	struct kit_rng rng;
	uint64_t b, start, now, next_report, end, next_write;
	bool quit = false;

	(void)ncpus;
	if (cpu)
		return;
	setup(&d);
	kit__printf(NAME ": disk %lu sectors, device %x in slot %u; ws=%lu bs=%lu "
		    "rate=%lu/s\n", d.sectors, d.device_id, d.slot, ws, bs, rate);
	if (garbage)
		garbage_test(&d);
	for (b = 0; b < nblocks; b++) {
		gen[b] = 1;
		fill(b);
		io(true, b);
	}
	kit__printf(NAME ": filled %lu blocks\n", nblocks);
	kit__rng_init(&rng, 1, 0);
	start = now = kit__now_us();
	next_report = start + report_us;
	next_write = start;
	end = duration_us ? start + duration_us : UINT64_MAX;
	while (now < end && !quit) {
		rewrite(kit__rng_below(&rng, nblocks));
		if (rate) {
			next_write += 1000000 / rate;
			if (next_write > now)
				kit__sleep_us(next_write - now);
		}
		now = kit__now_us();
		if (now >= next_report) {
			if (d.flush && kit__blk_flush() != KIT_BLK_OK)
				kit__die(KIT_EXIT_VERIFY, NAME ": FAIL flush\n");
			quit = kit__ring0_call(quit_r0, 0);
			kit__printf(NAME ": t=%lu ms writes=%lu reads=%lu\n",
				    (now - start) / 1000, writes, reads);
			next_report = now + report_us;
		}
	}
	for (b = 0; b < nblocks; b++) {
		io(false, b);
		check(b);
	}
	kit__printf(NAME ": PASS blocks=%lu writes=%lu reads=%lu%s\n", nblocks, writes, reads,
		    quit ? " (asked to stop)" : "");
	kit__exit(KIT_EXIT_OK);
}
