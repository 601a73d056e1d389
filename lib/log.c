#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int level = 1;

void log_set_level(int l)
{
	level = l;
}

int log_level(void)
{
	return level;
}

static void __attribute__((format(printf, 2, 0)))
vlog(const char *tag, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line: stderr is unbuffered, so this keeps lines from
	 * several threads whole. */
	fprintf(stderr, "vmm: %s%s\n", tag, line);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (level < 1)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	if (level < 1)
		return;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error: ", fmt, ap);
	va_end(ap);
}
