#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pci.h"
#include "wire.h"

/* A function with two BARs that records the last BAR access. */
struct fake {
	struct pci_function fn;
	unsigned int bar;
	uint64_t off;
	int calls;
};

struct rig {
	struct io_bus *pio, *mmio;
	struct device *host;
	struct fake f;
	unsigned int irq;
	int level;
};

static void fake_io(void *opaque, unsigned int bar, uint64_t off, uint8_t *data,
		    uint32_t len, bool is_write)
{
	struct fake *f = opaque;

	f->bar = bar;
	f->off = off;
	f->calls++;
	if (!is_write)
		memset(data, 0x5a, len);
}

static void rig_irq(void *ctx, unsigned int irq, int level)
{
	struct rig *t = ctx;

	t->irq = irq;
	t->level = level;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	wire__le32(f->fn.config, 0x10421af4);	/* vendor 1af4, device 1042 */
	f->fn.bar_size[0] = 0x4000;
	f->fn.bar_size[2] = 0x1000;
	f->fn.bar_io = fake_io;
	f->fn.opaque = f;
}

static struct rig *rig_new(void)
{
	struct rig *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->pio = io_bus__create("pio");
	t->mmio = io_bus__create("mmio");
	t->host = pci_host__create(t->pio, t->mmio, rig_irq, t);
	assert_non_null(t->host);
	fake_init(&t->f);
	assert_int_equal(pci_host__add(t->host, &t->f.fn), 0);
	return t;
}

static int setup(void **state)
{
	*state = rig_new();
	return 0;
}

static int teardown(void **state)
{
	struct rig *t = *state;

	t->host->destroy(t->host);
	io_bus__destroy(t->pio);
	io_bus__destroy(t->mmio);
	free(t);
	return 0;
}

static void cfg_select(struct rig *t, unsigned int slot, unsigned int reg)
{
	uint8_t d[4];

	wire__le32(d, 0x80000000u | slot << 11 | (reg & 0xfc));
	assert_true(io_bus__dispatch(t->pio, PCI_CONFIG_ADDR_PORT, d, 4, true));
}

static uint32_t cfg_read(struct rig *t, unsigned int slot, unsigned int reg, uint32_t len)
{
	uint8_t d[4] = { 0 };

	cfg_select(t, slot, reg);
	assert_true(io_bus__dispatch(t->pio, PCI_CONFIG_DATA_PORT + (reg & 3), d, len, false));
	return len == 4 ? wire__get_le32(d) : len == 2 ? (uint32_t)(d[0] | d[1] << 8) : d[0];
}

static void cfg_write(struct rig *t, unsigned int slot, unsigned int reg, uint32_t v,
		      uint32_t len)
{
	uint8_t d[4];

	wire__le32(d, v);
	cfg_select(t, slot, reg);
	assert_true(io_bus__dispatch(t->pio, PCI_CONFIG_DATA_PORT + (reg & 3), d, len, true));
}

static void test_enumeration(void **state)
{
	struct rig *t = *state;

	assert_int_equal(cfg_read(t, 0, 0, 4), 0x00081b36);
	assert_int_equal(cfg_read(t, 0, 0x0a, 2), 0x0600);
	assert_int_equal(cfg_read(t, 1, 0, 4), 0x10421af4);
	assert_int_equal(cfg_read(t, 1, 2, 2), 0x1042);
	assert_int_equal(cfg_read(t, 2, 0, 4), 0xffffffff);
	assert_int_equal(cfg_read(t, 31, 0, 2), 0xffff);
	assert_int_equal(cfg_read(t, 1, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_read(t, 1, PCI_INTERRUPT_LINE, 1), PCI_INTX_GSI_BASE + 1);
}

static void test_disabled_latch_reads_ones(void **state)
{
	struct rig *t = *state;
	uint8_t d[4] = { 0 };

	wire__le32(d, 1 << 11);	/* enable bit clear */
	assert_true(io_bus__dispatch(t->pio, PCI_CONFIG_ADDR_PORT, d, 4, true));
	assert_true(io_bus__dispatch(t->pio, PCI_CONFIG_DATA_PORT, d, 4, false));
	assert_int_equal(wire__get_le32(d), 0xffffffff);
}

static void test_bars_placed_in_window(void **state)
{
	struct rig *t = *state;
	uint32_t b0 = cfg_read(t, 1, PCI_BAR0, 4), b2 = cfg_read(t, 1, PCI_BAR0 + 8, 4);

	assert_true(b0 >= PCI_MMIO_BASE && b0 + 0x4000 <= b2);
	assert_int_equal(b0 & 0x3fff, 0);
	assert_true(b2 + 0x1000 <= PCI_MMIO_BASE + PCI_MMIO_SIZE);
	assert_int_equal(cfg_read(t, 1, PCI_BAR0 + 4, 4), 0);
}

static void test_bar_sizing(void **state)
{
	struct rig *t = *state;
	uint32_t old = cfg_read(t, 1, PCI_BAR0, 4);

	cfg_write(t, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(cfg_read(t, 1, PCI_BAR0, 4), 0xffffc000);
	cfg_write(t, 1, PCI_BAR0 + 4, 0xffffffff, 4);
	assert_int_equal(cfg_read(t, 1, PCI_BAR0 + 4, 4), 0);
	cfg_write(t, 1, PCI_BAR0, old, 4);
	assert_int_equal(cfg_read(t, 1, PCI_BAR0, 4), old);
}

static void test_read_only_fields(void **state)
{
	struct rig *t = *state;

	cfg_write(t, 1, 0, 0x12345678, 4);
	assert_int_equal(cfg_read(t, 1, 0, 4), 0x10421af4);
	cfg_write(t, 1, PCI_INTERRUPT_PIN, 3, 1);
	assert_int_equal(cfg_read(t, 1, PCI_INTERRUPT_PIN, 1), 1);
}

static void test_mmio_routing(void **state)
{
	struct rig *t = *state;
	uint32_t b2 = cfg_read(t, 1, PCI_BAR0 + 8, 4);
	uint8_t d[4];

	assert_true(io_bus__dispatch(t->mmio, b2 + 0x10, d, 4, false));
	assert_int_equal(t->f.calls, 1);
	assert_int_equal(t->f.bar, 2);
	assert_int_equal(t->f.off, 0x10);
	assert_int_equal(d[0], 0x5a);
	/* Memory decoding off: the window reads ones, the function sees nothing. */
	cfg_write(t, 1, PCI_COMMAND, 0, 2);
	assert_true(io_bus__dispatch(t->mmio, b2 + 0x10, d, 4, false));
	assert_int_equal(t->f.calls, 1);
	assert_int_equal(wire__get_le32(d), 0xffffffff);
}

static void test_moved_bar(void **state)
{
	struct rig *t = *state;
	uint8_t d[4];

	cfg_write(t, 1, PCI_BAR0, 0xe8000000, 4);
	assert_true(io_bus__dispatch(t->mmio, 0xe8000004, d, 4, false));
	assert_int_equal(t->f.calls, 1);
	assert_int_equal(t->f.bar, 0);
	assert_int_equal(t->f.off, 4);
}

static void test_intx(void **state)
{
	struct rig *t = *state;

	pci_host__set_intx(t->host, &t->f.fn, true);
	assert_int_equal(t->irq, PCI_INTX_GSI_BASE + 1);
	assert_int_equal(t->level, 1);
	assert_true(cfg_read(t, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_host__set_intx(t->host, &t->f.fn, false);
	assert_int_equal(t->level, 0);
	assert_false(cfg_read(t, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg_write(t, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	pci_host__set_intx(t->host, &t->f.fn, true);
	assert_int_equal(t->level, 0);
	assert_true(cfg_read(t, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
}

static void save(struct rig *t, struct wbuf *out)
{
	wbuf__init(out);
	assert_int_equal(t->host->save(t->host, out), 0);
}

static int load(struct rig *t, const struct wbuf *b)
{
	struct rbuf in;

	rbuf__init(&in, b->data, b->len);
	return t->host->load(t->host, &in, t->host->state_version);
}

static void test_save_load(void **state)
{
	struct rig *t = *state, *u = rig_new();
	struct wbuf b;

	cfg_write(t, 1, PCI_BAR0, 0xe8000000, 4);
	cfg_write(t, 1, PCI_INTERRUPT_LINE, 11, 1);
	cfg_select(t, 1, 0x40);
	save(t, &b);
	assert_int_equal(load(u, &b), 0);
	assert_int_equal(cfg_read(u, 1, PCI_BAR0, 4), 0xe8000000);
	assert_int_equal(cfg_read(u, 1, PCI_INTERRUPT_LINE, 1), 11);
	wbuf__free(&b);
	teardown((void **)&u);
}

static void test_load_refuses_other_device(void **state)
{
	struct rig *t = *state, *u = rig_new();
	uint32_t before = cfg_read(u, 1, PCI_BAR0, 4);
	struct wbuf b;

	/* A different device ID on the source: read-only bytes differ. */
	t->f.fn.config[PCI_DEVICE_ID] = 0x01;
	cfg_write(t, 1, PCI_BAR0, 0xe8000000, 4);
	save(t, &b);
	assert_int_equal(load(u, &b), -EBADMSG);
	assert_int_equal(cfg_read(u, 1, PCI_BAR0, 4), before);
	b.len--;
	assert_int_equal(load(u, &b), -EBADMSG);
	wbuf__free(&b);
	teardown((void **)&u);
}

static void test_full_bus(void **state)
{
	struct rig *t = *state;
	struct fake extra[PCI_MAX_SLOTS];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < PCI_MAX_SLOTS && !ret; i++) {
		fake_init(&extra[i]);
		ret = pci_host__add(t->host, &extra[i].fn);
	}
	assert_int_equal(ret, -ENOSPC);
	fake_init(&extra[0]);
	extra[0].fn.bar_size[0] = 0x1800;
	assert_int_not_equal(pci_host__add(t->host, &extra[0].fn), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumeration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_latch_reads_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bars_placed_in_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_other_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_bus, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
