/* The source side of a migration: a thread apart from the vCPUs that runs
 * the pre-copy rounds, the stop-and-copy, and waits for the destination's
 * word that the guest runs there. Until that word, any failure or cancel
 * resumes the guest here: a failed migration never loses the VM.
 */
#ifndef VMM__MIGRATION_H
#define VMM__MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dirty_rate.h"
#include "migrate_forecast.h"
#include "migrate_params.h"
#include "migrate_stats.h"

struct auth_secret;
struct blk_backend;
struct tls_creds;
struct vm;
struct migration;
struct dirty_trace_result;
struct dirty_rate;

struct migration *migration__create(struct vm *vm);
void migration__destroy(struct migration *m);
/* Where the statistics go when a migration ends (JSON, and CSV rows per
 * round when csv_path is set). */
void migration__set_stats_output(struct migration *m, const char *json_path, const char *csv_path);
/* Starts migrating to uri ("tcp:HOST:PORT" or "file:PATH"); returns at
 * once. -EBUSY while another migration runs (of several callers at once,
 * one starts and the others get -EBUSY), -EINVAL for a bad uri, -ESRCH
 * once the guest has ended. */
int migration__start(struct migration *m, const char *uri, char *err, size_t errlen);
/* migrate -b: the same, with the drives' images copied too (the block
 * capability for this migration only, as QEMU's blk argument). */
int migration__start_block(struct migration *m, const char *uri, char *err, size_t errlen);
/* migrate -i (QEMU's inc): migrate -b copying only what each drive's
 * qcow2 overlay adds to its base (block-incremental, this migration). */
int migration__start_incremental(struct migration *m, const char *uri, char *err,
				 size_t errlen);

#define MIGRATION_MAX_DRIVES 4

/* A --drive as block migration sees it. */
struct migration_drive {
	struct blk_backend *backend;
	bool readonly;
	bool qcow2;
};

/* The VM's drives (they must outlive m), in virtio-blk.N order: what the
 * block capability copies. */
void migration__set_drives(struct migration *m, const struct migration_drive *d,
			   unsigned int n);
/* Starts migrating to uri after delay_us, as migration__start would then
 * (a failure to start is logged). The wait ends early, starting nothing,
 * when the migration object is destroyed. */
int migration__start_after(struct migration *m, const char *uri, uint64_t delay_us,
			   char *err, size_t errlen);
/* Asks a running migration to stop; the guest keeps running here. */
int migration__cancel(struct migration *m);
/* Blocks until no migration thread is running. */
void migration__wait(struct migration *m);
/* For tests: refuse manual dirty-log protection (use the plain log). */
void migration__force_plain_dirty_log(struct migration *m, bool plain);
/* --secret-file's secret (read before privileges dropped; it must outlive
 * m): a tcp: migration proves it to the destination and makes the
 * destination prove it back before the stream starts. The secret-file
 * parameter, when set, overrides it. NULL or empty: no authentication. */
void migration__set_secret(struct migration *m, const struct auth_secret *s);
/* --tls-creds's certificates (loaded before privileges dropped; they must
 * outlive m): a tcp: or tls: migration runs TLS keyed by them. The
 * tls-creds parameter, when set, overrides them. NULL: none. */
void migration__set_tls_creds(struct migration *m, const struct tls_creds *c);
struct migrate_stats *migration__stats(struct migration *m);
/* On a destination: the statistics of the migration that brought the
 * guest here, which 'info migrate' shows until one starts from here. */
void migration__set_incoming_stats(struct migration *m, struct migrate_stats *in);
/* On a destination, before the guest arrives: the VM must not be touched
 * (every command that would refuses: "the guest is still arriving"), and
 * migration__cancel calls cancel(ctx) to end the incoming migration.
 * migration__vm_arrived ends that once the vCPUs run. dirty_ring_entries:
 * the ring the VM built here will have (--dirty-ring), which capabilities
 * set before it arrives are checked against. */
void migration__expect_vm(struct migration *m, void (*cancel)(void *ctx), void *ctx,
			  uint32_t dirty_ring_entries);
void migration__vm_arrived(struct migration *m);
/* Setup, active or stop-copy. */
bool migration__is_running(struct migration *m);
/* What 'info migrate' shows: this side's migration, or on a destination
 * where none started from here yet, the one that brought the guest. */
void migration__format_info(struct migration *m, char *buf, size_t len);
/* Records a dirty trace (dirty_trace__record) of duration_us in slices of
 * interval_us into path; blocks meanwhile. -EBUSY while a migration or
 * another recording runs (and a migration cannot start during one),
 * -ESRCH once the guest has ended. */
int migration__record_dirty(struct migration *m, const char *path, uint64_t duration_us,
			    uint64_t interval_us, struct dirty_trace_result *res,
			    char *err, size_t errlen);
/* Sets a parameter for the next migration (migrate_params__set). */
int migration__set_parameter(struct migration *m, const char *name, const char *value,
			     char *err, size_t errlen);
void migration__format_parameters(struct migration *m, char *buf, size_t len);
/* The parameters for the next migration, read or replaced as a whole
 * (a caller checks a set of changes on a copy, then commits all). */
/* Turns a capability on or off for the next migration
 * (migrate_params__set_capability). */
int migration__set_capability(struct migration *m, const char *name, bool on,
			      char *err, size_t errlen);
/* What a capability needs of this VM (dirty-limit: the dirty ring); 0 or
 * -EINVAL with the reason. */
int migration__check_capabilities(struct migration *m, const struct migrate_params *p,
				   char *err, size_t errlen);
void migration__format_capabilities(struct migration *m, char *buf, size_t len);
void migration__get_params(struct migration *m, struct migrate_params *out);
void migration__set_params(struct migration *m, const struct migrate_params *p);
/* The listener told of every status move of migrations from here
 * (migrate_stats__set_listener). */
void migration__set_status_listener(struct migration *m, migrate_status_fn fn, void *ctx);
/* The status 'info migrate' shows (this side's, or the incoming one). */
enum migrate_status migration__status(struct migration *m);
/* A migration from here completed: the guest runs elsewhere now. */
bool migration__moved_away(struct migration *m);
/* The statistics 'info migrate' shows, as the JSON of migrate/STATS.md. */
int migration__write_info_json(struct migration *m, FILE *f);
/* Starts measuring the dirty rate over seconds (dirty_rate.h); returns at
 * once. -ERANGE for seconds outside 1..60, -EBUSY while a migration or
 * another measurement runs, -ESRCH once the guest has ended, -EINVAL for
 * mode RING on a VM made without --dirty-ring. */
int migration__calc_dirty_rate(struct migration *m, uint32_t seconds, enum dirty_rate_mode mode,
			       char *err, size_t errlen);
/* The last measurement (or the one running). */
void migration__dirty_rate(struct migration *m, struct dirty_rate *out);

/* `forecast`: a prediction of a migration under the current parameters,
 * before anything is sent (migrate/forecast_now.c). */
#define FORECAST_MIN_SECONDS 1
#define FORECAST_MAX_SECONDS 30
/* What a forecast is asked with; 0 in any but seconds: not given. */
struct forecast_request {
	uint32_t seconds;		/* watching the guest */
	uint64_t bandwidth;		/* the link, bytes/s */
	uint64_t round0_bandwidth;	/* round 0's own rate, bytes/s */
	/* Measured on earlier migrations over the same link (the lab learns
	 * them): the setup, `migrate` to round 0, handshake included, in
	 * place of this side's dirty-log start; and the switchover's fixed
	 * costs (forecast_start.switchover_us). */
	uint64_t setup_us;
	uint64_t switchover_us;
};
struct forecast_now {
	struct forecast_start start;	/* what was measured */
	struct migrate_forecast f;
	struct migrate_params params;	/* used */
	struct forecast_request req;	/* as asked */
	const char *link_source;	/* "given", "max-bandwidth", ... */
	char dirty_log_mode[32];
	uint64_t log_start_us;		/* starting the dirty log (in setup_us) */
};
/* Watches the dirty log for req->seconds (the caller waits), then
 * predicts. The link: req->bandwidth if not 0, else max-bandwidth, else
 * the last migration's measured rate of page data, else -EINVAL asking
 * for one. req->round0_bandwidth is round 0's own rate, filling the
 * destination's fresh RAM (0: the link's). -EBUSY while a migration or a
 * measurement runs, -ERANGE for seconds out of FORECAST_MIN_SECONDS..
 * FORECAST_MAX_SECONDS. */
int migration__forecast(struct migration *m, const struct forecast_request *req,
			struct forecast_now *out, char *err, size_t errlen);
/* What the monitor prints, truncated safely to len. */
void forecast_now__format(const struct forecast_now *n, char *buf, size_t len);

#endif
