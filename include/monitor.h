/* The monitor: a line-oriented control channel on a unix socket or stdio.
 *
 * Protocol: one command per line; the reply is zero or more lines of output
 * followed by exactly one status line, "ok" or "error: REASON". Scripts read
 * until the status line; people just read. Several clients may be connected
 * at once; commands run one at a time.
 */
#ifndef VMM__MONITOR_H
#define VMM__MONITOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct monitor;
struct vm;

struct monitor_reply {
	char *buf;
	size_t len;
	size_t cap;
	char error[512];
};

void monitor_reply__printf(struct monitor_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets the error; the handler then returns -1. */
int monitor_reply__error(struct monitor_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* args: the rest of the line after the command's words, trimmed. Returns 0
 * or -1 (with the reply's error set). */
typedef int (*monitor_cmd_fn)(void *opaque, const char *args, struct monitor_reply *r);

/* With the built-ins that act on the VM alone (help, info status, info
 * registers, stop, cont); 'quit' is the program's to register, as what
 * ends a vmm depends on more than the VM (a destination's wait, QMP's
 * postmigrate linger). */
struct monitor *monitor__create(struct vm *vm);
/* Command names may have several words ("info status"); the longest match
 * wins. Register before monitor__start. */
int monitor__register(struct monitor *m, const char *name, const char *args_help,
		      const char *help, monitor_cmd_fn fn, void *opaque);
/* spec: "unix:PATH" or "stdio". Creates the socket now (before privileges
 * are dropped); serving starts with monitor__start. */
int monitor__listen(struct monitor *m, const char *spec, char *err, size_t errlen);
int monitor__start(struct monitor *m);
/* On a destination, while its guest is arriving (true until the vCPUs
 * run): the built-in commands that touch the VM refuse, and 'info status'
 * says inmigrate. */
void monitor__set_vm_arriving(struct monitor *m, bool arriving);
void monitor__destroy(struct monitor *m);
/* Runs one command line, as a client would (used by tests and --migrate-to). */
int monitor__execute(struct monitor *m, const char *line, struct monitor_reply *r);
void monitor_reply__free(struct monitor_reply *r);

#endif
