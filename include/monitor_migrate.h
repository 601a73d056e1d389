/* The monitor's migration commands: migrate, migrate_cancel, info migrate,
 * migrate_set_parameter, info migrate_parameters. The program wires the
 * migration engine (migration.h) to the monitor (monitor.h) here, so the
 * engine knows nothing of the monitor. */
#ifndef VMM__MONITOR_MIGRATE_H
#define VMM__MONITOR_MIGRATE_H

struct migration;
struct monitor;

/* Returns 0, or -ENOSPC when the monitor has no room for the commands. */
int monitor_migrate__register(struct monitor *mon, struct migration *m);

#endif
