/* Inside the source's migration thread (migrate/source*.c): one run's
 * state and the phases, in order. Not for other modules.
 *
 *   source__setup          connect, handshake, dirty log on     (setup)
 *   source__precopy        rounds until the policy says stop    (active)
 *   source__stop_and_copy  pause, last pages, state, END        (stop-copy)
 *   source__switchover     READY, GO, RESUMED; or the file committed
 */
#ifndef VMM__MIGRATE_SOURCE_H
#define VMM__MIGRATE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dirty_log.h"
#include "migrate_auto_converge.h"
#include "file_layout.h"
#include "migrate_params.h"
#include "migrate_policy.h"
#include "migrate_stats.h"
#include "migration.h"
#include "stream.h"
#include "transport.h"

struct blk_source;
struct migration;
struct vm;
struct vm_config;
struct xbzrle_cache;
struct ram_zstd;

/* Everything one run of the thread owns. */
struct auth_secret;

struct source_run {
	struct migration *m;
	struct vm *vm;
	struct migrate_uri uri;
	struct migrate_params params;
	struct stream s;
	struct dirty_log log;
	struct ram_batch batch;
	/* With the xbzrle capability: pages of rounds past 0 go through it
	 * (source_rounds.c); NULL otherwise. Created in setup, destroyed
	 * when the thread ends, whatever the outcome. */
	struct xbzrle_cache *xbzrle;
	/* With multifd-compression zstd: every batch's whole pages go
	 * through it (source_rounds.c); NULL otherwise. Created in setup,
	 * destroyed when the thread ends. */
	struct ram_zstd *zstd;
	struct migrate_policy policy;
	/* The secret of this migration (source__setup picks it), and the
	 * copy read from the secret-file parameter, if that is where it
	 * came from; NULL = none. */
	const struct auth_secret *secret;
	struct auth_secret *own_secret;
	/* The x509 credentials likewise (--tls-creds's, or the tls-creds
	 * parameter's, loaded at setup); NULL = none. */
	const struct tls_creds *creds;
	struct tls_creds *own_creds;
	bool paused_by_us;
	/* GO (or any byte of it) has left: from here on the guest may run
	 * on the destination, and this side never resumes it on its own. */
	bool go_sent;
	uint64_t deadline_us;		/* the whole-migration timeout; 0 = none */
	/* The status this thread last moved the migration to: the thread
	 * owns it from setup to the final one, and every move says from. */
	enum migrate_status phase;
	uint64_t t_pause;		/* downtime phases, CLOCK_MONOTONIC us */
	uint64_t t_paused;
	uint64_t t_last_ram;
	uint64_t t_state;
	uint64_t t_ready;		/* READY received; 0 for a file */
	uint64_t t_go;
	uint64_t limit_start_us;	/* bandwidth limiter's reference point */
	uint64_t limit_start_bytes;
	/* When the dirty log was last read (first: started). A round's dirty
	 * rate counts from here, not from the round's start: the work
	 * between a read and the next round (the policy, a wait for the
	 * CPU) is time the guest dirtied pages too. */
	uint64_t log_read_mono_us;
	/* For the forecast (source_rounds.c): the round's batches of mostly
	 * page data, their bytes and time (throttle sleeps excluded), and one
	 * look at the dirty log part-way through round 0. */
	uint64_t batch_start_us;
	uint64_t data_bytes;
	uint64_t data_us;
	uint64_t probe_pages;
	uint64_t probe_us;		/* since round 0 began; 0 = none */
	/* round-end fit: the round in progress ends once at most this many
	 * pages are left (0 = it sends them all), from the last round's
	 * link rate, kept here. */
	uint64_t round_cut_pages;
	double last_link_bps;
	/* The stop decided, the pause first waits, the guest still running,
	 * for the link to carry what the kernel holds of the last round
	 * (policy__drain_pays); link_queued is what it held then. */
	bool drain_link;
	uint64_t link_queued;
	/* Rounds whose ROUND_END went out, and of those the ones the
	 * destination said it applied (ROUND_DONE, stream 3.5). */
	uint32_t rounds_ended;
	uint32_t rounds_done;
	/* slept under max-bandwidth since the migration began, RAM and disk
	 * alike: a round's share is its throttle_us */
	uint64_t bw_slept_us;
	/* auto-converge (source_throttle.c): its rule, and each vCPU's
	 * time slept throttled when the migration began. */
	struct auto_converge ac;
	bool throttle_started;
	/* dirty-limit: started (by auto-converge's trigger), and when the
	 * vCPUs' rates were last read; each vCPU's window since its last
	 * decision, and the pages it dirtied in it */
	bool dl_active;
	uint64_t dl_last_us;
	uint64_t dl_since_us[MIGRATE_STATS_MAX_VCPUS];
	uint64_t dl_pages[MIGRATE_STATS_MAX_VCPUS];
	uint64_t slept_base_us[MIGRATE_STATS_MAX_VCPUS];
	/* file: to a regular file: the layout with pages at fixed offsets
	 * (source_file.c); a FIFO takes the sequential stream. */
	bool mapped;
	int ram_fd;			/* the RAM region's fd (O_DIRECT), or -1 */
	struct file_layout layout;
	uint8_t *bitmap;
	uint8_t *crcs;
	uint64_t file_ram_bytes;	/* page data written into the RAM region */
	/* Block migration (source_blk.c): the images' passes, NULL without
	 * the block capability; the drives whose writes it tracks. */
	struct blk_source *blk;
	struct migration_drive drives[MIGRATION_MAX_DRIVES];
	unsigned int nr_blk;
	bool blk_tracking;
	uint64_t blk_sections;		/* BLOCK sections sent, all rounds */
	char err[512];
};

int source__setup(struct source_run *r);
/* Wipes and frees a secret setup read; safe to call twice. */
void source__forget_secret(struct source_run *r);
/* Runs pre-copy rounds; *rounds is how many ran. */
int source__precopy(struct source_run *r, uint32_t *rounds);
/* rounds: pre-copy rounds run before (0 for a file). */
int source__stop_and_copy(struct source_run *r, uint32_t rounds);
int source__switchover(struct source_run *r);

/* Shared by the phases (source.c and source_rounds.c). */
/* Moves the status from r->phase; a refusal is logged (a bug). */
void source__move(struct source_run *r, enum migrate_status to);
bool source__cancelled(struct source_run *r);
/* Keeps the first error's text in r->err; returns ret (or -EIO for 0). */
__attribute__((format(printf, 3, 4)))
int source__fail(struct source_run *r, int ret, const char *fmt, ...);
/* The dirty ring's per-vCPU counts of the last dirty-log read, into a
 * round's record (nothing with the bitmap). */
/* vCPUs the per-vCPU statistics hold: all of them, up to the stats'
 * bound (MIGRATE_STATS_MAX_VCPUS); the throttles act on these too. */
unsigned int source__stats_vcpus(const struct source_run *r);
void source__vcpu_counts(struct source_run *r, struct round_stats *rs);
/* Sends a section; on failure, r->err says why (the destination's own
 * reason if it sent one). */
int source__send(struct source_run *r, uint32_t type, const void *p, size_t len);
/* Same, gathered (a RAM section straight from guest memory). */
int source__sendv(struct source_run *r, uint32_t type, const struct iovec *iov, int iovcnt);
/* Which deadline a -ETIMEDOUT came from, as text for r->err. */
const char *source__deadline_reason(struct source_run *r);
/* The earlier of two deadlines, 0 meaning none. */
uint64_t source__earliest(uint64_t a, uint64_t b);
/* Publishes pages still pending and the bytes sent, for 'info migrate'. */
void source__publish_progress(struct source_run *r, uint64_t pending);
/* For a round whose pending set is all of RAM (round 0): a bitmap of the
 * pages the host has populated (guest_memory__populated), to be freed;
 * the others are zero and need not be read. NULL: read every page (any
 * other round, or the pagemap unreadable, which is logged once). */
uint64_t *source__populated_pages(struct source_run *r, const struct round_stats *rs);
/* auto-converge and dirty-limit (source_throttle.c): start once the
 * dirty log is on; round_begin/_end around each round record its throttle
 * and each vCPU's time slept; after_sync runs auto-converge's rule on the
 * pages a sync found (with either capability on: dirty-limit starts at
 * its trigger); stop lifts every throttle, on every way out. */
void source__throttle_start(struct source_run *r);
void source__throttle_round_begin(struct source_run *r, struct round_stats *rs);
void source__throttle_round_end(struct source_run *r, struct round_stats *rs);
/* Returns true when it raised the throttle (or started dirty-limit). */
bool source__throttle_after_sync(struct source_run *r, uint64_t dirty_pages);
/* dirty-limit, once started: when a period has passed, each vCPU's
 * throttle from its dirty pages in it. Called after every batch, as
 * rounds may last longer than a period. 0, or -errno (source__fail). */
int source__dirty_limit_tick(struct source_run *r);
void source__throttle_stop(struct source_run *r);
/* ROUND_END for round with its page count and RAM section bytes. */
int source__send_round_end(struct source_run *r, uint32_t round, uint64_t pages, uint64_t bytes);
/* The same, with block migration's counts too. */
int source__send_end_of_round(struct source_run *r, const struct round_end_msg *msg);
/* Keeps max-bandwidth between BLOCK sections, as between RAM batches. */
void source__throttle_block(struct source_run *r);
/* Bytes of the stream the kernel holds for the link now (sent to the
 * socket, not yet taken by the peer; under tls:, those of the tunnel's
 * plain end only); 0 for a file. */
uint64_t source__link_queued(struct source_run *r);
/* Takes the destination's ROUND_DONE sections (source_return.c): those
 * already here, then, until until_us (0: not at all), those it waits for
 * until `want` rounds are done. 0, or -errno with r->err set (a broken
 * return path, a FAILED, a section out of place). Nothing without a
 * return path or from a destination before stream 3.5. */
int source__take_round_done(struct source_run *r, uint32_t want, uint64_t until_us);
/* Reads the ROUND_DONE sections still due (every round whose ROUND_END
 * went out), under the stream's own deadlines: after END, before READY. */
int source__await_rounds_done(struct source_run *r);
/* One round: sends what is pending and ROUND_END; fills *rs. */
int source__run_round(struct source_run *r, uint32_t index, struct round_stats *rs);

/* Block migration (source_blk.c), with the block capability on (else
 * each is a no-op): setup builds the passes and a dirty-block bitmap per
 * drive; describe puts the drives' sizes into CONFIG; track starts
 * recording the guest's writes (after the destination accepted, before
 * the bulk pass reads); send_round sends the round's BLOCK sections
 * (round 0: the bulk pass; later: the blocks written since) and counts
 * them; remaining is the disk bytes still to go; stop ends the tracking
 * and frees everything, on every way out (the images are never
 * written here). */
int source_blk__setup(struct source_run *r);
void source_blk__describe(const struct source_run *r, struct vm_config *cfg);
void source_blk__track(struct source_run *r);
int source_blk__send_round(struct source_run *r, uint32_t round, uint64_t *sections,
			   uint64_t *bytes);
uint64_t source_blk__remaining(const struct source_run *r);
/* Bytes the bulk pass copies (the images, or the overlays under -i). */
uint64_t source_blk__total(const struct source_run *r);
void source_blk__stop(struct source_run *r);

/* A save to a regular file (source_file.c): decides the layout once the
 * file is open (r->mapped), writes the RAM region and an empty round 0
 * in the stream, then the tables and the header before the sync. */
int source_file__open(struct source_run *r);
int source_file__save_ram(struct source_run *r, struct round_stats *rs);
int source_file__write_tables(struct source_run *r);
void source_file__close(struct source_run *r);

#endif
