#include "monitor_trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dirty_trace.h"
#include "migration.h"
#include "monitor.h"
#include "parse.h"

#define RECORD_USAGE "usage: record-dirty PATH SECONDS INTERVAL (e.g. record-dirty t.trace 10 100ms)"
/* A bitmap per slice: a bound keeps a typo (1us) from filling a disk. */
#define MAX_SLICES 100000

/* SECONDS may be bare ("10") or carry a unit ("10s", "1500ms"). */
static int parse_seconds(const char *s, uint64_t *us)
{
	char buf[64];

	if (!parse__duration_us(s, us))
		return 0;
	if (snprintf(buf, sizeof(buf), "%ss", s) >= (int)sizeof(buf))
		return -EINVAL;
	return parse__duration_us(buf, us);
}

static int cmd_record_dirty(void *opaque, const char *args, struct monitor_reply *r)
{
	struct dirty_trace_result res;
	char path[1024], secs[64], interval[64], extra[2], err[512];
	uint64_t duration_us, interval_us;

	if (sscanf(args, "%1023s %63s %63s %1s", path, secs, interval, extra) != 3)
		return monitor_reply__error(r, RECORD_USAGE);
	if (parse_seconds(secs, &duration_us) || !duration_us)
		return monitor_reply__error(r, "bad SECONDS '%s': a duration above zero (10, 2.5s, 500ms)",
					    secs);
	if (parse__duration_us(interval, &interval_us) || !interval_us)
		return monitor_reply__error(r, "bad INTERVAL '%s': a duration above zero with its unit "
					    "(100ms, 1s, 500us)", interval);
	if (duration_us / interval_us >= MAX_SLICES)
		return monitor_reply__error(r, "SECONDS / INTERVAL is %llu slices; at most %d",
					    (unsigned long long)(duration_us / interval_us), MAX_SLICES);
	if (migration__record_dirty(opaque, path, duration_us, interval_us, &res, err, sizeof(err)))
		return monitor_reply__error(r, "%s", err);
	monitor_reply__printf(r, "recorded %u slices over %llu.%06llu s into %s, %llu dirty pages%s\n",
			      res.slices, (unsigned long long)(res.total_us / 1000000),
			      (unsigned long long)(res.total_us % 1000000), path,
			      (unsigned long long)res.dirty_pages,
			      res.guest_ended ? " (stopped early: the guest ended)" : "");
	return 0;
}

int monitor_trace__register(struct monitor *mon, struct migration *m)
{
	return monitor__register(mon, "record-dirty", "PATH SECONDS INTERVAL",
				 "sample the dirty log every INTERVAL for SECONDS into a trace file "
				 "(migrate/TRACE.md); answers when done", cmd_record_dirty, m);
}
