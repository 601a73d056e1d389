/* A forecast of the rest of a pre-copy migration, made once round 0 has
 * measured the two rates it depends on (the guest's dirty rate and the
 * link's bandwidth), to be compared with what then happens.
 *
 * The model: each later round sends what the previous one left dirty, in
 * (pages x page_bytes) / bandwidth seconds, while the guest dirties
 * dirty_rate x that time new pages (never more than RAM holds); after each
 * simulated round the real convergence policy decides, so the forecast
 * stops for the same reasons, in the same order, as the migration will.
 * It ignores that a dirty set saturates (a page written twice counts
 * once) and that round 0's bandwidth includes scanning zero pages, so it
 * errs towards more rounds and a longer migration.
 */
#ifndef VMM__MIGRATE_FORECAST_H
#define VMM__MIGRATE_FORECAST_H

#include <stdint.h>

#include "migrate_params.h"
#include "migrate_stats.h"

struct forecast_input {
	uint64_t pending_pages;		/* dirty after round 0: round 1's load */
	double dirty_rate_pps;		/* measured during round 0 */
	double bandwidth_bps;		/* bytes/s measured during round 0 */
	uint64_t page_bytes;		/* bytes on the wire per page sent */
	uint64_t device_state_bytes;
	uint64_t ram_size;
	uint64_t bytes_sent;		/* so far (for max-sent-factor) */
	uint64_t elapsed_us;		/* so far: setup and round 0 */
};

/* Fills out (out->valid false when a rate is unknown or not finite).
 * rounds counts every round, round 0 and the stop-and-copy included, as
 * the statistics do; total_us is from the start of the migration. */
void forecast__predict(const struct migrate_params *p, const struct forecast_input *in,
		       struct migrate_forecast *out);

#endif
