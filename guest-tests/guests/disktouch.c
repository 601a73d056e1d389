/* disktouch: writes blocks of bs bytes over a working set ws of its disk
 * at `rate` writes per second (0: as fast as it can), sequentially,
 * uniformly at random, or hot/cold (9 writes in 10 go to the first tenth
 * of ws), and reports the rate it achieved every `report` seconds:
 *   disktouch: t=MS writes=N rate=W/s MB/s=X
 * It checks nothing (diskverify does); it is load for a disk under a
 * migration. Runs for `duration` (0: forever).
 */
#include "kit.h"
#include "kit_blk.h"

#define NAME	"disktouch"

enum pattern { SEQ, RANDOM, HOTCOLD };

static const char *const pattern_names[] = { "seq", "random", "hotcold", NULL };
static uint64_t ws = 64 << 20, bs = 4096, rate, pattern = RANDOM;
static uint64_t duration_us = 10000000, report_us = 1000000;

static const struct kit_param params[] = {
	{ .key = "ws", .type = KIT_PARAM_SIZE, .value = &ws },
	{ .key = "bs", .type = KIT_PARAM_SIZE, .value = &bs, .max = KIT_BLK_MAX_BYTES },
	{ .key = "rate", .type = KIT_PARAM_UINT, .value = &rate },
	{ .key = "pattern", .type = KIT_PARAM_CHOICE, .value = &pattern,
	  .choices = pattern_names },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
};

static uint8_t buf[KIT_BLK_MAX_BYTES] __attribute__((aligned(4096)));

static uint64_t pick(struct kit_rng *rng, uint64_t n, uint64_t i)
{
	uint64_t hot = n / 10 ? n / 10 : 1;

	if (pattern == SEQ)
		return i % n;
	if (pattern == HOTCOLD && kit__rng_below(rng, 10))
		return kit__rng_below(rng, hot);
	return kit__rng_below(rng, n);
}

static void report(uint64_t t_us, uint64_t n, uint64_t dt_us)
{
	uint64_t per_s = dt_us ? n * 1000000 / dt_us : 0;

	kit__printf(NAME ": t=%lu ms writes=%lu rate=%lu/s MB/s=%lu\n", t_us / 1000, n,
		    per_s, per_s * bs / 1000000);
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	struct kit_blk d;
	struct kit_rng rng;
	uint64_t n, i = 0, start, now, last, last_i = 0, end, next;

	(void)ncpus;
	if (cpu)
		return;
	kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
	if (bs < KIT_BLK_SECTOR || bs % KIT_BLK_SECTOR)
		kit__bad_value(NAME, "bs", bs, "not a multiple of 512");
	if (!kit__blk_init(&d))
		kit__exit(KIT_EXIT_KIT);
	n = ws / bs;
	if (!n || n * (bs / KIT_BLK_SECTOR) > d.sectors)
		kit__bad_value(NAME, "ws", ws, "between bs and the disk's size");
	kit__printf(NAME ": ws=%lu bs=%lu rate=%lu pattern=%s\n", ws, bs, rate,
		    pattern_names[pattern]);
	kit__rng_init(&rng, 1, 0);
	start = last = next = now = kit__now_us();
	end = duration_us ? start + duration_us : UINT64_MAX;
	while (now < end) {
		buf[0] = (uint8_t)i;
		if (kit__blk_rw(true, pick(&rng, n, i) * (bs / KIT_BLK_SECTOR), buf,
				(uint32_t)bs) != KIT_BLK_OK)
			kit__die(KIT_EXIT_KIT, NAME ": write failed\n");
		i++;
		if (rate) {
			next += 1000000 / rate;
			if (next > now)
				kit__sleep_us(next - now);
		}
		now = kit__now_us();
		if (report_us && now - last >= report_us) {
			report(now - start, i - last_i, now - last);
			last = now;
			last_i = i;
		}
	}
	report(now - start, i, now - start);
	kit__exit(KIT_EXIT_OK);
}
