/* The status of one migration and the only way to change it: a checked
 * transition from the status the caller believes current to the next one,
 * done as a compare-and-swap. A transition fails when it is not in the
 * table below, or when someone else moved the status first; so of several
 * threads that try to start a migration at once exactly one wins, and a
 * status never goes backwards behind its owner's back.
 *
 *   none, completed, failed, cancelled,
 *   handover-unconfirmed -> setup                    (a migration starts)
 *   setup -> active -> stop-copy -> completed
 *   active -> completed                              (a destination)
 *   setup, active, stop-copy -> failed, cancelled
 *   stop-copy -> handover-unconfirmed                (GO sent, no RESUMED)
 *   none -> failed                                   (failed before it began)
 *
 * handover-unconfirmed is final for the thread but not for the guest: GO
 * went out and RESUMED never came back, so the guest may run on the
 * destination; it stays paused here until the operator decides (`cont`
 * once the destination is known dead, or `quit`). migration.c refuses a
 * new migration while that guest is still paused.
 */
#ifndef VMM__MIGRATE_STATE_H
#define VMM__MIGRATE_STATE_H

#include <stdbool.h>

enum migrate_status {
	MIGRATE_STATUS_NONE,
	MIGRATE_STATUS_SETUP,
	MIGRATE_STATUS_ACTIVE,
	MIGRATE_STATUS_STOP_COPY,
	MIGRATE_STATUS_COMPLETED,
	MIGRATE_STATUS_FAILED,
	MIGRATE_STATUS_CANCELLED,
	MIGRATE_STATUS_UNCONFIRMED,	/* "handover-unconfirmed" */
};

/* Read it with migrate_state__get; write it only with the functions below. */
struct migrate_state {
	enum migrate_status value;
};

/* Whether from -> to is in the table. */
bool migrate_status__may_move(enum migrate_status from, enum migrate_status to);
/* Setup, active or stop-copy: a migration thread owns the status. */
bool migrate_status__is_running(enum migrate_status st);
/* Completed, failed, cancelled or handover-unconfirmed. */
bool migrate_status__is_final(enum migrate_status st);
/* "none", "setup", "active", "stop-copy", "completed", "failed",
 * "cancelled", "handover-unconfirmed". */
const char *migrate_status__name(enum migrate_status st);

enum migrate_status migrate_state__get(const struct migrate_state *s);
/* from -> to. 0 when it moved; -EINVAL when the table forbids it; -EBUSY
 * when the status was not from (someone else moved it first). */
int migrate_state__move(struct migrate_state *s, enum migrate_status from,
			enum migrate_status to);
/* The start of a migration: none or a final status -> setup. 0 for the one
 * caller that moved it, -EBUSY while a migration runs. */
int migrate_state__begin(struct migrate_state *s);

#endif
