/* Shared between migrate/migration.c (control: start, cancel, monitor
 * commands) and migrate/source*.c (the thread). Not for other modules. */
#ifndef VMM__MIGRATION_INTERNAL_H
#define VMM__MIGRATION_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "dirty_rate.h"
#include "migrate_params.h"
#include "migration.h"
#include "migrate_stats.h"
#include "transport.h"

struct auth_secret;
struct tls_creds;
struct vm;

struct migration {
	struct vm *vm;
	pthread_mutex_t lock;		/* params, fd, thread state, delay */
	pthread_cond_t cond;		/* closing, for the delayed start */
	struct migrate_params params;	/* for the next migration */
	struct migrate_stats stats;	/* of the current or last one */
	struct migrate_stats *incoming;	/* the one that brought the guest here */
	struct migrate_uri uri;
	pthread_t thread;
	bool thread_joinable;
	/* Set and cleared under the stats lock, read by the thread. */
	bool cancel_requested;		/* atomic */
	/* --migrate-after: a start that waits, owned here so that destroy
	 * can end the wait and join it before the object goes. */
	pthread_t delay_thread;
	bool delay_started;
	bool closing;
	char *delay_uri;
	uint64_t delay_us;
	bool force_plain_log;
	const struct auth_secret *secret;	/* --secret-file's, or NULL */
	const struct tls_creds *creds;		/* --tls-creds's, or NULL */
	/* record-dirty holds the dirty log; set and cleared under the stats
	 * lock, where a start checks it. */
	bool recording;
	/* calc-dirty-rate (dirty_rate.c): the result under lock; measuring
	 * under the stats lock, where a migration's start checks it. */
	struct dirty_rate dirty_rate;
	bool measuring;
	pthread_t rate_thread;
	bool rate_joinable;
	/* On a destination until its guest has arrived: the VM is being
	 * built by the incoming side and nothing may touch it; a cancel goes
	 * to the incoming migration. Under the stats lock. */
	bool vm_arriving;
	uint32_t arriving_ring_entries;	/* the ring it will have */
	void (*incoming_cancel)(void *ctx);
	void *incoming_cancel_ctx;
	int fd;				/* the stream's fd, for cancel */
	/* Block migration: the VM's drives, and migrate -b's request for
	 * the next migration only (both under lock). */
	struct migration_drive drives[MIGRATION_MAX_DRIVES];
	unsigned int nr_drives;
	bool block_once;
	bool inc_once;		/* migrate -i: block_incremental, this one only */
	/* An eventfd, readable once a cancel was asked for: every wait of
	 * the thread (connect, a read or write on a socket or a FIFO) polls
	 * it, so a cancel ends any of them. Drained at each start. */
	int cancel_fd;
	char json_path[1024];
	char csv_path[1024];
};

/* The migration thread; it owns the status from setup on and moves it
 * through active and stop-copy to a final one. */
void *migration__thread(void *arg);
/* Under the stats lock: 0 if the VM may be used now, else -EAGAIN (the
 * guest is still arriving) or -ESRCH (it has ended), with err saying so
 * and what could not be done (what: "migrate", "measure", "record"). */
int migration__vm_unavailable(struct migration *m, const char *what, char *err,
			      size_t errlen);
/* A measurement of the dirty log (calc-dirty-rate, forecast) holds it:
 * claim refuses (-EBUSY, -ESRCH, with a message) while a migration, a
 * recording or another measurement runs; release gives it back. */
int migration__claim_measure(struct migration *m, char *err, size_t errlen);
void migration__release_measure(struct migration *m);
/* Sleeps us; false when the migration object is closing. */
bool migration__wait_us(struct migration *m, uint64_t us);
/* The same, harvesting log's dirty rings whenever a vCPU asks meanwhile
 * (ring mode; in bitmap mode it is migration__wait_us). */
struct dirty_log;
bool migration__wait_harvesting(struct migration *m, struct dirty_log *log, uint64_t us);
/* Ends a measurement early (once closing is set) and joins its thread. */
void migration__stop_dirty_rate(struct migration *m);
/* Writes the JSON/CSV statistics files if configured; logs failures. */
void migration__write_stats(struct migration *m, const struct migrate_params *p);

#endif
