#include "pci.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host bridge itself sits in slot 0 with an ID QEMU also uses for a
 * generic bridge (Red Hat, 1b36:0008), class 06.00: guests treat it as
 * a plain host bridge with no driver. */
#define HOST_VENDOR		0x1b36
#define HOST_DEVICE		0x0008
#define HOST_NAME		"pci-host@0xcf8"
#define PCI_STATE_V1		1
#define CONFIG_ENABLE		0x80000000u

struct pci_host {
	struct device dev;
	pthread_mutex_t lock;
	uint32_t addr_latch;		/* the last value written to 0xcf8 */
	struct pci_function self;
	struct pci_function *slots[PCI_MAX_SLOTS];
	uint64_t next_bar;		/* bump allocator in the window */
	irq_set_fn irq_set;
	void *irq_ctx;
};

static struct pci_host *to_host(struct device *dev)
{
	return (struct pci_host *)((char *)dev - offsetof(struct pci_host, dev));
}

static void put16(uint8_t *cfg, unsigned int off, uint16_t v)
{
	cfg[off] = (uint8_t)v;
	cfg[off + 1] = (uint8_t)(v >> 8);
}

static uint32_t bar_value(const struct pci_function *fn, unsigned int bar)
{
	return wire__get_le32(&fn->config[PCI_BAR0 + 4 * bar]) & ~0xfu;
}

/* The function whose config space the latch selects, or NULL: absent
 * slots, other buses and functions read as all ones. */
static struct pci_function *latched(struct pci_host *h, unsigned int *reg)
{
	uint32_t a = h->addr_latch;
	unsigned int bus = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, func = (a >> 8) & 7;

	*reg = a & 0xfc;
	if (!(a & CONFIG_ENABLE) || bus || func || slot >= PCI_MAX_SLOTS)
		return NULL;
	return h->slots[slot];
}

static void config_rw(struct pci_function *fn, unsigned int off, uint8_t *data,
		      uint32_t len, bool is_write)
{
	uint32_t i;

	for (i = 0; i < len && off + i < PCI_CONFIG_SIZE; i++) {
		uint8_t *b = &fn->config[off + i], m = fn->wmask[off + i];

		if (is_write)
			*b = (uint8_t)((*b & ~m) | (data[i] & m));
		else
			data[i] = *b;
	}
}

static void host_pio(void *opaque, uint64_t port, uint8_t *data, uint32_t len,
		     bool is_write)
{
	struct pci_host *h = opaque;
	struct pci_function *fn;
	unsigned int reg;

	pthread_mutex_lock(&h->lock);
	if (port == PCI_CONFIG_ADDR_PORT && len == 4) {
		if (is_write)
			h->addr_latch = wire__get_le32(data);
		else
			wire__le32(data, h->addr_latch);
	} else if (port >= PCI_CONFIG_DATA_PORT && port + len <= PCI_CONFIG_DATA_PORT + 4) {
		fn = latched(h, &reg);
		if (fn)
			config_rw(fn, reg + (unsigned int)(port - PCI_CONFIG_DATA_PORT),
				  data, len, is_write);
		else if (!is_write)
			memset(data, 0xff, len);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&h->lock);
}

/* Finds the BAR holding addr among functions with memory decoding on. */
static struct pci_function *find_bar(struct pci_host *h, uint64_t addr,
				     unsigned int *bar, uint64_t *off)
{
	unsigned int s, b;

	for (s = 1; s < PCI_MAX_SLOTS; s++) {
		struct pci_function *fn = h->slots[s];

		if (!fn || !(fn->config[PCI_COMMAND] & PCI_COMMAND_MEMORY))
			continue;
		for (b = 0; b < PCI_NR_BARS; b++) {
			uint64_t base = bar_value(fn, b);

			if (fn->bar_size[b] && base && addr >= base &&
			    addr - base < fn->bar_size[b]) {
				*bar = b;
				*off = addr - base;
				return fn;
			}
		}
	}
	return NULL;
}

static void host_mmio(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct pci_host *h = opaque;
	struct pci_function *fn;
	unsigned int bar = 0;
	uint64_t off = 0;

	pthread_mutex_lock(&h->lock);
	fn = find_bar(h, addr, &bar, &off);
	pthread_mutex_unlock(&h->lock);
	if (fn)
		fn->bar_io(fn->opaque, bar, off, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

/* The header fields every function lets the guest write. */
static void header_wmask(struct pci_function *fn)
{
	unsigned int b;

	put16(fn->wmask, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
	      PCI_COMMAND_INTX_DISABLE);
	fn->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (b = 0; b < PCI_NR_BARS; b++)
		if (fn->bar_size[b])
			wire__le32(&fn->wmask[PCI_BAR0 + 4 * b], ~(fn->bar_size[b] - 1));
}

int pci_host__add(struct device *host, struct pci_function *fn)
{
	struct pci_host *h = to_host(host);
	uint64_t next;
	unsigned int s, b;

	for (s = 0; s < PCI_MAX_SLOTS && h->slots[s]; s++)
		;
	if (s == PCI_MAX_SLOTS)
		return -ENOSPC;
	next = h->next_bar;
	for (b = 0; b < PCI_NR_BARS; b++) {
		uint64_t size = fn->bar_size[b];

		if (!size)
			continue;
		if (size < 4096 || (size & (size - 1)))
			return -EINVAL;
		next = (next + size - 1) & ~(size - 1);
		if (next + size > PCI_MMIO_BASE + PCI_MMIO_SIZE)
			return -ENOSPC;
		wire__le32(&fn->config[PCI_BAR0 + 4 * b], (uint32_t)next);
		next += size;
	}
	header_wmask(fn);
	fn->slot = s;
	fn->gsi = PCI_INTX_GSI_BASE + s;
	fn->config[PCI_INTERRUPT_LINE] = (uint8_t)fn->gsi;
	fn->config[PCI_INTERRUPT_PIN] = 1;
	/* Firmware leaves decoding on, as SeaBIOS does for what it placed. */
	fn->config[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	h->next_bar = next;
	h->slots[s] = fn;
	return 0;
}

void pci_host__set_intx(struct device *host, struct pci_function *fn, bool level)
{
	struct pci_host *h = to_host(host);
	bool drive;

	pthread_mutex_lock(&h->lock);
	if (level)
		fn->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		fn->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	drive = level && !(fn->config[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8));
	pthread_mutex_unlock(&h->lock);
	if (h->irq_set)
		h->irq_set(h->irq_ctx, fn->gsi, drive);
}

/* Payload v1: the 0xcf8 latch (u32), the number of occupied slots (u32),
 * then per slot in order: its number (u32) and its 256 config bytes. A
 * destination built the same functions: read-only bytes must match. */
static bool config_fits(const struct pci_function *fn, const uint8_t *cfg)
{
	unsigned int i;

	for (i = 0; i < PCI_CONFIG_SIZE; i++) {
		uint8_t ro = (uint8_t)~fn->wmask[i];

		if (i == PCI_STATUS)
			ro &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((cfg[i] & ro) != (fn->config[i] & ro))
			return false;
	}
	return true;
}

static int host_save(struct device *dev, struct wbuf *out)
{
	struct pci_host *h = to_host(dev);
	uint32_t n = 0, s;

	pthread_mutex_lock(&h->lock);
	for (s = 0; s < PCI_MAX_SLOTS; s++)
		n += h->slots[s] != NULL;
	wbuf__put_u32(out, h->addr_latch);
	wbuf__put_u32(out, n);
	for (s = 0; s < PCI_MAX_SLOTS; s++) {
		if (!h->slots[s])
			continue;
		wbuf__put_u32(out, s);
		wbuf__put_bytes(out, h->slots[s]->config, PCI_CONFIG_SIZE);
	}
	pthread_mutex_unlock(&h->lock);
	return out->err;
}

static int host_load(struct device *dev, struct rbuf *in, uint32_t version)
{
	struct pci_host *h = to_host(dev);
	const uint8_t *cfg[PCI_MAX_SLOTS] = { NULL };
	uint32_t latch, n, i, s;
	int ret = 0;

	if (version != PCI_STATE_V1)
		return -EPROTONOSUPPORT;
	latch = rbuf__get_u32(in);
	n = rbuf__get_u32(in);
	if (in->err || n > PCI_MAX_SLOTS)
		return -EBADMSG;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < n && !ret; i++) {
		s = rbuf__get_u32(in);
		cfg[s < PCI_MAX_SLOTS ? s : 0] = rbuf__get_span(in, PCI_CONFIG_SIZE);
		if (in->err || s >= PCI_MAX_SLOTS || !h->slots[s] ||
		    !config_fits(h->slots[s], cfg[s]))
			ret = -EBADMSG;
	}
	for (s = 0; s < PCI_MAX_SLOTS && !ret; s++)
		if (!h->slots[s] != !cfg[s])
			ret = -EBADMSG;
	if (!ret && rbuf__remaining(in))
		ret = -EBADMSG;
	for (s = 0; s < PCI_MAX_SLOTS && !ret; s++)
		if (h->slots[s])
			memcpy(h->slots[s]->config, cfg[s], PCI_CONFIG_SIZE);
	if (!ret)
		h->addr_latch = latch;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static void host_destroy(struct device *dev)
{
	struct pci_host *h;

	if (!dev)
		return;
	h = to_host(dev);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void host_self(struct pci_host *h)
{
	struct pci_function *fn = &h->self;

	put16(fn->config, PCI_VENDOR_ID, HOST_VENDOR);
	put16(fn->config, PCI_DEVICE_ID, HOST_DEVICE);
	fn->config[PCI_CLASS_PROG + 2] = 0x06;	/* bridge, subclass 0: host */
	h->slots[0] = fn;
}

struct device *pci_host__create(struct io_bus *pio, struct io_bus *mmio,
				irq_set_fn irq_set, void *irq_ctx)
{
	struct pci_host *h;
	int ret;

	if (!pio || !mmio) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->dev = (struct device){
		.name = HOST_NAME,
		.state_version = PCI_STATE_V1,
		.save = host_save,
		.load = host_load,
		.destroy = host_destroy,
	};
	h->next_bar = PCI_MMIO_BASE;
	h->irq_set = irq_set;
	h->irq_ctx = irq_ctx;
	host_self(h);
	ret = pthread_mutex_init(&h->lock, NULL);
	if (ret)
		goto err_free;
	ret = -io_bus__register(pio, PCI_CONFIG_ADDR_PORT, 8, host_pio, h);
	if (!ret)
		ret = -io_bus__register(mmio, PCI_MMIO_BASE, PCI_MMIO_SIZE, host_mmio, h);
	if (ret)
		goto err_mutex;
	return &h->dev;

err_mutex:
	pthread_mutex_destroy(&h->lock);
err_free:
	free(h);
	errno = ret;
	return NULL;
}
