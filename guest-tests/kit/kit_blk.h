/* The kit's disk: the first virtio-blk function on PCI bus 0 (vmm's
 * --drive, QEMU's -drive if=virtio), driven through its virtio 1.x modern
 * interface. Config mechanism #1 and MMIO are ring-0 only, and ring 0 is
 * emulated on some hosts, so a request costs one ring-0 call (the notify
 * write): ring 3 builds the descriptors and polls the used ring in RAM.
 * Interrupts stay suppressed (the guest polls). Any CPU may use the disk:
 * requests take turns, one in flight at a time. Init, reinit and the
 * garbage hook are for one CPU while no other uses the disk.
 */
#ifndef KIT__KIT_BLK_H
#define KIT__KIT_BLK_H

#include <stdbool.h>
#include <stdint.h>

#define KIT_BLK_SECTOR		512
#define KIT_BLK_MAX_BYTES	(256 * 1024)	/* one request's data, at most */

/* A request's outcome: virtio's status, or the device stopped answering
 * or set NEEDS_RESET. */
enum kit_blk_status {
	KIT_BLK_OK = 0,
	KIT_BLK_IOERR = 1,
	KIT_BLK_UNSUPP = 2,
	KIT_BLK_BROKEN = -1,
};

struct kit_blk {
	uint64_t sectors;
	bool readonly;
	bool flush;			/* FLUSH negotiated */
	uint16_t device_id;		/* 0x1042 modern, 0x1001 transitional */
	unsigned int slot;
};

/* Finds and initialises the disk; false (with the reason printed) when
 * there is none or it cannot be driven. */
bool kit__blk_init(struct kit_blk *info);
/* Reads or writes len bytes (a multiple of 512) at sector through buf, a
 * buffer in RAM; waits for the answer. */
enum kit_blk_status kit__blk_rw(bool write, uint64_t sector, void *buf, uint32_t len);
enum kit_blk_status kit__blk_flush(void);
/* Test hook: offers a chain whose first descriptor lies past the end of
 * RAM, as a broken driver would. The device must stop (NEEDS_RESET);
 * returns the status register seen after it. */
uint8_t kit__blk_send_garbage(void);
/* Resets the device and initialises it again (after NEEDS_RESET). */
bool kit__blk_reinit(void);

#endif
