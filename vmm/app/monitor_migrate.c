#include "monitor_migrate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirty_rate.h"
#include "migration.h"
#include "monitor.h"
#include "parse.h"

/* QEMU's HMP flags: -d (detach: always so here), -b (copy the drives'
 * images), -i (copy only what qcow2 overlays add to their base; implies
 * -b, as QEMU's did). */
static int cmd_migrate(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	bool block = false, inc = false;
	char err[512];
	int ret;

	while (args[0] == '-' && args[1] && (args[2] == ' ' || !args[2])) {
		if (args[1] == 'b')
			block = true;
		else if (args[1] == 'i')
			inc = true;
		else if (args[1] != 'd')
			return monitor_reply__error(r, "migrate: unknown flag -%c", args[1]);
		args += 2;
		while (*args == ' ')
			args++;
	}
	if (!*args)
		return monitor_reply__error(r, "usage: migrate [-d] [-b] [-i] tcp:HOST:PORT | "
					    "file:PATH");
	if (inc)
		ret = migration__start_incremental(m, args, err, sizeof(err));
	else if (block)
		ret = migration__start_block(m, args, err, sizeof(err));
	else
		ret = migration__start(m, args, err, sizeof(err));
	if (ret)
		return monitor_reply__error(r, "%s", err);
	monitor_reply__printf(r, "migration to %s started ('info migrate' shows progress)\n", args);
	return 0;
}

static int cmd_migrate_cancel(void *opaque, const char *args, struct monitor_reply *r)
{
	if (migration__cancel(opaque))
		return monitor_reply__error(r, "no migration is running");
	monitor_reply__printf(r, "cancelling; the guest keeps running here\n");
	return 0;
}

static int cmd_info_migrate(void *opaque, const char *args, struct monitor_reply *r)
{
	char buf[8192];

	migration__format_info(opaque, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

static int cmd_set_parameter(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char name[64], err[256];
	const char *value;
	size_t n = strcspn(args, " \t");
	int ret;

	if (!n || n >= sizeof(name) || !args[n])
		return monitor_reply__error(r, "usage: migrate_set_parameter NAME VALUE "
					    "('info migrate_parameters' lists them)");
	memcpy(name, args, n);
	name[n] = '\0';
	value = args + n + strspn(args + n, " \t");
	ret = migration__set_parameter(m, name, value, err, sizeof(err));
	if (ret)
		return monitor_reply__error(r, "%s", err);
	if (migration__is_running(m))
		monitor_reply__printf(r, "set; applies to the next migration\n");
	return 0;
}

static int cmd_info_parameters(void *opaque, const char *args, struct monitor_reply *r)
{
	char buf[2048];

	migration__format_parameters(opaque, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

static int cmd_set_capability(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char name[64], state[8], extra, err[256];
	bool on;

	if (sscanf(args, "%63s %7s %c", name, state, &extra) != 2 ||
	    (strcmp(state, "on") && strcmp(state, "off")))
		return monitor_reply__error(r, "usage: migrate_set_capability NAME on|off "
					    "('info migrate_capabilities' lists them)");
	on = !strcmp(state, "on");
	if (migration__set_capability(m, name, on, err, sizeof(err)))
		return monitor_reply__error(r, "%s", err);
	if (migration__is_running(m))
		monitor_reply__printf(r, "set; applies to the next migration\n");
	return 0;
}

static int cmd_info_capabilities(void *opaque, const char *args, struct monitor_reply *r)
{
	char buf[512];

	migration__format_capabilities(opaque, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

static int cmd_calc_dirty_rate(void *opaque, const char *args, struct monitor_reply *r)
{
	char err[256], *end;
	long s = strtol(args, &end, 10);

	if (!isdigit((unsigned char)*args) || *end)
		return monitor_reply__error(r, "usage: calc-dirty-rate SECONDS (%d..%d)",
					    DIRTY_RATE_MIN_SECONDS, DIRTY_RATE_MAX_SECONDS);
	if (dirty_rate__check_seconds(s, err, sizeof(err)) ||
	    migration__calc_dirty_rate(opaque, (uint32_t)s, DIRTY_RATE_MODE_AUTO, err,
				       sizeof(err)))
		return monitor_reply__error(r, "%s", err);
	monitor_reply__printf(r, "measuring for %ld s ('info dirty-rate' shows the result)\n", s);
	return 0;
}

static int cmd_info_dirty_rate(void *opaque, const char *args, struct monitor_reply *r)
{
	struct dirty_rate d;
	char buf[1024];

	migration__dirty_rate(opaque, &d);
	dirty_rate__format(&d, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

/* forecast [SECONDS] [BANDWIDTH] [ROUND0_BANDWIDTH] [SETUP] [SWITCHOVER]:
 * blocks this client for SECONDS. */
static int cmd_forecast(void *opaque, const char *args, struct monitor_reply *r)
{
	char a[5][64] = { "2", "0", "0", "0", "0" }, err[256], buf[2048], extra;
	struct forecast_request req = { 0 };
	struct forecast_now n;
	uint64_t secs;

	/* Unread arguments keep their defaults; a sixth one is an error.
	 * Which go together is the engine's rule. */
	if (sscanf(args, "%63s %63s %63s %63s %63s %c", a[0], a[1], a[2], a[3], a[4],
		   &extra) > 5 ||
	    parse__u64(a[0], FORECAST_MIN_SECONDS, FORECAST_MAX_SECONDS, &secs) ||
	    parse__size(a[1], &req.bandwidth) || parse__size(a[2], &req.round0_bandwidth) ||
	    parse__duration_us(a[3], &req.setup_us) ||
	    parse__duration_us(a[4], &req.switchover_us))
		return monitor_reply__error(r, "usage: forecast [SECONDS (%d..%d, default 2)] "
					    "[BANDWIDTH bytes/s, e.g. 1G] [ROUND0_BANDWIDTH] "
					    "[SETUP, e.g. 3ms] [SWITCHOVER, e.g. 1.5ms] (the last "
					    "three only beside BANDWIDTH; 0: not given)",
					    FORECAST_MIN_SECONDS, FORECAST_MAX_SECONDS);
	req.seconds = (uint32_t)secs;
	if (migration__forecast(opaque, &req, &n, err, sizeof(err)))
		return monitor_reply__error(r, "%s", err);
	forecast_now__format(&n, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

int monitor_migrate__register(struct monitor *mon, struct migration *m)
{
	int ret = 0;

	ret |= monitor__register(mon, "migrate", "[-d] [-b] [-i] URI",
				 "migrate to tcp:HOST:PORT (-b: the drives' images too, -i: only what "
				 "differs from their shared base), or save to file:PATH",
				 cmd_migrate, m);
	ret |= monitor__register(mon, "migrate_cancel", "", "stop a running migration; the guest stays here",
				 cmd_migrate_cancel, m);
	ret |= monitor__register(mon, "info migrate", "", "status, rounds and progress of the migration",
				 cmd_info_migrate, m);
	ret |= monitor__register(mon, "migrate_set_parameter", "NAME VALUE",
				 "set a migration parameter", cmd_set_parameter, m);
	ret |= monitor__register(mon, "info migrate_parameters", "", "the migration parameters",
				 cmd_info_parameters, m);
	ret |= monitor__register(mon, "migrate_set_capability", "NAME on|off",
				 "turn a migration capability on or off", cmd_set_capability, m);
	ret |= monitor__register(mon, "info migrate_capabilities", "",
				 "the migration capabilities", cmd_info_capabilities, m);
	ret |= monitor__register(mon, "calc-dirty-rate", "SECONDS",
				 "measure the guest's dirty rate over SECONDS (1..60); per "
				 "vCPU too with --dirty-ring",
				 cmd_calc_dirty_rate, m);
	ret |= monitor__register(mon, "info dirty-rate", "", "the last dirty-rate measurement",
				 cmd_info_dirty_rate, m);
	ret |= monitor__register(mon, "forecast",
				 "[SECONDS] [BANDWIDTH] [ROUND0_BANDWIDTH] [SETUP] [SWITCHOVER]",
				 "predict a migration now, sending nothing (watches the guest "
				 "for SECONDS)", cmd_forecast, m);
	return ret ? -ENOSPC : 0;
}
