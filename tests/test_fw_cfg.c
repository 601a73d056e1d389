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

#define SEL	0x510
#define DATA	0x511
#define RAM	(512ull << 20 | 0x1234)
#define CPUS	0x0203

struct rig {
	struct io_bus *bus;
	struct device *dev;
};

static struct rig *rig_new(void)
{
	struct fw_cfg_config cfg = { .nb_cpus = CPUS, .ram_size = RAM };
	struct rig *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->bus = io_bus__create("pio");
	assert_non_null(t->bus);
	t->dev = fw_cfg__create(t->bus, &cfg);
	assert_non_null(t->dev);
	return t;
}

static void rig_free(struct rig *t)
{
	t->dev->destroy(t->dev);
	io_bus__destroy(t->bus);
	free(t);
}

static int setup(void **state)
{
	*state = rig_new();
	return 0;
}

static int teardown(void **state)
{
	rig_free(*state);
	return 0;
}

static void select_item(struct rig *t, uint16_t key)
{
	uint8_t data[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	assert_true(io_bus__dispatch(t->bus, SEL, data, 2, true));
}

static void read_bytes(struct rig *t, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_true(io_bus__dispatch(t->bus, DATA, &out[i], 1, false));
}

static void test_signature(void **state)
{
	struct rig *t = *state;
	struct wbuf w;
	uint8_t buf[6];

	/* Selector 0 is current from power-on. */
	read_bytes(t, buf, 4);
	assert_memory_equal(buf, "QEMU", 4);
	select_item(t, 0x0000);
	read_bytes(t, buf, 6);
	assert_memory_equal(buf, "QEMU\0\0", 6);	/* past the end: zero */
	/* ...and the offset stays at the end, so a save stays loadable. */
	wbuf__init(&w);
	assert_int_equal(t->dev->save(t->dev, &w), 0);
	assert_int_equal(w.len, 6);
	assert_int_equal(wire__get_le32(w.data + 2), 4);
	wbuf__free(&w);
}

static void test_id_cpus_ram(void **state)
{
	struct rig *t = *state;
	uint8_t buf[8];

	select_item(t, 0x0001);
	read_bytes(t, buf, 4);
	assert_int_equal(wire__get_le32(buf), 1);

	select_item(t, 0x0005);
	read_bytes(t, buf, 2);
	assert_int_equal(buf[0] | buf[1] << 8, CPUS);

	select_item(t, 0x0003);
	read_bytes(t, buf, 8);
	assert_int_equal(wire__get_le64(buf), RAM);

	/* The file directory: a big-endian count of zero. */
	select_item(t, 0x0019);
	memset(buf, 0xff, sizeof(buf));
	read_bytes(t, buf, 4);
	assert_int_equal(wire__get_le32(buf), 0);
}

static void test_unknown_and_reselect(void **state)
{
	struct rig *t = *state;
	uint8_t buf[8];

	select_item(t, 0x0042);
	memset(buf, 0xff, sizeof(buf));
	read_bytes(t, buf, 8);
	assert_int_equal(wire__get_le64(buf), 0);
	select_item(t, 0x8000);		/* arch-local: none defined */
	memset(buf, 0xff, sizeof(buf));
	read_bytes(t, buf, 4);
	assert_int_equal(wire__get_le32(buf), 0);

	/* Selecting rewinds, even the item already selected. */
	select_item(t, 0x0000);
	read_bytes(t, buf, 2);
	select_item(t, 0x0000);
	read_bytes(t, buf, 4);
	assert_memory_equal(buf, "QEMU", 4);
}

static void test_port_quirks(void **state)
{
	struct rig *t = *state;
	uint8_t buf[4] = { 0x05, 0x00, 0x00, 0x00 };

	/* Data-port writes and byte writes to the selector change nothing. */
	assert_true(io_bus__dispatch(t->bus, DATA, buf, 1, true));
	assert_true(io_bus__dispatch(t->bus, SEL, buf, 1, true));
	assert_true(io_bus__dispatch(t->bus, SEL, buf, 4, true));
	read_bytes(t, buf, 1);
	assert_int_equal(buf[0], 'Q');
	/* A byte read at the selector port reads data, as in QEMU. */
	assert_true(io_bus__dispatch(t->bus, SEL, buf, 1, false));
	assert_int_equal(buf[0], 'E');
	/* A wide read takes successive bytes. */
	memset(buf, 0, sizeof(buf));
	assert_true(io_bus__dispatch(t->bus, DATA, buf, 2, false));
	assert_memory_equal(buf, "MU", 2);
	assert_false(io_bus__dispatch(t->bus, SEL - 1, buf, 1, false));
	assert_false(io_bus__dispatch(t->bus, DATA + 1, buf, 1, false));
}

static void save(struct device *dev, struct wbuf *w)
{
	wbuf__init(w);
	assert_int_equal(dev->save(dev, w), 0);
	assert_int_equal(w->len, 6);
}

static int load(struct device *dev, const uint8_t *p, size_t len, uint32_t v)
{
	struct rbuf r;

	rbuf__init(&r, p, len);
	return dev->load(dev, &r, v);
}

static void test_save_load_round_trip(void **state)
{
	struct rig *a = *state, *b = rig_new();
	static const uint8_t want[8] = { 0x20 };	/* bytes 3..10 of RAM */
	struct wbuf w;
	uint8_t x[8], y[8];

	select_item(a, 0x0003);
	read_bytes(a, x, 3);
	save(a->dev, &w);
	assert_int_equal(load(b->dev, w.data, w.len, a->dev->state_version), 0);
	read_bytes(a, x, 8);
	read_bytes(b, y, 8);
	assert_memory_equal(x, y, 8);
	assert_memory_equal(x, want, 8);
	wbuf__free(&w);
	rig_free(b);
}

/* A rejected load must leave selector and offset where they were. */
static void expect_rejected(struct rig *t, const uint8_t *p, size_t len,
			    uint32_t v, int err)
{
	uint8_t c;

	select_item(t, 0x0000);
	read_bytes(t, &c, 1);
	assert_int_equal(load(t->dev, p, len, v), err);
	read_bytes(t, &c, 1);
	assert_int_equal(c, 'E');
}

static void test_load_rejects(void **state)
{
	struct rig *t = *state;
	/* selector 0x0005 (2 bytes long), offset 2: at the end, valid */
	uint8_t p[7] = { 0x05, 0x00, 0x02, 0, 0, 0, 0xaa };
	size_t len;

	for (len = 0; len < 6; len++)
		expect_rejected(t, p, len, 1, -EBADMSG);
	expect_rejected(t, p, 7, 1, -EBADMSG);		/* trailing byte */
	expect_rejected(t, p, 6, 0, -EPROTONOSUPPORT);
	expect_rejected(t, p, 6, 2, -EPROTONOSUPPORT);
	p[2] = 3;					/* past the item */
	expect_rejected(t, p, 6, 1, -EBADMSG);
	p[2] = 0;
	p[5] = 0x80;					/* huge offset */
	expect_rejected(t, p, 6, 1, -EBADMSG);
	p[5] = 0;
	p[0] = 0x42;					/* an empty item */
	p[2] = 1;
	expect_rejected(t, p, 6, 1, -EBADMSG);

	p[0] = 0x05;
	assert_int_equal(load(t->dev, p, 6, 1), 0);
	read_bytes(t, p, 2);
	assert_int_equal(p[0], CPUS >> 8);
	assert_int_equal(p[1], 0);
}

static void test_create_errors(void **state)
{
	struct rig *t = *state;
	struct fw_cfg_config cfg = { .nb_cpus = 1, .ram_size = 1 };

	errno = 0;
	assert_null(fw_cfg__create(t->bus, &cfg));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(fw_cfg__create(t->bus, NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_signature),
		T(test_id_cpus_ram),
		T(test_unknown_and_reselect),
		T(test_port_quirks),
		T(test_save_load_round_trip),
		T(test_load_rejects),
		T(test_create_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
