/* verify: decides whether a live migration corrupted memory.
 *
 * Every word of every page holds a value derived from (page address, word
 * index, the page's generation); the generations live in an array apart
 * from the pages. Pages are rewritten at rate pages/s (generation + 1, the
 * whole page) while every CPU checks every word of its own slice over and
 * over. Any difference ends the guest with exit code 1 and says which
 * page, which word and what it found, plus a guess at why: an older
 * generation means a dirty page was lost, zeros mean a page never arrived.
 *
 * That check compares a page with the generation array, and both live in
 * RAM: a migration that lost a page's write and the array's write alike
 * (a whole interval of the dirty log missing, say the last one before the
 * pause) leaves them consistent, and stale. tally=1 adds a count kept
 * outside RAM: every rewrite also reads vmm's test device counter (device
 * state, carried by the stop-and-copy, never by the dirty log). Each
 * rewrite adds one to one page's generation, so at the end the
 * generations the pages hold must add up to the rewrites the counter
 * counted; a page that lacks its last write holds an older generation and
 * the sum falls short.
 */
#include "kit.h"

#define NAME		"verify"
#define US_PER_S	((uint64_t)1000000)
#define WORDS_PER_PAGE	(KIT_PAGE_SIZE / 8)
#define CHECK_RUN	16	/* pages checked between two looks at the clock */
#define MAX_REWRITES	64	/* rewrites between two checks, to keep checking */
#define GEN_LOOKBACK	64	/* older generations tried when diagnosing */
#define WORD_STEP	0x9e3779b97f4a7c15ULL

static uint64_t ws = 32 << 20, rate = 1000, duration_us = 10 * US_PER_S;
static uint64_t report_us = US_PER_S, seed = 1, corrupt, tally;

enum corrupt { CORRUPT_NONE, CORRUPT_WORD, CORRUPT_STALE, CORRUPT_ZERO, CORRUPT_LOST };

static const char *const corrupt_names[] = { "0", "word", "stale", "zero", "lost", NULL };

#define TESTDEV_ID		0x54534554	/* "TEST" */
#define TESTDEV_REG_ID		0x00
#define TESTDEV_REG_COUNTER	0x08

static const struct kit_param params[] = {
	{ .key = "ws", .type = KIT_PARAM_SIZE, .value = &ws },
	{ .key = "rate", .type = KIT_PARAM_UINT, .value = &rate },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
	{ .key = "seed", .type = KIT_PARAM_UINT, .value = &seed },
	{ .key = "corrupt", .type = KIT_PARAM_CHOICE, .value = &corrupt,
	  .choices = corrupt_names },
	{ .key = "tally", .type = KIT_PARAM_UINT, .value = &tally, .max = 1 },
};

struct slice {
	uint64_t *pages;
	uint32_t *gens;
	uint64_t npages;
	uint64_t cursor, passes, rewrites, checked;
	struct kit_rng rng;
};

struct cpu_total {
	uint64_t passes, rewrites, gen_sum;
} __attribute__((aligned(64)));

static uint64_t total_pages, pages_base, gens_base, start_tsc, tally_start;
static struct cpu_total totals[KIT_MAX_CPUS];

/* Differs per page and per generation; the word index is folded in last so
 * a word moved within its page shows too. */
static uint64_t page_key(uint64_t addr, uint32_t gen)
{
	return kit__mix64(addr ^ kit__mix64(gen + 1));
}

static uint64_t word_value(uint64_t key, uint64_t w)
{
	return key ^ ((w + 1) * WORD_STEP);
}

static void fill_page(uint64_t *p, uint32_t gen)
{
	uint64_t key = page_key((uintptr_t)p, gen), w;

	for (w = 0; w < WORDS_PER_PAGE; w++)
		p[w] = word_value(key, w);
}

/* Which generation, if any, the page holds now: a lost update shows as an
 * older one. Returns -1 for none. */
static int64_t find_generation(const volatile uint64_t *p, uint32_t gen)
{
	uint32_t g, oldest = gen > GEN_LOOKBACK ? gen - GEN_LOOKBACK : 0;
	uint64_t w;

	for (g = gen + 1; g-- > oldest;) {
		uint64_t key = page_key((uintptr_t)p, g);

		for (w = 0; w < WORDS_PER_PAGE; w++)
			if (p[w] != word_value(key, w))
				break;
		if (w == WORDS_PER_PAGE)
			return g;
	}
	return -1;
}

static void diagnose(const volatile uint64_t *p, uint32_t gen)
{
	uint64_t w, bad = 0, zero = 0, key = page_key((uintptr_t)p, gen);
	int64_t g;

	for (w = 0; w < WORDS_PER_PAGE; w++) {
		bad += p[w] != word_value(key, w);
		zero += !p[w];
	}
	kit__printf(NAME ": page 0x%lx: %lu of %lu words wrong, %lu zero\n",
		    (uintptr_t)p, bad, WORDS_PER_PAGE, zero);
	g = find_generation(p, gen);
	if (g >= 0)
		kit__printf(NAME ": page 0x%lx holds generation %ld instead of "
			    "%u: an update was lost\n", (uintptr_t)p, g, gen);
	else if (zero == WORDS_PER_PAGE)
		kit__printf(NAME ": page 0x%lx is all zero: its contents never "
			    "arrived\n", (uintptr_t)p);
}

__attribute__((noreturn))
static void fail(const volatile uint64_t *p, uint64_t w, uint64_t expected,
		 uint64_t actual, uint32_t gen)
{
	kit__printf(NAME ": FAIL page=0x%lx word=%lu expected=0x%016lx "
		    "actual=0x%016lx gen=%u\n", (uintptr_t)p, w, expected,
		    actual, gen);
	diagnose(p, gen);
	kit__exit(KIT_EXIT_VERIFY);
}

/* Reads through volatile: the compiler must not reuse what it wrote. */
static void check_page(struct slice *s, uint64_t i)
{
	const volatile uint64_t *p = s->pages + i * WORDS_PER_PAGE;
	uint32_t gen = ((volatile uint32_t *)s->gens)[i];
	uint64_t key = page_key((uintptr_t)p, gen), w, v;

	for (w = 0; w < WORDS_PER_PAGE; w++) {
		v = p[w];
		if (v != word_value(key, w))
			fail(p, w, word_value(key, w), v, gen);
	}
}

static long testdev_id_r0(void *arg)
{
	(void)arg;
	return *(volatile uint32_t *)(uintptr_t)(KIT_TESTDEV_BASE + TESTDEV_REG_ID);
}

/* The counter's value, then it counts one more (devices/testdev.c). */
static long testdev_count_r0(void *arg)
{
	(void)arg;
	return (long)*(volatile uint64_t *)(uintptr_t)(KIT_TESTDEV_BASE + TESTDEV_REG_COUNTER);
}

static void rewrite_page(struct slice *s)
{
	uint64_t i = kit__rng_below(&s->rng, s->npages);

	s->gens[i]++;
	fill_page(s->pages + i * WORDS_PER_PAGE, s->gens[i]);
	s->rewrites++;
	/* A pause between the write and the count is harmless: the count
	 * then happens on the destination. */
	if (tally)
		kit__ring0_call(testdev_count_r0, NULL);
}

static void check_params(unsigned int ncpus)
{
	uint64_t start, end, gens_bytes;

	if (ws % KIT_PAGE_SIZE)
		kit__bad_value(NAME, "ws", ws, "must be a multiple of 4096");
	total_pages = ws / KIT_PAGE_SIZE;
	if (total_pages < ncpus)
		kit__bad_value(NAME, "ws", ws, "less than one page per CPU");
	if (total_pages > UINT32_MAX)
		kit__bad_value(NAME, "ws", ws, "too large");
	kit__mem_region(&start, &end);
	gens_bytes = (total_pages * 4 + KIT_PAGE_SIZE - 1) & ~(KIT_PAGE_SIZE - 1);
	if (ws + gens_bytes > end - start)
		kit__die(KIT_EXIT_KIT, NAME ": no RAM for the working set: ws=%lu "
			 "MiB plus %lu KiB of generations, free RAM %lu MiB",
			 ws >> 20, gens_bytes >> 10, (end - start) >> 20);
	gens_base = start;
	pages_base = start + gens_bytes;
}

static void slice_init(struct slice *s, unsigned int cpu, unsigned int ncpus)
{
	uint64_t first = total_pages * cpu / ncpus;
	uint64_t last = total_pages * (cpu + 1) / ncpus, i;

	s->pages = (uint64_t *)(uintptr_t)(pages_base + first * KIT_PAGE_SIZE);
	s->gens = (uint32_t *)(uintptr_t)gens_base + first;
	s->npages = last - first;
	s->cursor = s->passes = s->rewrites = s->checked = 0;
	kit__rng_init(&s->rng, seed, cpu);
	for (i = 0; i < s->npages; i++) {
		s->gens[i] = 0;
		fill_page(s->pages + i * WORDS_PER_PAGE, 0);
	}
}

static void check_run(struct slice *s)
{
	unsigned int n;

	for (n = 0; n < CHECK_RUN; n++) {
		check_page(s, s->cursor);
		if (++s->cursor == s->npages) {
			s->cursor = 0;
			s->passes++;
		}
	}
	s->checked += CHECK_RUN;
}

static void report(struct slice *s, unsigned int cpu, uint64_t now)
{
	uint64_t t = kit__tsc_to_us(now - start_tsc);

	kit__printf(NAME ": t=%lu.%02lus cpu=%u pages=%lu rewrites=%lu "
		    "passes=%lu\n", t / US_PER_S, t / 10000 % 100, cpu,
		    s->npages, s->rewrites, s->passes);
}

static void do_corrupt(struct slice *s)
{
	uint64_t i = s->npages / 2, w;
	uint64_t *p = s->pages + i * WORDS_PER_PAGE;

	if (corrupt == CORRUPT_WORD)
		p[WORDS_PER_PAGE / 3] ^= 1ULL << 17;
	if (corrupt == CORRUPT_STALE)
		s->gens[i]++;
	if (corrupt == CORRUPT_ZERO)
		for (w = 0; w < WORDS_PER_PAGE; w++)
			p[w] = 0;
	if (corrupt == CORRUPT_LOST) {
		/* A rewrite that never arrives, the generation array's write
		 * lost with it: page and array agree, only tally=1 sees it. */
		s->gens[i]++;
		s->rewrites++;
		if (tally)
			kit__ring0_call(testdev_count_r0, NULL);
		s->gens[i]--;
	}
}

/* tally=1: vmm's test device must be there (it is not under QEMU). */
static void tally_begin(void)
{
	uint32_t id = (uint32_t)kit__ring0_call(testdev_id_r0, NULL);

	if (id != TESTDEV_ID)
		kit__die(KIT_EXIT_KIT, NAME ": tally=1 needs vmm's test device at 0x%lx "
			 "(ID reads 0x%x)", (uint64_t)KIT_TESTDEV_BASE, id);
	tally_start = (uint64_t)kit__ring0_call(testdev_count_r0, NULL);
}

/* The rewrites the counter counted against the generations the pages
 * hold (the final pass found each page holding gens[i]). */
static void tally_end(unsigned int ncpus)
{
	uint64_t end = (uint64_t)kit__ring0_call(testdev_count_r0, NULL);
	uint64_t counted = end - tally_start - 1, held = 0;
	unsigned int c;

	for (c = 0; c < ncpus; c++)
		held += totals[c].gen_sum;
	if (held == counted) {
		kit__printf(NAME ": tally rewrites=%lu generations=%lu\n", counted, held);
		return;
	}
	kit__printf(NAME ": FAIL tally: the test device counted %lu rewrites, the pages "
		    "hold %lu generations: %ld page writes lost\n", counted, held,
		    (long)(counted - held));
	kit__exit(KIT_EXIT_VERIFY);
}

static uint64_t gen_sum(const struct slice *s)
{
	uint64_t i, sum = 0;

	for (i = 0; i < s->npages; i++)
		sum += s->gens[i];
	return sum;
}

static void run(struct slice *s, unsigned int cpu, uint64_t rate_cpu)
{
	uint64_t end = duration_us ? start_tsc + kit__us_to_tsc(duration_us) : UINT64_MAX;
	uint64_t period = kit__us_to_tsc(report_us);
	uint64_t next = report_us ? start_tsc + period : UINT64_MAX;
	uint64_t now, due, n;

	while ((now = kit__rdtsc()) < end) {
		if (now >= next) {
			report(s, cpu, now);
			next = next + period > now ? next + period : now + period;
		}
		due = kit__tsc_to_us(now - start_tsc) * rate_cpu / US_PER_S;
		for (n = 0; s->rewrites < due && n < MAX_REWRITES; n++)
			rewrite_page(s);
		check_run(s);
	}
	/* One more complete pass, so every page is checked after the last
	 * moment a migration could have touched it. */
	for (n = 0; n < s->npages; n++)
		check_page(s, n);
	s->passes++;
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t rate_cpu, passes = UINT64_MAX, rewrites = 0;
	struct slice s;
	unsigned int c;

	if (cpu == 0) {
		kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
		check_params(ncpus);
		kit__printf(NAME ": cpus=%u ws=%lu KiB pages=%lu rate=%lu "
			    "duration=%lu.%03lus report=%lu.%03lus seed=%lu "
			    "tally=%lu gens=0x%lx data=0x%lx\n", ncpus, ws >> 10,
			    total_pages, rate, duration_us / US_PER_S,
			    duration_us / 1000 % 1000, report_us / US_PER_S,
			    report_us / 1000 % 1000, seed, tally, gens_base, pages_base);
	}
	kit__barrier();
	slice_init(&s, cpu, ncpus);
	kit__barrier();
	if (cpu == 0) {
		if (tally)
			tally_begin();
		start_tsc = kit__rdtsc();
	}
	kit__barrier();
	if (cpu == 0 && corrupt)
		do_corrupt(&s);
	rate_cpu = rate / ncpus + (cpu < rate % ncpus);
	run(&s, cpu, rate_cpu);
	totals[cpu].passes = s.passes;
	totals[cpu].rewrites = s.rewrites;
	totals[cpu].gen_sum = gen_sum(&s);
	kit__barrier();
	if (cpu)
		return;
	if (tally)
		tally_end(ncpus);
	for (c = 0; c < ncpus; c++) {
		rewrites += totals[c].rewrites;
		if (totals[c].passes < passes)
			passes = totals[c].passes;
	}
	kit__printf(NAME ": PASS pages=%lu rewrites=%lu passes=%lu\n",
		    total_pages, rewrites, passes);
	kit__exit(KIT_EXIT_OK);
}
