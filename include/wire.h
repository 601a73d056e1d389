/* Fixed-width little-endian encoding of state and stream payloads.
 *
 * Every piece of state that crosses a stream (device state, vCPU state, the
 * VM configuration) is written field by field through these helpers, so the
 * byte order never depends on the host and no struct padding leaks out.
 *
 * Errors are sticky: after the first failure (allocation, or reading past
 * the end) every further call is a no-op and returns zero, so a decoder can
 * read a whole record and check ->err once at the end.
 */
#ifndef VMM__WIRE_H
#define VMM__WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;		/* 0 or -errno, sticky */
};

struct rbuf {
	const uint8_t *data;
	size_t len;
	size_t pos;
	int err;		/* 0 or -EBADMSG once a read ran past the end */
};

void wbuf__init(struct wbuf *b);
void wbuf__free(struct wbuf *b);
void wbuf__reset(struct wbuf *b);
int wbuf__reserve(struct wbuf *b, size_t extra);
void wbuf__put_u8(struct wbuf *b, uint8_t v);
void wbuf__put_u16(struct wbuf *b, uint16_t v);
void wbuf__put_u32(struct wbuf *b, uint32_t v);
void wbuf__put_u64(struct wbuf *b, uint64_t v);
void wbuf__put_bytes(struct wbuf *b, const void *p, size_t n);
/* Length-prefixed (u16) string, at most 65535 bytes. */
void wbuf__put_str(struct wbuf *b, const char *s);

void rbuf__init(struct rbuf *r, const void *data, size_t len);
uint8_t rbuf__get_u8(struct rbuf *r);
uint16_t rbuf__get_u16(struct rbuf *r);
uint32_t rbuf__get_u32(struct rbuf *r);
uint64_t rbuf__get_u64(struct rbuf *r);
/* Copies n bytes into p; on underrun p is zero-filled and err is set. */
void rbuf__get_bytes(struct rbuf *r, void *p, size_t n);
/* Returns a pointer into the buffer, or NULL (err set) on underrun. */
const uint8_t *rbuf__get_span(struct rbuf *r, size_t n);
/* Reads a u16-prefixed string into out (NUL-terminated, at most cap-1
 * bytes); a longer string or an embedded NUL sets err. */
void rbuf__get_str(struct rbuf *r, char *out, size_t cap);
size_t rbuf__remaining(const struct rbuf *r);

/* One list of fields for both directions. A state's walker names each
 * field once; walked with out set it encodes, with in set it decodes, so
 * the encoder and the decoder cannot drift apart in order or width. */
struct wire_walk {
	struct wbuf *out;	/* set when encoding */
	struct rbuf *in;	/* set when decoding */
};

void wire_walk__u8(struct wire_walk *w, uint8_t *v);
void wire_walk__u16(struct wire_walk *w, uint16_t *v);
void wire_walk__u32(struct wire_walk *w, uint32_t *v);
void wire_walk__u64(struct wire_walk *w, uint64_t *v);
void wire_walk__bytes(struct wire_walk *w, void *p, size_t n);

/* Raw little-endian helpers for fixed headers. */
static inline void wire__le32(uint8_t *p, uint32_t v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static inline uint32_t wire__get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void wire__le64(uint8_t *p, uint64_t v)
{
	wire__le32(p, (uint32_t)v);
	wire__le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t wire__get_le64(const uint8_t *p)
{
	return wire__get_le32(p) | (uint64_t)wire__get_le32(p + 4) << 32;
}

#endif
