/* Payloads of the small sections: ROUND_END, END, REFUSE and FAILED.
 * Part of the stream module (include/stream.h). */
#include "stream.h"

#include <errno.h>
#include <string.h>

#include "errmsg.h"

static int check_len(const char *name, size_t len, size_t want, char *err,
		     size_t errlen)
{
	if (len == want)
		return 0;
	errmsg__set(err, errlen, "section %s: payload is %zu bytes, must be %zu",
		     name, len, want);
	return -EBADMSG;
}

void stream_msg__encode_round_end(struct wbuf *out,
				  const struct round_end_msg *m)
{
	wbuf__put_u32(out, m->round);
	wbuf__put_u64(out, m->pages);
	wbuf__put_u64(out, m->bytes);
	if (m->block_sections || m->block_bytes) {
		wbuf__put_u64(out, m->block_sections);
		wbuf__put_u64(out, m->block_bytes);
	}
}

int stream_msg__decode_round_end(const uint8_t *p, size_t len,
				 struct round_end_msg *m, char *err,
				 size_t errlen)
{
	struct rbuf r;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = check_len("ROUND_END", len, len == ROUND_END_MSG_LEN_BLK ? len : ROUND_END_MSG_LEN,
			err, errlen);
	if (ret)
		return ret;
	rbuf__init(&r, p, len);
	m->round = rbuf__get_u32(&r);
	m->pages = rbuf__get_u64(&r);
	m->bytes = rbuf__get_u64(&r);
	if (len == ROUND_END_MSG_LEN_BLK) {
		m->block_sections = rbuf__get_u64(&r);
		m->block_bytes = rbuf__get_u64(&r);
		/* One encoding per message: none is the short form. */
		if (!m->block_sections && !m->block_bytes) {
			errmsg__set(err, errlen, "section ROUND_END: the long form counts no "
				     "BLOCK section (the short form says that)");
			memset(m, 0, sizeof(*m));
			return -EBADMSG;
		}
	}
	return 0;
}

void stream_msg__encode_round_done(struct wbuf *out, uint32_t round)
{
	wbuf__put_u32(out, round);
}

int stream_msg__decode_round_done(const uint8_t *p, size_t len, uint32_t *round, char *err,
				  size_t errlen)
{
	struct rbuf r;
	int ret;

	*round = 0;
	ret = check_len("ROUND_DONE", len, ROUND_DONE_MSG_LEN, err, errlen);
	if (ret)
		return ret;
	rbuf__init(&r, p, len);
	*round = rbuf__get_u32(&r);
	return 0;
}

void stream_msg__encode_end(struct wbuf *out, const struct end_msg *m)
{
	wbuf__put_u32(out, m->rounds);
	wbuf__put_u64(out, m->total_pages);
	if (m->block_sections)
		wbuf__put_u64(out, m->block_sections);
}

int stream_msg__decode_end(const uint8_t *p, size_t len, struct end_msg *m,
			   char *err, size_t errlen)
{
	struct rbuf r;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = check_len("END", len, len == END_MSG_LEN_BLK ? len : END_MSG_LEN, err, errlen);
	if (ret)
		return ret;
	rbuf__init(&r, p, len);
	m->rounds = rbuf__get_u32(&r);
	m->total_pages = rbuf__get_u64(&r);
	if (len == END_MSG_LEN_BLK) {
		m->block_sections = rbuf__get_u64(&r);
		if (!m->block_sections) {
			errmsg__set(err, errlen, "section END: the long form counts no BLOCK "
				     "section (the short form says that)");
			memset(m, 0, sizeof(*m));
			return -EBADMSG;
		}
	}
	return 0;
}

void stream_msg__encode_reason(struct wbuf *out, const char *reason)
{
	size_t n = strnlen(reason, STREAM_REASON_MAX);

	wbuf__put_u16(out, (uint16_t)n);
	wbuf__put_bytes(out, reason, n);
}

int stream_msg__decode_reason(const uint8_t *p, size_t len, char *out,
			      size_t cap, char *err, size_t errlen)
{
	struct rbuf r;
	size_t n;

	if (cap)
		out[0] = '\0';
	rbuf__init(&r, p, len);
	n = rbuf__get_u16(&r);
	if (r.err || n != rbuf__remaining(&r) || n > STREAM_REASON_MAX) {
		errmsg__set(err, errlen,
			     "reason: payload of %zu bytes does not hold one string of at most %d bytes",
			     len, STREAM_REASON_MAX);
		return -EBADMSG;
	}
	p += 2;
	if (memchr(p, '\0', n)) {
		errmsg__set(err, errlen, "reason: the string contains a NUL byte");
		return -EBADMSG;
	}
	stream__escape(p, n, out, cap);
	return 0;
}
