/* The guest kit: what a test guest's workload can use.
 *
 * A guest is one file that defines workload_main(); the kit boots it
 * (multiboot v1, long mode, every CPU), then calls workload_main on every
 * CPU in ring 3. It asks for IOPL=3, but a PVM host runs ring 3 with IOPL 0
 * whatever the guest asks, so port I/O goes through the kit's syscalls or
 * kit__ring0_call. Ring 0 is emulated on some hosts (see PLATFORM.md):
 * nothing here runs there unless it has to.
 *
 * Everything below is callable from ring 3 on any CPU.
 */
#ifndef KIT__KIT_H
#define KIT__KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, seen by the VMM (and as (code << 1) | 1 by QEMU). */
enum kit_exit {
	KIT_EXIT_OK = 0,
	KIT_EXIT_VERIFY = 1,	/* the workload found corrupt memory */
	KIT_EXIT_PARAM = 2,	/* bad command-line parameter */
	KIT_EXIT_EXCEPTION = 3,	/* CPU exception or unexpected interrupt */
	KIT_EXIT_KIT = 4,	/* the kit could not do its job (RAM, CPUs) */
};

#define KIT_PAGE_SIZE	((uint64_t)4096)
#define KIT_MAX_CPUS	64

/* Provided by the guest: runs on every CPU once all of them are up. If it
 * returns, that CPU sleeps forever; the guest ends with kit__exit(). */
void workload_main(unsigned int cpu, unsigned int ncpus);

/* --- machine ----------------------------------------------------------- */
unsigned int kit__ncpus(void);
/* RAM size as the VMM reports it (fw_cfg), else what the mmap shows. */
uint64_t kit__ram_bytes(void);
/* The free RAM a workload may use: page aligned, past the image, the
 * loader's data and everything the kit allocated. */
void kit__mem_region(uint64_t *start, uint64_t *end);

/* --- time -------------------------------------------------------------- */
static inline uint64_t kit__rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

uint64_t kit__tsc_hz(void);
uint64_t kit__tsc_to_us(uint64_t ticks);
uint64_t kit__us_to_tsc(uint64_t us);
/* Microseconds since the kit started. */
uint64_t kit__now_us(void);
/* The TSC when the BSP ran its first ring-3 instruction. Where the guest's
 * TSC starts near 0 with its vCPU this is the boot time; where it is the
 * host's own (a PVM host offsets nothing) the host can compare it with an
 * rdtsc of its own, as bench/boot_time.py does. */
uint64_t kit__start_tsc(void);
/* Sleeps (hlt) until the TSC reaches deadline; UINT64_MAX = forever. */
void kit__sleep_until_tsc(uint64_t deadline);
void kit__sleep_us(uint64_t us);

/* --- CPUs -------------------------------------------------------------- */
/* Returns once every CPU has called it. */
void kit__barrier(void);

static inline void kit__pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* --- port I/O timing ---------------------------------------------------- */
/* Run count iterations of a tight ring-0 loop and return the TSC ticks it
 * took (interrupts off): kit__outb_loop writes one byte to port each time,
 * kit__nop_loop has a nop in its place, to measure the loop's own cost.
 * Ring 0 because a PVM host gives ring 3 no port I/O (kit_priv.h); where
 * ring 0 is emulated the figures include the emulation. */
uint64_t kit__outb_loop(uint16_t port, uint64_t count);
uint64_t kit__nop_loop(uint64_t count);

/* --- ring 0 ------------------------------------------------------------ */
/* Runs fn(arg) in ring 0 with interrupts off and returns its result, for
 * what ring 3 cannot do: port I/O on a PVM host, the MMIO mapped for ring 0
 * only. Keep fn short (ring 0 is emulated on some hosts, and it takes no
 * interrupt), and let it return what ring 3 should print or act on: it
 * must not call the kit's sleep, printf or exit. */
long kit__ring0_call(long (*fn)(void *arg), void *arg);

/* vmm's test device (devices/testdev.c; absent under QEMU): one MMIO page
 * the kit maps uncached for ring 0, in the 2 MiB page that holds the LAPIC. */
#define KIT_TESTDEV_BASE	0xfef00000ULL
/* Memory BARs are reached here, mapped uncached for ring 0 (RAM that the
 * loader reports above it stays RAM). */
#define KIT_PCI_MMIO_START	0xe0000000ULL

/* --- output and exit --------------------------------------------------- */
/* printf to COM1; one call's output is never interleaved with another
 * CPU's. Knows %d %i %u %x %X %p %s %c %% with flags '0' '-', a width and
 * the l, ll and z length modifiers. */
__attribute__((format(printf, 1, 2)))
void kit__printf(const char *fmt, ...);
__attribute__((format(printf, 1, 0)))
void kit__vprintf(const char *fmt, va_list ap);
/* Writes code to the debug-exit port; never returns. */
__attribute__((noreturn)) void kit__exit(int code);
/* Prints the message (a newline is added), then exits with code. */
__attribute__((noreturn, format(printf, 2, 3)))
void kit__die(int code, const char *fmt, ...);
/* Test hook: a triple fault in ring 0 (the VMM sees a shutdown). */
__attribute__((noreturn)) void kit__triple_fault(void);

/* --- command line ------------------------------------------------------ */
enum kit_param_type {
	KIT_PARAM_UINT,		/* decimal, or hex with 0x */
	KIT_PARAM_SIZE,		/* bytes, suffix K, M, G or T (powers of 1024) */
	KIT_PARAM_SECONDS,	/* seconds with up to 6 decimals; stored in us */
	KIT_PARAM_CHOICE,	/* one of choices[]; stored as its index */
};

struct kit_param {
	const char *key;
	enum kit_param_type type;
	uint64_t *value;		/* keeps its default when not given */
	const char *const *choices;	/* CHOICE: NULL terminated */
	uint64_t max;			/* largest accepted value, 0 = any */
	bool *given;			/* optional: set when the key appears */
};

/* Parses the multiboot command line against params. The first word is
 * skipped when it has no '=' (QEMU and GRUB put the image path there). An
 * unknown key or a bad value prints "guest: bad parameter 'k=v': reason"
 * and exits with KIT_EXIT_PARAM. */
void kit__parse_params(const char *guest, const struct kit_param *params,
		       unsigned int n);
__attribute__((noreturn))
void kit__bad_param(const char *guest, const char *key, const char *value,
		    const char *reason);
/* The same message for a value that parsed but does not fit the guest
 * (e.g. a size that is not a multiple of the page size). */
__attribute__((noreturn))
void kit__bad_value(const char *guest, const char *key, uint64_t value,
		    const char *reason);
const char *kit__cmdline(void);

/* Multiboot modules (--initrd in vmm, -initrd in QEMU): how many the
 * loader gave (only the first KIT_MAX_MODULES are kept), and module i's
 * bytes [start, end) and string. The memory is identity mapped. */
#define KIT_MAX_MODULES		4
#define KIT_MODULE_NAME_MAX	64
unsigned int kit__nr_modules(void);
void kit__module(unsigned int i, uint64_t *start, uint64_t *end, const char **name);

/* --- random numbers (xorshift64*, seeded through splitmix64) ------------- */
struct kit_rng {
	uint64_t s;
};

void kit__rng_init(struct kit_rng *rng, uint64_t seed, unsigned int cpu);
uint64_t kit__rng_next(struct kit_rng *rng);
/* Uniform in [0, n); n > 0. */
uint64_t kit__rng_below(struct kit_rng *rng, uint64_t n);
/* splitmix64's finaliser: a cheap, good 64-bit mixing function. */
uint64_t kit__mix64(uint64_t z);

/* --- freestanding C library bits the compiler may call ------------------- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
