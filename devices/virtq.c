#include "virtq.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

#define DESC_SIZE 16

static uint16_t get16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] | b[1] << 8);
}

/* The guest writes its rings concurrently: read each index once, and
 * read descriptors only after the index that published them. */
static uint16_t load_idx(const void *p)
{
	uint16_t v = __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);

	return get16(&v);
}

int virtq__check(const struct virtq *vq, struct guest_memory *mem)
{
	uint64_t n = vq->size;

	if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
		return -EINVAL;
	if (!guest_memory__hva(mem, vq->desc, n * DESC_SIZE) ||
	    !guest_memory__hva(mem, vq->avail, 6 + 2 * n) ||
	    !guest_memory__hva(mem, vq->used, 6 + 8 * n))
		return -EINVAL;
	return 0;
}

uint16_t virtq__pending(const struct virtq *vq, struct guest_memory *mem)
{
	const uint8_t *avail = guest_memory__hva(mem, vq->avail, 4);

	if (!avail)
		return 0;
	return (uint16_t)(load_idx(avail + 2) - vq->last_avail);
}

static int add_seg(struct virtq_chain *c, struct guest_memory *mem, const uint8_t *d,
		   bool *seen_write)
{
	uint64_t gpa = wire__get_le64(d);
	uint32_t len = wire__get_le32(d + 8);
	uint16_t flags = get16(d + 12);
	struct virtq_seg *s = &c->segs[c->nr_segs];

	if (flags & VIRTQ_DESC_F_INDIRECT)
		return -EBADMSG;
	s->write = flags & VIRTQ_DESC_F_WRITE;
	if (*seen_write && !s->write)
		return -EBADMSG;
	*seen_write |= s->write;
	s->hva = guest_memory__hva(mem, gpa, len);
	if (!s->hva)
		return -EBADMSG;
	s->gpa = gpa;
	s->len = len;
	c->nr_segs++;
	return 0;
}

int virtq__pop(struct virtq *vq, struct guest_memory *mem, struct virtq_chain *c)
{
	const uint8_t *avail = guest_memory__hva(mem, vq->avail, 4 + 2ULL * vq->size);
	const uint8_t *desc = guest_memory__hva(mem, vq->desc, (uint64_t)DESC_SIZE * vq->size);
	uint16_t pending, idx, flags;
	bool seen_write = false;
	unsigned int n;
	int ret;

	if (!avail || !desc || !vq->size)
		return -EBADMSG;
	pending = (uint16_t)(load_idx(avail + 2) - vq->last_avail);
	if (!pending)
		return 0;
	if (pending > vq->size)
		return -EBADMSG;
	idx = get16(avail + 4 + 2 * (vq->last_avail & (vq->size - 1)));
	c->head = idx;
	c->nr_segs = 0;
	for (n = 0;; n++) {
		const uint8_t *d = desc + (uint64_t)DESC_SIZE * idx;

		if (idx >= vq->size || n >= vq->size)
			return -EBADMSG;
		ret = add_seg(c, mem, d, &seen_write);
		if (ret)
			return ret;
		flags = get16(d + 12);
		if (!(flags & VIRTQ_DESC_F_NEXT))
			break;
		idx = get16(d + 14);
	}
	vq->last_avail++;
	return 1;
}

/* Both writes are recorded as the VMM's, so a migration sends them (KVM's
 * dirty log never sees the VMM's own writes). */
bool virtq__push(struct virtq *vq, struct guest_memory *mem, uint16_t head, uint32_t len)
{
	uint8_t elem[8];
	uint16_t slot = vq->used_idx & (vq->size - 1);
	const uint8_t *avail = guest_memory__hva(mem, vq->avail, 2);
	uint16_t *used_idx = guest_memory__hva(mem, vq->used + 2, 2);

	wire__le32(elem, head);
	wire__le32(elem + 4, len);
	guest_memory__write(mem, vq->used + 4 + 8ULL * slot, elem, sizeof(elem));
	vq->used_idx++;
	if (used_idx) {
		/* x86 is little endian, as the ring is: the element must be
		 * visible before the index that publishes it. */
		__atomic_store_n(used_idx, vq->used_idx, __ATOMIC_RELEASE);
		guest_memory__mark(mem, vq->used + 2, 2);
	}
	/* The driver's flags are read after the index is published, so a
	 * driver that turned interrupts back on and then looked saw it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !avail || !(load_idx(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
