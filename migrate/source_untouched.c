/* Round 0 without reading what the guest never touched: pages the host
 * never populated read as zero, so they go out as zero pages unread. Reading
 * them would cost the whole pass for an idle guest, and would map them
 * (the shared zero page, page tables) where nothing needs them. */
#include "migrate_source.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"
#include "vm.h"

/* Said once per process: every migration after the first falls back the
 * same way, for the same reason. */
static atomic_bool fallback_logged;

uint64_t *source__populated_pages(struct source_run *r, const struct round_stats *rs)
{
	struct guest_memory *mem = &r->vm->mem;
	uint64_t nr_pages = mem->size / GUEST_PAGE_SIZE;
	uint64_t *bits;
	char why[256];
	int ret;

	/* A clear bit means "still zero" only if every page is pending in
	 * this round and the dirty log was on before the query: a page
	 * populated after it is then in the log and goes out again later. */
	if (rs->index != 0 || rs->dirty_pages != nr_pages || !mem->dirty_logging)
		return NULL;
	bits = malloc((nr_pages + 63) / 64 * sizeof(uint64_t));
	if (!bits)
		return NULL;
	ret = guest_memory__populated(mem, bits, why, sizeof(why));
	if (ret) {
		free(bits);
		if (!atomic_exchange(&fallback_logged, true))
			log_warn("reading every page of guest RAM in round 0, untouched ones too: %s",
				 why);
		return NULL;
	}
	return bits;
}
