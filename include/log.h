/* Messages from the VMM itself go to stderr with a "vmm: " prefix so they
 * never mix with the guest's serial output on stdout. */
#ifndef VMM__LOG_H
#define VMM__LOG_H

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A status line at the bottom of a terminal, rewritten in place
 * ("\r", the text, erase to the end of the line; no newline): NULL erases
 * it. Every message erases it before it is written; the next call shows
 * it again. Only for a stderr that is a terminal. */
void log_status(const char *line);
/* Writes text to stderr as it is (several lines at once, e.g. a summary),
 * erasing the status line first. */
void log_text(const char *text);
/* 0 = errors only, 1 = + warnings and info (default), 2 = debug. */
void log_set_level(int level);
int log_level(void);

#endif
