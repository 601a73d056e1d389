/* What block migration asks of a qcow2 image beyond reads and writes:
 * which clusters the image itself holds (migrate -i sends only those),
 * zeros written without allocating where it can (a hole arriving in a
 * migration), and its backing file (whose digest both sides compare). */
#include "blk_qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk_qcow2_internal.h"

static int entry_at(struct qcow2 *q, uint64_t vc, uint64_t *e)
{
	uint64_t *t, t_off;
	int ret;

	ret = qcow2_get_l2(q, vc / q->l2_entries, false, &t, &t_off);
	if (ret)
		return ret;
	*e = t ? t[vc % q->l2_entries] : 0;
	return qcow2_check_l2(q, *e);
}

static enum qcow2_kind kind_of(const struct qcow2 *q, uint64_t e, uint64_t off)
{
	if (e & L2_ZERO)
		return QCOW2_ZERO;
	if (e & OFFSET_MASK)
		return QCOW2_DATA;
	return off < qcow2_backing_size(q) ? QCOW2_BACKING : QCOW2_UNALLOCATED;
}

int qcow2__status(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_kind *kind,
		  uint64_t *n)
{
	uint64_t e, step, done = 0;
	enum qcow2_kind k;
	int ret;

	if (!len || off > q->size || len > q->size - off)
		return -EINVAL;
	while (done < len) {
		ret = entry_at(q, (off + done) >> q->cluster_bits, &e);
		if (ret)
			return ret;
		k = kind_of(q, e, off + done);
		if (done && k != *kind)
			break;
		*kind = k;
		step = q->cluster - ((off + done) & (q->cluster - 1));
		done += step < len - done ? step : len - done;
	}
	*n = done;
	return 0;
}

int qcow2__map(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host, bool *writable,
	       uint64_t *n)
{
	uint64_t e, in = off & (q->cluster - 1);
	int ret;

	if (!len || off > q->size || len > q->size - off)
		return -EINVAL;
	ret = entry_at(q, off >> q->cluster_bits, &e);
	if (ret)
		return ret;
	*n = q->cluster - in < len ? q->cluster - in : len;
	*host = kind_of(q, e, off) == QCOW2_DATA ? (e & OFFSET_MASK) + in : 0;
	*writable = *host && !q->readonly && (e & ENTRY_COPIED);
	return 0;
}

/* One piece inside a cluster. */
static int zero_piece(struct qcow2 *q, uint64_t off, size_t len, const uint8_t *zeros)
{
	uint64_t vc = off >> q->cluster_bits, in = off & (q->cluster - 1);
	uint64_t *t, t_off, e;
	int ret;

	ret = entry_at(q, vc, &e);
	if (ret)
		return ret;
	switch (kind_of(q, e, off)) {
	case QCOW2_ZERO:
	case QCOW2_UNALLOCATED:
		return 0;
	case QCOW2_DATA:
		if (!(e & ENTRY_COPIED))
			return -EIO;	/* shared with a snapshot */
		return fd__pwrite_all(q->fd, zeros, len, (e & OFFSET_MASK) + in);
	case QCOW2_BACKING:
		break;
	}
	if (q->version < 3 || len < q->cluster)
		return qcow2_write_piece(q, off, zeros, len);
	ret = qcow2_get_l2(q, vc / q->l2_entries, true, &t, &t_off);
	if (!ret)
		qcow2_set_l2(q, t_off, t, vc % q->l2_entries, L2_ZERO);
	return ret;
}

int qcow2__write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint8_t *zeros;
	size_t n;
	int ret = 0;

	if (q->readonly)
		return -EROFS;
	if (off > q->size || len > q->size - off)
		return -EINVAL;
	zeros = calloc(1, q->cluster);
	if (!zeros)
		return -ENOMEM;
	while (len && !ret) {
		n = q->cluster - (off & (q->cluster - 1));
		if (n > len)
			n = len;
		ret = zero_piece(q, off, n, zeros);
		off += n;
		len -= n;
	}
	free(zeros);
	return ret;
}

int qcow2__defined_bytes(struct qcow2 *q, uint64_t *bytes)
{
	uint64_t vc, e, nclusters = (q->size + q->cluster - 1) >> q->cluster_bits;
	int ret;

	*bytes = 0;
	for (vc = 0; vc < nclusters; vc++) {
		if (!(q->l1[vc / q->l2_entries] & OFFSET_MASK)) {
			vc += q->l2_entries - 1 - vc % q->l2_entries;
			continue;
		}
		ret = entry_at(q, vc, &e);
		if (ret)
			return ret;
		if (e & (L2_ZERO | OFFSET_MASK))
			*bytes += q->size - (vc << q->cluster_bits) < q->cluster ?
				  q->size - (vc << q->cluster_bits) : q->cluster;
	}
	return 0;
}

const char *qcow2__backing_path(const struct qcow2 *q)
{
	return q->back_path;
}

uint64_t qcow2__backing_bytes(const struct qcow2 *q)
{
	return qcow2_backing_size(q);
}

int qcow2__backing_fd(const struct qcow2 *q, bool *raw)
{
	*raw = !q->back_q;
	return q->back_q ? q->back_q->fd : q->back_fd;
}

int qcow2__read_backing(struct qcow2 *q, uint64_t off, void *buf, size_t len)
{
	return qcow2_read_backing(q, off, buf, len);
}
