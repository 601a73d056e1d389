/* PCI bus 0 behind a host bridge with configuration mechanism #1 (ports
 * 0xcf8 address, 0xcfc-0xcff data), as on a PC. The VMM plays firmware:
 * it places every memory BAR in a window of the PCI hole when a function
 * is added, so a guest without a BIOS finds its devices ready. A guest may
 * still size and move BARs; MMIO in the window is routed by the BARs'
 * current values, so a moved BAR works without re-registering on the bus.
 *
 * Only bus 0, function 0 of each slot, 32-bit memory BARs. Devices own a
 * struct pci_function and fill its config space (IDs, class, capabilities,
 * BAR sizes) before adding it; the host bridge then owns config accesses
 * and saves every function's config space in its own state.
 */
#ifndef VMM__PCI_H
#define VMM__PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "io_bus.h"

#define PCI_CONFIG_ADDR_PORT	0xcf8
#define PCI_CONFIG_DATA_PORT	0xcfc
/* BARs go here: inside the 3-4 GiB hole, below the IOAPIC (0xfec00000)
 * and clear of the test device (0xfef00000) and the LAPIC. */
#define PCI_MMIO_BASE		0xe0000000ULL
#define PCI_MMIO_SIZE		0x10000000ULL
#define PCI_MAX_SLOTS		8
#define PCI_NR_BARS		6
#define PCI_CONFIG_SIZE		256
/* INTx of slot s is wired to IOAPIC input PCI_INTX_GSI_BASE + s. */
#define PCI_INTX_GSI_BASE	16

/* Config space offsets used here and by devices. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_STATUS_INTERRUPT	0x08

struct pci_function;

/* An access to a BAR: off is relative to the BAR's start. */
typedef void (*pci_bar_io_fn)(void *opaque, unsigned int bar, uint64_t off,
			      uint8_t *data, uint32_t len, bool is_write);

struct pci_function {
	uint8_t config[PCI_CONFIG_SIZE];
	/* Bits a guest may write; the rest are read-only. Set by the device
	 * for its own writable fields (capabilities); the bridge adds the
	 * header's (command, BARs, interrupt line). */
	uint8_t wmask[PCI_CONFIG_SIZE];
	uint32_t bar_size[PCI_NR_BARS];	/* 0: no BAR; else a power of two >= 4096 */
	pci_bar_io_fn bar_io;
	void *opaque;
	/* Set by pci_host__add. */
	unsigned int slot;
	unsigned int gsi;
};

/* irq_set raises and lowers the functions' INTx lines (level triggered). */
struct device *pci_host__create(struct io_bus *pio, struct io_bus *mmio,
				irq_set_fn irq_set, void *irq_ctx);
/* Puts fn on the next free slot, places its BARs, sets its interrupt line
 * and pin A. Returns 0, -ENOSPC (no slot or no room in the window). */
int pci_host__add(struct device *host, struct pci_function *fn);

/* Sets fn's INTx level: the status register's interrupt bit follows it,
 * and the line is driven unless the guest set INTx disable. */
void pci_host__set_intx(struct device *host, struct pci_function *fn, bool level);

#endif
