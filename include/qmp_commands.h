/* The QMP commands vmm has (README "QMP"): their table, argument checks
 * and handlers, on top of the engine's calls (migration.h, vm.h). */
#ifndef VMM__QMP_COMMANDS_H
#define VMM__QMP_COMMANDS_H

#include <jansson.h>

struct qmp;

/* An error reply: QEMU's class ("GenericError", "CommandNotFound") and
 * the text. */
struct qmp_error {
	const char *cls;
	char desc[512];
};

/* Runs command name with args (an object, never NULL). Returns the
 * "return" value (a new reference), or NULL with e filled. */
json_t *qmp_commands__run(struct qmp *q, const char *name, json_t *args, struct qmp_error *e);

#endif
