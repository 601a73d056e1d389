#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices.h"
#include "io_bus.h"
#include "wire.h"

#define PORT 0xf4

struct exits {
	int calls;
	uint32_t value;
};

struct rig {
	struct io_bus *bus;
	struct device *dev;
	struct exits exits;
};

static void on_exit_cb(void *ctx, uint32_t value)
{
	struct exits *e = ctx;

	e->calls++;
	e->value = value;
}

static int setup(void **state)
{
	struct rig *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->bus = io_bus__create("pio");
	assert_non_null(t->bus);
	t->dev = debug_exit__create(t->bus, PORT, on_exit_cb, &t->exits);
	assert_non_null(t->dev);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct rig *t = *state;

	t->dev->destroy(t->dev);
	io_bus__destroy(t->bus);
	free(t);
	return 0;
}

static void test_write_widths(void **state)
{
	struct rig *t = *state;
	uint8_t data[4] = { 0x31, 0x00, 0x00, 0x00 };

	assert_true(io_bus__dispatch(t->bus, PORT, data, 1, true));
	assert_int_equal(t->exits.calls, 1);
	assert_int_equal(t->exits.value, 0x31);

	data[1] = 0x02;
	assert_true(io_bus__dispatch(t->bus, PORT, data, 2, true));
	assert_int_equal(t->exits.value, 0x0231);

	data[2] = 0x03;
	data[3] = 0x84;
	assert_true(io_bus__dispatch(t->bus, PORT, data, 4, true));
	assert_int_equal(t->exits.value, 0x84030231u);
	assert_int_equal(t->exits.calls, 3);

	/* Any of the four ports, as with iosize=4. */
	assert_true(io_bus__dispatch(t->bus, PORT + 3, data, 1, true));
	assert_int_equal(t->exits.value, 0x31);
	assert_int_equal(t->exits.calls, 4);
}

static void test_reads_and_range(void **state)
{
	struct rig *t = *state;
	uint8_t data[4] = { 0xff, 0xff, 0xff, 0xff };

	assert_true(io_bus__dispatch(t->bus, PORT, data, 4, false));
	assert_int_equal(data[0] | data[1] | data[2] | data[3], 0);
	assert_false(io_bus__dispatch(t->bus, PORT - 1, data, 1, true));
	assert_false(io_bus__dispatch(t->bus, PORT + 4, data, 1, true));
	assert_int_equal(t->exits.calls, 0);
	assert_string_equal(t->dev->name, "debug_exit@0xf4");
}

static void test_save_load(void **state)
{
	struct rig *t = *state;
	struct wbuf w;
	struct rbuf r;
	uint8_t junk = 0;

	wbuf__init(&w);
	assert_int_equal(t->dev->save(t->dev, &w), 0);
	assert_int_equal(w.len, 0);
	rbuf__init(&r, w.data, w.len);
	assert_int_equal(t->dev->load(t->dev, &r, t->dev->state_version), 0);

	rbuf__init(&r, NULL, 0);
	assert_int_equal(t->dev->load(t->dev, &r, 0), -EPROTONOSUPPORT);
	rbuf__init(&r, NULL, 0);
	assert_int_equal(t->dev->load(t->dev, &r, 2), -EPROTONOSUPPORT);
	rbuf__init(&r, &junk, 1);
	assert_int_equal(t->dev->load(t->dev, &r, 1), -EBADMSG);
	wbuf__free(&w);
}

static void test_create_errors(void **state)
{
	struct rig *t = *state;

	/* The port is taken. */
	errno = 0;
	assert_null(debug_exit__create(t->bus, PORT + 2, on_exit_cb, NULL));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(debug_exit__create(t->bus, 0x500, NULL, NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_and_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
