#include "migrate_policy.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

void policy__init(struct migrate_policy *pol, const struct migrate_params *p)
{
	memset(pol, 0, sizeof(*pol));
	pol->params = *p;
}

double policy__expected_downtime_ms(const struct policy_input *in)
{
	double bytes;

	if (!(in->bandwidth_bps > 0.0) || !isfinite(in->bandwidth_bps))
		return NAN;
	/* In double: dirty_pages * page_size can overflow a u64 for absurd
	 * inputs, and the result is a double anyway. */
	bytes = (double)in->dirty_pages * (double)in->page_size +
		(double)in->disk_dirty_bytes + (double)in->device_state_bytes +
		(double)in->link_queued_bytes;
	return bytes * 1000.0 / in->bandwidth_bps;
}

bool policy__drain_pays(double dirty_rate_pps, uint64_t page_size, double link_bps)
{
	if (!(link_bps > 0.0) || !isfinite(link_bps) || !(dirty_rate_pps >= 0.0) ||
	    !isfinite(dirty_rate_pps))
		return false;
	return dirty_rate_pps * (double)page_size < link_bps;
}

enum policy_action policy__action(const struct migrate_params *p,
				  enum stop_reason reason)
{
	switch (reason) {
	case STOP_NONE:
		return POLICY_CONTINUE;
	case STOP_CONVERGED:
	case STOP_MIN_DIRTY:
	case STOP_MAX_ITERATIONS:
		return POLICY_STOP_COPY;
	case STOP_NO_PROGRESS:
	case STOP_MAX_SENT:
		return p->stall_action == ON_STALL_CANCEL ? POLICY_CANCEL :
							    POLICY_STOP_COPY;
	case STOP_CANCELLED:
	case STOP_ERROR:
		break;
	}
	return POLICY_CANCEL;
}

const char *stop_reason__name(enum stop_reason r)
{
	switch (r) {
	case STOP_NONE:
		return "none";
	case STOP_CONVERGED:
		return "converged";
	case STOP_MIN_DIRTY:
		return "min-dirty-pages";
	case STOP_MAX_ITERATIONS:
		return "max-iterations";
	case STOP_NO_PROGRESS:
		return "no-progress";
	case STOP_MAX_SENT:
		return "max-sent-factor";
	case STOP_CANCELLED:
		return "cancelled";
	case STOP_ERROR:
		return "error";
	}
	return "unknown";
}

static int check_input(const struct migrate_policy *pol,
		       const struct policy_input *in)
{
	if (pol->done || in->round != pol->next_round)
		return -EINVAL;
	if (!in->page_size || !in->ram_size)
		return -EINVAL;
	if (!(in->bandwidth_bps >= 0.0) || !isfinite(in->bandwidth_bps))
		return -EINVAL;
	return 0;
}

/* What the pause would have to send, in pages: RAM's dirty pages and the
 * disk's dirty bytes (saturating: the inputs are not trusted). */
static uint64_t pending_pages(const struct policy_input *in)
{
	uint64_t disk = in->disk_dirty_bytes / in->page_size +
			(in->disk_dirty_bytes % in->page_size != 0);

	return in->dirty_pages > UINT64_MAX - disk ? UINT64_MAX : in->dirty_pages + disk;
}

/* Rounds since the fewest dirty pages seen (or the throttle's last
 * raise), counting this round. */
static uint32_t update_low(struct migrate_policy *pol, uint64_t dirty, bool raised)
{
	if (pol->next_round == 0 || dirty < pol->lowest_dirty) {
		pol->lowest_dirty = dirty;
		pol->rounds_since_low = 0;
	} else if (raised) {
		pol->rounds_since_low = 0;
	} else if (pol->rounds_since_low < UINT32_MAX) {
		pol->rounds_since_low++;
	}
	return pol->rounds_since_low;
}

/* The header says when another round pays; in double, as the factor is.
 * Saturating: carried_pages is not trusted to be below dirty_pages. */
static bool another_round_pays(const struct migrate_params *p, const struct policy_input *in)
{
	uint64_t dirtied = in->dirty_pages > in->carried_pages ?
				   in->dirty_pages - in->carried_pages : 0;

	return p->shrink_factor > 0.0 && in->round_pages &&
	       pending_pages(in) > p->min_dirty_pages &&
	       (uint64_t)in->round + 1 < p->max_iterations &&
	       (double)dirtied * p->shrink_factor <= (double)in->round_pages;
}

/* The order of the tests is the documented priority (see the header). */
static enum stop_reason first_rule(const struct migrate_params *p,
				   const struct policy_input *in,
				   double downtime_ms, uint32_t since_low)
{
	if (p->downtime_limit_ms && downtime_ms <= (double)p->downtime_limit_ms &&
	    !another_round_pays(p, in))
		return STOP_CONVERGED;
	if (pending_pages(in) <= p->min_dirty_pages)
		return STOP_MIN_DIRTY;
	if ((uint64_t)in->round + 1 >= p->max_iterations)
		return STOP_MAX_ITERATIONS;
	if (p->no_progress_rounds && since_low >= p->no_progress_rounds)
		return STOP_NO_PROGRESS;
	if (p->max_sent_factor > 0.0 &&
	    (double)in->bytes_sent_total > p->max_sent_factor *
					   ((double)in->ram_size + (double)in->disk_size))
		return STOP_MAX_SENT;
	return STOP_NONE;
}

int policy__decide(struct migrate_policy *pol, const struct policy_input *in,
		   struct policy_decision *out)
{
	double ms;
	uint32_t since_low;

	if (check_input(pol, in)) {
		out->reason = STOP_ERROR;
		out->action = POLICY_CANCEL;
		out->expected_downtime_ms = NAN;
		return -EINVAL;
	}
	ms = policy__expected_downtime_ms(in);
	since_low = update_low(pol, pending_pages(in), in->throttle_raised);
	pol->next_round++;
	out->reason = first_rule(&pol->params, in, ms, since_low);
	out->action = policy__action(&pol->params, out->reason);
	out->expected_downtime_ms = ms;
	if (out->reason != STOP_NONE)
		pol->done = true;
	return 0;
}
