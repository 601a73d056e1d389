/* The monitor's dirty-trace command, record-dirty (the recorder is in
 * migrate/, reached through migration.h). */
#ifndef VMM__MONITOR_TRACE_H
#define VMM__MONITOR_TRACE_H

struct monitor;
struct migration;

int monitor_trace__register(struct monitor *mon, struct migration *m);

#endif
