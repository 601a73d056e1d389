/* Statistics of one migration: live for `info migrate`, and at the end as
 * a summary, JSON and CSV (schema in migrate/STATS.md).
 *
 * Threads: the migration thread writes, the monitor thread reads. Readers
 * (format_*, write_*) take the lock themselves. The writer updates fields
 * between migrate_stats__lock() and migrate_stats__unlock(); the mutating
 * functions below take the lock too, and the lock is recursive so they
 * can also be called inside such a section. That lets the writer publish a
 * finished round and the totals it changes as one step, so `info migrate`
 * never shows a round count that disagrees with the bytes.
 */
#ifndef VMM__MIGRATE_STATS_H
#define VMM__MIGRATE_STATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "migrate_params.h"
#include "migrate_policy.h"
#include "migrate_state.h"

/* Default bound on stored rounds: 100000 rounds is ~10 MB of records
 * (~36 MB with per-vCPU counts, which only the dirty ring fills). */
#define MIGRATE_STATS_MAX_ROUNDS 100000
/* Per-vCPU counts kept per round: as many as a VM may have (VM_MAX_CPUS). */
#define MIGRATE_STATS_MAX_VCPUS 64

/* XBZRLE counters (migrate/xbzrle_cache.c) of one migration, or of one
 * round (the difference of two). */
struct xbzrle_counters {
	uint64_t pages;		/* pages sent as deltas */
	uint64_t bytes;		/* delta bytes sent, their 2-byte lengths included */
	uint64_t hits;		/* lookups that found the page cached */
	uint64_t cache_miss;	/* lookups that did not: sent whole, inserted */
	uint64_t overflow;	/* hits whose delta was too long: sent whole */
	uint64_t evictions;	/* inserts that displaced another page */
	uint64_t not_cached;	/* misses left out: the slot's tenant is this round's */
	uint64_t bytes_saved;	/* 4096 - delta bytes, over the deltas sent */
};

/* zstd compression of whole pages (migrate/ram_zstd.c) of one migration,
 * or of one round (the difference of two). */
struct zstd_counters {
	uint64_t raw_bytes;	/* page bytes offered to the compressor */
	uint64_t sent_bytes;	/* what those pages took on the wire */
	uint64_t pages;		/* pages sent inside a frame */
	uint64_t frames;	/* batches sent compressed */
	uint64_t raw_batches;	/* batches sent whole: the frame did not win, or skipped */
	uint64_t skipped;	/* of those, batches not even tried (backoff) */
	uint64_t cpu_us;	/* migration thread CPU: copy, CRC, compress */
};

struct round_stats {
	uint32_t index;
	uint64_t start_us;		/* since the migration started */
	uint64_t duration_us;
	uint64_t dirty_pages;		/* to send this round (round 0: all) */
	uint64_t pages_sent;		/* including zero pages */
	/* round-end fit: pages of dirty_pages the round left pending for
	 * the next one (0 = it sent them all) */
	uint64_t pages_left;
	uint64_t zero_pages;		/* sent as a flag, no data */
	/* The entries that carried them: one ZERO entry per lone zero page,
	 * one ZERO_RUN per run of adjacent ones (stream 3.6); 0 in a save to
	 * a file, where zero pages are holes. */
	uint64_t zero_entries;
	uint64_t bytes;			/* on the wire */
	/* Block migration: the image bytes the round's BLOCK sections
	 * carried (a hole counts its length), and the 1 MiB blocks still
	 * to send when it began (round 0: the whole images). */
	uint64_t disk_bytes;
	uint64_t dirty_blocks;
	uint64_t disk_us;		/* of duration_us: sending them */
	double bandwidth_bps;		/* bytes / duration; NaN = unknown */
	/* bytes / (duration - time slept by max-bandwidth): the rate the
	 * stop-and-copy, which is never throttled, will see. */
	double link_bps;
	uint64_t throttle_us;		/* slept to keep under max-bandwidth */
	double dirty_rate_pps;		/* pages dirtied per s during it */
	double expected_downtime_ms;	/* if stopped after it; NaN = unknown */
	uint64_t log_read_us;		/* get + clear of the dirty log */
	uint64_t log_get_us;		/* of which the get */
	uint64_t log_clear_us;		/* and the clear (manual protect) */
	/* The dirty ring only (all 0 with the bitmap): vCPU exits on a full
	 * ring during the round and the time vCPUs spent waiting for the
	 * harvest; and the pages each vCPU dirtied, as found by the read
	 * that started the round (as dirty_pages). */
	uint64_t ring_full_exits;
	uint64_t ring_wait_us;
	uint32_t nr_vcpus;		/* of vcpu_dirty_pages; 0: the bitmap */
	uint32_t vcpu_dirty_pages[MIGRATE_STATS_MAX_VCPUS];
	struct xbzrle_counters xbzrle;	/* in this round; zero when off */
	/* auto-converge: the highest vCPU throttle in force during the
	 * round (as it began), and each vCPU's time slept throttled in it. */
	uint32_t cpu_throttle_pct;
	uint32_t nr_throttled_vcpus;	/* of vcpu_throttled_us */
	uint64_t vcpu_throttled_us[MIGRATE_STATS_MAX_VCPUS];
	struct zstd_counters zstd;	/* in this round; zero when off */
};

/* Told every status move of a migration, after it is made, with the stats
 * lock held: it must only note the status and return (queue it, wake a
 * thread), never block nor call back into these stats. */
typedef void (*migrate_status_fn)(void *ctx, enum migrate_status st);

/* Optional prediction made after round 0, to compare with the outcome
 * (the model: include/migrate_forecast.h). */
struct migrate_forecast {
	bool valid;
	double dirty_rate_pps;		/* the model's write rate, pages/s */
	double ws_pages;		/* fitted working set; 0 = linear model */
	bool ws_in_order;		/* filled in order: min(rate t, ws) */
	double bandwidth_bps;		/* of page data, unthrottled */
	uint32_t rounds;
	uint64_t total_us;
	double downtime_ms;
	uint64_t bytes;			/* on the wire, everything */
	enum stop_reason stop_reason;	/* what the policy would decide */
	enum policy_action action;	/* POLICY_CANCEL: will not converge */
};

struct migrate_stats {
	pthread_mutex_t lock;		/* recursive; see above */
	/* The one status of the migration: moved only by migrate_stats__start,
	 * __move and __set_status (checked transitions, migrate_state.h);
	 * everything that shows a status reads this. */
	struct migrate_state state;
	migrate_status_fn listener;	/* under the lock; survives a start */
	void *listener_ctx;
	/* Every member from error on is cleared when a migration starts. */
	char error[256];		/* empty unless something failed */
	char uri[256];
	uint64_t start_time_unix_us;	/* wall clock, for the record */
	uint64_t start_mono_us;		/* CLOCK_MONOTONIC, for elapsed */
	uint64_t setup_us;
	uint64_t total_us;		/* set when the migration ends */
	uint64_t downtime_us;		/* source pause to destination resume */
	/* Where the downtime went: parking the vCPUs, the last dirty pages,
	 * the VM/vCPU/device state, and the destination loading it, starting
	 * its vCPUs and saying so (for a file: syncing and renaming it).
	 * resume is split in two: END sent to READY received (the destination
	 * loads the state; a file's sync and rename), and READY received to
	 * RESUMED received (GO, the destination starts its vCPUs, RESUMED's
	 * trip back). The parts add up to downtime_us exactly. */
	uint64_t downtime_pause_us;
	uint64_t downtime_last_ram_us;
	uint64_t downtime_state_us;
	uint64_t downtime_resume_us;	/* ready + resumed */
	uint64_t downtime_ready_us;
	uint64_t downtime_resumed_us;
	/* Part of downtime_last_ram_us: waiting for the devices' work in
	 * flight (the drives' requests) and their sync, before the last
	 * dirty pages are read (completions write guest RAM). */
	uint64_t downtime_drain_us;
	/* Before the pause (not in the downtime): bytes of the stream the
	 * kernel held for the link when the stop was decided, and how long
	 * the source then waited, the guest running, for the link to carry
	 * them (0: no wait; see policy__drain_pays). */
	uint64_t link_queued_bytes;
	uint64_t link_drain_us;
	/* Pre-copy rounds the destination had applied when the guest paused
	 * (ROUND_DONE, stream 3.5; 0 from an older destination). */
	uint32_t rounds_applied_at_pause;
	enum stop_reason stop_reason;
	uint32_t rounds;		/* rounds run, stored or not */
	uint64_t ram_total;		/* bytes of guest RAM */
	uint64_t ram_transferred;	/* bytes of page data sent */
	uint64_t ram_remaining;		/* bytes still dirty, now */
	/* Block migration (0 without): the images' bytes, sent so far
	 * (holes count), and still to send, now. */
	uint64_t disk_total;
	uint64_t disk_transferred;
	uint64_t disk_remaining;
	uint64_t pages_total;		/* pages sent, zero pages included */
	uint64_t zero_pages_total;
	uint64_t zero_entries_total;	/* entries that carried them (round_stats) */
	uint64_t torn_pages;		/* destination: pages that arrived torn */
	uint64_t pages_skipped_unread;	/* of those, never populated: not read */
	/* Destination: 2 MiB chunks of RAM populated ahead of round 0's
	 * pages by a second thread (ram_prefault.h), and its time on them. */
	uint64_t prefault_chunks;
	uint64_t prefault_us;
	uint64_t bytes_total;		/* on the wire, everything */
	uint64_t device_state_bytes;
	uint64_t cpu_time_us;		/* of the migration thread */
	char dirty_log_mode[32];	/* "manual-protect" or "plain" */
	/* xbzrle (the source's cache): on for this migration, its size, the
	 * memory it and its buffers take, and the totals so far. */
	bool xbzrle_on;
	uint64_t xbzrle_cache_size;
	uint64_t xbzrle_memory;
	struct xbzrle_counters xbzrle;
	/* auto-converge: the throttle in force now (0 once the migration
	 * ended: it is always lifted then), the last one in force before
	 * the end, how many times it was raised, and each vCPU's time slept
	 * throttled during this migration. */
	uint32_t cpu_throttle_pct;
	uint32_t cpu_throttle_final_pct;
	uint32_t cpu_throttle_steps;
	uint32_t nr_throttled_vcpus;	/* of vcpu_throttled_us */
	uint64_t vcpu_throttled_us[MIGRATE_STATS_MAX_VCPUS];
	/* dirty-limit: started (auto-converge's trigger fired), and each
	 * vCPU's own throttle now (all 0 once the migration ended). */
	bool dirty_limit_active;
	uint32_t vcpu_throttle_pct[MIGRATE_STATS_MAX_VCPUS];
	/* multifd-compression zstd: on for this migration, its level, the
	 * memory it takes, and the totals so far. */
	bool zstd_on;
	uint32_t zstd_level;
	uint64_t zstd_memory;
	struct zstd_counters zstd;
	struct migrate_forecast forecast;
	/* Per-round records. Totals above are the writer's to keep: adding
	 * a round does not change them. */
	struct round_stats *rounds_v;
	size_t rounds_len;
	size_t rounds_cap;		/* allocated */
	size_t rounds_max;		/* bound; MIGRATE_STATS_MAX_ROUNDS */
};

/* Zeroes everything and sets up the lock. Returns 0 or -errno. */
int migrate_stats__init(struct migrate_stats *s);
void migrate_stats__free(struct migrate_stats *s);

void migrate_stats__lock(struct migrate_stats *s);
void migrate_stats__unlock(struct migrate_stats *s);

/* The start of a migration, as one step: the status moves from none or a
 * final one to setup, the previous migration's record is cleared, the URI
 * and both start clocks are recorded. -EBUSY, changing nothing, while a
 * migration runs: of several callers at once exactly one gets 0. */
int migrate_stats__start(struct migrate_stats *s, const char *uri);
/* The status moves from -> to (migrate_state__move: 0, -EINVAL for a move
 * the table forbids, -EBUSY when the status was not from). Entering
 * completed, failed or cancelled also fills total_us from the start clock
 * if the writer has not set it. */
int migrate_stats__move(struct migrate_stats *s, enum migrate_status from,
			enum migrate_status to);
/* For a migration with a single writer (the destination's main thread):
 * moves from whatever the status is now to st, if the table allows it. */
int migrate_stats__set_status(struct migrate_stats *s, enum migrate_status st);
enum migrate_status migrate_stats__status(const struct migrate_stats *s);
/* Sets (fn NULL: clears) the one listener told of every status move made
 * from now on by __start, __move and __set_status. */
void migrate_stats__set_listener(struct migrate_stats *s, migrate_status_fn fn, void *ctx);
/* Sets the error text (truncated to fit); does not change the status. */
__attribute__((format(printf, 2, 3)))
void migrate_stats__set_error(struct migrate_stats *s, const char *fmt, ...);

/* Counts one RAM section into the totals, on either side: pages (zero
 * pages included) sent or received, of which zero_pages carried no data,
 * in zero_entries entries, and the stream's bytes so far. The one place
 * both sides count pages. */
void migrate_stats__count_pages(struct migrate_stats *s, uint64_t pages, uint64_t zero_pages,
				uint64_t zero_entries, uint64_t stream_bytes);

/* Publishes the xbzrle totals so far (now); page data sent
 * (ram_transferred) drops by the bytes the new deltas saved. */
void migrate_stats__set_xbzrle(struct migrate_stats *s, const struct xbzrle_counters *now);

/* Publishes the zstd totals so far (now); page data sent
 * (ram_transferred) drops by what compression saved. */
void migrate_stats__set_zstd(struct migrate_stats *s, const struct zstd_counters *now);

/* Counts zero pages that went out without being read (never populated on
 * the host); they are in count_pages's zero pages too. */
void migrate_stats__count_unread(struct migrate_stats *s, uint64_t pages);

/* Appends a copy of *r and counts the round. Returns 0, or -ENOSPC once
 * rounds_max records are stored, or -ENOMEM; in both cases the round is
 * still counted in s->rounds, so the output shows how many are missing. */
int migrate_stats__add_round(struct migrate_stats *s,
			     const struct round_stats *r);

/* The instants of a stop-and-copy, CLOCK_MONOTONIC microseconds, in this
 * order: the decision to pause, every vCPU parked, the last pages sent,
 * the state and END sent, READY received (0 where none comes: a file),
 * RESUMED received (or the file in place). */
struct downtime_marks {
	uint64_t pause, paused, last_ram, state, ready, end;
};
/* Sets downtime_us and its parts from the marks. */
void migrate_stats__set_downtime(struct migrate_stats *s, const struct downtime_marks *m);

/* Microseconds since start while running, total_us once finished. */
uint64_t migrate_stats__elapsed_us(const struct migrate_stats *s);

/* Multi-line live text for `info migrate`, truncated safely to len. */
void migrate_stats__format_info(const struct migrate_stats *s, char *buf,
				size_t len);
/* End-of-migration summary: totals and a per-round table. */
void migrate_stats__format_summary(const struct migrate_stats *s, char *buf,
				   size_t len);

/* p may be NULL ("params": null). Return 0, or -EIO if the stream failed. */
int migrate_stats__write_json(const struct migrate_stats *s,
			      const struct migrate_params *p, FILE *f);
int migrate_stats__write_csv(const struct migrate_stats *s, FILE *f);
/* Writes the JSON (or, with csv, the CSV rows) to a file at path,
 * replacing it; a failure is logged and returned as -errno. */
int migrate_stats__write_file(const struct migrate_stats *s, const struct migrate_params *p,
			      const char *path, bool csv);

#endif
