#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#define ERASE_LINE "\r\x1b[K"

static int level = 1;
/* Serialises everything written to stderr here, so a status line and a
 * message never tear each other. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool status_shown;

static void erase_status_locked(void)
{
	if (status_shown)
		fputs(ERASE_LINE, stderr);
	status_shown = false;
}

void log_status(const char *line)
{
	pthread_mutex_lock(&out_lock);
	if (line) {
		fprintf(stderr, ERASE_LINE "%s", line);
		status_shown = true;
	} else {
		erase_status_locked();
	}
	pthread_mutex_unlock(&out_lock);
}

void log_text(const char *text)
{
	pthread_mutex_lock(&out_lock);
	erase_status_locked();
	fputs(text, stderr);
	pthread_mutex_unlock(&out_lock);
}

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
	pthread_mutex_lock(&out_lock);
	erase_status_locked();
	fprintf(stderr, "vmm: %s%s\n", tag, line);
	pthread_mutex_unlock(&out_lock);
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
