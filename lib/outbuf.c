#include "outbuf.h"

#include <stdarg.h>
#include <stdio.h>

void outbuf__init(struct outbuf *o, char *buf, size_t len)
{
	o->buf = buf;
	o->len = buf ? len : 0;
	o->pos = 0;
	if (o->len)
		buf[0] = '\0';
}

void outbuf__printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->pos + 1 >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->pos = (size_t)n < o->len - o->pos ? o->pos + (size_t)n : o->len;
}
