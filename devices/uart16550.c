#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A 16550A as QEMU models it, so guests written against QEMU behave the same.
 *
 * Deliberate simplifications, each invisible to a well-behaved guest:
 * - Transmission completes at once: THR and the shift register are empty
 *   again before the guest's OUT instruction returns.
 * - There is no clock, so the FIFO character timeout counts as elapsed the
 *   moment data sits below the trigger level: IIR then reports 0x0c.
 * - Only byte 0 of a wider access is handled; the other bytes of a read are
 *   zero. Real UART registers are 8 bits wide and guests use inb/outb.
 * - The modem inputs (DCD, DSR, CTS asserted, RI not) never change outside
 *   loopback.
 *
 * The IRQ line is any enabled interrupt pending; MCR.OUT2 does not gate it,
 * exactly as in QEMU. irq_set is called with the device lock held, so level
 * changes reach the irqchip in the order they happened; it must not call
 * back into this device.
 */

#define UART_NR_REGS	8
#define UART_FIFO_SIZE	16
#define UART_STATE_V1	1

#define IER_ERBFI	0x01	/* received data available */
#define IER_ETBEI	0x02	/* THR empty */
#define IER_ELSI	0x04	/* receiver line status */
#define IER_EDSSI	0x08	/* modem status */
#define IER_MASK	0x0f

#define IIR_NONE	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_CTI		0x0c
#define IIR_FIFO_ON	0xc0

#define FCR_FE		0x01
#define FCR_RFR		0x02
#define FCR_XFR		0x04
#define FCR_STORED	0xc9	/* enable, DMA mode, trigger level */

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_BI		0x10
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define LSR_ERRORS	0x1e	/* OE, PE, FE, BI: receiver line status */
#define LSR_STORED	(LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT)

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_DELTAS	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80
#define MSR_EXTERNAL	(MSR_DCD | MSR_DSR | MSR_CTS)

/* Plain data: everything save() writes and load() replaces. */
struct uart_regs {
	uint8_t rbr, ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t fifo[UART_FIFO_SIZE];
	uint8_t head;
	uint8_t count;
	uint8_t thr_ipending;
	uint8_t irq_level;
};

struct uart {
	struct device dev;
	char name[DEVICE_NAME_MAX];
	struct uart_config cfg;
	pthread_mutex_t lock;
	bool tx_error_reported;
	struct uart_regs r;
};

static struct uart *to_uart(struct device *dev)
{
	return (struct uart *)((char *)dev - offsetof(struct uart, dev));
}

static const uint8_t trigger_levels[4] = { 1, 4, 8, 14 };

static unsigned int rx_trigger(const struct uart_regs *r)
{
	return trigger_levels[r->fcr >> 6];
}

/* The pending interrupt of highest priority, as IIR bits 0-3. */
static uint8_t pending_iir(const struct uart_regs *r)
{
	if ((r->ier & IER_ELSI) && (r->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if ((r->ier & IER_ERBFI) && (r->lsr & LSR_DR)) {
		if (!(r->fcr & FCR_FE) || r->count >= rx_trigger(r))
			return IIR_RDI;
		return IIR_CTI;
	}
	if ((r->ier & IER_ETBEI) && r->thr_ipending)
		return IIR_THRI;
	if ((r->ier & IER_EDSSI) && (r->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NONE;
}

static uint8_t irq_level_of(const struct uart_regs *r)
{
	return pending_iir(r) != IIR_NONE;
}

static void update_irq(struct uart *u)
{
	uint8_t level = irq_level_of(&u->r);

	if (level == u->r.irq_level)
		return;
	u->r.irq_level = level;
	if (u->cfg.irq_set)
		u->cfg.irq_set(u->cfg.irq_ctx, u->cfg.irq, level);
}

/* What MSR's status bits read in loopback: MCR outputs wired to inputs. */
static uint8_t loop_status(uint8_t mcr)
{
	uint8_t s = 0;

	if (mcr & MCR_DTR)
		s |= MSR_DSR;
	if (mcr & MCR_RTS)
		s |= MSR_CTS;
	if (mcr & MCR_OUT1)
		s |= MSR_RI;
	if (mcr & MCR_OUT2)
		s |= MSR_DCD;
	return s;
}

static uint8_t modem_status(uint8_t mcr)
{
	return (mcr & MCR_LOOP) ? loop_status(mcr) : MSR_EXTERNAL;
}

static void set_modem_status(struct uart_regs *r, uint8_t status)
{
	uint8_t old = r->msr & ~MSR_DELTAS;
	uint8_t changed = old ^ status;
	uint8_t delta = r->msr & MSR_DELTAS;

	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	/* TERI flags the trailing edge of ring only. */
	if ((old & MSR_RI) && !(status & MSR_RI))
		delta |= MSR_TERI;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	r->msr = status | delta;
}

static void rx_push(struct uart_regs *r, uint8_t byte)
{
	unsigned int cap = (r->fcr & FCR_FE) ? UART_FIFO_SIZE : 1;

	if (r->count == cap) {
		r->lsr |= LSR_OE;
		/* The 16450 holding register is overwritten; a full 16550 FIFO
		 * keeps its contents and loses the new byte. */
		if (cap == 1)
			r->fifo[r->head] = byte;
	} else {
		r->fifo[(r->head + r->count) % UART_FIFO_SIZE] = byte;
		r->count++;
	}
	r->lsr |= LSR_DR;
}

static size_t rx_space(const struct uart_regs *r)
{
	/* In loopback the serial input is disconnected; hold input back
	 * rather than lose it. */
	if (r->mcr & MCR_LOOP)
		return 0;
	return ((r->fcr & FCR_FE) ? UART_FIFO_SIZE : 1) - r->count;
}

static void tx_out(struct uart *u, uint8_t byte)
{
	ssize_t n;

	if (u->cfg.out_write) {
		n = u->cfg.out_write(u->cfg.out_ctx, &byte, 1);
		if (n < 0) {
			errno = (int)-n;
			n = -1;
		}
	} else {
		if (u->cfg.out_fd < 0)
			return;
		do
			n = write(u->cfg.out_fd, &byte, 1);
		while (n < 0 && errno == EINTR);
	}
	if (n == 1 || u->tx_error_reported)
		return;
	/* A broken console must not stop the guest; say so once. */
	u->tx_error_reported = true;
	fprintf(stderr, "%s: output lost: %s\n", u->name,
		n < 0 ? strerror(errno) : "short write");
}

static void write_thr(struct uart *u, uint8_t val)
{
	struct uart_regs *r = &u->r;

	r->thr_ipending = 0;
	r->lsr &= ~(LSR_THRE | LSR_TEMT);
	update_irq(u);
	if (r->mcr & MCR_LOOP)
		rx_push(r, val);
	else
		tx_out(u, val);
	r->lsr |= LSR_THRE | LSR_TEMT;
	r->thr_ipending = 1;
	update_irq(u);
}

static void write_ier(struct uart *u, uint8_t val)
{
	struct uart_regs *r = &u->r;
	uint8_t changed = (r->ier ^ val) & IER_MASK;

	r->ier = val & IER_MASK;
	if (changed & IER_ETBEI)
		r->thr_ipending = (r->ier & IER_ETBEI) && (r->lsr & LSR_THRE);
	update_irq(u);
}

static void write_fcr(struct uart *u, uint8_t val)
{
	struct uart_regs *r = &u->r;

	/* Switching the FIFOs on or off flushes both of them. */
	if ((val ^ r->fcr) & FCR_FE)
		val |= FCR_RFR | FCR_XFR;
	if (val & FCR_RFR) {
		r->head = 0;
		r->count = 0;
		r->lsr &= ~(LSR_DR | LSR_BI);
	}
	/* QEMU raises THRE after a TX flush; guests may wait for it. */
	if (val & FCR_XFR)
		r->thr_ipending = 1;
	r->fcr = val & FCR_STORED;
	update_irq(u);
}

static void write_mcr(struct uart *u, uint8_t val)
{
	u->r.mcr = val & MCR_MASK;
	set_modem_status(&u->r, modem_status(u->r.mcr));
	update_irq(u);
}

static void uart_write(struct uart *u, unsigned int off, uint8_t val)
{
	bool dlab = u->r.lcr & LCR_DLAB;

	switch (off) {
	case 0:
		if (dlab)
			u->r.dll = val;
		else
			write_thr(u, val);
		break;
	case 1:
		if (dlab)
			u->r.dlm = val;
		else
			write_ier(u, val);
		break;
	case 2:
		write_fcr(u, val);
		break;
	case 3:
		u->r.lcr = val;
		break;
	case 4:
		write_mcr(u, val);
		break;
	case 7:
		u->r.scr = val;
		break;
	default:
		/* LSR and MSR writes are factory-test features: ignored. */
		break;
	}
}

static uint8_t read_rbr(struct uart *u)
{
	struct uart_regs *r = &u->r;

	if (r->count) {
		r->rbr = r->fifo[r->head];
		r->head = (r->head + 1) % UART_FIFO_SIZE;
		r->count--;
	}
	if (!r->count)
		r->lsr &= ~(LSR_DR | LSR_BI);
	update_irq(u);
	return r->rbr;
}

static uint8_t read_iir(struct uart *u)
{
	uint8_t id = pending_iir(&u->r);

	/* Reading IIR acknowledges a THRE interrupt, and only that one. */
	if (id == IIR_THRI) {
		u->r.thr_ipending = 0;
		update_irq(u);
	}
	return id | ((u->r.fcr & FCR_FE) ? IIR_FIFO_ON : 0);
}

static uint8_t read_lsr(struct uart *u)
{
	uint8_t val = u->r.lsr;

	u->r.lsr &= ~(LSR_OE | LSR_BI);
	update_irq(u);
	return val;
}

static uint8_t read_msr(struct uart *u)
{
	uint8_t val = u->r.msr;

	u->r.msr &= ~MSR_DELTAS;
	update_irq(u);
	return val;
}

static uint8_t uart_read(struct uart *u, unsigned int off)
{
	bool dlab = u->r.lcr & LCR_DLAB;

	switch (off) {
	case 0:
		return dlab ? u->r.dll : read_rbr(u);
	case 1:
		return dlab ? u->r.dlm : u->r.ier;
	case 2:
		return read_iir(u);
	case 3:
		return u->r.lcr;
	case 4:
		return u->r.mcr;
	case 5:
		return read_lsr(u);
	case 6:
		return read_msr(u);
	default:
		return u->r.scr;
	}
}

static void uart_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct uart *u = opaque;
	unsigned int off = (unsigned int)(addr - u->cfg.base);

	if (len == 0 || off >= UART_NR_REGS)
		return;
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		uart_write(u, off, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = uart_read(u, off);
	}
	pthread_mutex_unlock(&u->lock);
}

size_t uart16550__receive(struct device *dev, const uint8_t *buf, size_t len)
{
	struct uart *u = to_uart(dev);
	size_t i, n;

	pthread_mutex_lock(&u->lock);
	n = rx_space(&u->r);
	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		rx_push(&u->r, buf[i]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart16550__rx_space(struct device *dev)
{
	struct uart *u = to_uart(dev);
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = rx_space(&u->r);
	pthread_mutex_unlock(&u->lock);
	return n;
}

/* Payload v1: every field once, in this order (u8 each, the FIFO its 16
 * bytes); the same list saves and loads. */
static void uart_fields(struct wire_walk *w, struct uart_regs *r)
{
	wire_walk__u8(w, &r->rbr);
	wire_walk__u8(w, &r->ier);
	wire_walk__u8(w, &r->fcr);
	wire_walk__u8(w, &r->lcr);
	wire_walk__u8(w, &r->mcr);
	wire_walk__u8(w, &r->lsr);
	wire_walk__u8(w, &r->msr);
	wire_walk__u8(w, &r->scr);
	wire_walk__u8(w, &r->dll);
	wire_walk__u8(w, &r->dlm);
	wire_walk__u8(w, &r->head);
	wire_walk__u8(w, &r->count);
	wire_walk__bytes(w, r->fifo, sizeof(r->fifo));
	wire_walk__u8(w, &r->thr_ipending);
	wire_walk__u8(w, &r->irq_level);
}

static int uart_save(struct device *dev, struct wbuf *out)
{
	struct uart *u = to_uart(dev);
	struct wire_walk w = { .out = out };
	struct uart_regs r;

	pthread_mutex_lock(&u->lock);
	r = u->r;
	pthread_mutex_unlock(&u->lock);
	uart_fields(&w, &r);
	return out->err;
}

/* Accepts only states this model can reach, so a corrupt stream cannot
 * leave the guest a UART that no real one could be. */
static bool regs_valid(const struct uart_regs *r)
{
	unsigned int cap = (r->fcr & FCR_FE) ? UART_FIFO_SIZE : 1;

	if ((r->ier & ~IER_MASK) || (r->fcr & ~FCR_STORED) ||
	    (r->mcr & ~MCR_MASK))
		return false;
	if (r->head >= UART_FIFO_SIZE || r->count > cap)
		return false;
	if ((r->lsr & ~LSR_STORED) || !(r->lsr & LSR_THRE) ||
	    !(r->lsr & LSR_TEMT) || !(r->lsr & LSR_DR) != !r->count)
		return false;
	if ((r->msr & ~MSR_DELTAS) != modem_status(r->mcr))
		return false;
	if (r->thr_ipending > 1 || r->irq_level != irq_level_of(r))
		return false;
	return true;
}

static int uart_load(struct device *dev, struct rbuf *in, uint32_t version)
{
	struct uart *u = to_uart(dev);
	struct wire_walk w = { .in = in };
	struct uart_regs r;

	if (version != UART_STATE_V1)
		return -EPROTONOSUPPORT;
	uart_fields(&w, &r);
	if (in->err || rbuf__remaining(in) || !regs_valid(&r))
		return -EBADMSG;

	pthread_mutex_lock(&u->lock);
	u->r = r;
	/* The line's previous level is unknown (fresh irqchip, or a device
	 * that ran before): drive it unconditionally. */
	if (u->cfg.irq_set)
		u->cfg.irq_set(u->cfg.irq_ctx, u->cfg.irq, r.irq_level);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static void uart_destroy(struct device *dev)
{
	struct uart *u;

	if (!dev)
		return;
	u = to_uart(dev);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* Power-on values, as QEMU resets them: 9600 baud divisor, OUT2 set. */
static void uart_reset(struct uart_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->lsr = LSR_THRE | LSR_TEMT;
	r->mcr = MCR_OUT2;
	r->msr = MSR_EXTERNAL;
	r->dll = 0x0c;
}

struct device *uart16550__create(struct io_bus *pio, const struct uart_config *cfg)
{
	struct uart *u;
	int ret;

	if (!pio || !cfg) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->cfg = *cfg;
	snprintf(u->name, sizeof(u->name), "uart16550@0x%x", cfg->base);
	u->dev = (struct device){
		.name = u->name,
		.state_version = UART_STATE_V1,
		.save = uart_save,
		.load = uart_load,
		.destroy = uart_destroy,
	};
	uart_reset(&u->r);
	ret = pthread_mutex_init(&u->lock, NULL);
	if (ret)
		goto err_free;
	ret = -io_bus__register(pio, cfg->base, UART_NR_REGS, uart_io, u);
	if (ret)
		goto err_mutex;
	return &u->dev;

err_mutex:
	pthread_mutex_destroy(&u->lock);
err_free:
	free(u);
	errno = ret;
	return NULL;
}
