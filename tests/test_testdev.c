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

#define ID_ADDR		(TESTDEV_MMIO_BASE + TESTDEV_REG_ID)
#define COUNTER		(TESTDEV_MMIO_BASE + TESTDEV_REG_COUNTER)

struct rig {
	struct io_bus *bus;
	struct device *dev;
};

static struct rig *rig_new(void)
{
	struct rig *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->bus = io_bus__create("mmio");
	assert_non_null(t->bus);
	t->dev = testdev__create(t->bus);
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

static uint64_t rd(struct rig *t, uint64_t addr, uint32_t len)
{
	uint8_t data[8];

	memset(data, 0xa5, sizeof(data));
	assert_true(io_bus__dispatch(t->bus, addr, data, len, false));
	return len == 8 ? wire__get_le64(data) : len == 4 ? wire__get_le32(data) :
	       len == 2 ? (uint64_t)(data[0] | data[1] << 8) : data[0];
}

static void wr(struct rig *t, uint64_t addr, uint64_t v, uint32_t len)
{
	uint8_t data[8];

	wire__le64(data, v);
	assert_true(io_bus__dispatch(t->bus, addr, data, len, true));
}

static void test_id(void **state)
{
	struct rig *t = *state;

	assert_int_equal(rd(t, ID_ADDR, 4), TESTDEV_ID);
	assert_int_equal(rd(t, ID_ADDR, 4), TESTDEV_ID);
	/* The page is the device's; nothing past it is. */
	assert_true(io_bus__dispatch(t->bus, TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE - 4,
				     (uint8_t[4]){ 0 }, 4, false));
	assert_false(io_bus__dispatch(t->bus, TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE,
				      (uint8_t[4]){ 0 }, 4, false));
	assert_false(io_bus__dispatch(t->bus, TESTDEV_MMIO_BASE - 1,
				      (uint8_t[1]){ 0 }, 1, false));
}

static void test_counter_advances_per_read(void **state)
{
	struct rig *t = *state;

	assert_int_equal(rd(t, COUNTER, 4), 0);
	assert_int_equal(rd(t, COUNTER, 4), 1);
	assert_int_equal(rd(t, COUNTER, 8), 2);
	assert_int_equal(rd(t, COUNTER, 4), 3);
}

static void test_no_side_effect_elsewhere(void **state)
{
	struct rig *t = *state;

	/* Narrow reads, other offsets and writes never move the counter. */
	assert_int_equal(rd(t, COUNTER, 1), 0);
	assert_int_equal(rd(t, COUNTER, 2), 0);
	assert_int_equal(rd(t, COUNTER + 4, 4), 0);
	assert_int_equal(rd(t, ID_ADDR, 8), 0);
	assert_int_equal(rd(t, TESTDEV_MMIO_BASE + 0x10, 4), 0);
	wr(t, COUNTER, 1000, 8);
	wr(t, COUNTER, 1000, 4);
	wr(t, ID_ADDR, 0, 4);
	assert_int_equal(rd(t, COUNTER, 8), 0);
	assert_int_equal(rd(t, ID_ADDR, 4), TESTDEV_ID);
}

static void test_counter_wraps_low_half(void **state)
{
	struct rig *t = *state;
	uint8_t p[8];
	struct rbuf r;

	wire__le64(p, 0x1ffffffffULL);
	rbuf__init(&r, p, sizeof(p));
	assert_int_equal(t->dev->load(t->dev, &r, t->dev->state_version), 0);
	/* A 4-byte read sees the low half; the whole counter moves on. */
	assert_int_equal(rd(t, COUNTER, 4), 0xffffffffULL);
	assert_int_equal(rd(t, COUNTER, 8), 0x200000000ULL);
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
	struct wbuf w;
	int i;

	for (i = 0; i < 5; i++)
		rd(a, COUNTER, 4);
	wbuf__init(&w);
	assert_int_equal(a->dev->save(a->dev, &w), 0);
	assert_int_equal(w.len, 8);
	assert_int_equal(wire__get_le64(w.data), 5);
	/* Saving is not a read: the counter did not move. */
	assert_int_equal(rd(a, COUNTER, 4), 5);
	assert_int_equal(load(b->dev, w.data, w.len, a->dev->state_version), 0);
	/* The loaded copy continues the sequence where the save was taken. */
	assert_int_equal(rd(b, COUNTER, 8), 5);
	assert_int_equal(rd(b, COUNTER, 4), 6);
	assert_string_equal(a->dev->name, b->dev->name);
	wbuf__free(&w);
	rig_free(b);
}

/* A refused load leaves the counter where it was. */
static void expect_rejected(struct rig *t, const uint8_t *p, size_t len,
			    uint32_t v, int err)
{
	uint64_t before = rd(t, COUNTER, 8);

	assert_int_equal(load(t->dev, p, len, v), err);
	assert_int_equal(rd(t, COUNTER, 8), before + 1);
}

static void test_load_rejects(void **state)
{
	struct rig *t = *state;
	uint8_t p[9] = { 0x40, 0, 0, 0, 0, 0, 0, 0, 0xaa };
	size_t len;

	for (len = 0; len < 8; len++)
		expect_rejected(t, p, len, 1, -EBADMSG);
	expect_rejected(t, p, 9, 1, -EBADMSG);		/* trailing byte */
	expect_rejected(t, p, 8, 0, -EPROTONOSUPPORT);
	expect_rejected(t, p, 8, 2, -EPROTONOSUPPORT);
	assert_int_equal(load(t->dev, p, 8, 1), 0);
	assert_int_equal(rd(t, COUNTER, 4), 0x40);
}

static void test_create_errors(void **state)
{
	struct rig *t = *state;

	errno = 0;
	assert_null(testdev__create(t->bus));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(testdev__create(NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_id),
		T(test_counter_advances_per_read),
		T(test_no_side_effect_elsewhere),
		T(test_counter_wraps_low_half),
		T(test_save_load_round_trip),
		T(test_load_rejects),
		T(test_create_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
