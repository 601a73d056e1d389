#include "migrate_forecast.h"

#include <math.h>
#include <string.h>

#include "migrate_policy.h"

#define PAGE_SIZE 4096

void forecast__predict(const struct migrate_params *p, const struct forecast_input *in,
		       struct migrate_forecast *out)
{
	struct migrate_policy pol;
	struct policy_decision d = { .reason = STOP_NONE };
	struct policy_input pin;
	double pages = (double)in->pending_pages, ram_pages, t, total_us, sent;
	uint32_t k;

	memset(out, 0, sizeof(*out));
	out->dirty_rate_pps = in->dirty_rate_pps;
	out->bandwidth_bps = in->bandwidth_bps;
	if (!isfinite(in->dirty_rate_pps) || in->dirty_rate_pps < 0 ||
	    !isfinite(in->bandwidth_bps) || in->bandwidth_bps <= 0 || !in->page_bytes ||
	    !in->ram_size)
		return;
	ram_pages = (double)(in->ram_size / PAGE_SIZE);
	total_us = (double)in->elapsed_us;
	sent = (double)in->bytes_sent;

	/* Round 0 has run: the policy first sees it, as it did for real. */
	policy__init(&pol, p);
	pin = (struct policy_input){
		.round = 0, .dirty_pages = in->pending_pages, .page_size = PAGE_SIZE,
		.bandwidth_bps = in->bandwidth_bps, .bytes_sent_total = in->bytes_sent,
		.ram_size = in->ram_size, .device_state_bytes = in->device_state_bytes,
	};
	for (k = 0;; k++) {
		if (policy__decide(&pol, &pin, &d) || d.action != POLICY_CONTINUE)
			break;
		t = pages * (double)in->page_bytes / in->bandwidth_bps;
		total_us += t * 1e6;
		sent += pages * (double)in->page_bytes;
		pages = fmin(in->dirty_rate_pps * t, ram_pages);
		pin.round = k + 1;
		pin.dirty_pages = (uint64_t)pages;
		pin.bytes_sent_total = sent > (double)UINT64_MAX ? UINT64_MAX : (uint64_t)sent;
	}
	if (d.reason == STOP_ERROR)
		return;
	out->valid = true;
	out->rounds = k + 2;	/* rounds 0..k, then stop-and-copy */
	out->downtime_ms = ((double)pin.dirty_pages * (double)in->page_bytes +
			    (double)in->device_state_bytes) / in->bandwidth_bps * 1e3;
	out->total_us = (uint64_t)(total_us + out->downtime_ms * 1e3);
}
