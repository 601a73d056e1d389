/* Shell commands in unit tests that build their fixtures with qemu-img
 * and qemu-io (images made by the tool users make them with). cmocka.h
 * must come first. */
#ifndef VMM__TEST_SHELL_H
#define VMM__TEST_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs a command through the shell; the test fails unless it exits 0. */
__attribute__((format(printf, 1, 2), unused))
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

#endif
