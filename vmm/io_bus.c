#include "io_bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Threading: io_bus__register() runs only at start-up, before any vCPU
 * thread exists; after that the range table is read-only, so
 * io_bus__dispatch() takes no lock and scales across vCPU threads. Devices
 * serialise their own state.
 *
 * A range is found by the first byte of the access. An access that runs past
 * the end of its range still goes whole to that range's handler, which knows
 * its own register layout better than the bus does.
 */

struct io_range {
	uint64_t base;
	uint64_t last;		/* inclusive, so a range may end at 2^64 - 1 */
	io_handler_fn fn;
	void *opaque;
};

struct io_bus {
	char name[32];
	struct io_range *ranges;	/* sorted by base, never overlapping */
	size_t nr;
	size_t cap;
};

struct io_bus *io_bus__create(const char *name)
{
	struct io_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return NULL;
	snprintf(bus->name, sizeof(bus->name), "%s", name ? name : "io");
	return bus;
}

void io_bus__destroy(struct io_bus *bus)
{
	if (!bus)
		return;
	free(bus->ranges);
	free(bus);
}

/* Index of the first range whose base is greater than addr. */
static size_t upper_bound(const struct io_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int grow(struct io_bus *bus)
{
	size_t cap = bus->cap ? bus->cap * 2 : 16;
	struct io_range *r;

	r = realloc(bus->ranges, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	bus->ranges = r;
	bus->cap = cap;
	return 0;
}

int io_bus__register(struct io_bus *bus, uint64_t base, uint64_t len,
		     io_handler_fn fn, void *opaque)
{
	uint64_t last = base + len - 1;
	size_t i;
	int ret;

	if (!bus || !fn || len == 0 || last < base)
		return -EINVAL;

	i = upper_bound(bus, base);
	/* Neighbours are sorted and disjoint, so only these two can collide. */
	if (i > 0 && bus->ranges[i - 1].last >= base)
		return -EEXIST;
	if (i < bus->nr && bus->ranges[i].base <= last)
		return -EEXIST;

	if (bus->nr == bus->cap) {
		ret = grow(bus);
		if (ret)
			return ret;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(bus->nr - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct io_range){
		.base = base, .last = last, .fn = fn, .opaque = opaque,
	};
	bus->nr++;
	return 0;
}

bool io_bus__dispatch(struct io_bus *bus, uint64_t addr, uint8_t *data,
		      uint32_t len, bool is_write)
{
	const struct io_range *r;
	size_t i = upper_bound(bus, addr);

	if (i == 0)
		return false;
	r = &bus->ranges[i - 1];
	if (addr > r->last)
		return false;
	r->fn(r->opaque, addr, data, len, is_write);
	return true;
}
