/* The emulated devices, one file each in devices/, each with the interface
 * of device.h. Create functions return NULL on failure with errno set
 * (EINVAL, ENOMEM, or EEXIST when the I/O range is taken). The bus has no
 * unregister: destroy a device only once no vCPU can dispatch to it any
 * more.
 */
#ifndef VMM__DEVICES_H
#define VMM__DEVICES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"
#include "io_bus.h"

/* --- 16550A UART ------------------------------------------------------ */
struct uart_config {
	uint16_t base;			/* 0x3f8 for COM1 */
	unsigned int irq;		/* 4 for COM1 */
	int out_fd;			/* transmitted bytes go here; -1 = drop */
	/* If set, transmitted bytes go here instead of out_fd (e.g. a writer
	 * that stamps lines); called with the device lock held, returns the
	 * bytes written or -errno. */
	ssize_t (*out_write)(void *ctx, const void *buf, size_t len);
	void *out_ctx;
	irq_set_fn irq_set;
	void *irq_ctx;
};

struct device *uart16550__create(struct io_bus *pio, const struct uart_config *cfg);
/* Feeds received bytes (e.g. from stdin) into the receive FIFO; returns the
 * number accepted (the FIFO holds 16 bytes; the rest is for a later call). */
size_t uart16550__receive(struct device *dev, const uint8_t *buf, size_t len);
/* Free receive-FIFO space, so a reader thread can wait instead of spinning. */
size_t uart16550__rx_space(struct device *dev);

/* --- debug-exit (QEMU isa-debug-exit compatible port) --------------------- */
/* Called with the written value; the VMM then ends with it as exit status. */
typedef void (*debug_exit_fn)(void *ctx, uint32_t value);
struct device *debug_exit__create(struct io_bus *pio, uint16_t port,
				  debug_exit_fn on_exit, void *ctx);

/* --- QEMU fw_cfg, legacy port interface ------------------------------------ */
struct fw_cfg_config {
	uint16_t nb_cpus;
	uint64_t ram_size;
};
struct device *fw_cfg__create(struct io_bus *pio, const struct fw_cfg_config *cfg);

/* --- test device: an MMIO counter with a read side effect ------------------ */
/* In the hole below 4 GiB, clear of the IOAPIC (0xfec00000), the LAPIC
 * (0xfee00000, with the MSI window up to 0xfeefffff) and the TSS KVM keeps
 * at 0xfffbd000; the guest kit maps it uncached for ring 0. */
#define TESTDEV_MMIO_BASE	0xfef00000ULL
#define TESTDEV_MMIO_SIZE	0x1000
#define TESTDEV_REG_ID		0x00	/* u32, reads TESTDEV_ID */
#define TESTDEV_REG_COUNTER	0x08	/* 4/8-byte read: the counter, then +1 */
#define TESTDEV_ID		0x54534554	/* "TEST" in memory order */
struct device *testdev__create(struct io_bus *mmio);

#endif
