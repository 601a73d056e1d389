#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void wbuf__init(struct wbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void wbuf__free(struct wbuf *b)
{
	free(b->data);
	wbuf__init(b);
}

void wbuf__reset(struct wbuf *b)
{
	b->len = 0;
	b->err = 0;
}

int wbuf__reserve(struct wbuf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (extra > SIZE_MAX - b->len) {
		b->err = -EOVERFLOW;
		return b->err;
	}
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void wbuf__put_bytes(struct wbuf *b, const void *p, size_t n)
{
	if (wbuf__reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void wbuf__put_u8(struct wbuf *b, uint8_t v)
{
	wbuf__put_bytes(b, &v, 1);
}

void wbuf__put_u16(struct wbuf *b, uint16_t v)
{
	uint8_t p[2] = { v, v >> 8 };

	wbuf__put_bytes(b, p, 2);
}

void wbuf__put_u32(struct wbuf *b, uint32_t v)
{
	uint8_t p[4];

	wire__le32(p, v);
	wbuf__put_bytes(b, p, 4);
}

void wbuf__put_u64(struct wbuf *b, uint64_t v)
{
	uint8_t p[8];

	wire__le64(p, v);
	wbuf__put_bytes(b, p, 8);
}

void wbuf__put_str(struct wbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX) {
		if (!b->err)
			b->err = -ENAMETOOLONG;
		return;
	}
	wbuf__put_u16(b, (uint16_t)n);
	wbuf__put_bytes(b, s, n);
}

void rbuf__init(struct rbuf *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
	r->err = 0;
}

size_t rbuf__remaining(const struct rbuf *r)
{
	return r->err ? 0 : r->len - r->pos;
}

const uint8_t *rbuf__get_span(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->pos) {
		r->err = -EBADMSG;
		return NULL;
	}
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

void rbuf__get_bytes(struct rbuf *r, void *p, size_t n)
{
	const uint8_t *src = rbuf__get_span(r, n);

	if (src)
		memcpy(p, src, n);
	else if (n)
		memset(p, 0, n);
}

uint8_t rbuf__get_u8(struct rbuf *r)
{
	const uint8_t *p = rbuf__get_span(r, 1);

	return p ? p[0] : 0;
}

uint16_t rbuf__get_u16(struct rbuf *r)
{
	const uint8_t *p = rbuf__get_span(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t rbuf__get_u32(struct rbuf *r)
{
	const uint8_t *p = rbuf__get_span(r, 4);

	return p ? wire__get_le32(p) : 0;
}

uint64_t rbuf__get_u64(struct rbuf *r)
{
	const uint8_t *p = rbuf__get_span(r, 8);

	return p ? wire__get_le64(p) : 0;
}

void rbuf__get_str(struct rbuf *r, char *out, size_t cap)
{
	uint16_t n = rbuf__get_u16(r);
	const uint8_t *p = rbuf__get_span(r, n);

	if (cap)
		out[0] = '\0';
	if (!p)
		return;
	if (n >= cap || memchr(p, '\0', n)) {
		r->err = -EBADMSG;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

void wire_walk__u8(struct wire_walk *w, uint8_t *v)
{
	if (w->out)
		wbuf__put_u8(w->out, *v);
	else
		*v = rbuf__get_u8(w->in);
}

void wire_walk__u16(struct wire_walk *w, uint16_t *v)
{
	if (w->out)
		wbuf__put_u16(w->out, *v);
	else
		*v = rbuf__get_u16(w->in);
}

void wire_walk__u32(struct wire_walk *w, uint32_t *v)
{
	if (w->out)
		wbuf__put_u32(w->out, *v);
	else
		*v = rbuf__get_u32(w->in);
}

void wire_walk__u64(struct wire_walk *w, uint64_t *v)
{
	if (w->out)
		wbuf__put_u64(w->out, *v);
	else
		*v = rbuf__get_u64(w->in);
}

void wire_walk__bytes(struct wire_walk *w, void *p, size_t n)
{
	if (w->out)
		wbuf__put_bytes(w->out, p, n);
	else
		rbuf__get_bytes(w->in, p, n);
}
