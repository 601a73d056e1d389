/* Error text for the (char *err, size_t errlen) convention: a function
 * that fails returns -errno and says why in the caller's buffer. One helper
 * for every module, so none keeps a private copy. */
#ifndef VMM__ERRMSG_H
#define VMM__ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err when the caller gave one (err non-NULL, errlen > 0). */
void errmsg__set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void errmsg__vset(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* The same, returning ret: `return errmsg__fail(-EINVAL, err, errlen, ...)`. */
int errmsg__fail(int ret, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
