#include "blk_qcow2_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes one big-endian table entry in place. */
int qcow2_put_entry(struct qcow2 *q, uint64_t table_off, uint64_t idx, uint64_t v)
{
	uint64_t be = htobe64(v);

	return fd__pwrite_all(q->fd, &be, sizeof(be), table_off + idx * 8);
}

static int set_refcount(struct qcow2 *q, uint64_t host, int depth);

/* A new refcount block at the end of the file covering refcount table
 * entry rt; its own refcount is set first, inside itself when it covers
 * itself. */
static int add_refcount_block(struct qcow2 *q, uint64_t rt, int depth)
{
	uint64_t off = q->file_end, idx = off >> q->cluster_bits;
	int ret;

	if (depth > 2)
		return -EIO;
	q->file_end += q->cluster;
	memset(q->buf, 0, q->cluster);
	if (idx / q->rb_entries == rt) {
		uint16_t one = htobe16(1);

		memcpy(q->buf + (idx % q->rb_entries) * 2, &one, sizeof(one));
	}
	ret = fd__pwrite_all(q->fd, q->buf, q->cluster, off);
	if (!ret && idx / q->rb_entries != rt)
		ret = set_refcount(q, off, depth + 1);
	/* Written at once, as new refcount blocks are rare (one per
	 * cluster_size / 2 clusters): their sync costs little. */
	if (!ret)
		ret = qcow2_barrier(q);
	if (!ret)
		ret = qcow2_put_entry(q, q->reftable_off, rt, off);
	if (!ret)
		q->reftable[rt] = off;
	return ret;
}

/* Clusters are only ever new here: their count goes from 0 to 1. */
static int set_refcount(struct qcow2 *q, uint64_t host, int depth)
{
	uint64_t idx = host >> q->cluster_bits, rt = idx / q->rb_entries;
	uint16_t one = htobe16(1);
	int ret;

	if (rt >= q->reftable_entries)
		return -ENOSPC;		/* growing the refcount table: not done */
	if (!q->reftable[rt]) {
		ret = add_refcount_block(q, rt, depth);
		if (ret)
			return ret;
	}
	return fd__pwrite_all(q->fd, &one, sizeof(one),
				q->reftable[rt] + (idx % q->rb_entries) * 2);
}

/* Appends one cluster holding data (cluster bytes), counted; the entry
 * pointing at it is the caller's to set, pending. Past PENDING_MAX the
 * pending entries go out first, so that a failure fails this request
 * before it changes anything. */
static int alloc_cluster(struct qcow2 *q, const void *data, uint64_t *out)
{
	uint64_t off;
	int ret;

	if (q->pending >= PENDING_MAX) {
		ret = qcow2_write_pending(q);
		if (ret)
			return ret;
	}
	off = q->file_end;
	q->file_end += q->cluster;
	ret = fd__pwrite_all(q->fd, data, q->cluster, off);
	if (!ret)
		ret = set_refcount(q, off, 0);
	*out = off;
	return ret;
}

/* The L2 table for L1 index i; NULL when there is none and alloc is off. */
int qcow2_get_l2(struct qcow2 *q, uint64_t i, bool alloc, uint64_t **t, uint64_t *t_off)
{
	uint64_t e = q->l1[i], off = e & OFFSET_MASK;
	int ret;

	*t = NULL;
	if (!off && !alloc)
		return 0;
	if (!off) {
		memset(q->buf, 0, q->cluster);
		ret = alloc_cluster(q, q->buf, &off);
		if (ret)
			return ret;
		qcow2_set_l1(q, (uint32_t)i, off | ENTRY_COPIED);
	} else if (alloc && !(e & ENTRY_COPIED)) {
		return -EIO;		/* shared with a snapshot */
	}
	*t_off = off;
	return qcow2_load_l2(q, off, t);
}

/* An L2 entry read from the file is trusted only after this. */
int qcow2_check_l2(const struct qcow2 *q, uint64_t e)
{
	uint64_t off = e & OFFSET_MASK;

	if (e & (L2_COMPRESSED | L2_RESERVED))
		return -EIO;
	if (off && ((off & (q->cluster - 1)) || off > q->file_end ||
		    q->cluster > q->file_end - off))
		return -EIO;
	return 0;
}

uint64_t qcow2_backing_size(const struct qcow2 *q)
{
	if (q->back_q)
		return q->back_q->size;
	return q->back_fd >= 0 ? q->back_size : 0;
}

int qcow2_read_backing(struct qcow2 *q, uint64_t off, void *buf, size_t len)
{
	uint64_t have = qcow2_backing_size(q);
	size_t n = off >= have ? 0 : (size_t)(have - off < len ? have - off : len);
	int ret = 0;

	memset((uint8_t *)buf + n, 0, len - n);
	if (!n)
		return 0;
	if (q->back_q)
		ret = qcow2__read(q->back_q, off, buf, n);
	else if (q->back_fd >= 0)
		ret = fd__pread_zero_tail(q->back_fd, buf, n, off);
	return ret;
}

/* One piece of a request inside a single cluster. */
static int read_piece(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t vc = off >> q->cluster_bits, in = off & (q->cluster - 1);
	uint64_t *t, t_off, e;
	int ret;

	ret = qcow2_get_l2(q, vc / q->l2_entries, false, &t, &t_off);
	if (ret)
		return ret;
	e = t ? t[vc % q->l2_entries] : 0;
	ret = qcow2_check_l2(q, e);
	if (ret)
		return ret;
	if (e & L2_ZERO) {
		memset(buf, 0, len);
		return 0;
	}
	if (!(e & OFFSET_MASK))
		return qcow2_read_backing(q, off, buf, len);
	return fd__pread_zero_tail(q->fd, buf, len, (e & OFFSET_MASK) + in);
}

int qcow2_write_piece(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t len)
{
	uint64_t vc = off >> q->cluster_bits, in = off & (q->cluster - 1);
	uint64_t *t, t_off, e, host;
	int ret;

	ret = qcow2_get_l2(q, vc / q->l2_entries, true, &t, &t_off);
	if (ret)
		return ret;
	e = t[vc % q->l2_entries];
	ret = qcow2_check_l2(q, e);
	if (ret)
		return ret;
	if ((e & OFFSET_MASK) && !(e & L2_ZERO)) {
		if (!(e & ENTRY_COPIED))
			return -EIO;	/* shared with a snapshot */
		return fd__pwrite_all(q->fd, buf, len, (e & OFFSET_MASK) + in);
	}
	/* Copy-on-write: the rest of the cluster from below, then ours. */
	if (len < q->cluster) {
		if (e & L2_ZERO)
			memset(q->buf, 0, q->cluster);
		else if ((ret = qcow2_read_backing(q, off - in, q->buf, q->cluster)))
			return ret;
	}
	memcpy(q->buf + in, buf, len);
	ret = alloc_cluster(q, q->buf, &host);
	if (!ret)
		qcow2_set_l2(q, t_off, t, vc % q->l2_entries, host | ENTRY_COPIED);
	return ret;
}

static int for_each_piece(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t len,
			  bool write)
{
	size_t n;
	int ret;

	if (off > q->size || len > q->size - off)
		return -EINVAL;
	while (len) {
		n = q->cluster - (off & (q->cluster - 1));
		if (n > len)
			n = len;
		ret = write ? qcow2_write_piece(q, off, buf, n) : read_piece(q, off, buf, n);
		if (ret)
			return ret;
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int qcow2__read(struct qcow2 *q, uint64_t off, void *buf, size_t len)
{
	return for_each_piece(q, off, buf, len, false);
}

int qcow2__write(struct qcow2 *q, uint64_t off, const void *buf, size_t len)
{
	if (q->readonly)
		return -EROFS;
	return for_each_piece(q, off, (uint8_t *)(uintptr_t)buf, len, true);
}

void qcow2__set_unordered(struct qcow2 *q, bool unordered)
{
	q->unordered = unordered;
}

/* The pending entries after a sync, then a sync for them and for the
 * guest's writes: on failure they stay pending, the guest sees the error
 * on this flush and its next flush tries again. */
int qcow2__flush(struct qcow2 *q)
{
	int ret = qcow2_write_pending(q);

	if (ret)
		return ret;
	return fdatasync(q->fd) ? -errno : 0;
}
