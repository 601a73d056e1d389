/* Tunable parameters of a pre-copy migration, as set from the command line
 * or with the monitor's `migrate_set_parameter NAME VALUE`.
 *
 * The names are the user interface (stable, kebab-case); the struct is what
 * the migration thread and the convergence policy read.
 */
#ifndef VMM__MIGRATE_PARAMS_H
#define VMM__MIGRATE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What to do when the migration stalls (no-progress or max-sent-factor). */
enum on_stall {
	ON_STALL_STOP_COPY,	/* pause the guest and send what is left */
	ON_STALL_CANCEL,	/* give up; the guest keeps running here */
};

/* What compresses RAM pages (QEMU's multifd-compression; vmm has one
 * channel and applies it there, migrate/FORMAT.md "zstd pages"). */
enum migrate_compression {
	MIGRATE_COMPRESSION_NONE,
	MIGRATE_COMPRESSION_ZSTD,
};

/* Capabilities (`migrate_set_capability NAME on|off`, QMP
 * migrate-set-capabilities): QEMU's names and meanings. */
enum migrate_cap {
	MIGRATE_CAP_AUTO_CONVERGE,	/* throttle every vCPU by a rising share */
	MIGRATE_CAP_DIRTY_LIMIT,	/* cap each vCPU's dirty rate (dirty ring) */
	MIGRATE_CAP_XBZRLE,		/* send pages sent before as XOR deltas */
	MIGRATE_CAP_BLOCK,		/* copy the drives' images too (migrate -b) */
	MIGRATE_NR_CAPS
};

struct migrate_params {
	uint32_t max_iterations;	/* rounds 0..max_iterations-1 at most */
	uint64_t downtime_limit_ms;	/* 0 = the downtime rule is off */
	uint64_t min_dirty_pages;
	uint32_t no_progress_rounds;	/* 0 = off */
	double max_sent_factor;		/* x RAM size; 0 = off */
	/* converged waits while a round divides the dirty set by this much
	 * (migrate_policy.h); 0 = off, stop as soon as it fits */
	double shrink_factor;
	uint64_t max_bandwidth;		/* bytes/s; 0 = unlimited */
	/* round-end fit: a round past round 0 ends once the pages it has left
	 * would fit downtime_limit_ms at the last round's link rate (where
	 * QEMU syncs its dirty bitmap); the rest stays pending for the next
	 * round. false (pass): every round sends its whole dirty set. */
	bool round_end_fit;
	enum on_stall stall_action;
	/* Hard cap on the stop-and-copy, from the pause to READY; past it,
	 * before GO, the migration is abandoned. 0 = off. */
	uint64_t downtime_max_ms;
	uint64_t timeout_s;		/* whole migration; 0 = off */
	/* The secret file for tcp: targets, read when a migration starts;
	 * "" = the one given with --secret-file (if any). */
	char secret_file[256];
	/* x509 credentials (tls_creds.h), read when a migration starts:
	 * a directory; "" = --tls-creds's (if any). Set, a tcp: target runs
	 * TLS as tls: does (QEMU's rule). */
	char tls_creds[256];
	/* The name the destination's certificate must carry; "" = the
	 * URI's host. */
	char tls_hostname[256];

	bool caps[MIGRATE_NR_CAPS];
	/* auto-converge, as QEMU's parameters of the same names: throttle
	 * when the pages dirtied in a round exceed throttle_trigger_pct % of
	 * the pages sent in it; start at cpu_throttle_initial %, add
	 * cpu_throttle_increment % each time, never past max_cpu_throttle %.
	 * tailslow: past the first step, raise it by what the dirty rate
	 * still exceeds the link by, at most the increment. */
	uint32_t throttle_trigger_pct;
	uint32_t cpu_throttle_initial;
	uint32_t cpu_throttle_increment;
	uint32_t max_cpu_throttle;
	bool cpu_throttle_tailslow;
	/* dirty-limit: each vCPU's dirty rate in MB/s, checked every period. */
	uint64_t vcpu_dirty_limit_mbps;
	uint64_t vcpu_dirty_limit_period_ms;
	/* xbzrle: bytes of source memory that cache pages sent before. */
	uint64_t xbzrle_cache_size;
	/* multifd-compression and multifd-zstd-level (1..20). */
	enum migrate_compression compression;
	uint32_t zstd_level;
	/* block-incremental: with the block capability (or migrate -b), copy
	 * only what each drive's qcow2 overlay adds to its base, which the
	 * destination holds too (migrate -i). */
	bool block_incremental;
};

/* One row of the help table. */
struct migrate_param_info {
	const char *name;
	const char *range;	/* accepted values, as the error messages say */
	const char *help;	/* one line */
};

void migrate_params__defaults(struct migrate_params *p);

/* Sets one parameter by name. On error p is unchanged, err holds a message
 * that names the parameter and the accepted values, e.g.
 * "max-iterations: 0 out of range 1..1000", and the result is -EINVAL
 * (bad name or malformed value) or -ERANGE. */
int migrate_params__set(struct migrate_params *p, const char *name,
			const char *value, char *err, size_t errlen);

/* One "name: value" line per parameter; every value is in a form that
 * migrate_params__set accepts back. Truncated safely to len. */
void migrate_params__format(const struct migrate_params *p, char *buf,
			    size_t len);

/* The table of names, accepted values and descriptions (count rows). */
const struct migrate_param_info *migrate_params__table(size_t *count);

/* The help table as text, one parameter per line. */
void migrate_params__format_help(char *buf, size_t len);

const char *on_stall__name(enum on_stall a);
const char *migrate_compression__name(enum migrate_compression c);

/* Turns one capability on or off (by its QEMU name). Errors, with the
 * reason in err and p unchanged: -ENOENT for a name vmm does not know (the
 * caller may know it as QEMU's), -EOPNOTSUPP for one vmm has not built
 * yet, -EINVAL for a combination QEMU also refuses (auto-converge with
 * dirty-limit). */
int migrate_params__set_capability(struct migrate_params *p, const char *name, bool on,
				   char *err, size_t errlen);
const char *migrate_cap__name(enum migrate_cap c);
/* One "name: on|off" line per capability. */
void migrate_params__format_capabilities(const struct migrate_params *p, char *buf,
					 size_t len);

#endif
