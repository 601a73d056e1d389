/* The destination's first touches of guest RAM, shared with a second
 * thread while pages arrive.
 *
 * A destination's RAM is fresh: the first byte a RAM batch writes into
 * each 2 MiB of it makes the kernel allocate and clear that memory (a
 * huge page), inside the read from the socket. On this project's hosts
 * that is most of round 0's time at the destination (bench/RESULTS.md,
 * "Populating ahead"). So while the receiving thread reads a batch into
 * the first 2 MiB chunk the batch covers, this thread populates the
 * others (MADV_POPULATE_WRITE), the batch's last first so that the two
 * meet rather than follow each other; the receiver then finds them
 * allocated.
 *
 * Only chunks a batch is about to write are populated, each once per
 * migration, so the destination allocates nothing the stream does not
 * fill. A chunk already populated (a later round's page, a preallocated
 * RAM) costs a walk of its page table. Population only faults pages in:
 * a page the receiver already wrote is left as it is.
 */
#ifndef VMM__RAM_PREFAULT_H
#define VMM__RAM_PREFAULT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

/* Linux 5.14's; older headers lack the name (the thread and its test
 * both use it; on an older kernel madvise refuses it with EINVAL). */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define RAM_PREFAULT_CHUNK	(2u << 20)	/* a huge page */
#define RAM_PREFAULT_QUEUE	64		/* chunks waiting; more are dropped */

struct ram_prefault {
	uint8_t *lo, *hi;		/* the RAM mapping, lo 2 MiB aligned */
	uint64_t *named;		/* one bit per chunk: queued once already */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *queue[RAM_PREFAULT_QUEUE];
	unsigned int head, count;
	bool running, stopping;
	/* Under lock while the thread runs. */
	uint64_t chunks;		/* populated by the thread */
	uint64_t busy_us;		/* the thread's time populating */
};

/* Starts the thread for RAM mapped at [base, base + size), base 2 MiB
 * aligned. Returns 0 or -errno (then nothing runs and ahead does nothing:
 * the receiver touches every chunk itself, as without this). */
int ram_prefault__start(struct ram_prefault *pf, uint8_t *base, uint64_t size);

/* A batch's page runs, about to be read in order: the chunks they cover
 * that no earlier call named, but the first run's (the receiver's own),
 * are queued, the last first. */
void ram_prefault__ahead(struct ram_prefault *pf, const struct iovec *runs, int n);

/* What ahead queues: the chunks the runs cover that no earlier call
 * named, but the first run's first chunk, the last first, at most max
 * of them into out; every chunk the runs cover is named from now on.
 * Runs outside the RAM mapping are skipped. No thread involved: the
 * tests call it alone. Returns how many it put into out. */
unsigned int ram_prefault__pick(struct ram_prefault *pf, const struct iovec *runs, int n,
				uint8_t **out, unsigned int max);

/* Tells the thread to end once its current chunk is done, waiting for
 * nothing; the queue is dropped. */
void ram_prefault__finish(struct ram_prefault *pf);

/* Ends the thread (waiting for its current chunk) and frees the rest.
 * Safe on a pf that never started. */
void ram_prefault__stop(struct ram_prefault *pf);

#endif
