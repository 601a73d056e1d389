/* ioverify: checks the result of every port-I/O and MMIO read, so an access
 * a migration replays (or loses) shows as a wrong value. CPU 0 loops in
 * ring 0 (ring 3 gets no port I/O on a PVM host), in slices of SLICE_US
 * with interrupts off, and returns to ring 3 between slices to report:
 *
 *   port I/O: select the fw_cfg signature (16-bit write of 0 to 0x510),
 *             then read its 4 bytes from 0x511 one at a time: "QEMU";
 *             a repeated read returns the next byte, a lost one the same;
 *   MMIO:     vmm's test device counter (devices/testdev.c) returns 0, 1,
 *             2... one per 4- or 8-byte read; each value is checked against
 *             the guest's own count, kept in RAM that migrates with it;
 *   syscalls: between slices CPU 0, and all the time every other CPU,
 *             makes back-to-back system calls, each counted on both sides
 *             (ring 3 before the int3, ring 0 in the call); a call lost on
 *             the way (its int3 trapped but never delivered to ring 0)
 *             leaves ring 0's count behind. CPU 0 checks them all.
 *
 * Under QEMU the test device is absent (its ID register does not read
 * TESTDEV_ID): the guest says so and checks port I/O only.
 *
 * A byte 'q' received on COM1 ends the run as `duration` would, so a host
 * can ask for the verdict whenever it is done migrating the guest.
 *
 * Test hook: misread=port|mmio makes one extra, unchecked read in the first
 * iteration, as a replayed access would, so the next checked one is wrong;
 * misread=syscall counts one call in ring 3 that it never makes, as a lost
 * int3 would.
 */
#include "kit.h"
#include "kit_io.h"

#define NAME		"ioverify"
#define FW_CFG_SEL	0x510
#define FW_CFG_DATA	0x511
#define COM1		0x3f8
#define COM1_LSR	(COM1 + 5)
#define LSR_DR		0x01
#define TESTDEV_ID	0x54534554	/* "TEST" */
#define REG_ID		0x00
#define REG_COUNTER	0x08
#define SLICE_US	10000
#define SYSCALLS_US	5000

static const char signature[4] = { 'Q', 'E', 'M', 'U' };

enum misread { MISREAD_NONE, MISREAD_PORT, MISREAD_MMIO, MISREAD_SYSCALL };

static const char *const misread_names[] = { "0", "port", "mmio", "syscall", NULL };
static uint64_t duration_us = 10000000, report_us = 1000000, misread;

static const struct kit_param params[] = {
	{ .key = "duration", .type = KIT_PARAM_SECONDS, .value = &duration_us },
	{ .key = "report", .type = KIT_PARAM_SECONDS, .value = &report_us },
	{ .key = "misread", .type = KIT_PARAM_CHOICE, .value = &misread,
	  .choices = misread_names },
};

/* Shared by ring 3 and the ring-0 slices; lives in RAM, so it migrates. */
struct io_check {
	uint64_t deadline;	/* in: TSC at which the slice ends */
	bool mmio;		/* in: the test device is there */
	bool quit;		/* out: 'q' arrived on COM1 */
	unsigned int misread;	/* in: the test hook, cleared once done */
	uint64_t port_reads;	/* reads checked */
	uint64_t mmio_reads;
	uint64_t next;		/* the counter value the next MMIO read returns */
	/* The first wrong read; the slice stops at it. */
	bool wrong;
	bool wrong_mmio;	/* else port I/O */
	bool wrong_call;	/* else a read */
	unsigned int index;	/* signature byte, or MMIO read width */
	uint64_t expected, got;
};

static struct io_check chk;

/* One per CPU: its system calls as ring 3 made and ring 0 received them. */
struct call_count {
	uint64_t r3, r0;
	bool lost;
} __attribute__((aligned(64)));

static struct call_count calls[KIT_MAX_CPUS];

static inline uint32_t mmio_read32(uint64_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(KIT_TESTDEV_BASE + off);
}

static inline uint64_t mmio_read64(uint64_t off)
{
	return *(volatile uint64_t *)(uintptr_t)(KIT_TESTDEV_BASE + off);
}

static bool wrong(struct io_check *c, bool mmio, unsigned int index,
		  uint64_t expected, uint64_t got)
{
	c->wrong = true;
	c->wrong_mmio = mmio;
	c->index = index;
	c->expected = expected;
	c->got = got;
	return false;
}

static bool check_port(struct io_check *c)
{
	unsigned int i;
	uint8_t b;

	outw(FW_CFG_SEL, 0);
	if (c->misread == MISREAD_PORT) {
		c->misread = MISREAD_NONE;
		inb(FW_CFG_DATA);
	}
	for (i = 0; i < 4; i++) {
		b = inb(FW_CFG_DATA);
		if (b != (uint8_t)signature[i])
			return wrong(c, false, i, (uint8_t)signature[i], b);
		c->port_reads++;
	}
	return true;
}

static bool check_mmio(struct io_check *c)
{
	uint64_t v;

	if (c->misread == MISREAD_MMIO) {
		c->misread = MISREAD_NONE;
		mmio_read32(REG_COUNTER);
	}
	v = mmio_read32(REG_COUNTER);
	if (v != (uint32_t)c->next)
		return wrong(c, true, 4, (uint32_t)c->next, v);
	c->next++;
	c->mmio_reads++;
	v = mmio_read64(REG_COUNTER);
	if (v != c->next)
		return wrong(c, true, 8, c->next, v);
	c->next++;
	c->mmio_reads++;
	return true;
}

static long slice_r0(void *arg)
{
	struct io_check *c = arg;

	do {
		if (!check_port(c) || (c->mmio && !check_mmio(c)))
			return 0;
	} while (kit__rdtsc() < c->deadline);
	if (inb(COM1_LSR) & LSR_DR)
		c->quit = inb(COM1) == 'q';
	return 0;
}

static long count_r0(void *arg)
{
	struct call_count *n = arg;

	n->r0++;
	return 0;
}

/* Back-to-back system calls until the TSC passes deadline or one is lost
 * (ring 0 did not receive it). */
static void make_syscalls(struct call_count *n, uint64_t deadline)
{
	do {
		n->r3++;
		kit__ring0_call(count_r0, n);
		if (__atomic_load_n(&n->r0, __ATOMIC_RELAXED) != n->r3) {
			__atomic_store_n(&n->lost, true, __ATOMIC_RELEASE);
			return;
		}
	} while (kit__rdtsc() < deadline);
}

/* CPU 0, between slices: its own calls, then everyone's verdict. */
static void check_syscalls(unsigned int ncpus)
{
	unsigned int i;

	if (chk.misread == MISREAD_SYSCALL) {
		chk.misread = MISREAD_NONE;
		calls[0].r3++;
	}
	make_syscalls(&calls[0], kit__rdtsc() + kit__us_to_tsc(SYSCALLS_US));
	for (i = 0; i < ncpus; i++) {
		if (!__atomic_load_n(&calls[i].lost, __ATOMIC_ACQUIRE))
			continue;
		chk.wrong = true;
		chk.wrong_call = true;
		chk.index = i;
		chk.expected = calls[i].r3;
		chk.got = calls[i].r0;
		return;
	}
}

static uint64_t syscalls_received(unsigned int ncpus)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < ncpus; i++)
		sum += __atomic_load_n(&calls[i].r0, __ATOMIC_RELAXED);
	return sum;
}

static long probe_r0(void *arg)
{
	(void)arg;
	return mmio_read32(REG_ID);
}

static unsigned int nr_cpus = 1;

static void print_counts(const char *what, uint64_t t_us, const char *tail)
{
	kit__printf(NAME ": %st=%lu.%02lus port=%lu mmio=%lu syscalls=%lu wrong=%u%s\n",
		    what, t_us / 1000000, t_us % 1000000 / 10000, chk.port_reads,
		    chk.mmio_reads, syscalls_received(nr_cpus), chk.wrong ? 1 : 0, tail);
}

static void fail(uint64_t t_us)
{
	if (chk.wrong_call)
		kit__printf(NAME ": FAIL system call lost on CPU %u: ring 3 "
			    "made %lu, ring 0 received %lu\n", chk.index,
			    chk.expected, chk.got);
	else if (chk.wrong_mmio)
		kit__printf(NAME ": FAIL MMIO %u-byte read of the test device "
			    "counter: expected=0x%lx got=0x%lx\n", chk.index,
			    chk.expected, chk.got);
	else
		kit__printf(NAME ": FAIL port 0x511 read of fw_cfg signature "
			    "byte %u: expected=0x%lx got=0x%lx\n", chk.index,
			    chk.expected, chk.got);
	print_counts("FAIL ", t_us, "");
	kit__exit(KIT_EXIT_VERIFY);
}

static void probe(void)
{
	uint32_t id = (uint32_t)kit__ring0_call(probe_r0, NULL);

	chk.mmio = id == TESTDEV_ID;
	if (chk.mmio)
		kit__printf(NAME ": test device at 0x%lx: checking port I/O and MMIO\n",
			    (uint64_t)KIT_TESTDEV_BASE);
	else
		kit__printf(NAME ": no test device at 0x%lx (ID reads 0x%x): "
			    "checking port I/O only\n", (uint64_t)KIT_TESTDEV_BASE, id);
}

void workload_main(unsigned int cpu, unsigned int ncpus)
{
	uint64_t start, now, next_report, end;

	if (cpu) {
		/* Calls until one is lost; CPU 0 reports it and ends the run. */
		while (!calls[cpu].lost)
			make_syscalls(&calls[cpu], kit__rdtsc() + kit__us_to_tsc(SLICE_US));
		return;
	}
	nr_cpus = ncpus;
	kit__parse_params(NAME, params, sizeof(params) / sizeof(params[0]));
	probe();
	if (misread == MISREAD_MMIO && !chk.mmio)
		kit__bad_param(NAME, "misread", "mmio", "no test device here");
	chk.misread = (unsigned int)misread;
	kit__printf(NAME ": duration=%lu ms report=%lu ms\n", duration_us / 1000,
		    report_us / 1000);
	start = kit__now_us();
	next_report = start + report_us;
	end = duration_us ? start + duration_us : UINT64_MAX;
	for (;;) {
		chk.deadline = kit__rdtsc() + kit__us_to_tsc(SLICE_US);
		kit__ring0_call(slice_r0, &chk);
		if (!chk.wrong)
			check_syscalls(ncpus);
		now = kit__now_us();
		if (chk.wrong)
			fail(now - start);
		if (now >= end || chk.quit)
			break;
		if (report_us && now >= next_report) {
			print_counts("", now - start, "");
			next_report += report_us;
			if (next_report <= now)
				next_report = now + report_us;
		}
	}
	print_counts("PASS ", now - start, chk.quit ? " (asked to stop)" : "");
	kit__exit(KIT_EXIT_OK);
}
