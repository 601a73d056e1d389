#include "migrate_stats.h"

#include <stdlib.h>
#include <string.h>

/* Back to the state migrate_stats__init leaves, keeping the lock and the
 * rounds bound: each migration starts its record anew. */
void migrate_stats__reset(struct migrate_stats *s)
{
	size_t max;

	migrate_stats__lock(s);
	free(s->rounds_v);
	max = s->rounds_max;
	memset((char *)s + offsetof(struct migrate_stats, status), 0,
	       sizeof(*s) - offsetof(struct migrate_stats, status));
	s->rounds_max = max;
	migrate_stats__unlock(s);
}
