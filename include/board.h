/* The machine: a VM (vm.h) with this project's standard set of devices on
 * its buses, as every guest and every incoming migration sees them. The VM
 * core knows devices only through device.h; which devices a machine has,
 * where, and how their interrupts and exits reach KVM is said here once. */
#ifndef VMM__BOARD_H
#define VMM__BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "blk_backend.h"
#include "vm.h"

struct line_stamp;

/* A --drive: its image opened (blk_backend__open) before the sandbox, by
 * the program, which closes it after the VM. */
struct board_drive {
	struct blk_backend *backend;
	bool readonly;
	/* Bytes the guest sees, at most the image's; 0: the whole image.
	 * Block migration into a bigger image keeps the source's size. */
	uint64_t size;
};

struct board_options {
	struct vm_options vm;
	int serial_out_fd;		/* the UART's output; -1: dropped */
	/* If set, the UART writes through it (host time on every line)
	 * instead of to serial_out_fd; it must outlive the VM. */
	struct line_stamp *serial_stamp;
	/* With drives the machine gains a PCI host bridge and one
	 * virtio-blk function per drive, named virtio-blk.N in order;
	 * without, it is exactly the machine it was before PCI. */
	const struct board_drive *drives;
	unsigned int nr_drives;
	/* The VM given to board__create already holds a shell of vm's RAM
	 * size (vm__create_shell): it is completed, not made anew. */
	bool vm_has_shell;
};

/* Creates the VM (its shell unless opts->vm_has_shell) and its devices,
 * timing all but the shell (vm->build_us); on failure
 * nothing is left (the VM is destroyed) and err says why. */
int board__create(struct vm *vm, const struct board_options *opts, char *err, size_t errlen);
/* A device as board__create builds it: its name in streams, its state
 * version (the newest its load reads). */
struct board_device_info {
	char name[DEVICE_NAME_MAX];
	uint32_t state_version;
};

/* The devices board__create builds with nr_drives drives, without
 * building a VM: what a destination compares an incoming configuration
 * with. Returns how many, or -ENOMEM, or -ENOSPC when there are more
 * than max. */
int board__list_devices(struct board_device_info *out, unsigned int max,
			unsigned int nr_drives);
/* The UART that takes the host's stdin, or NULL. */
struct device *board__console(struct vm *vm);

#endif
