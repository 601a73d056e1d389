/* Messages from the VMM itself go to stderr with a "vmm: " prefix so they
 * never mix with the guest's serial output on stdout. */
#ifndef VMM__LOG_H
#define VMM__LOG_H

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 0 = errors only, 1 = + warnings and info (default), 2 = debug. */
void log_set_level(int level);
int log_level(void);

#endif
