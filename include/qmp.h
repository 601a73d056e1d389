/* The QMP monitor (--qmp unix:PATH): QEMU's JSON protocol, so a script
 * written for QEMU drives vmm unchanged.
 *
 * Protocol: on connect the server sends {"QMP": {"version": ...,
 * "capabilities": []}}; the client must send qmp_capabilities first.
 * Requests are JSON objects {"execute": NAME, "arguments": {...}, "id": X};
 * replies are {"return": ...} or {"error": {"class", "desc"}}, with the
 * request's id when it had one. Events {"event", "data", "timestamp"} go
 * to every client that has negotiated.
 *
 * Threads: one QMP thread reads requests, runs commands and writes every
 * reply and event. Engine threads (migration, vCPU pausers) only queue
 * events through the listeners installed here; they never block on a
 * client. Commands are in qmp_commands.c.
 */
#ifndef VMM__QMP_H
#define VMM__QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct qmp;
struct vm;
struct migration;
struct migrate_stats;

/* One client's protocol state (for tests: a session without a socket). */
struct qmp_session {
	bool negotiated;
};

struct qmp *qmp__create(void);
/* spec: "unix:PATH". Creates the socket now (mode 0600, before privileges
 * are dropped); serving starts with qmp__start. */
int qmp__listen(struct qmp *q, const char *spec, char *err, size_t errlen);
int qmp__start(struct qmp *q);
/* Writes the events still queued to the clients, then closes everything. */
void qmp__destroy(struct qmp *q);

/* What the commands act on; each may be set while the server runs. The
 * migration object and the incoming statistics first (a destination
 * serves QMP while the guest arrives), the VM once it runs. */
void qmp__set_migration(struct qmp *q, struct migration *m);
void qmp__watch_incoming(struct qmp *q, struct migrate_stats *in);
void qmp__set_vm(struct qmp *q, struct vm *vm);
/* The VM has ended with status: SHUTDOWN, unless a migration took the
 * guest away (the VM then stays "postmigrate" until quit, as QEMU's). */
void qmp__vm_ended(struct qmp *q, int status);
/* After a completed outgoing migration: waits for a client's quit, so
 * query-migrate stays readable after the completed event, as on QEMU.
 * Returns at once in any other case. */
void qmp__linger(struct qmp *q);

/* For commands (qmp_commands.c). NULL while not (yet) there. */
struct vm *qmp__vm(struct qmp *q);
struct migration *qmp__migration(struct qmp *q);
bool qmp__ended(struct qmp *q);
/* quit: ends the VM (or a linger) and emits SHUTDOWN with reason
 * (QEMU's: "host-qmp-quit" for a quit command, "host-signal" for SIGINT,
 * SIGTERM or SIGHUP). */
void qmp__quit(struct qmp *q, const char *reason);
/* Set before qmp__start: a quit calls fn(ctx) to end the VM (or what
 * stands for it, such as a destination's wait) instead of ending the VM
 * itself. */
void qmp__on_quit(struct qmp *q, void (*fn)(void *ctx), void *ctx);
/* The "events" migration capability (MIGRATION events; off by default,
 * as on QEMU). */
bool qmp__events_enabled(struct qmp *q);
void qmp__set_events_enabled(struct qmp *q, bool on);
/* Queues an event for every negotiated client; takes data's reference
 * (NULL: no data). Safe from any thread; never blocks on a client. */
void qmp__emit(struct qmp *q, const char *name, json_t *data);

/* The greeting line, and the reply line to one request (malloc'd, no
 * newline; NULL when nothing is to be sent). */
char *qmp__greeting(struct qmp *q);
char *qmp__request(struct qmp *q, struct qmp_session *s, const char *text, size_t len);

#endif
