#include "migrate_state.h"

#include <errno.h>

bool migrate_status__is_running(enum migrate_status st)
{
	return st == MIGRATE_STATUS_SETUP || st == MIGRATE_STATUS_ACTIVE ||
	       st == MIGRATE_STATUS_STOP_COPY;
}

bool migrate_status__is_final(enum migrate_status st)
{
	return st == MIGRATE_STATUS_COMPLETED || st == MIGRATE_STATUS_FAILED ||
	       st == MIGRATE_STATUS_CANCELLED || st == MIGRATE_STATUS_UNCONFIRMED;
}

bool migrate_status__may_move(enum migrate_status from, enum migrate_status to)
{
	switch (to) {
	case MIGRATE_STATUS_NONE:
		return false;
	case MIGRATE_STATUS_SETUP:
		return from == MIGRATE_STATUS_NONE || migrate_status__is_final(from);
	case MIGRATE_STATUS_ACTIVE:
		return from == MIGRATE_STATUS_SETUP;
	case MIGRATE_STATUS_STOP_COPY:
		return from == MIGRATE_STATUS_ACTIVE;
	case MIGRATE_STATUS_COMPLETED:
		/* A destination has no stop-copy phase of its own. */
		return from == MIGRATE_STATUS_ACTIVE || from == MIGRATE_STATUS_STOP_COPY;
	case MIGRATE_STATUS_FAILED:
		/* From none: a destination whose source never arrived. */
		return from == MIGRATE_STATUS_NONE || migrate_status__is_running(from);
	case MIGRATE_STATUS_CANCELLED:
		return migrate_status__is_running(from);
	case MIGRATE_STATUS_UNCONFIRMED:
		/* Only the source sends GO, and only in stop-copy. */
		return from == MIGRATE_STATUS_STOP_COPY;
	}
	return false;
}

const char *migrate_status__name(enum migrate_status st)
{
	switch (st) {
	case MIGRATE_STATUS_NONE:
		return "none";
	case MIGRATE_STATUS_SETUP:
		return "setup";
	case MIGRATE_STATUS_ACTIVE:
		return "active";
	case MIGRATE_STATUS_STOP_COPY:
		return "stop-copy";
	case MIGRATE_STATUS_COMPLETED:
		return "completed";
	case MIGRATE_STATUS_FAILED:
		return "failed";
	case MIGRATE_STATUS_CANCELLED:
		return "cancelled";
	case MIGRATE_STATUS_UNCONFIRMED:
		return "handover-unconfirmed";
	}
	return "unknown";
}

enum migrate_status migrate_state__get(const struct migrate_state *s)
{
	return __atomic_load_n(&s->value, __ATOMIC_ACQUIRE);
}

int migrate_state__move(struct migrate_state *s, enum migrate_status from,
			enum migrate_status to)
{
	enum migrate_status expected = from;

	if (!migrate_status__may_move(from, to))
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&s->value, &expected, to, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EBUSY;
	return 0;
}

int migrate_state__begin(struct migrate_state *s)
{
	enum migrate_status cur = migrate_state__get(s);

	/* A failed swap leaves in cur what the status is now: retry only
	 * while it is still one a migration may start from. */
	while (migrate_status__may_move(cur, MIGRATE_STATUS_SETUP)) {
		if (__atomic_compare_exchange_n(&s->value, &cur, MIGRATE_STATUS_SETUP, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
	}
	return -EBUSY;
}
