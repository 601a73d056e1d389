/* A virtio 1.x split virtqueue as the device side sees it: taking chains
 * off the available ring and putting them on the used ring, in guest RAM.
 *
 * Everything read from the guest is checked before use: ring addresses,
 * descriptor indexes, chain length (a loop is a chain longer than the
 * queue), every buffer inside RAM, device-writable buffers after the
 * readable ones. A chain that fails is not the guest's data but a broken
 * ring: the caller puts the device into NEEDS_RESET. Indirect descriptors
 * are not offered, so a chain using one is broken too.
 *
 * Not thread-safe: one thread (the device's I/O thread) works a queue.
 */
#ifndef VMM__VIRTQ_H
#define VMM__VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_memory.h"

#define VIRTQ_MAX_SIZE		256
#define VIRTQ_MAX_SEGS		(VIRTQ_MAX_SIZE)
#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq {
	uint16_t size;			/* a power of two, <= VIRTQ_MAX_SIZE */
	bool enabled;
	uint64_t desc, avail, used;	/* guest-physical ring addresses */
	uint16_t last_avail;		/* next avail ring slot to take */
	uint16_t used_idx;		/* next used ring slot to fill */
};

struct virtq_seg {
	void *hva;
	uint64_t gpa;
	uint32_t len;
	bool write;			/* device writes it (guest reads) */
};

struct virtq_chain {
	uint16_t head;
	unsigned int nr_segs;
	struct virtq_seg segs[VIRTQ_MAX_SEGS];
};

/* Checks the rings of a queue the driver enables: size a power of two
 * within limits, each ring aligned as the spec requires and inside RAM.
 * Returns 0 or -EINVAL. */
int virtq__check(const struct virtq *vq, struct guest_memory *mem);
/* Takes the next available chain into c: 1 when one was taken, 0 when the
 * ring is empty, -EBADMSG when the ring or the chain is broken (the avail
 * index ran more than a queue ahead, a bad index, a loop, a buffer outside
 * RAM, a readable buffer after a writable one, an indirect descriptor). */
int virtq__pop(struct virtq *vq, struct guest_memory *mem, struct virtq_chain *c);
/* Puts head on the used ring with the bytes written into its buffers and
 * publishes it; returns whether the driver wants an interrupt. */
bool virtq__push(struct virtq *vq, struct guest_memory *mem, uint16_t head, uint32_t len);
/* How many chains the driver has made available and not yet taken. */
uint16_t virtq__pending(const struct virtq *vq, struct guest_memory *mem);

#endif
