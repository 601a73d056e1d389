/* The qcow2 tables' entries in memory ahead of the disk: an allocating
 * write writes its cluster and refcount at once but only sets the table
 * entry pointing at it in the L2 cache (or the L1 copy). The pending
 * entries go out together after one fdatasync (a guest flush, an evicted
 * dirty table, PENDING_MAX of them, close), so ordering costs a sync per
 * flush instead of one per cluster, as with QEMU's metadata caches. */
#include "blk_qcow2_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a table is about to point at reaches the disk first: a crash then
 * leaks a cluster at worst, never leaves a table pointing at data or a
 * refcount that never arrived. */
int qcow2_barrier(struct qcow2 *q)
{
	if (q->unordered)
		return 0;
	return fdatasync(q->fd) ? -errno : 0;
}

static void swap_be(uint64_t *t, uint64_t n, bool to_be)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		t[i] = to_be ? htobe64(t[i]) : be64toh(t[i]);
}

/* Entries n from first of the in-memory table t, written to table_off in
 * one go: big-endian in place for the write, back after it. */
static int write_entries(struct qcow2 *q, uint64_t *t, uint64_t table_off, uint64_t first,
			 uint64_t n)
{
	int ret;

	swap_be(t + first, n, true);
	ret = fd__pwrite_all(q->fd, t + first, n * 8, table_off + first * 8);
	swap_be(t + first, n, false);
	return ret;
}

int qcow2_write_pending(struct qcow2 *q)
{
	struct l2_slot *s;
	unsigned int i;
	int ret;

	if (!q->pending)
		return 0;
	ret = qcow2_barrier(q);
	for (i = 0; i < L2_CACHE_SLOTS && !ret; i++) {
		s = &q->cache[i];
		if (!s->dirty)
			continue;
		ret = write_entries(q, s->t, s->off, 0, q->l2_entries);
		if (!ret)
			s->dirty = false;
	}
	/* An L1 entry may land before its L2 table's entries: the table on
	 * the disk is then one from before (zeros for a new one), whole. */
	if (!ret && q->l1_lo < q->l1_hi) {
		ret = write_entries(q, q->l1, q->l1_off, q->l1_lo, q->l1_hi - q->l1_lo);
		if (!ret)
			q->l1_lo = q->l1_hi = 0;
	}
	if (!ret)
		q->pending = 0;
	return ret;
}

void qcow2_set_l2(struct qcow2 *q, uint64_t t_off, uint64_t *t, uint64_t idx, uint64_t v)
{
	unsigned int i;

	t[idx] = v;
	for (i = 0; i < L2_CACHE_SLOTS; i++)
		if (q->cache[i].off == t_off)
			q->cache[i].dirty = true;
	q->pending++;
}

void qcow2_set_l1(struct qcow2 *q, uint32_t i, uint64_t v)
{
	q->l1[i] = v;
	if (q->l1_lo >= q->l1_hi) {
		q->l1_lo = i;
		q->l1_hi = i + 1;
	} else {
		q->l1_lo = i < q->l1_lo ? i : q->l1_lo;
		q->l1_hi = i + 1 > q->l1_hi ? i + 1 : q->l1_hi;
	}
	q->pending++;
}

static uint64_t *cached_l2(struct qcow2 *q, uint64_t off)
{
	unsigned int i;

	for (i = 0; i < L2_CACHE_SLOTS; i++)
		if (q->cache[i].off == off) {
			q->cache[i].age = ++q->clock;
			return q->cache[i].t;
		}
	return NULL;
}

/* The L2 table at off, read into the least recently used slot on a miss;
 * a dirty slot has its entries (and every other pending one) written
 * out before it is reused. */
int qcow2_load_l2(struct qcow2 *q, uint64_t off, uint64_t **out)
{
	struct l2_slot *s = &q->cache[0];
	unsigned int i;
	int ret;

	*out = cached_l2(q, off);
	if (*out)
		return 0;
	for (i = 1; i < L2_CACHE_SLOTS; i++)
		if (q->cache[i].age < s->age)
			s = &q->cache[i];
	if (s->dirty) {
		ret = qcow2_write_pending(q);
		if (ret)
			return ret;
	}
	if (!s->t) {
		s->t = malloc(q->cluster);
		if (!s->t)
			return -ENOMEM;
	}
	s->off = 0;
	ret = fd__pread_zero_tail(q->fd, s->t, q->cluster, off);
	if (ret)
		return ret;
	swap_be(s->t, q->l2_entries, false);
	s->off = off;
	s->age = ++q->clock;
	*out = s->t;
	return 0;
}
