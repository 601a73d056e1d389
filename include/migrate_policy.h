/* The convergence policy: after each pre-copy round, decide whether to keep
 * iterating, stop-and-copy, or give up.
 *
 * Rounds are numbered from 0; round 0 is the first full pass over RAM.
 * After round k the caller passes what the dirty-log read at the end of
 * that round found (the pages that would remain to send) and gets a
 * decision. The rules, each with its own named reason:
 *
 *   converged        expected downtime <= downtime-limit, where expected
 *                    downtime = (dirty_pages * page_size +
 *                    disk_dirty_bytes + device_state_bytes) / bandwidth,
 *                    and another round
 *                    would not pay (below). Never fires while the
 *                    bandwidth is unknown (0) or when downtime-limit is 0.
 *   min-dirty-pages  pending <= min-dirty-pages, where pending is
 *                    dirty_pages plus the dirty disk bytes in pages
 *                    (rounded up): a guest that writes its disk and not
 *                    its RAM has that much left for the pause too.
 *   max-iterations   round k was round max-iterations - 1: with the default
 *                    30, rounds 0..29 run and the decision after round 29
 *                    stops. max-iterations = 1 means only the full pass.
 *   no-progress      the pending set (as for min-dirty-pages) has
 *                    reached no new low for
 *                    no-progress-rounds consecutive rounds: the count after
 *                    round k is the number of rounds since the round with
 *                    the fewest dirty pages so far (ties are not progress).
 *                    The low, not the previous round, is the yardstick, so
 *                    a dirty set that swings up and down around a floor is
 *                    still seen as stalled. Earliest firing with N: after
 *                    round N. 0 = off. A round after which auto-converge
 *                    raised the throttle starts the count again: the
 *                    guest is being slowed, so a flat dirty set is not a
 *                    stall yet (QEMU, which has no such rule, lets the
 *                    throttle climb to its maximum).
 *   max-sent-factor  bytes_sent_total > max-sent-factor * (ram_size +
 *                    disk_size). 0 = off.
 *
 *
 * Another round pays when the guest dirtied, during this one, at most
 * 1/shrink-factor of the pages the round sent ((dirty_pages -
 * carried_pages) * shrink-factor <= round_pages), more than min-dirty-pages
 * are pending, and max-iterations allows one: the guest then dirties at
 * most 1/shrink-factor of the link's page rate, so the next round, which
 * sends the whole pending set, leaves about 1/shrink-factor of it for the
 * pause. Pages a cut round (round-end fit) carried over were dirty before
 * it began and do not count against it: counted, a cut round could never
 * pass the test, since it leaves pending as many pages as fit. So converged (and
 * min-dirty-pages, which cannot fire then) waits while the set keeps
 * collapsing, and fires once it stops: a set that fits but has settled on
 * the guest's working set stops at once, as QEMU's rule does; one that is
 * still draining costs a geometric tail of ever shorter rounds and buys a
 * shorter pause. shrink-factor 0 = off: stop as soon as it fits (QEMU).
 *
 * When several fire after the same round the first in the list above is
 * the reason. The "good" reasons come first: if the rest fits the downtime
 * target anyway, the migration should be reported (and handled) as
 * converged, not as stalled, and stall-action = cancel must never throw
 * away a migration that could finish within its target. max-iterations,
 * the user's explicit hard bound, comes before the stall rules for the same
 * reason: it always means stop-and-copy, as it does in QEMU.
 *
 * Actions: converged, min-dirty-pages and max-iterations always mean
 * stop-and-copy; no-progress and max-sent-factor follow stall-action.
 */
#ifndef VMM__MIGRATE_POLICY_H
#define VMM__MIGRATE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate_params.h"

enum stop_reason {
	STOP_NONE,
	STOP_CONVERGED,
	STOP_MIN_DIRTY,
	STOP_MAX_ITERATIONS,
	STOP_NO_PROGRESS,
	STOP_MAX_SENT,
	STOP_CANCELLED,		/* by the user; set by the caller, not a rule */
	STOP_ERROR,		/* bad input to the policy, or a failure */
};

enum policy_action {
	POLICY_CONTINUE,	/* run another round */
	POLICY_STOP_COPY,	/* pause the guest, send the rest */
	POLICY_CANCEL,		/* abandon; the guest keeps running here */
};

struct policy_input {
	uint32_t round;			/* 0 for the full pass */
	uint64_t dirty_pages;		/* found at the end of this round */
	/* pages this round sent (round 0: every RAM page); 0 = unknown, and
	 * then another round never pays */
	uint64_t round_pages;
	/* of dirty_pages, those the round was cut short of (round-end fit):
	 * pending before it began, not dirtied by the guest during it */
	uint64_t carried_pages;
	uint64_t page_size;		/* bytes, > 0 */
	/* bytes/s the stop-and-copy will see (the link's rate, not an
	 * average lowered by max-bandwidth); 0 = unknown */
	double bandwidth_bps;
	uint64_t bytes_sent_total;	/* on the wire, since the start */
	uint64_t ram_size;		/* bytes, > 0 */
	uint64_t device_state_bytes;	/* estimate, sent during downtime */
	uint64_t disk_dirty_bytes;	/* block migration's dirty blocks left */
	/* Bytes of earlier rounds the kernel still holds for the link that
	 * the pause would find there: they cross inside the downtime. 0 when
	 * the source lets them through before it pauses (policy__drain_pays). */
	uint64_t link_queued_bytes;
	uint64_t disk_size;		/* what block migration copies; 0 = none */
	bool throttle_raised;		/* auto-converge raised it after this round */
};

struct policy_decision {
	enum stop_reason reason;	/* STOP_NONE while continuing */
	enum policy_action action;
	double expected_downtime_ms;	/* NaN when the bandwidth is unknown */
};

struct migrate_policy {
	struct migrate_params params;
	uint32_t next_round;		/* the round decide() expects next */
	uint64_t lowest_dirty;		/* fewest dirty pages after any round */
	uint32_t rounds_since_low;
	bool done;			/* a stop was decided */
};

/* Copies params; the policy does not keep the pointer. */
void policy__init(struct migrate_policy *pol, const struct migrate_params *p);

/* Decides after one round. Rounds must come in order 0, 1, 2, ... and not
 * after a stop. Returns 0, or -EINVAL for bad input (round out of order,
 * page_size or ram_size 0, a negative or non-finite bandwidth, a call after a
 * stop), in which case *out is { STOP_ERROR, POLICY_CANCEL } and the
 * policy's history is unchanged. */
int policy__decide(struct migrate_policy *pol, const struct policy_input *in,
		   struct policy_decision *out);

/* Expected downtime in ms if the guest were paused now; NaN when the
 * bandwidth is unknown (0, negative or not finite). */
double policy__expected_downtime_ms(const struct policy_input *in);

/* Whether to let the link carry what the kernel holds (a full send
 * buffer is ~20 ms at 1 Gbit/s) before pausing the guest rather than
 * inside the downtime: it pays while the guest dirties fewer bytes a
 * second than the link carries, so that the wait takes more out of the
 * downtime than the pages dirtied meanwhile put back. False when a rate
 * is unknown (0, negative or not finite). */
bool policy__drain_pays(double dirty_rate_pps, uint64_t page_size, double link_bps);

/* What a stop reason means for the guest under these parameters. */
enum policy_action policy__action(const struct migrate_params *p,
				  enum stop_reason reason);

/* Stable names for JSON, CSV and the monitor: "none", "converged",
 * "min-dirty-pages", "max-iterations", "no-progress", "max-sent-factor",
 * "cancelled", "error". */
const char *stop_reason__name(enum stop_reason r);

#endif
