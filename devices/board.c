#include "board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "line_stamp.h"

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

int board__create(struct vm *vm, const struct board_options *opts, char *err, size_t errlen)
{
	int ret;

	ret = vm__create(vm, &opts->vm, err, errlen);
	if (ret)
		return ret;
	ret = add_devices(vm, opts);
	if (ret) {
		snprintf(err, errlen, "creating devices: %s", strerror(-ret));
		vm__destroy(vm);
	}
	return ret;
}

int board__list_devices(struct board_device_info *out, unsigned int max)
{
	struct board_options opts = {
		.vm = { .kvm_fd = -1, .ram_size = GUEST_RAM_MIN, .nr_cpus = 1 },
		.serial_out_fd = -1,
	};
	/* Devices need no KVM: build them on a scratch VM and read them. */
	struct vm *scratch = calloc(1, sizeof(*scratch));
	unsigned int i;
	int ret;

	if (!scratch)
		return -ENOMEM;
	ret = vm__create_buses(scratch);
	if (!ret)
		ret = add_devices(scratch, &opts);
	for (i = 0; !ret && i < scratch->nr_devices; i++) {
		if (i == max) {
			ret = -ENOSPC;
			break;
		}
		snprintf(out[i].name, sizeof(out[i].name), "%s", scratch->devices[i]->name);
		out[i].state_version = scratch->devices[i]->state_version;
	}
	if (!ret)
		ret = (int)scratch->nr_devices;
	vm__destroy_devices(scratch);
	free(scratch);
	return ret;
}

struct device *board__console(struct vm *vm)
{
	return vm__find_device(vm, COM1_NAME);
}
