/* virtio-blk, virtio 1.x modern over PCI: one request queue, requests
 * served through a blk_backend without a vCPU ever waiting for the disk
 * (a notify only kicks the backend's I/O thread, which takes the chains,
 * submits them, completes them on the used ring and raises INTx).
 *
 * BAR0 (16 KiB) holds the four virtio structures the capabilities point
 * at: common config at 0x0000, ISR at 0x1000, device config at 0x2000,
 * notify at 0x3000 (queue 0, multiplier 0). Features offered: VERSION_1,
 * SEG_MAX, BLK_SIZE, FLUSH, and RO for a read-only drive. No MSI-X, no
 * indirect descriptors, no event index.
 *
 * A request the device cannot serve (sector range outside the image,
 * write to a read-only drive, a length not a multiple of 512, more than
 * SEG_MAX data buffers) completes with VIRTIO_BLK_S_IOERR; a broken ring
 * or a chain without room for a status byte sets NEEDS_RESET and the
 * device stops taking requests until the driver resets it.
 */
#ifndef VMM__VIRTIO_BLK_H
#define VMM__VIRTIO_BLK_H

#include <stdbool.h>

#include "blk_backend.h"
#include "device.h"
#include "guest_memory.h"

#define VIRTIO_BLK_BAR_SIZE	0x4000
#define VIRTIO_BLK_COMMON	0x0000
#define VIRTIO_BLK_ISR		0x1000
#define VIRTIO_BLK_DEVCFG	0x2000
#define VIRTIO_BLK_NOTIFY	0x3000
#define VIRTIO_BLK_QUEUE_SIZE	128
#define VIRTIO_BLK_SEG_MAX	(BLK_IO_MAX_IOV - 2)
#define VIRTIO_BLK_STATE_VERSION 1	/* the newest state load reads */

struct virtio_blk_config {
	struct device *pci_host;	/* pci.h: the device goes on its bus */
	struct guest_memory *mem;
	struct blk_backend *backend;	/* runs while the device lives; not closed */
	bool readonly;
	uint64_t size;			/* bytes the guest sees (<= the image); 0: all */
	unsigned int index;		/* names it virtio-blk.N in streams */
};

/* Returns NULL with errno set. */
struct device *virtio_blk__create(const struct virtio_blk_config *cfg);

#endif
