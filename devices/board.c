#include "board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "devices.h"
#include "line_stamp.h"
#include "pci.h"
#include "virtio_blk.h"

#define COM1_BASE 0x3f8
#define COM1_IRQ 4
#define COM1_NAME "uart16550@0x3f8"
#define DEBUG_EXIT_PORT 0xf4

static void on_debug_exit(void *ctx, uint32_t value)
{
	vm__request_exit(ctx, (int)(value & 0xff), "guest wrote %u to the debug-exit port", value);
}

static ssize_t stamped_write(void *ctx, const void *buf, size_t len)
{
	return line_stamp__write(ctx, buf, len);
}

/* The PCI bus exists only with drives, so that a machine without keeps
 * the device list (and the streams) it had before. Listing (no backends)
 * names the drives' devices without building them. */
static int add_drives(struct vm *vm, const struct board_options *opts,
		      struct board_device_info *listed, unsigned int *nr_listed)
{
	struct device *host;
	unsigned int i;
	int ret;

	if (!opts->nr_drives)
		return 0;
	host = pci_host__create(vm->pio, vm->mmio, vm__set_irq_line, vm);
	ret = vm__add_device(vm, host);
	for (i = 0; !ret && i < opts->nr_drives; i++) {
		struct virtio_blk_config vc = {
			.pci_host = host, .mem = &vm->mem, .index = i,
			.backend = opts->drives ? opts->drives[i].backend : NULL,
			.readonly = opts->drives ? opts->drives[i].readonly : false,
			.size = opts->drives ? opts->drives[i].size : 0,
		};

		if (!vc.backend) {
			snprintf(listed[*nr_listed].name, DEVICE_NAME_MAX, "virtio-blk.%u", i);
			listed[(*nr_listed)++].state_version = VIRTIO_BLK_STATE_VERSION;
			continue;
		}
		ret = vm__add_device(vm, virtio_blk__create(&vc));
	}
	return ret;
}

static int add_devices(struct vm *vm, const struct board_options *opts)
{
	struct uart_config uart = {
		.base = COM1_BASE, .irq = COM1_IRQ, .out_fd = opts->serial_out_fd,
		.irq_set = vm__set_irq_line, .irq_ctx = vm,
	};
	struct fw_cfg_config fw = { .nb_cpus = opts->vm.nr_cpus, .ram_size = opts->vm.ram_size };
	int ret;

	if (opts->serial_stamp) {
		uart.out_write = stamped_write;
		uart.out_ctx = opts->serial_stamp;
	}
	ret = vm__add_device(vm, uart16550__create(vm->pio, &uart));
	if (!ret)
		ret = vm__add_device(vm, debug_exit__create(vm->pio, DEBUG_EXIT_PORT, on_debug_exit, vm));
	if (!ret)
		ret = vm__add_device(vm, fw_cfg__create(vm->pio, &fw));
	if (!ret)
		ret = vm__add_device(vm, testdev__create(vm->mmio));
	return ret;
}

static int add_all(struct vm *vm, const struct board_options *opts,
		   struct board_device_info *listed, unsigned int *nr_listed)
{
	int ret = add_devices(vm, opts);

	return ret ? ret : add_drives(vm, opts, listed, nr_listed);
}

int board__create(struct vm *vm, const struct board_options *opts, char *err, size_t errlen)
{
	uint64_t start;
	int ret;

	if (!opts->vm_has_shell) {
		ret = vm__create_shell(vm, &opts->vm, err, errlen);
		if (ret)
			return ret;
	}
	/* Timed from here: what a destination given --mem builds beside
	 * round 0, its shell made before it listened. */
	start = clock__mono_us();
	ret = vm__complete(vm, &opts->vm, err, errlen);
	if (ret)
		return ret;
	ret = add_all(vm, opts, NULL, NULL);
	if (ret) {
		snprintf(err, errlen, "creating devices: %s", strerror(-ret));
		vm__destroy(vm);
		return ret;
	}
	vm->build_us = clock__mono_us() - start;
	return 0;
}

int board__list_devices(struct board_device_info *out, unsigned int max,
			unsigned int nr_drives)
{
	struct board_options opts = {
		.vm = { .kvm_fd = -1, .ram_size = GUEST_RAM_MIN, .nr_cpus = 1 },
		.serial_out_fd = -1,
		.nr_drives = nr_drives,
	};
	struct board_device_info drives[DRIVE_MAX];
	unsigned int nr_listed = 0;
	/* Devices need no KVM: build them on a scratch VM and read them. */
	struct vm *scratch = calloc(1, sizeof(*scratch));
	unsigned int i, n = 0;
	int ret;

	if (!scratch)
		return -ENOMEM;
	if (nr_drives > DRIVE_MAX)
		ret = -ENOSPC;
	else
		ret = vm__create_buses(scratch);
	if (!ret)
		ret = add_all(scratch, &opts, drives, &nr_listed);
	for (i = 0; !ret && i < scratch->nr_devices + nr_listed; i++, n++) {
		const struct device *d = i < scratch->nr_devices ? scratch->devices[i] : NULL;

		if (i == max) {
			ret = -ENOSPC;
			break;
		}
		if (d) {
			snprintf(out[i].name, sizeof(out[i].name), "%s", d->name);
			out[i].state_version = d->state_version;
		} else {
			out[i] = drives[i - scratch->nr_devices];
		}
	}
	if (!ret)
		ret = (int)n;
	vm__destroy_devices(scratch);
	free(scratch);
	return ret;
}

struct device *board__console(struct vm *vm)
{
	return vm__find_device(vm, COM1_NAME);
}
