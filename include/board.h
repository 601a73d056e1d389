/* The machine: a VM (vm.h) with this project's standard set of devices on
 * its buses, as every guest and every incoming migration sees them. The VM
 * core knows devices only through device.h; which devices a machine has,
 * where, and how their interrupts and exits reach KVM is said here once. */
#ifndef VMM__BOARD_H
#define VMM__BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

struct line_stamp;

struct board_options {
	struct vm_options vm;
	int serial_out_fd;		/* the UART's output; -1: dropped */
	/* If set, the UART writes through it (host time on every line)
	 * instead of to serial_out_fd; it must outlive the VM. */
	struct line_stamp *serial_stamp;
};

/* Creates the VM and its devices; on failure nothing is left (the VM is
 * destroyed) and err says why. */
int board__create(struct vm *vm, const struct board_options *opts, char *err, size_t errlen);
/* A device as board__create builds it: its name in streams, its state
 * version (the newest its load reads). */
struct board_device_info {
	char name[DEVICE_NAME_MAX];
	uint32_t state_version;
};

/* The devices board__create builds, without building a VM: what a
 * destination compares an incoming configuration with. Returns how many,
 * or -ENOMEM, or -ENOSPC when there are more than max. */
int board__list_devices(struct board_device_info *out, unsigned int max);
/* The UART that takes the host's stdin, or NULL. */
struct device *board__console(struct vm *vm);

#endif
