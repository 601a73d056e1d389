#include "stream.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blk_section.h"
#include "crc32c.h"
#include "errmsg.h"

/* Gather lists up to this long (header and trailer included) are built on
 * the stack; longer ones are rare and allocated. */
#define IOV_INLINE	16

struct type_info {
	uint32_t type;
	const char *name;
	bool forward;		/* forward stream, else return path */
	uint64_t limit;		/* largest payload accepted, bytes */
};

/* Limits are as tight as the 3.0 payloads allow: the small sections have
 * fixed sizes, a RAM batch has at most 1024 pages, vCPU and VM state are
 * tens of KiB. Only DEVICE keeps the global 64 MiB, since a device may
 * carry a large buffer (a framebuffer, a disk cache). */
static const struct type_info type_table[] = {
	{ SECTION_CONFIG,	"CONFIG",	true,	STREAM_CONFIG_MAX },
	{ SECTION_RAM,		"RAM",		true,	RAM_BATCH_MAX_BYTES },
	{ SECTION_ROUND_END,	"ROUND_END",	true,	ROUND_END_MSG_LEN_BLK },
	{ SECTION_VCPU,		"VCPU",		true,	1u << 20 },
	{ SECTION_VM_STATE,	"VM_STATE",	true,	1u << 20 },
	{ SECTION_DEVICE,	"DEVICE",	true,	STREAM_MAX_PAYLOAD },
	{ SECTION_END,		"END",		true,	END_MSG_LEN_BLK },
	{ SECTION_GO,		"GO",		true,	0 },
	{ SECTION_BLOCK,	"BLOCK",	true,	BLK_SECTION_MAX_PAYLOAD },
	{ SECTION_ACCEPT,	"ACCEPT",	false,	0 },
	{ SECTION_REFUSE,	"REFUSE",	false,	STREAM_RETURN_MAX },
	{ SECTION_RESUMED,	"RESUMED",	false,	0 },
	{ SECTION_FAILED,	"FAILED",	false,	STREAM_RETURN_MAX },
	{ SECTION_READY,	"READY",	false,	0 },
	{ SECTION_ROUND_DONE,	"ROUND_DONE",	false,	ROUND_DONE_MSG_LEN },
};

const char *stream__escape(const void *p, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t i, pos = 0;

	if (!cap)
		return out;
	for (i = 0; i < n; i++) {
		if (b[i] >= 0x20 && b[i] <= 0x7e && b[i] != '\\') {
			if (pos + 1 >= cap)
				break;
			out[pos++] = (char)b[i];
			continue;
		}
		if (pos + 4 >= cap)
			break;
		out[pos++] = '\\';
		out[pos++] = 'x';
		out[pos++] = hex[b[i] >> 4];
		out[pos++] = hex[b[i] & 15];
	}
	out[pos] = '\0';
	return out;
}

static const struct type_info *type_lookup(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
		if (type_table[i].type == type)
			return &type_table[i];
	return NULL;
}

const char *stream__type_name(uint32_t type)
{
	const struct type_info *t = type_lookup(type);

	return t ? t->name : "unknown";
}

/* Why `type` may not follow `last` (0 = nothing yet), or NULL if it may.
 * Only the shape every migration has is enforced here: CONFIG opens the
 * forward stream, END closes what a file holds and GO alone may follow it
 * over a connection; the return path answers the configuration once, then
 * says which rounds it applied (ROUND_DONE, any number), READY (or FAILED)
 * once, then the outcome once. */
static const char *order_problem(bool forward, uint32_t last, uint32_t type)
{
	if (forward) {
		if (last == SECTION_END)
			return type == SECTION_GO ? NULL : "only GO may follow END";
		if (type == SECTION_GO)
			return "GO may only follow END";
		if (!last && type != SECTION_CONFIG)
			return "the stream must start with CONFIG";
		if (last && type == SECTION_CONFIG)
			return "CONFIG may only come first";
		return NULL;
	}
	if (!last)
		return type == SECTION_ACCEPT || type == SECTION_REFUSE ? NULL :
		       "the return path must start with ACCEPT or REFUSE";
	if (last == SECTION_ACCEPT || last == SECTION_ROUND_DONE)
		return type == SECTION_ROUND_DONE || type == SECTION_READY ||
		       type == SECTION_FAILED ?
		       NULL : "after ACCEPT only ROUND_DONE, READY or FAILED may come";
	if (last == SECTION_READY)
		return type == SECTION_RESUMED || type == SECTION_FAILED ?
		       NULL : "after READY only RESUMED or FAILED may come";
	return "nothing may follow REFUSE, RESUMED or FAILED";
}

/* Sections after which a direction carries nothing more. */
static bool is_last(uint32_t type)
{
	return type == SECTION_GO || type == SECTION_REFUSE ||
	       type == SECTION_RESUMED || type == SECTION_FAILED;
}

void stream__init(struct stream *s, int fd, enum stream_role role)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->wait.cancel_fd = -1;
	s->role = role;
	s->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool sends_forward(const struct stream *s)
{
	return s->role == STREAM_SOURCE;
}

static int read_full(struct stream *s, void *buf, size_t n, size_t *got)
{
	int ret = stream__read_until(s->fd, buf, n, got, &s->wait);

	s->bytes_in += *got;
	return ret;
}

static int write_full(struct stream *s, const struct iovec *iov, int iovcnt)
{
	size_t done;
	int ret = stream__write_until(s->fd, s->is_socket, iov, iovcnt, &done, &s->wait);

	s->bytes_out += done;
	return ret;
}

/* --- preamble ----------------------------------------------------------- */

int stream__write_preamble(struct stream *s)
{
	struct wbuf b;
	struct iovec iov;
	int ret;

	if (s->preamble_out)
		return -EPROTO;
	wbuf__init(&b);
	wbuf__put_bytes(&b, STREAM_MAGIC, STREAM_MAGIC_LEN);
	wbuf__put_u16(&b, STREAM_VERSION_MAJOR);
	wbuf__put_u16(&b, STREAM_VERSION_MINOR);
	wbuf__put_u32(&b, 0);
	ret = b.err;
	if (!ret) {
		iov.iov_base = b.data;
		iov.iov_len = b.len;
		ret = write_full(s, &iov, 1);
	}
	wbuf__free(&b);
	if (!ret)
		s->preamble_out = true;
	return ret;
}

static int check_preamble(const uint8_t *p, char *err, size_t errlen)
{
	struct rbuf r;
	uint16_t major, minor;
	uint32_t flags;

	if (memcmp(p, STREAM_MAGIC, STREAM_MAGIC_LEN)) {
		errmsg__set(err, errlen, "not a vmm migration stream%s",
			     memcmp(p, "QEVM", 4) ? " (bad magic)" :
			     " (this is a QEMU migration stream)");
		return -EPROTO;
	}
	rbuf__init(&r, p + STREAM_MAGIC_LEN,
		   STREAM_PREAMBLE_LEN - STREAM_MAGIC_LEN);
	major = rbuf__get_u16(&r);
	minor = rbuf__get_u16(&r);
	flags = rbuf__get_u32(&r);
	if (major != STREAM_VERSION_MAJOR) {
		errmsg__set(err, errlen,
			     "stream version %u.%u, this vmm reads %u.x",
			     major, minor, STREAM_VERSION_MAJOR);
		return -EPROTONOSUPPORT;
	}
	/* A newer minor may add sections or fields; guessing what they mean
	 * is how a VM gets corrupted, so only older or equal minors pass. */
	if (minor > STREAM_VERSION_MINOR) {
		errmsg__set(err, errlen,
			     "stream version %u.%u is newer than this vmm's %u.%u",
			     major, minor, STREAM_VERSION_MAJOR,
			     STREAM_VERSION_MINOR);
		return -EPROTONOSUPPORT;
	}
	if (flags) {
		errmsg__set(err, errlen,
			     "stream flags 0x%x not understood (version %u.%u defines none)",
			     flags, STREAM_VERSION_MAJOR, STREAM_VERSION_MINOR);
		return -EPROTO;
	}
	return 0;
}

int stream__read_preamble(struct stream *s, char *err, size_t errlen)
{
	uint8_t p[STREAM_PREAMBLE_LEN];
	size_t got;
	int ret;

	if (s->in_err || s->preamble_in) {
		errmsg__set(err, errlen, "the preamble was already read%s",
			     s->in_err ? " and refused" : "");
		return s->in_err ? s->in_err : -EPROTO;
	}
	ret = read_full(s, p, sizeof(p), &got);
	if (ret == -ENODATA)
		errmsg__set(err, errlen,
			     "truncated stream in preamble (got %zu of %d bytes)",
			     got, STREAM_PREAMBLE_LEN);
	else if (ret)
		errmsg__set(err, errlen, "reading the preamble: %s",
			     strerror(-ret));
	else
		ret = check_preamble(p, err, errlen);
	if (!ret) {
		s->preamble_in = true;
		/* What the peer may send depends on it (XBZRLE: 3.1). */
		s->minor_in = (uint16_t)(p[STREAM_MAGIC_LEN + 2] | p[STREAM_MAGIC_LEN + 3] << 8);
	} else {
		s->in_err = ret;
	}
	return ret;
}

bool stream__has_round_done(const struct stream *s)
{
	return s->is_socket && s->minor_in >= 5;
}

/* --- sending ------------------------------------------------------------ */

/* Copies n bytes from offset off of a gather list; false if it is shorter. */
static bool gather(const struct iovec *iov, int iovcnt, size_t off, uint8_t *out, size_t n)
{
	size_t take;
	int i;

	for (i = 0; i < iovcnt && n; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off < n ? iov[i].iov_len - off : n;
		memcpy(out, (const uint8_t *)iov[i].iov_base + off, take);
		out += take;
		n -= take;
		off = 0;
	}
	return n == 0;
}

/* CRC32C of the first n bytes of a gather list. */
static uint32_t crc_prefix(uint32_t crc, const struct iovec *iov, int iovcnt, uint64_t n)
{
	size_t take;
	int i;

	for (i = 0; i < iovcnt && n; i++) {
		take = iov[i].iov_len < n ? iov[i].iov_len : (size_t)n;
		crc = crc32c__extend(crc, iov[i].iov_base, take);
		n -= take;
	}
	return crc;
}

/* How many payload bytes the section checksum covers: all of them, but
 * for RAM only the batch header and entry table, since pages carry their
 * own CRC (they may be read from a running guest). 0 if the RAM payload
 * is malformed: a sender must not emit what every reader refuses. */
static uint64_t checked_len(uint32_t type, const struct iovec *iov, int iovcnt, uint64_t len)
{
	uint8_t hdr[RAM_BATCH_HEADER_LEN];
	uint64_t head;

	if (type != SECTION_RAM)
		return len;
	if (!gather(iov, iovcnt, 0, hdr, sizeof(hdr)))
		return 0;
	head = RAM_BATCH_HEADER_LEN + (uint64_t)wire__get_le32(hdr + 4) * RAM_ENTRY_LEN;
	return head <= len ? head : 0;
}

int stream__sendv(struct stream *s, uint32_t type, const struct iovec *iov,
		  int iovcnt)
{
	const struct type_info *t = type_lookup(type);
	uint8_t head[STREAM_HEADER_LEN], tail[STREAM_TRAILER_LEN];
	struct iovec inline_iov[IOV_INLINE], *all = inline_iov;
	uint64_t len = 0, covered;
	uint32_t crc;
	int i, ret;

	if (s->out_err)
		return s->out_err;
	if (!s->preamble_out || !t || t->forward != sends_forward(s) ||
	    iovcnt < 0 || iovcnt > INT_MAX - 2 || order_problem(t->forward, s->last_out, type))
		return -EPROTO;
	for (i = 0; i < iovcnt; i++) {
		len += iov[i].iov_len;
		if (len > t->limit)
			return -EMSGSIZE;
	}
	covered = checked_len(type, iov, iovcnt, len);
	if (type == SECTION_RAM && !covered)
		return -EINVAL;
	wire__le32(head, type);
	wire__le32(head + 4, 0);
	wire__le64(head + 8, len);
	crc = crc32c__extend(0, head, sizeof(head));
	crc = crc_prefix(crc, iov, iovcnt, covered);
	wire__le32(tail, crc);

	/* One gather list, so header, payload and checksum leave in as few
	 * segments as possible (no small-write stall behind Nagle). */
	if (iovcnt + 2 > IOV_INLINE) {
		all = malloc((size_t)(iovcnt + 2) * sizeof(*all));
		if (!all)
			return -ENOMEM;
	}
	all[0] = (struct iovec){ head, sizeof(head) };
	if (iovcnt)
		memcpy(all + 1, iov, (size_t)iovcnt * sizeof(*iov));
	all[iovcnt + 1] = (struct iovec){ tail, sizeof(tail) };
	ret = write_full(s, all, iovcnt + 2);
	if (all != inline_iov)
		free(all);
	if (ret) {
		/* Part of the section may be out: the peer cannot frame
		 * anything we would send after it. */
		s->out_err = ret;
		return ret;
	}
	s->last_out = type;
	s->sections_out++;
	return 0;
}

int stream__send(struct stream *s, uint32_t type, const void *payload,
		 size_t len)
{
	struct iovec iov = { (void *)payload, len };

	return stream__sendv(s, type, &iov, len ? 1 : 0);
}

/* --- receiving ---------------------------------------------------------- */

void section__init(struct section *sec)
{
	memset(sec, 0, sizeof(*sec));
}

void section__free(struct section *sec)
{
	free(sec->payload);
	section__init(sec);
}

static int header_truncated(const struct stream *s, const uint8_t *head,
			    size_t got, char *err, size_t errlen)
{
	if (got == 0 && s->last_in)
		errmsg__set(err, errlen,
			     "truncated stream: it ends after section %s",
			     stream__type_name(s->last_in));
	else if (got == 0)
		errmsg__set(err, errlen,
			     "truncated stream: it ends before the first section");
	else if (got < 4)
		errmsg__set(err, errlen,
			     "truncated stream in section header (got %zu of %d bytes)",
			     got, STREAM_HEADER_LEN);
	else
		errmsg__set(err, errlen,
			     "truncated stream in section %s header (got %zu of %d bytes)",
			     stream__type_name(wire__get_le32(head)), got,
			     STREAM_HEADER_LEN);
	return -ENODATA;
}

/* Every check that needs only the header, so nothing is allocated or read
 * for a section that cannot be right. */
static int check_header(const struct stream *s, const uint8_t *head,
			char *err, size_t errlen)
{
	uint32_t type = wire__get_le32(head);
	uint32_t reserved = wire__get_le32(head + 4);
	uint64_t len = wire__get_le64(head + 8);
	const struct type_info *t = type_lookup(type);
	bool forward = !sends_forward(s);
	const char *why;

	if (!t) {
		errmsg__set(err, errlen,
			     "unknown section type 0x%x (this vmm reads stream version %u.%u)",
			     type, STREAM_VERSION_MAJOR, STREAM_VERSION_MINOR);
		return -EPROTO;
	}
	if (t->forward != forward) {
		errmsg__set(err, errlen,
			     "section %s belongs on the %s, not the %s",
			     t->name, t->forward ? "forward stream" : "return path",
			     forward ? "forward stream" : "return path");
		return -EPROTO;
	}
	if (reserved) {
		errmsg__set(err, errlen,
			     "section %s: reserved header field is 0x%x, must be 0",
			     t->name, reserved);
		return -EPROTO;
	}
	if (len > t->limit) {
		errmsg__set(err, errlen,
			     "section %s: payload of %llu bytes exceeds the limit of %llu",
			     t->name, (unsigned long long)len,
			     (unsigned long long)t->limit);
		return -EMSGSIZE;
	}
	why = order_problem(forward, s->last_in, type);
	if (why) {
		errmsg__set(err, errlen, "section %s out of order: %s",
			     t->name, why);
		return -EPROTO;
	}
	/* An older source never sends it: a stream that says otherwise is
	 * not what its preamble claims. */
	if (type == SECTION_BLOCK && s->minor_in < 3) {
		errmsg__set(err, errlen, "section BLOCK in a stream of version %u.%u (it came "
			     "with %u.3)", STREAM_VERSION_MAJOR, s->minor_in, STREAM_VERSION_MAJOR);
		return -EPROTO;
	}
	if (type == SECTION_ROUND_DONE && s->minor_in < 5) {
		errmsg__set(err, errlen, "section ROUND_DONE in a return path of version %u.%u "
			     "(it came with %u.5)", STREAM_VERSION_MAJOR, s->minor_in,
			     STREAM_VERSION_MAJOR);
		return -EPROTO;
	}
	return 0;
}

static int read_part(struct stream *s, const char *name, const char *part,
		     void *buf, size_t n, char *err, size_t errlen)
{
	size_t got;
	int ret = read_full(s, buf, n, &got);

	if (ret == -ENODATA)
		errmsg__set(err, errlen,
			     "truncated stream in section %s %s (got %zu of %zu bytes)",
			     name, part, got, n);
	else if (ret)
		errmsg__set(err, errlen, "section %s %s: read error: %s",
			     name, part, strerror(-ret));
	return ret;
}

static int grow_payload(struct section *sec, size_t len)
{
	uint8_t *p;

	if (len <= sec->cap)
		return 0;
	p = realloc(sec->payload, len);
	if (!p)
		return -ENOMEM;
	sec->payload = p;
	sec->cap = len;
	return 0;
}

/* A RAM section's head: batch header, then the entry table whose length
 * the header's count gives. Checked here as far as the framing needs, so
 * the table is read only when it fits the payload. */
static int read_ram_head(struct stream *s, struct section *sec, char *err, size_t errlen)
{
	uint64_t head;
	uint32_t count;
	int ret;

	if (sec->len < RAM_BATCH_HEADER_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: payload of %llu bytes is shorter than its %d-byte header",
			     (unsigned long long)sec->len, RAM_BATCH_HEADER_LEN);
		return -EBADMSG;
	}
	ret = read_part(s, "RAM", "batch header", sec->payload, RAM_BATCH_HEADER_LEN, err, errlen);
	if (ret)
		return ret;
	count = wire__get_le32(sec->payload + 4);
	if (count > RAM_BATCH_MAX_PAGES) {
		errmsg__set(err, errlen, "RAM batch: %u pages, at most %u", count,
			     RAM_BATCH_MAX_PAGES);
		return -EBADMSG;
	}
	head = RAM_BATCH_HEADER_LEN + (uint64_t)count * RAM_ENTRY_LEN;
	if (head > sec->len) {
		errmsg__set(err, errlen,
			     "RAM batch: an entry table of %u entries does not fit a payload of %llu bytes",
			     count, (unsigned long long)sec->len);
		return -EBADMSG;
	}
	ret = read_part(s, "RAM", "entry table", sec->payload + RAM_BATCH_HEADER_LEN,
			head - RAM_BATCH_HEADER_LEN, err, errlen);
	sec->head_len = head;
	return ret;
}

static int check_crc(struct stream *s, struct section *sec, char *err, size_t errlen)
{
	uint8_t tail[STREAM_TRAILER_LEN];
	const char *name = stream__type_name(sec->type);
	uint32_t want;
	int ret;

	ret = read_part(s, name, "checksum", tail, sizeof(tail), err, errlen);
	if (ret)
		return ret;
	want = wire__get_le32(tail);
	if (s->in_crc != want) {
		errmsg__set(err, errlen,
			     "section %s: checksum mismatch (computed 0x%08x, stream has 0x%08x)",
			     name, s->in_crc, want);
		return -EBADMSG;
	}
	s->last_in = sec->type;
	s->sections_in++;
	return 0;
}

static int recv_section(struct stream *s, struct section *sec, char *err,
			size_t errlen)
{
	uint8_t head[STREAM_HEADER_LEN];
	const char *name;
	size_t got;
	int ret;

	ret = read_full(s, head, sizeof(head), &got);
	if (ret == -ENODATA)
		return header_truncated(s, head, got, err, errlen);
	if (ret) {
		errmsg__set(err, errlen, "reading a section header: %s",
			     strerror(-ret));
		return ret;
	}
	ret = check_header(s, head, err, errlen);
	if (ret)
		return ret;
	sec->type = wire__get_le32(head);
	sec->len = wire__get_le64(head + 8);
	name = stream__type_name(sec->type);
	/* RAM: only the head comes into the buffer now, the pages go where
	 * the caller says; the limit keeps even a whole batch small. */
	if (grow_payload(sec, sec->type == SECTION_RAM ? RAM_BATCH_HEAD_MAX : sec->len)) {
		errmsg__set(err, errlen, "section %s: no memory for %llu bytes",
			     name, (unsigned long long)sec->len);
		return -ENOMEM;
	}
	if (sec->type == SECTION_RAM) {
		ret = read_ram_head(s, sec, err, errlen);
	} else {
		sec->head_len = sec->len;
		ret = read_part(s, name, "payload", sec->payload, sec->len, err, errlen);
	}
	if (ret)
		return ret;
	s->in_crc = crc32c__extend(0, head, sizeof(head));
	s->in_crc = crc32c__extend(s->in_crc, sec->payload, sec->head_len);
	if (sec->type == SECTION_RAM) {
		s->in_open = true;
		s->in_pages_left = sec->len - sec->head_len;
		return 0;
	}
	return check_crc(s, sec, err, errlen);
}

static int recv_pages(struct stream *s, struct section *sec, const struct iovec *iov,
		      int iovcnt, char *err, size_t errlen)
{
	uint64_t total = 0;
	size_t got;
	int i, ret;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!s->in_open || sec->type != SECTION_RAM || total != s->in_pages_left) {
		errmsg__set(err, errlen, "RAM section: %llu page bytes to read, %llu asked for",
			     (unsigned long long)(s->in_open ? s->in_pages_left : 0),
			     (unsigned long long)total);
		return -EINVAL;
	}
	/* One readv after another over the page runs, straight into
	 * wherever the caller said (guest memory). */
	ret = stream__readv_until(s->fd, iov, iovcnt, &got, &s->wait);
	s->bytes_in += got;
	if (ret == -ENODATA)
		errmsg__set(err, errlen,
			     "truncated stream in section RAM pages (got %zu of %llu bytes)",
			     got, (unsigned long long)total);
	else if (ret)
		errmsg__set(err, errlen, "section RAM pages: read error: %s", strerror(-ret));
	s->in_pages_left -= got;
	s->in_open = false;
	return ret ? ret : check_crc(s, sec, err, errlen);
}

static int recv_ready(struct stream *s, char *err, size_t errlen)
{
	if (s->in_err) {
		errmsg__set(err, errlen,
			     "the stream already failed (%s); it cannot be resynchronised",
			     strerror(-s->in_err));
		return s->in_err;
	}
	if (!s->preamble_in) {
		errmsg__set(err, errlen,
			     "section read before the stream's preamble was accepted");
		return -EPROTO;
	}
	if (s->in_open) {
		errmsg__set(err, errlen, "the pages of a RAM section were not read");
		return -EPROTO;
	}
	if (is_last(s->last_in)) {
		errmsg__set(err, errlen,
			     "nothing follows section %s: the stream is complete",
			     stream__type_name(s->last_in));
		return -EPROTO;
	}
	return 0;
}

int stream__recv_head(struct stream *s, struct section *sec, char *err, size_t errlen)
{
	int ret = recv_ready(s, err, errlen);

	if (ret)
		return ret;
	ret = recv_section(s, sec, err, errlen);
	/* A failed section leaves the read position somewhere inside it;
	 * nothing after that point can be framed again. */
	if (ret)
		s->in_err = ret;
	return ret;
}

int stream__recv_pages(struct stream *s, struct section *sec, const struct iovec *iov,
		       int iovcnt, char *err, size_t errlen)
{
	int ret;

	if (s->in_err) {
		errmsg__set(err, errlen, "the stream already failed (%s)", strerror(-s->in_err));
		return s->in_err;
	}
	ret = recv_pages(s, sec, iov, iovcnt, err, errlen);
	if (ret)
		s->in_err = ret;
	return ret;
}

int stream__recv(struct stream *s, struct section *sec, char *err,
		 size_t errlen)
{
	struct iovec iov;
	int ret = stream__recv_head(s, sec, err, errlen);

	if (ret || sec->type != SECTION_RAM)
		return ret;
	/* The whole batch into the buffer, after its head. */
	if (grow_payload(sec, sec->len)) {
		errmsg__set(err, errlen, "section RAM: no memory for %llu bytes",
			     (unsigned long long)sec->len);
		s->in_err = -ENOMEM;
		s->in_open = false;
		return -ENOMEM;
	}
	iov.iov_base = sec->payload + sec->head_len;
	iov.iov_len = sec->len - sec->head_len;
	return stream__recv_pages(s, sec, &iov, 1, err, errlen);
}
