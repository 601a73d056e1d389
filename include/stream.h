/* The migration stream: preamble, checksummed sections, and the payload
 * codecs of the small sections and of RAM batches. migrate/FORMAT.md is
 * the byte-level description; this header is the C view of it.
 *
 * One connection carries two streams: the forward stream (source to
 * destination: CONFIG, RAM, ..., END, then GO) and the return path
 * (destination to source: ACCEPT/REFUSE, then ROUND_DONE per round, then
 * READY/FAILED, then RESUMED/FAILED). Both start with the same
 * 16-byte preamble and use the same section framing. A struct stream is one
 * end of a connection; its role decides which section types it may send
 * and which it accepts, so a section in the wrong direction or out of
 * order is refused by the framing layer, not by every caller.
 *
 * Every read and write waits with poll, bounded by the stream's wait
 * (below): an absolute deadline, a cancel descriptor and a stall limit, so
 * neither a silent nor a dribbling peer, nor a FIFO nobody reads, holds a
 * caller longer than it allows. Nothing here trusts a length from the
 * peer before checking it against a limit, and nothing is allocated for a
 * section before its header has passed every check.
 */
#ifndef VMM__STREAM_H
#define VMM__STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

struct vm_config;

#define STREAM_MAGIC		"LMIG\r\n\x1a\n"
#define STREAM_MAGIC_LEN	8
#define STREAM_VERSION_MAJOR	3
#define STREAM_VERSION_MINOR	6	/* 3.6: ZERO_RUN entries in RAM batches */
#define STREAM_PREAMBLE_LEN	16
#define STREAM_HEADER_LEN	16
#define STREAM_TRAILER_LEN	4

/* Payload limits. Every section obeys the global one; most types have a
 * tighter one (see stream.c's type table and FORMAT.md). */
#define STREAM_MAX_PAYLOAD	(64u << 20)
#define STREAM_CONFIG_MAX	(1u << 20)
#define STREAM_RETURN_MAX	(64u << 10)
/* Longest REFUSE/FAILED reason, in bytes, without the terminating NUL. */
#define STREAM_REASON_MAX	4096

enum section_type {
	/* forward stream */
	SECTION_CONFIG		= 0x001,
	SECTION_RAM		= 0x002,
	SECTION_ROUND_END	= 0x003,
	SECTION_VCPU		= 0x004,
	SECTION_VM_STATE	= 0x005,
	SECTION_DEVICE		= 0x006,
	SECTION_END		= 0x007,
	SECTION_GO		= 0x008,	/* run the guest (TCP only) */
	SECTION_BLOCK		= 0x009,	/* 3.3: an extent of a drive (blk_section.h) */
	/* return path */
	SECTION_ACCEPT		= 0x101,
	SECTION_REFUSE		= 0x102,
	SECTION_RESUMED		= 0x103,
	SECTION_FAILED		= 0x104,
	SECTION_READY		= 0x105,	/* loaded, not running */
	SECTION_ROUND_DONE	= 0x106,	/* 3.5: a pre-copy round is in guest memory */
};

enum stream_role {
	STREAM_SOURCE,	/* sends the forward stream, reads the return path */
	STREAM_DEST,	/* reads the forward stream, sends the return path */
};

/* How long a read or write may wait for the peer. */
struct stream_wait {
	uint64_t deadline_us;	/* CLOCK_MONOTONIC; 0 = none */
	int cancel_fd;		/* readable = give up (-ECANCELED); -1 = none */
	int stall_ms;		/* no byte moving for this long: -ETIMEDOUT; 0 = off */
};

struct stream {
	int fd;
	struct stream_wait wait;	/* set by the owner; none after init */
	enum stream_role role;
	bool is_socket;		/* send with MSG_NOSIGNAL instead of writev */
	bool preamble_out;	/* our preamble was written */
	bool preamble_in;	/* the peer's preamble was read and accepted */
	uint32_t last_out;	/* last section type sent, 0 = none yet */
	uint32_t last_in;	/* last section type received, 0 = none yet */
	/* Sticky: after a failure in one direction every later call in that
	 * direction returns the same error (the framing is lost). */
	int out_err;
	int in_err;
	/* Everything that crossed the wire: preambles, headers, payloads,
	 * checksums. */
	uint64_t bytes_out;
	uint64_t bytes_in;
	uint64_t sections_out;
	uint64_t sections_in;
	/* A RAM section whose entry table was read (stream__recv_head) and
	 * whose pages and checksum are still to come (stream__recv_pages). */
	uint64_t in_pages_left;		/* page bytes not read yet */
	uint16_t minor_in;		/* the peer's minor version, once read */
	uint32_t in_crc;		/* running CRC over header and entry table */
	bool in_open;
};

/* A received section. The payload buffer is owned here and reused (grown
 * when needed) by the next stream__recv on the same struct. After
 * stream__recv_head on a RAM section only the first head_len bytes of the
 * payload (batch header and entry table) are in the buffer; len is the
 * whole payload's length either way. */
struct section {
	uint32_t type;
	uint64_t len;
	uint64_t head_len;
	uint8_t *payload;
	size_t cap;
};

void stream__init(struct stream *s, int fd, enum stream_role role);

int stream__write_preamble(struct stream *s);
/* Refuses another magic, another major version and a newer minor version.
 * -EPROTO (not a migration stream, or flags set), -EPROTONOSUPPORT
 * (version), -ENODATA (truncated), or the read error. */
int stream__read_preamble(struct stream *s, char *err, size_t errlen);
/* Whether this connection carries ROUND_DONE, one per pre-copy round:
 * only a socket has a return path while pre-copy runs (a file's reader
 * comes later and cannot answer), and only a peer of 3.5 or later knows
 * the section (an older one refuses it). The source and the destination
 * ask the same question, so they agree on it. */
bool stream__has_round_done(const struct stream *s);

/* Frames and writes one section: header, payload, CRC32C. Returns 0, or
 * -EPROTO (type unknown, wrong direction or out of order), -EMSGSIZE (over
 * the type's limit), or the write error.
 *
 * The checksum is computed before the bytes are written. It covers the
 * whole payload, except for RAM: there it covers the batch header and the
 * entry table only (the first 8 + 12 x count bytes), and each page carries
 * its own CRC in its entry, so page data may point into a running guest
 * (a page that changes while it is sent arrives "torn", see FORMAT.md). */
int stream__send(struct stream *s, uint32_t type, const void *payload,
		 size_t len);
/* Same, with the payload gathered from iov (any iovcnt >= 0). */
int stream__sendv(struct stream *s, uint32_t type, const struct iovec *iov,
		  int iovcnt);

void section__init(struct section *sec);
void section__free(struct section *sec);

/* Reads one section into sec. On error err says exactly what, e.g.
 * "section RAM: checksum mismatch (...)" or "truncated stream in section
 * VCPU header (got 6 of 16 bytes)", and the result is -ENODATA
 * (truncated), -EBADMSG (checksum), -EMSGSIZE (over a limit), -EPROTO
 * (bad header, unknown type, wrong direction, out of order), -ENOMEM or
 * the read error. */
int stream__recv(struct stream *s, struct section *sec, char *err,
		 size_t errlen);
/* The two halves of stream__recv, for a reader that puts RAM pages where
 * they belong instead of into sec's buffer. recv_head reads a whole
 * section of any other type (checked, as stream__recv); of a RAM section
 * it reads the header, the batch header and the entry table only
 * (sec->head_len bytes: refused when the count is over 1024 or the table
 * longer than the payload) and leaves the stream open: the next call must
 * be stream__recv_pages, which reads the page bytes into iov (exactly
 * sec->len - sec->head_len bytes in all, else -EINVAL), then the
 * checksum, and compares it. */
int stream__recv_head(struct stream *s, struct section *sec, char *err,
		      size_t errlen);
int stream__recv_pages(struct stream *s, struct section *sec,
		       const struct iovec *iov, int iovcnt, char *err,
		       size_t errlen);

/* --- full-length I/O (migrate/stream_io.c) ---------------------------- */

/* Waits until fd is ready for events (poll's), the deadline passes
 * (-ETIMEDOUT), the cancel descriptor becomes readable (-ECANCELED) or
 * nothing happens for stall_ms (-ETIMEDOUT). The deadline is absolute: a
 * peer that sends or takes one byte now and then does not move it. w may
 * be NULL (wait for ever). */
int stream__wait_ready(int fd, short events, const struct stream_wait *w);
/* Reads exactly n bytes, retrying EINTR and short reads, waiting with
 * poll as w allows (NULL: forever). Returns 0, -ENODATA when the file or
 * connection ends first (the "truncated stream" case), -ETIMEDOUT (the
 * deadline passed or the stall limit), -ECANCELED (w's cancel_fd became
 * readable), or -errno. *got is what arrived either way. */
int stream__read_until(int fd, void *buf, size_t n, size_t *got,
		       const struct stream_wait *w);
int stream__read_full(int fd, void *buf, size_t n, size_t *got);
/* Same, scattered: fills the whole of iov (any iovcnt >= 0) with readv,
 * so pages scattered over guest memory come in few system calls. */
int stream__readv_until(int fd, const struct iovec *iov, int iovcnt, size_t *got,
			const struct stream_wait *w);
/* Writes the whole gather list (any iovcnt >= 0), retrying EINTR and short
 * writes. On a socket it sends with MSG_NOSIGNAL, so a peer that went away
 * is -EPIPE, not SIGPIPE (a pipe still raises SIGPIPE: ignore it in the
 * program). Returns 0 or -errno; *written is what went out either way. */
int stream__write_full(int fd, bool is_socket, const struct iovec *iov,
		       int iovcnt, size_t *written);
/* Same, bounded as stream__read_until. fd may be non-blocking (a FIFO
 * opened O_NONBLOCK): EAGAIN means wait, never fail. */
int stream__write_until(int fd, bool is_socket, const struct iovec *iov,
			int iovcnt, size_t *written, const struct stream_wait *w);

/* "RAM", "ACCEPT", ...; "unknown" for anything else. */
const char *stream__type_name(uint32_t type);

/* Text from the peer made safe for a terminal: printable ASCII (0x20 to
 * 0x7e) other than the backslash is copied, every other byte is written
 * as \xNN. out is always NUL terminated (if cap is non-zero) and is cut
 * before an escape that would not fit. Returns out. Every string from the
 * stream that reaches a message goes through here. */
const char *stream__escape(const void *p, size_t n, char *out, size_t cap);

/* --- small sections (migrate/stream_msg.c) ----------------------------- */

/* ROUND_END: closes pre-copy round `round`. */
struct round_end_msg {
	uint32_t round;
	uint64_t pages;		/* pages sent in the round */
	uint64_t bytes;		/* RAM section bytes of the round, framing included */
	/* 3.3, block migration: the round's BLOCK sections and their data
	 * bytes (a hole counts its length). Both 0: the short form. */
	uint64_t block_sections;
	uint64_t block_bytes;
};

/* END: the last section of the forward stream. */
struct end_msg {
	uint32_t rounds;	/* pre-copy rounds, stop-and-copy included */
	uint64_t total_pages;	/* pages sent over the whole migration */
	uint64_t block_sections; /* 3.3: BLOCK sections in all; 0: the short form */
};

/* The short forms (every stream without BLOCK sections) and the long ones
 * (3.3, when a count of BLOCK sections is not 0). */
#define ROUND_END_MSG_LEN	20
#define ROUND_END_MSG_LEN_BLK	36
#define END_MSG_LEN		12
#define END_MSG_LEN_BLK		20
/* ROUND_DONE (3.5, return path): the u32 round the destination has
 * applied; sent only to a source whose preamble says 3.5 or later. */
#define ROUND_DONE_MSG_LEN	4
/* A whole ROUND_DONE section on the wire: header, payload, checksum. */
#define ROUND_DONE_SECTION_LEN	(STREAM_HEADER_LEN + ROUND_DONE_MSG_LEN + STREAM_TRAILER_LEN)

void stream_msg__encode_round_end(struct wbuf *out,
				  const struct round_end_msg *m);
int stream_msg__decode_round_end(const uint8_t *p, size_t len,
				 struct round_end_msg *m, char *err,
				 size_t errlen);
void stream_msg__encode_round_done(struct wbuf *out, uint32_t round);
int stream_msg__decode_round_done(const uint8_t *p, size_t len, uint32_t *round, char *err,
				  size_t errlen);
void stream_msg__encode_end(struct wbuf *out, const struct end_msg *m);
int stream_msg__decode_end(const uint8_t *p, size_t len, struct end_msg *m,
			   char *err, size_t errlen);
/* REFUSE and FAILED carry one u16-length string. The encoder cuts a
 * reason longer than STREAM_REASON_MAX (a refusal must never fail for
 * being too detailed). The decoder refuses a NUL byte, a length over the
 * limit or a length mismatch; it writes the text escaped (stream__escape),
 * because it came from the peer and will be printed on a terminal, and
 * cuts it to fit cap. */
void stream_msg__encode_reason(struct wbuf *out, const char *reason);
int stream_msg__decode_reason(const uint8_t *p, size_t len, char *out,
			      size_t cap, char *err, size_t errlen);

/* --- RAM batches (migrate/ram_batch.c) --------------------------------- */

#define RAM_PAGE_SIZE		4096u
#define RAM_BATCH_MAX_PAGES	1024u
#define RAM_FLAG_ZERO		0x1u
#define RAM_FLAG_DATA		0x2u
#define RAM_FLAG_XBZRLE		0x4u	/* stream 3.1: a delta, in the delta area */
#define RAM_FLAG_ZSTD		0x8u	/* stream 3.2: a page inside the batch's zstd frame */
/* Stream 3.6: RAM_ZERO_RUN_MIN or more zero pages from gpa on, as many as
 * the entry's u32 says (where the others have their CRC), all inside one
 * slot: untouched memory costs an entry per run, not per page. */
#define RAM_FLAG_ZERO_RUN	0x10u
#define RAM_ZERO_RUN_MIN	2u
#define RAM_FLAG_MASK		0xfffu
#define RAM_BATCH_HEADER_LEN	8
#define RAM_ENTRY_LEN		12	/* u64 gpa | flags, u32 CRC32C of the page */
#define RAM_BATCH_HEAD_MAX	(RAM_BATCH_HEADER_LEN + \
				 RAM_BATCH_MAX_PAGES * RAM_ENTRY_LEN)
#define RAM_BATCH_MAX_BYTES	(RAM_BATCH_HEAD_MAX + RAM_ZSTD_PREFIX_LEN + \
				 RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE)
/* A delta with its u16 length never takes more than a page: a delta area
 * holds at most this. */
#define RAM_DELTA_PREFIX_LEN	2
#define RAM_BATCH_DELTA_MAX	(RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE)
/* Stream 3.2: ZSTD entries' pages travel as one zstd frame after the DATA
 * pages, behind a u32 length; a frame never takes more than the pages it
 * holds, so the tail (frame and delta area) stays within this. */
#define RAM_ZSTD_PREFIX_LEN	4
#define RAM_BATCH_TAIL_MAX	(RAM_ZSTD_PREFIX_LEN + RAM_BATCH_MAX_PAGES * RAM_PAGE_SIZE)

/* Encoder state: the batch header and entry table, and a gather list of
 * the DATA pages where they are (guest memory, or a copy the caller
 * keeps until the send): nothing is copied. XBZRLE deltas are appended to
 * a delta area the caller lends (ram_batch__set_delta_area), sent after
 * the pages. */
struct ram_batch {
	uint8_t head[RAM_BATCH_HEAD_MAX];
	const uint8_t *page[RAM_BATCH_MAX_PAGES];	/* DATA pages, in order */
	/* head, page runs, the zstd area, the delta area */
	struct iovec iov[RAM_BATCH_MAX_PAGES + 3];
	const uint8_t *zarea;	/* u32 length, zstd frame; lent (ram_zstd) */
	size_t zlen;
	uint8_t *xdata;		/* delta area: u16 length, delta; lent */
	size_t xcap;
	size_t xlen;
	uint32_t round;
	uint32_t count;
	uint32_t nr_zero;
	uint32_t nr_data;
	uint32_t nr_delta;
	uint32_t nr_zstd;
	uint32_t nr_run;	/* ZERO_RUN entries */
	uint64_t pages;		/* pages the entries cover */
	uint64_t zero_pages;	/* of them ZERO and ZERO_RUN pages */
	uint64_t run_end;	/* gpa after the last entry when it is a zero one */
	int nr_iov;
	bool begun;
};

struct ram_batch_info {
	uint32_t round;
	uint32_t count;
	uint32_t nr_zero;
	uint32_t nr_data;
	uint32_t nr_torn;	/* DATA pages whose bytes do not match their CRC */
	uint32_t nr_delta;	/* XBZRLE entries */
	uint64_t delta_len;	/* bytes of the delta area (once the tail is split) */
	uint32_t nr_zstd;	/* ZSTD entries (stream 3.2) */
	uint32_t nr_run;	/* ZERO_RUN entries (stream 3.6) */
	uint64_t pages;		/* pages the entries cover: a run counts its length */
	uint64_t zero_pages;	/* of them ZERO and ZERO_RUN pages */
	uint64_t tail_len;	/* bytes after the DATA pages: zstd area and delta area */
	uint64_t zstd_len;	/* the zstd frame's bytes (once the tail is split) */
};

/* Called once per page of a batch that passed every check; data is NULL
 * for a zero page; torn is true for a DATA page whose bytes do not match
 * its CRC (FORMAT.md: the page is sent again, or the stream fails at END).
 * A non-zero return stops the batch and is returned. */
typedef int (*ram_page_fn)(void *ctx, uint64_t gpa, const uint8_t *data,
			   bool torn);

void ram_batch__init(struct ram_batch *b);
/* Lends the batch a delta area of cap bytes for ram_batch__add_delta
 * (RAM_BATCH_DELTA_MAX is always enough); kept across begin. */
void ram_batch__set_delta_area(struct ram_batch *b, uint8_t *area, size_t cap);
/* Adds an XBZRLE entry: the delta (len <= XBZRLE_MAX_DELTA bytes, copied
 * into the delta area) and crc, the CRC32C of the page it produces.
 * Returns 0, -ENOSPC (batch or area full), -EINVAL (gpa not page
 * aligned, no batch begun, delta too long). */
int ram_batch__add_delta(struct ram_batch *b, uint64_t gpa, const uint8_t *delta, size_t len,
			 uint32_t crc);
void ram_batch__free(struct ram_batch *b);
/* Starts an empty batch for pre-copy round `round`. */
void ram_batch__begin(struct ram_batch *b, uint32_t round);
/* Adds a page known to be zero, without reading it. One that follows a
 * zero entry's last page in guest-physical space extends it into a
 * ZERO_RUN (stream 3.6) instead of taking an entry. */
int ram_batch__add_zero(struct ram_batch *b, uint64_t gpa);
/* Adds the page at `page` (guest memory): ZERO if it is all zero now,
 * else DATA, sent from where it is. The page must stay mapped until the
 * batch is sent; its bytes may change meanwhile (ram_batch__finish takes
 * its CRC). Returns 0, -ENOSPC (batch full), -EINVAL (gpa not page
 * aligned, or no batch begun). */
int ram_batch__add_page(struct ram_batch *b, uint64_t gpa, const void *page);
/* Adds n pages known to be zero, from gpa on, adjacent in guest-physical
 * space (inside one slot), as ram_batch__add_zero would one by one: one
 * entry, or none when they extend the last run. All or nothing: returns
 * 0, -ENOSPC (batch full), -EINVAL (not aligned, none begun, n 0, or a
 * run past UINT32_MAX pages: more than any guest's RAM). */
int ram_batch__add_zeros(struct ram_batch *b, uint64_t gpa, uint64_t n);
bool ram_batch__full(const struct ram_batch *b);
/* The pages an entry table covers (its first head_len bytes, whole
 * entries only): one per entry, a ZERO_RUN's length for each run. Reads
 * the table as it is: the counts of a table ram_batch__check refuses mean
 * nothing. */
uint64_t ram_batch__pages(const uint8_t *head, size_t head_len);
/* Turns every DATA entry of the batch into a ZSTD entry whose page is
 * inside the frame at area (u32 length, frame: len bytes in all, kept by
 * the caller until the send), with crc[k] the CRC32C of the k-th page as
 * it was compressed. Returns 0, or -EINVAL (no batch begun, no DATA
 * entry, already done). */
int ram_batch__use_zstd(struct ram_batch *b, const uint8_t *area, size_t len,
			const uint32_t *crc);
/* Completes the header and takes each DATA page's CRC32C from the page
 * itself: call it right before the send. Afterwards ram_batch__iov is
 * the RAM section payload. Returns 0 or -EINVAL (no batch begun). */
int ram_batch__finish(struct ram_batch *b);
/* The payload as a gather list: the head (batch header, entry table),
 * then the DATA pages, adjacent pages merged into one run. */
const struct iovec *ram_batch__iov(const struct ram_batch *b, int *iovcnt);
size_t ram_batch__len(const struct ram_batch *b);

/* Checks a batch's head (the first head_len bytes of a payload of
 * payload_len bytes): count, head_len = 8 + 12 x count, every entry's
 * flags, gpa alignment, gpa inside one of cfg's slots, a ZERO entry's CRC
 * field 0, a ZERO_RUN's length (RAM_ZERO_RUN_MIN or more, its last page
 * in its first page's slot), and payload_len = head_len + 4096 x DATA entries + a tail
 * that can hold, with ZSTD entries, a frame's u32 length and 1 to 4096
 * bytes of frame per ZSTD entry, and a delta area that can hold the
 * XBZRLE entries' deltas (2 to 4096 bytes each). Without ZSTD entries
 * the tail is the delta area (delta_len is set); with them,
 * ram_batch__split_tail splits it once it has been read.
 * Reads no page. info (may be NULL) receives the round and the counts. Returns 0
 * or -EBADMSG with err set. */
int ram_batch__check(const uint8_t *head, size_t head_len, uint64_t payload_len,
		     const struct vm_config *cfg, struct ram_batch_info *info,
		     char *err, size_t errlen);
/* Splits a tail of info->tail_len bytes (ZSTD entries present): the
 * frame's length (1 .. 4096 x ZSTD entries, inside the tail), the frame
 * (*frame, info->zstd_len) and the delta area after it (info->delta_len,
 * at *frame + zstd_len). Returns 0 or -EBADMSG with err set. */
int ram_batch__split_tail(const uint8_t *tail, struct ram_batch_info *info,
			  const uint8_t **frame, char *err, size_t errlen);
/* Walks a delta area of len bytes that must hold exactly nr deltas:
 * call with *pos 0 and once per XBZRLE entry, in entry order; each call
 * sets *delta and *dlen to the next delta (checked: xbzrle__check) and
 * moves *pos past it. Returns 0 or -EBADMSG with err set. */
int ram_batch__next_delta(const uint8_t *area, size_t len, size_t *pos,
			  const uint8_t **delta, size_t *dlen, char *err, size_t errlen);
/* A whole payload in memory: ram_batch__check, every delta's form
 * (ram_batch__next_delta: the area holds exactly the deltas, each well
 * formed), the zstd frame (ram_zstd__decode: declared size, every
 * page's CRC), then each DATA page's CRC and page_fn for every ZERO, DATA
 * and ZSTD page and every page of a ZERO_RUN (a ZSTD page is never torn: it passed its CRC). Deltas are not applied: that needs the page the destination
 * holds (ram_recv). A bad batch writes nothing. Returns 0,
 * -EBADMSG with err set, or page_fn's error. */
int ram_batch__decode(const uint8_t *p, size_t len,
		      const struct vm_config *cfg, ram_page_fn page_fn,
		      void *ctx, struct ram_batch_info *info, char *err,
		      size_t errlen);

#endif
