#include "monitor_migrate.h"

#include <errno.h>
#include <string.h>

#include "migration.h"
#include "monitor.h"

static int cmd_migrate(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char err[512];

	if (!*args)
		return monitor_reply__error(r, "usage: migrate tcp:HOST:PORT | file:PATH");
	if (migration__start(m, args, err, sizeof(err)))
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

int monitor_migrate__register(struct monitor *mon, struct migration *m)
{
	int ret = 0;

	ret |= monitor__register(mon, "migrate", "URI", "migrate to tcp:HOST:PORT, or save to file:PATH",
				 cmd_migrate, m);
	ret |= monitor__register(mon, "migrate_cancel", "", "stop a running migration; the guest stays here",
				 cmd_migrate_cancel, m);
	ret |= monitor__register(mon, "info migrate", "", "status, rounds and progress of the migration",
				 cmd_info_migrate, m);
	ret |= monitor__register(mon, "migrate_set_parameter", "NAME VALUE",
				 "set a migration parameter", cmd_set_parameter, m);
	ret |= monitor__register(mon, "info migrate_parameters", "", "the migration parameters",
				 cmd_info_parameters, m);
	return ret ? -ENOSPC : 0;
}
