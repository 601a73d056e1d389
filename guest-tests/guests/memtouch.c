/* memtouch: dirties memory at a controlled rate, the workload whose dirty
 * rate a pre-copy migration has to outrun. A touch writes one 64-bit word
 * (a running counter) into a page, which is enough to dirty it. Each CPU
 * owns an equal slice of the working set and a share of the rate.
 *
 * Rate control keeps an absolute schedule (page k is due at k / rate), so
 * late wake-ups and time spent printing are caught up, never lost. Writes
 * come in batches of about BATCH_US worth of pages; the CPU sleeps through
 * gaps of MIN_SLEEP_US or more and spins on the TSC through shorter ones.
 */
#include "kit.h"

#define NAME		"memtouch"
#define US_PER_S	((uint64_t)1000000)
#define WORDS_PER_PAGE	(KIT_PAGE_SIZE / 8)
#define BATCH_US	2000	/* writes due within 2 ms go out together */
#define MIN_SLEEP_US	1000	/* shorter waits spin: a sleep costs ~0.2 ms */
#define MAX_RUN		256	/* pages between two looks at the clock */

enum pattern { PAT_SEQ, PAT_RANDOM, PAT_HOTCOLD };

static const char *const pattern_names[] = { "seq", "random", "hotcold", NULL };

static uint64_t rate, ws = 64 << 20, pattern = PAT_SEQ, hot = 90, hotsize;
static uint64_t duration_us, report_us = US_PER_S, seed = 1, prefill = 1, writers;
static bool hotsize_given;

static const struct kit_param params[] = {
	{ .key = "rate", .type = KIT_PARAM_UINT, .value = &rate },
	{ .key = "ws", .type = KIT_PARAM_SIZE, .value = &ws },
	{ .key = "pattern", .type = KIT_PARAM_CHOICE, .value = &pattern,
	  .choices = pattern_names },
	{ .key = "hot", .type = KIT_PARAM_UINT, .value = &hot, .max = 100 },
	{ .key = "hotsize", .type = KIT_PARAM_SIZE, .value = &hotsize,
	  .given = &hotsize_given },
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
	{ .key = "seed", .type = KIT_PARAM_UINT, .value = &seed },
	{ .key = "prefill", .type = KIT_PARAM_UINT, .value = &prefill, .max = 1 },
	/* Only CPUs 0..writers-1 write (0 = all); the others compute without
	 * writing memory and report their loop rate: a vCPU that a dirty
	 * limit should leave alone. */
	{ .key = "writers", .type = KIT_PARAM_UINT, .value = &writers, .max = KIT_MAX_CPUS },
};

struct slice {
	volatile uint64_t *base;
	uint64_t npages, nhot;
	uint64_t cursor;
	uint64_t counter;
	struct kit_rng rng;
};

struct cpu_total {
	uint64_t pages;
} __attribute__((aligned(64)));

static uint64_t mem_base, total_pages, hot_pages, start_tsc;
static unsigned int nwriters;	/* CPUs that write: writers=, or all */
static struct cpu_total totals[KIT_MAX_CPUS];

static void check_params(uint64_t ncpus)
{
	uint64_t start, end;

	if (ws % KIT_PAGE_SIZE)
		kit__bad_value(NAME, "ws", ws, "must be a multiple of 4096");
	total_pages = ws / KIT_PAGE_SIZE;
	if (total_pages < ncpus)
		kit__bad_value(NAME, "ws", ws, "less than one page per CPU");
	if (!hotsize_given)
		hotsize = ws / 10;
	if (hotsize > ws)
		kit__bad_value(NAME, "hotsize", hotsize, "larger than ws");
	hot_pages = hotsize / KIT_PAGE_SIZE;
	if (pattern == PAT_HOTCOLD && hot_pages < ncpus)
		kit__bad_value(NAME, "hotsize", hotsize,
			       "less than one page per CPU");
	kit__mem_region(&start, &end);
	if (ws > end - start)
		kit__die(KIT_EXIT_KIT, NAME ": no RAM for the working set: ws=%lu "
			 "MiB, free RAM %lu MiB", ws >> 20, (end - start) >> 20);
	mem_base = start;
}

static void print_config(unsigned int ncpus)
{
	kit__printf(NAME ": cpus=%u ws=%lu KiB pages=%lu pattern=%s rate=%lu "
		    "hot=%lu hotsize=%lu KiB duration=%lu.%03lus "
		    "report=%lu.%03lus seed=%lu prefill=%lu writers=%u mem=0x%lx\n",
		    ncpus, ws >> 10, total_pages, pattern_names[pattern], rate,
		    hot, hotsize >> 10, duration_us / US_PER_S,
		    duration_us / 1000 % 1000, report_us / US_PER_S,
		    report_us / 1000 % 1000, seed, prefill, nwriters, mem_base);
}

static void slice_init(struct slice *s, unsigned int cpu, unsigned int ncpus)
{
	uint64_t first = total_pages * cpu / ncpus;
	uint64_t last = total_pages * (cpu + 1) / ncpus;

	s->base = (volatile uint64_t *)(uintptr_t)(mem_base + first * KIT_PAGE_SIZE);
	s->npages = last - first;
	/* The hot set is the same share of every slice. */
	s->nhot = s->npages * hot_pages / total_pages;
	if (!s->nhot)
		s->nhot = 1;
	s->cursor = 0;
	s->counter = 0;
	kit__rng_init(&s->rng, seed, cpu);
}

static uint64_t next_page(struct slice *s)
{
	uint64_t p;

	switch (pattern) {
	case PAT_SEQ:
		p = s->cursor;
		s->cursor = p + 1 == s->npages ? 0 : p + 1;
		return p;
	case PAT_RANDOM:
		return kit__rng_below(&s->rng, s->npages);
	default:
		if (s->nhot == s->npages || kit__rng_below(&s->rng, 100) < hot)
			return kit__rng_below(&s->rng, s->nhot);
		return s->nhot + kit__rng_below(&s->rng, s->npages - s->nhot);
	}
}

static void touch(struct slice *s, uint64_t n)
{
	while (n--)
		s->base[next_page(s) * WORDS_PER_PAGE] = ++s->counter;
}

static void do_prefill(struct slice *s)
{
	uint64_t p;

	for (p = 0; p < s->npages; p++)
		s->base[p * WORDS_PER_PAGE] = ++s->counter;
}

struct reporter {
	uint64_t period, next;		/* TSC */
	uint64_t last_tsc, last_pages;
};

static void report(struct reporter *r, unsigned int cpu, uint64_t now,
		   uint64_t pages, const char *unit)
{
	uint64_t dt = kit__tsc_to_us(now - r->last_tsc);
	uint64_t t = kit__tsc_to_us(now - start_tsc);

	kit__printf(NAME ": t=%lu.%02lus cpu=%u %s=%lu rate=%lu %s/s\n",
		    t / US_PER_S, t / 10000 % 100, cpu, unit, pages,
		    dt ? (pages - r->last_pages) * US_PER_S / dt : 0, unit);
	r->last_tsc = now;
	r->last_pages = pages;
	r->next += r->period;
	if (r->next <= now)
		r->next = now + r->period;
}

/* TSC time at which the first want pages are due at rate pages/s. */
static uint64_t due_tsc(uint64_t want, uint64_t rate_cpu)
{
	return start_tsc + kit__us_to_tsc((want * US_PER_S + rate_cpu - 1) / rate_cpu);
}

static void wait_until(uint64_t wake, uint64_t now)
{
	if (wake <= now)
		return;
	if (wake - now >= kit__us_to_tsc(MIN_SLEEP_US)) {
		kit__sleep_until_tsc(wake);
		return;
	}
	while (kit__rdtsc() < wake)
		kit__pause();
}

static uint64_t run(struct slice *s, unsigned int cpu, uint64_t rate_cpu)
{
	uint64_t end = duration_us ? start_tsc + kit__us_to_tsc(duration_us) : UINT64_MAX;
	uint64_t batch = rate_cpu * BATCH_US / US_PER_S;
	struct reporter r = { .last_tsc = start_tsc };
	uint64_t now, due, done = 0, wake, n;

	r.period = report_us ? kit__us_to_tsc(report_us) : 0;
	r.next = report_us ? start_tsc + r.period : UINT64_MAX;
	for (;;) {
		now = kit__rdtsc();
		if (now >= r.next)
			report(&r, cpu, now, done, "pages");
		if (now >= end)
			return done;
		if (!rate) {
			touch(s, MAX_RUN);
			done += MAX_RUN;
			continue;
		}
		due = kit__tsc_to_us(now - start_tsc) * rate_cpu / US_PER_S;
		if (due > done) {
			n = due - done < MAX_RUN ? due - done : MAX_RUN;
			touch(s, n);
			done += n;
			continue;
		}
		wake = rate_cpu ? due_tsc(done + (batch ? batch : 1), rate_cpu) : UINT64_MAX;
		wake = wake < r.next ? wake : r.next;
		wait_until(wake < end ? wake : end, now);
	}
}

/* A CPU that computes and never writes memory: a 64-bit LCG kept in a
 * register, counted in loops of COMPUTE_RUN steps. */
#define COMPUTE_RUN 4096

static uint64_t compute(unsigned int cpu)
{
	uint64_t end = duration_us ? start_tsc + kit__us_to_tsc(duration_us) : UINT64_MAX;
	struct reporter r = { .last_tsc = start_tsc };
	uint64_t now, loops = 0, x = cpu + 1;
	unsigned int i;

	r.period = report_us ? kit__us_to_tsc(report_us) : 0;
	r.next = report_us ? start_tsc + r.period : UINT64_MAX;
	for (;;) {
		now = kit__rdtsc();
		if (now >= r.next)
			report(&r, cpu, now, loops, "loops");
		if (now >= end)
			break;
		for (i = 0; i < COMPUTE_RUN; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		__asm__ volatile("" : "+r"(x));
		loops++;
	}
	return 0;
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t rate_cpu, sum = 0, elapsed, t;
	struct slice s;
	unsigned int c;

	if (cpu == 0) {
		kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
		nwriters = writers && writers < ncpus ? (unsigned int)writers : ncpus;
		check_params(nwriters);
		print_config(ncpus);
		start_tsc = kit__rdtsc();
	}
	kit__barrier();
	if (cpu < nwriters)
		slice_init(&s, cpu, nwriters);
	/* Every page of the working set holds data before the clock starts,
	 * so a migration's first round already sees all of it. */
	if (prefill && cpu < nwriters)
		do_prefill(&s);
	kit__barrier();
	if (cpu == 0) {
		t = kit__tsc_to_us(kit__rdtsc() - start_tsc);
		if (prefill)
			kit__printf(NAME ": prefilled %lu pages in %lu.%03lus\n",
				    total_pages, t / US_PER_S, t / 1000 % 1000);
		start_tsc = kit__rdtsc();
	}
	kit__barrier();
	rate_cpu = rate / nwriters + (cpu < rate % nwriters);
	totals[cpu].pages = cpu < nwriters ? run(&s, cpu, rate_cpu) : compute(cpu);
	kit__barrier();
	if (cpu)
		return;
	for (c = 0; c < nwriters; c++)
		sum += totals[c].pages;
	/* Pages are counted up to the end of the duration, not to now. */
	elapsed = duration_us;
	kit__printf(NAME ": done cpus=%u pages=%lu t=%lu.%02lus rate=%lu pages/s\n",
		    ncpus, sum, elapsed / US_PER_S, elapsed / 10000 % 100,
		    elapsed ? sum * US_PER_S / elapsed : 0);
	kit__exit(KIT_EXIT_OK);
}
