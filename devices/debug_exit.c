#include "devices.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QEMU's isa-debug-exit with iosize=4: four ports from `port`, a write of
 * any width anywhere in them ends the VM with the written value. QEMU turns
 * the value v into exit status (v << 1) | 1; that mapping is the VMM's
 * business, this device reports v as written. Stateless, so no lock. */

#define DEBUG_EXIT_PORTS	4
#define DEBUG_EXIT_STATE_V1	1

struct debug_exit {
	struct device dev;
	char name[DEVICE_NAME_MAX];
	debug_exit_fn on_exit;
	void *ctx;
};

static struct debug_exit *to_debug_exit(struct device *dev)
{
	return (struct debug_exit *)((char *)dev - offsetof(struct debug_exit, dev));
}

static void debug_exit_io(void *opaque, uint64_t addr, uint8_t *data,
			  uint32_t len, bool is_write)
{
	struct debug_exit *d = opaque;
	uint32_t value = 0;
	uint32_t i;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* Port I/O is at most 4 bytes; ignore anything wider. */
	for (i = 0; i < len && i < 4; i++)
		value |= (uint32_t)data[i] << (8 * i);
	d->on_exit(d->ctx, value);
}

static int debug_exit_save(struct device *dev, struct wbuf *out)
{
	return out->err;
}

static int debug_exit_load(struct device *dev, struct rbuf *in,
			   uint32_t version)
{
	if (version != DEBUG_EXIT_STATE_V1)
		return -EPROTONOSUPPORT;
	if (in->err || rbuf__remaining(in))
		return -EBADMSG;
	return 0;
}

static void debug_exit_destroy(struct device *dev)
{
	if (dev)
		free(to_debug_exit(dev));
}

struct device *debug_exit__create(struct io_bus *pio, uint16_t port,
				  debug_exit_fn on_exit, void *ctx)
{
	struct debug_exit *d;
	int ret;

	if (!pio || !on_exit) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	snprintf(d->name, sizeof(d->name), "debug_exit@0x%x", port);
	d->dev = (struct device){
		.name = d->name,
		.state_version = DEBUG_EXIT_STATE_V1,
		.save = debug_exit_save,
		.load = debug_exit_load,
		.destroy = debug_exit_destroy,
	};
	d->on_exit = on_exit;
	d->ctx = ctx;
	ret = io_bus__register(pio, port, DEBUG_EXIT_PORTS, debug_exit_io, d);
	if (ret) {
		free(d);
		errno = -ret;
		return NULL;
	}
	return &d->dev;
}
