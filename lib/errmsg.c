#include "errmsg.h"

#include <stdio.h>

void errmsg__vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void errmsg__set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errmsg__vset(err, errlen, fmt, ap);
	va_end(ap);
}

int errmsg__fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errmsg__vset(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}
