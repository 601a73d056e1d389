/* The recorder: a running VM's dirty log, sampled in slices into a trace
 * file (dirty_trace.c writes it). */
#include "dirty_trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dirty_log.h"
#include "vm.h"

static void fill_header(struct dirty_trace_header *h, const struct vm *vm,
			const struct dirty_log *log, uint64_t duration_us, uint64_t interval_us)
{
	unsigned int i;

	memset(h, 0, sizeof(*h));
	h->major = DIRTY_TRACE_MAJOR;
	h->minor = DIRTY_TRACE_MINOR;
	h->page_size = GUEST_PAGE_SIZE;
	h->log_mode = log->ring ? DIRTY_TRACE_LOG_RING :
		      log->manual_protect ? DIRTY_TRACE_LOG_MANUAL_PROTECT : DIRTY_TRACE_LOG_PLAIN;
	h->ram_size = vm->mem.size;
	h->interval_us = interval_us;
	h->duration_us = duration_us;
	h->nr_regions = vm->mem.nr_slots;
	for (i = 0; i < vm->mem.nr_slots; i++) {
		h->regions[i].gpa = vm->mem.slots[i].gpa;
		h->regions[i].size = vm->mem.slots[i].size;
		h->regions[i].first_page = vm->mem.slots[i].ram_offset / GUEST_PAGE_SIZE;
	}
}

/* Sleeps until the monotonic time us (absolute: slices do not drift). */
static void sleep_until(uint64_t us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* The slices, each ended by one get-and-clear of the log: a page written
 * while the log is read lands in this slice or the next, never in none. */
static int record_slices(struct vm *vm, struct dirty_log *log, struct dirty_trace_writer *w,
			 uint64_t t0, uint64_t duration_us, uint64_t interval_us,
			 struct dirty_trace_result *res, char *err, size_t errlen)
{
	uint64_t *bitmap = malloc(dirty_trace__bitmap_words(log->nr_pages) * sizeof(uint64_t));
	uint64_t start = t0, end, k;
	int64_t n;
	int ret = 0;

	if (!bitmap) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (k = 1; start < t0 + duration_us; k++) {
		struct dirty_trace_slice s = { .start_us = start - t0 };

		end = t0 + (k * interval_us < duration_us ? k * interval_us : duration_us);
		if (log->ring) {
			/* A vCPU whose ring fills meanwhile is harvested. */
			uint64_t now = clock__mono_us();

			ret = dirty_log__sleep_us(log, end > now ? end - now : 0, err, errlen);
			if (ret)
				break;
		} else {
			sleep_until(end);
		}
		if (vm__is_exiting(vm)) {
			res->guest_ended = true;
			break;
		}
		end = clock__mono_us();
		n = dirty_log__sync(log, err, errlen);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		dirty_log__take_pending(log, bitmap);
		s.duration_us = end - start;
		ret = dirty_trace__add_slice(w, &s, bitmap, err, errlen);
		if (ret)
			break;
		res->slices++;
		res->dirty_pages += s.dirty_pages;
		start = end;
	}
	res->total_us = start - t0;
	free(bitmap);
	return ret;
}

int dirty_trace__record(struct vm *vm, const char *path, uint64_t duration_us,
			uint64_t interval_us, bool force_plain, struct dirty_trace_result *res,
			char *err, size_t errlen)
{
	struct dirty_trace_writer w;
	struct dirty_trace_header h;
	struct dirty_log log;
	uint64_t t0;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!interval_us || !duration_us) {
		snprintf(err, errlen, "the duration and the interval must be above zero");
		return -EINVAL;
	}
	ret = dirty_log__start(&log, vm, force_plain, err, errlen);
	if (ret)
		return ret;
	t0 = clock__mono_us();
	fill_header(&h, vm, &log, duration_us, interval_us);
	h.start_unix_us = clock__us(CLOCK_REALTIME);
	ret = dirty_trace__create(&w, path, &h, err, errlen);
	if (!ret) {
		ret = record_slices(vm, &log, &w, t0, duration_us, interval_us, res, err, errlen);
		if (ret)
			dirty_trace__close_writer(&w);
		else
			ret = dirty_trace__finish(&w, res->total_us, err, errlen);
	}
	dirty_log__stop(&log);
	return ret;
}
