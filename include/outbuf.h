/* A bounded text appender for output into a caller's fixed buffer: what
 * does not fit is dropped, the buffer always ends in a NUL, and pos never
 * passes len. Used by the text renderings of parameters and statistics. */
#ifndef VMM__OUTBUF_H
#define VMM__OUTBUF_H

#include <stddef.h>

struct outbuf {
	char *buf;
	size_t len;
	size_t pos;
};

void outbuf__init(struct outbuf *o, char *buf, size_t len);
void outbuf__printf(struct outbuf *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
