#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io_bus.h"

struct hit {
	int calls;
	uint64_t addr;
	uint32_t len;
	bool is_write;
	uint8_t first;
};

static void record(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct hit *h = opaque;

	h->calls++;
	h->addr = addr;
	h->len = len;
	h->is_write = is_write;
	h->first = data[0];
	if (!is_write)
		data[0] = 0x5a;
}

static int setup(void **state)
{
	*state = io_bus__create("test");
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	io_bus__destroy(*state);
	return 0;
}

static void test_register_rejects_bad_ranges(void **state)
{
	struct io_bus *bus = *state;
	struct hit h = { 0 };

	assert_int_equal(io_bus__register(bus, 0x10, 0, record, &h), -EINVAL);
	assert_int_equal(io_bus__register(bus, UINT64_MAX, 2, record, &h), -EINVAL);
	assert_int_equal(io_bus__register(bus, 0x10, 1, NULL, &h), -EINVAL);
	/* A range may end exactly at the top of the space. */
	assert_int_equal(io_bus__register(bus, UINT64_MAX, 1, record, &h), 0);
	assert_int_equal(io_bus__register(bus, 0, UINT64_MAX, record, &h), 0);
	assert_int_equal(io_bus__register(bus, 0, 1, record, &h), -EEXIST);
}

static void test_overlap(void **state)
{
	struct io_bus *bus = *state;
	struct hit h = { 0 };

	assert_int_equal(io_bus__register(bus, 0x100, 0x10, record, &h), 0);
	/* Every way of touching [0x100, 0x10f]. */
	assert_int_equal(io_bus__register(bus, 0x100, 0x10, record, &h), -EEXIST);
	assert_int_equal(io_bus__register(bus, 0xf0, 0x11, record, &h), -EEXIST);
	assert_int_equal(io_bus__register(bus, 0x10f, 1, record, &h), -EEXIST);
	assert_int_equal(io_bus__register(bus, 0x104, 2, record, &h), -EEXIST);
	assert_int_equal(io_bus__register(bus, 0x0, 0x1000, record, &h), -EEXIST);
	/* Adjacent on both sides is fine. */
	assert_int_equal(io_bus__register(bus, 0xf0, 0x10, record, &h), 0);
	assert_int_equal(io_bus__register(bus, 0x110, 0x10, record, &h), 0);
	/* A gap filled exactly. */
	assert_int_equal(io_bus__register(bus, 0x200, 0x10, record, &h), 0);
	assert_int_equal(io_bus__register(bus, 0x120, 0xe0, record, &h), 0);
	assert_int_equal(io_bus__register(bus, 0x1ff, 2, record, &h), -EEXIST);
}

static void test_dispatch_edges(void **state)
{
	struct io_bus *bus = *state;
	struct hit a = { 0 }, b = { 0 };
	uint8_t data[4] = { 0x11, 0x22, 0x33, 0x44 };

	assert_int_equal(io_bus__register(bus, 0x3f8, 8, record, &a), 0);
	assert_int_equal(io_bus__register(bus, 0x400, 4, record, &b), 0);

	assert_false(io_bus__dispatch(bus, 0x3f7, data, 1, true));
	assert_false(io_bus__dispatch(bus, 0x404, data, 1, true));
	assert_false(io_bus__dispatch(bus, 0, data, 1, false));
	assert_false(io_bus__dispatch(bus, UINT64_MAX, data, 1, false));
	assert_int_equal(a.calls + b.calls, 0);

	assert_true(io_bus__dispatch(bus, 0x3f8, data, 1, true));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.addr, 0x3f8);
	assert_true(a.is_write);
	assert_int_equal(a.first, 0x11);

	assert_true(io_bus__dispatch(bus, 0x3ff, data, 2, false));
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.addr, 0x3ff);
	assert_int_equal(a.len, 2);
	assert_false(a.is_write);
	assert_int_equal(data[0], 0x5a);

	assert_true(io_bus__dispatch(bus, 0x403, data, 4, true));
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.addr, 0x403);
	assert_int_equal(a.calls, 2);
}

static void test_empty_bus(void **state)
{
	uint8_t data = 0;

	assert_false(io_bus__dispatch(*state, 0x80, &data, 1, true));
}

/* Many ranges registered out of order: each address must find its own. */
static void test_many_ranges(void **state)
{
	struct io_bus *bus = *state;
	static struct hit hits[64];
	uint8_t data = 0;
	unsigned int i, k;

	memset(hits, 0, sizeof(hits));
	for (i = 0; i < 64; i++) {
		k = (i * 37) % 64;	/* a permutation of 0..63 */
		assert_int_equal(io_bus__register(bus, 0x1000 + k * 0x10, 8,
						  record, &hits[k]), 0);
	}
	for (k = 0; k < 64; k++) {
		uint64_t base = 0x1000 + k * 0x10;

		assert_true(io_bus__dispatch(bus, base, &data, 1, false));
		assert_true(io_bus__dispatch(bus, base + 7, &data, 1, false));
		assert_false(io_bus__dispatch(bus, base + 8, &data, 1, false));
		assert_false(io_bus__dispatch(bus, base + 15, &data, 1, false));
		assert_int_equal(hits[k].calls, 2);
		assert_int_equal(hits[k].addr, base + 7);
	}
}

static void test_create_destroy(void **state)
{
	struct io_bus *bus = io_bus__create(NULL);

	assert_non_null(bus);
	io_bus__destroy(bus);
	io_bus__destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_rejects_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ranges, setup, teardown),
		cmocka_unit_test(test_create_destroy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
