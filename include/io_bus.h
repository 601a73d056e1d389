/* Port I/O and MMIO dispatch: devices claim address ranges, vCPU exits are
 * routed to the claiming handler. One handler signature serves both spaces.
 */
#ifndef VMM__IO_BUS_H
#define VMM__IO_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* addr is absolute (the port number, or the guest-physical address); data
 * holds len bytes, little-endian, to be filled on a read. */
typedef void (*io_handler_fn)(void *opaque, uint64_t addr, uint8_t *data,
			      uint32_t len, bool is_write);

struct io_bus;

struct io_bus *io_bus__create(const char *name);
void io_bus__destroy(struct io_bus *bus);
/* Returns -EEXIST if the range overlaps a registered one. */
int io_bus__register(struct io_bus *bus, uint64_t base, uint64_t len,
		     io_handler_fn fn, void *opaque);
/* Returns false when no device claims addr: the caller then applies the
 * unclaimed-access rule (reads all ones, writes ignored, logged once). */
/* Takes no lock: ranges are registered only before the vCPUs start. */
bool io_bus__dispatch(struct io_bus *bus, uint64_t addr, uint8_t *data,
		      uint32_t len, bool is_write);

#endif
