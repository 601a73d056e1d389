/* The device interface: what the VM core and the migration engine know of
 * a device. Each device (devices/) registers its I/O ranges on a bus when
 * it is created and offers the save/load/destroy operations below; nothing
 * else. Devices never touch KVM directly: interrupts go out through an irq
 * callback, so every device can be unit tested without /dev/kvm.
 *
 * Device state is saved field by field through wire.h (fixed width, little
 * endian), each device listing its fields once in a wire_walk walker that
 * both save and load run, and carries a version: load accepts every version it knows and
 * refuses the rest with -EPROTONOSUPPORT.
 */
#ifndef VMM__DEVICE_H
#define VMM__DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define DEVICE_NAME_MAX 32

struct device {
	const char *name;		/* stable: names the device in streams */
	uint32_t state_version;		/* version save() writes */
	/* Appends the state to out. Must not change the device. */
	int (*save)(struct device *dev, struct wbuf *out);
	/* Validates everything first, then replaces the state: on error the
	 * device is left as it was. Returns 0 or -errno (-EBADMSG for bad
	 * content, -EPROTONOSUPPORT for an unknown version). in holds exactly
	 * this device's payload: trailing bytes are bad content. */
	int (*load)(struct device *dev, struct rbuf *in, uint32_t version);
	void (*destroy)(struct device *dev);
	/* Optional (NULL for most): at stop-and-copy, vCPUs stopped, before
	 * the last dirty pages are read (finishing work writes guest RAM) and
	 * before save: finishes the device's own work in flight (a disk's
	 * requests) and makes it durable, so the saved state has none. */
	int (*drain)(struct device *dev);
};

/* Raise (level 1) or lower (level 0) an ISA interrupt line. */
typedef void (*irq_set_fn)(void *ctx, unsigned int irq, int level);

#endif
