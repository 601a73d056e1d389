#include "blk_qcow2_req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iov.h"
#include "uring_ring.h"

/* Runs of a request: past this many (or past the ring's size) it goes
 * whole the synchronous way (a request over scattered clusters, rare),
 * which keeps a request's SQEs well under the ring's size. */
#define SPANS_MAX	64
/* O_DIRECT's alignment for a bounce buffer: the page, whatever the disk. */
#define BOUNCE_ALIGN	4096

/* Bytes [pos, pos + len) of a request: at host in the image's file (0:
 * the synchronous way). */
struct span {
	uint64_t pos, host, len;
};

struct qcow2_req;

/* One SQE of a request; its user_data. */
struct piece {
	struct qcow2_req *req;
	struct iovec *iov;		/* its slice of the request's buffers */
	unsigned int niov;
	uint64_t len;
	bool data;			/* a read or write, not the no-op */
};

struct qcow2_req {
	struct blk_io *io;
	unsigned int left;		/* pieces not yet completed */
	int result;			/* the first error */
	void *bounce;
	struct iovec bounce_iov;
	struct piece pieces[SPANS_MAX];
	struct iovec iov[];		/* the pieces' slices */
};

/* The request as runs: neighbouring clusters merge when their bytes are
 * contiguous in the file, or both go the synchronous way. -E2BIG past
 * SPANS_MAX runs. Nothing changes in the image here. */
static int map_spans(struct qcow2 *q, const struct blk_io *io, struct span *s,
		     unsigned int *count)
{
	uint64_t pos = 0, host, n;
	unsigned int k = 0;
	bool writable;
	int ret;

	while (pos < io->len) {
		ret = qcow2__map(q, io->offset + pos, io->len - pos, &host, &writable, &n);
		if (ret)
			return ret;
		if (io->op == BLK_OP_WRITE && !writable)
			host = 0;
		if (k && (s[k - 1].host ? s[k - 1].host + s[k - 1].len == host : !host)) {
			s[k - 1].len += n;
		} else {
			if (k == SPANS_MAX)
				return -E2BIG;
			s[k++] = (struct span){ .pos = pos, .host = host, .len = n };
		}
		pos += n;
	}
	*count = k;
	return 0;
}

/* A run the synchronous way, through a buffer of its own. */
static int run_sync(struct qcow2 *q, const struct blk_io *io, const struct iovec *src,
		    unsigned int nsrc, const struct span *s)
{
	uint8_t *buf = malloc(s->len);
	int ret;

	if (!buf)
		return -ENOMEM;
	if (io->op == BLK_OP_WRITE) {
		iov__to_buf(src, nsrc, s->pos, buf, s->len);
		ret = qcow2__write(q, io->offset + s->pos, buf, s->len);
	} else {
		ret = qcow2__read(q, io->offset + s->pos, buf, s->len);
		if (!ret)
			iov__from_buf(src, nsrc, s->pos, buf, s->len);
	}
	free(buf);
	return ret;
}

static struct qcow2_req *new_req(struct blk_io *io, unsigned int nspans, bool bounce)
{
	struct qcow2_req *r = calloc(1, sizeof(*r) + (io->niov + nspans) * sizeof(struct iovec));

	if (!r)
		return NULL;
	r->io = io;
	if (!bounce)
		return r;
	if (posix_memalign(&r->bounce, BOUNCE_ALIGN, io->len ? io->len : 1)) {
		free(r);
		return NULL;
	}
	if (io->op == BLK_OP_WRITE)
		iov__to_buf(io->iov, io->niov, 0, r->bounce, io->len);
	r->bounce_iov = (struct iovec){ r->bounce, io->len };
	return r;
}

static void free_req(struct qcow2_req *r)
{
	free(r->bounce);
	free(r);
}

/* The synchronous runs, then the others' SQEs (a no-op when none). */
static void queue_pieces(struct qcow2 *q, struct io_uring *ring, int data_fd,
			 struct qcow2_req *r, const struct span *s, unsigned int n)
{
	const struct iovec *src = r->bounce ? &r->bounce_iov : r->io->iov;
	unsigned int nsrc = r->bounce ? 1 : r->io->niov, i, used = 0;
	struct io_uring_sqe *sqe;
	struct piece *p;
	int ret;

	for (i = 0; i < n; i++) {
		if (s[i].host)
			continue;
		ret = run_sync(q, r->io, src, nsrc, &s[i]);
		if (ret && !r->result)
			r->result = ret;
	}
	for (i = 0; i < n; i++) {
		if (!s[i].host)
			continue;
		p = &r->pieces[r->left++];
		*p = (struct piece){ .req = r, .iov = r->iov + used, .len = s[i].len,
				     .data = true };
		p->niov = iov__slice(src, nsrc, s[i].pos, s[i].len, p->iov);
		used += p->niov;
		sqe = io_uring_get_sqe(ring);
		if (r->io->op == BLK_OP_READ)
			io_uring_prep_readv(sqe, data_fd, p->iov, p->niov, s[i].host);
		else
			io_uring_prep_writev(sqe, data_fd, p->iov, p->niov, s[i].host);
		io_uring_sqe_set_data(sqe, p);
	}
	if (r->left)
		return;
	p = &r->pieces[r->left++];
	*p = (struct piece){ .req = r };
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, p);
}

int qcow2_req__queue(struct qcow2 *q, struct io_uring *ring, int data_fd, bool bounce,
		     struct blk_io *io)
{
	struct span s[SPANS_MAX];
	unsigned int n = 0, ndata = 0, i;
	struct qcow2_req *r;
	int ret = 0;

	if (io->op != BLK_OP_FLUSH)
		ret = map_spans(q, io, s, &n);
	for (i = 0; !ret && i < n; i++)
		ndata += s[i].host != 0;
	/* More SQEs than the whole ring holds would never find room. */
	if (ret == -E2BIG || ndata > ring->sq.ring_entries) {
		s[0] = (struct span){ .pos = 0, .host = 0, .len = io->len };
		n = 1;
		ndata = 0;
		ret = 0;
	}
	if (ret)
		return ret;
	/* Room for all the request's SQEs before any is taken: a request
	 * half on the ring could not be taken back. The kernel copies SQEs
	 * (and their iovecs) at submission. */
	if (uring_ring__make_room(ring, ndata ? ndata : 1))
		return -EAGAIN;
	r = new_req(io, n, bounce && io->op != BLK_OP_FLUSH);
	if (!r)
		return -ENOMEM;
	if (io->op == BLK_OP_FLUSH)
		r->result = qcow2__flush(q);
	queue_pieces(q, ring, data_fd, r, s, n);
	return (int)ndata;
}

/* A read that ends early met the file's end: the rest reads as zeros, as
 * qcow2__read has it, so every byte of a read piece is written before the
 * request completes (a bounce buffer needs no zeroing beforehand). */
static int piece_result(const struct piece *p, const struct blk_io *io, int res)
{
	uint64_t at = (uint64_t)res;
	unsigned int i;

	if (res < 0)
		return res;
	if (!p->data)
		return 0;
	if (at > p->len || (at < p->len && io->op == BLK_OP_WRITE))
		return -EIO;
	if (io->op == BLK_OP_WRITE)
		return 0;
	uring_ring__filled(p->iov, p->niov, at);
	for (i = 0; i < p->niov && at < p->len; i++) {
		if (at < p->iov[i].iov_len)
			memset((uint8_t *)p->iov[i].iov_base + at, 0, p->iov[i].iov_len - at);
		at = at > p->iov[i].iov_len ? at - p->iov[i].iov_len : 0;
	}
	return 0;
}

struct blk_io *qcow2_req__piece_done(uint64_t tag, int res, bool *data)
{
	struct piece *p = (struct piece *)(uintptr_t)tag;
	struct qcow2_req *r = p->req;
	struct blk_io *io = r->io;
	int ret = piece_result(p, io, res);

	*data = p->data;
	if (ret && !r->result)
		r->result = ret;
	if (--r->left)
		return NULL;
	if (r->bounce && io->op == BLK_OP_READ && !r->result)
		iov__from_buf(io->iov, io->niov, 0, r->bounce, io->len);
	io->result = r->result;
	free_req(r);
	return io;
}
