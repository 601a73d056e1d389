#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices.h"
#include "io_bus.h"
#include "wire.h"

#define BASE	0x3f8
#define IRQ	4

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

/* Offsets in the v1 payload, for the corruption tests. */
enum { P_RBR, P_IER, P_FCR, P_LCR, P_MCR, P_LSR, P_MSR, P_SCR, P_DLL, P_DLM,
       P_HEAD, P_COUNT, P_FIFO, P_THR = P_FIFO + 16, P_IRQ, P_LEN };

struct irq_log {
	int calls;
	int level;
	int changes_only;	/* every call must flip the level */
	int history[64];
	/* Set while device threads run: cmocka's asserts are for the main
	 * thread only, so irq_set counts what it would have failed on, and
	 * the test asserts on the count after joining them. */
	int counting;
	int bad;
};

struct rig {
	struct io_bus *bus;
	struct device *dev;
	struct irq_log irq;
	int pipe[2];
};

static void irq_set(void *ctx, unsigned int irq, int level)
{
	struct irq_log *log = ctx;
	bool ok = irq == IRQ && (level == 0 || level == 1) &&
		  !(log->changes_only && level == log->level);

	if (log->counting) {
		log->bad += !ok;
	} else {
		assert_int_equal(irq, IRQ);
		assert_true(level == 0 || level == 1);
		if (log->changes_only)
			assert_int_not_equal(level, log->level);
	}
	if (log->calls < 64)
		log->history[log->calls] = level;
	log->calls++;
	log->level = level;
}

static struct rig *rig_new(bool with_pipe)
{
	struct rig *t = calloc(1, sizeof(*t));
	struct uart_config cfg = {
		.base = BASE, .irq = IRQ, .out_fd = -1,
		.irq_set = irq_set,
	};

	assert_non_null(t);
	t->pipe[0] = t->pipe[1] = -1;
	if (with_pipe) {
		assert_int_equal(pipe2(t->pipe, O_NONBLOCK), 0);
		cfg.out_fd = t->pipe[1];
	}
	t->irq.changes_only = 1;
	cfg.irq_ctx = &t->irq;
	t->bus = io_bus__create("pio");
	assert_non_null(t->bus);
	t->dev = uart16550__create(t->bus, &cfg);
	assert_non_null(t->dev);
	return t;
}

static void rig_free(struct rig *t)
{
	t->dev->destroy(t->dev);
	io_bus__destroy(t->bus);
	if (t->pipe[0] >= 0) {
		close(t->pipe[0]);
		close(t->pipe[1]);
	}
	free(t);
}

static int setup(void **state)
{
	*state = rig_new(true);
	return 0;
}

static int teardown(void **state)
{
	rig_free(*state);
	return 0;
}

static void outb(struct rig *t, unsigned int off, uint8_t val)
{
	assert_true(io_bus__dispatch(t->bus, BASE + off, &val, 1, true));
}

static uint8_t inb(struct rig *t, unsigned int off)
{
	uint8_t val = 0xee;

	assert_true(io_bus__dispatch(t->bus, BASE + off, &val, 1, false));
	return val;
}

static size_t drain(struct rig *t, char *buf, size_t cap)
{
	ssize_t n = read(t->pipe[0], buf, cap);

	return n < 0 ? 0 : (size_t)n;
}

static void test_reset_values(void **state)
{
	struct rig *t = *state;

	assert_int_equal(inb(t, IER), 0);
	assert_int_equal(inb(t, IIR), 0x01);
	assert_int_equal(inb(t, LCR), 0);
	assert_int_equal(inb(t, MCR), 0x08);
	assert_int_equal(inb(t, LSR), 0x60);
	assert_int_equal(inb(t, MSR), 0xb0);
	assert_int_equal(inb(t, SCR), 0);
	outb(t, LCR, 0x80);
	assert_int_equal(inb(t, DLL), 0x0c);
	assert_int_equal(inb(t, DLM), 0);
	assert_string_equal(t->dev->name, "uart16550@0x3f8");
	assert_int_equal(t->irq.calls, 0);
	assert_int_equal(uart16550__rx_space(t->dev), 1);
}

static void test_dlab_switching(void **state)
{
	struct rig *t = *state;
	char out[8];

	outb(t, LCR, 0x83);
	outb(t, DLL, 0x01);
	outb(t, DLM, 0x02);
	assert_int_equal(drain(t, out, sizeof(out)), 0);
	assert_int_equal(inb(t, IER), 0x02);	/* DLM, not IER */
	outb(t, LCR, 0x03);
	assert_int_equal(inb(t, IER), 0);
	outb(t, IER, 0xff);
	assert_int_equal(inb(t, IER), 0x0f);
	outb(t, IER, 0);
	outb(t, THR, 'A');
	assert_int_equal(drain(t, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'A');
	outb(t, LCR, 0x80);
	assert_int_equal(inb(t, DLL), 0x01);
	assert_int_equal(inb(t, DLM), 0x02);
	outb(t, SCR, 0x5a);
	assert_int_equal(inb(t, SCR), 0x5a);
}

static void test_transmit(void **state)
{
	struct rig *t = *state;
	const char *msg = "hello, world\n";
	char out[64];
	size_t i;

	for (i = 0; msg[i]; i++) {
		outb(t, THR, (uint8_t)msg[i]);
		assert_int_equal(inb(t, LSR) & 0x60, 0x60);
	}
	assert_int_equal(drain(t, out, sizeof(out)), strlen(msg));
	assert_memory_equal(out, msg, strlen(msg));
}

static void test_transmit_dropped(void **state)
{
	struct rig *t = rig_new(false);

	outb(t, THR, 'x');
	assert_int_equal(inb(t, LSR), 0x60);
	rig_free(t);
}

static void test_thre_interrupt_cycle(void **state)
{
	struct rig *t = *state;

	/* Enabling ETBEI with THR empty raises THRE at once. */
	outb(t, IER, 0x02);
	assert_int_equal(t->irq.level, 1);
	assert_int_equal(inb(t, IIR), 0x02);
	/* That read acknowledged it. */
	assert_int_equal(t->irq.level, 0);
	assert_int_equal(inb(t, IIR), 0x01);

	/* A completed transmission raises it again. */
	t->irq.calls = 0;
	outb(t, THR, 'a');
	assert_int_equal(t->irq.calls, 1);
	assert_int_equal(t->irq.level, 1);

	/* Writing THR while it is pending drops the line for the duration
	 * of the transmission: an edge-triggered PIC sees a fresh edge. */
	t->irq.calls = 0;
	outb(t, THR, 'b');
	assert_int_equal(t->irq.calls, 2);
	assert_int_equal(t->irq.history[0], 0);
	assert_int_equal(t->irq.history[1], 1);

	/* Reads of other registers leave it pending. */
	inb(t, LSR);
	inb(t, MSR);
	assert_int_equal(t->irq.level, 1);

	/* Masking drops the line and forgets the pending THRE. */
	outb(t, IER, 0);
	assert_int_equal(t->irq.level, 0);
	assert_int_equal(inb(t, IIR), 0x01);
	/* Rewriting IER without ETBEI changes nothing. */
	t->irq.calls = 0;
	outb(t, IER, 0x00);
	assert_int_equal(t->irq.calls, 0);
}

static void test_iir_priority(void **state)
{
	struct rig *t = *state;
	uint8_t i;

	outb(t, FCR, 0x07);		/* FIFO on, trigger level 1 */
	outb(t, IER, 0x0f);
	inb(t, IIR);			/* acknowledge the THRE from enabling */
	/* Loopback drops every modem input: DCTS, DDSR, DDCD. */
	outb(t, MCR, 0x10);
	assert_int_equal(inb(t, IIR), 0xc0);
	/* 17 bytes into a 16-byte FIFO: an overrun. */
	for (i = 0; i < 17; i++)
		outb(t, THR, i);
	assert_int_equal(t->irq.level, 1);
	assert_int_equal(inb(t, IIR), 0xc6);	/* receiver line status */
	assert_int_equal(inb(t, LSR), 0x63);	/* DR OE THRE TEMT */
	assert_int_equal(inb(t, LSR), 0x61);	/* OE cleared by the read */
	assert_int_equal(inb(t, IIR), 0xc4);	/* received data */
	for (i = 0; i < 16; i++)		/* the 17th byte was lost */
		assert_int_equal(inb(t, RBR), i);
	assert_int_equal(inb(t, LSR), 0x60);
	assert_int_equal(inb(t, IIR), 0xc2);	/* THR empty, now acked */
	assert_int_equal(inb(t, IIR), 0xc0);	/* modem status */
	assert_int_equal(inb(t, MSR), 0x0b);	/* deltas, no inputs */
	assert_int_equal(inb(t, MSR), 0x00);	/* deltas cleared */
	assert_int_equal(inb(t, IIR), 0xc1);
	assert_int_equal(t->irq.level, 0);
}

static void test_rx_fifo(void **state)
{
	struct rig *t = *state;
	uint8_t buf[20];
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 + i);
	outb(t, FCR, 0x01);
	assert_int_equal(uart16550__rx_space(t->dev), 16);
	assert_int_equal(uart16550__receive(t->dev, buf, 20), 16);
	assert_int_equal(uart16550__rx_space(t->dev), 0);
	assert_int_equal(uart16550__receive(t->dev, buf + 16, 4), 0);
	assert_int_equal(inb(t, LSR), 0x61);	/* no overrun: input held back */
	for (i = 0; i < 10; i++)
		assert_int_equal(inb(t, RBR), 0xa0 + i);
	assert_int_equal(uart16550__rx_space(t->dev), 10);
	/* Wraps around the ring. */
	assert_int_equal(uart16550__receive(t->dev, buf + 16, 4), 4);
	for (i = 10; i < 20; i++)
		assert_int_equal(inb(t, RBR), 0xa0 + i);
	assert_int_equal(inb(t, LSR), 0x60);
	assert_int_equal(inb(t, RBR), 0xa0 + 19);	/* empty: last byte again */
}

static void test_rx_trigger_and_clear(void **state)
{
	struct rig *t = *state;
	uint8_t buf[16] = { 0 };

	outb(t, FCR, 0xc1);		/* trigger level 14 */
	outb(t, IER, 0x01);
	assert_int_equal(uart16550__receive(t->dev, buf, 13), 13);
	assert_int_equal(t->irq.level, 1);
	assert_int_equal(inb(t, IIR), 0xcc);	/* below trigger: timeout */
	assert_int_equal(uart16550__receive(t->dev, buf, 1), 1);
	assert_int_equal(inb(t, IIR), 0xc4);	/* at trigger level */
	inb(t, RBR);
	assert_int_equal(inb(t, IIR), 0xcc);
	/* Clearing the receive FIFO empties it and drops the line. */
	outb(t, FCR, 0xc3);
	assert_int_equal(inb(t, LSR), 0x60);
	assert_int_equal(inb(t, IIR), 0xc1);
	assert_int_equal(t->irq.level, 0);
	assert_int_equal(uart16550__rx_space(t->dev), 16);
	/* Trigger levels 4 and 8. */
	outb(t, FCR, 0x41);
	assert_int_equal(uart16550__receive(t->dev, buf, 3), 3);
	assert_int_equal(inb(t, IIR), 0xcc);
	assert_int_equal(uart16550__receive(t->dev, buf, 1), 1);
	assert_int_equal(inb(t, IIR), 0xc4);
	outb(t, FCR, 0x83);
	assert_int_equal(uart16550__receive(t->dev, buf, 7), 7);
	assert_int_equal(inb(t, IIR), 0xcc);
	assert_int_equal(uart16550__receive(t->dev, buf, 1), 1);
	assert_int_equal(inb(t, IIR), 0xc4);
	/* Turning the FIFO off flushes it. */
	outb(t, FCR, 0x00);
	assert_int_equal(inb(t, LSR), 0x60);
	assert_int_equal(inb(t, IIR), 0x01);
}

static void test_no_fifo_mode(void **state)
{
	struct rig *t = *state;
	uint8_t buf[2] = { 'x', 'y' };

	outb(t, IER, 0x05);
	assert_int_equal(uart16550__receive(t->dev, buf, 2), 1);
	assert_int_equal(inb(t, IIR), 0x04);
	assert_int_equal(inb(t, RBR), 'x');
	assert_int_equal(inb(t, IIR), 0x01);
	/* In loopback a second byte overruns the holding register and
	 * replaces the first. */
	outb(t, MCR, 0x10);
	outb(t, THR, '1');
	outb(t, THR, '2');
	assert_int_equal(inb(t, IIR), 0x06);
	assert_int_equal(inb(t, LSR), 0x63);
	assert_int_equal(inb(t, IIR), 0x04);
	assert_int_equal(inb(t, RBR), '2');
	assert_int_equal(inb(t, LSR), 0x60);
}

static void test_loopback(void **state)
{
	struct rig *t = *state;
	uint8_t in = 'z';
	char out[8];

	outb(t, FCR, 0x01);
	outb(t, MCR, 0x1f);
	assert_int_equal(inb(t, MSR), 0xf0);	/* RI rose: no delta */
	outb(t, THR, 'L');
	assert_int_equal(drain(t, out, sizeof(out)), 0);
	assert_int_equal(inb(t, LSR), 0x61);
	assert_int_equal(inb(t, RBR), 'L');
	/* Outside input waits until loopback ends. */
	assert_int_equal(uart16550__rx_space(t->dev), 0);
	assert_int_equal(uart16550__receive(t->dev, &in, 1), 0);

	/* Each output reaches its own input. */
	outb(t, MCR, 0x11);
	assert_int_equal(inb(t, MSR) & 0xf0, 0x20);	/* DTR -> DSR */
	outb(t, MCR, 0x12);
	assert_int_equal(inb(t, MSR) & 0xf0, 0x10);	/* RTS -> CTS */
	outb(t, MCR, 0x14);
	assert_int_equal(inb(t, MSR), 0x40 | 0x01);	/* OUT1 -> RI */
	outb(t, MCR, 0x18);
	assert_int_equal(inb(t, MSR), 0x80 | 0x0c);	/* RI fell: TERI */

	/* Leaving loopback restores the outside lines, and output. */
	outb(t, MCR, 0x08);
	assert_int_equal(inb(t, MSR), 0xb0 | 0x03);
	outb(t, THR, 'O');
	assert_int_equal(drain(t, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'O');
	assert_int_equal(uart16550__receive(t->dev, &in, 1), 1);
}

static void test_modem_status_interrupt(void **state)
{
	struct rig *t = *state;

	outb(t, IER, 0x08);
	assert_int_equal(t->irq.level, 0);
	outb(t, MCR, 0x10);
	assert_int_equal(t->irq.level, 1);
	assert_int_equal(inb(t, IIR), 0x00);
	assert_int_equal(t->irq.level, 1);	/* IIR read does not ack MSI */
	inb(t, MSR);
	assert_int_equal(t->irq.level, 0);
}

static void test_wide_access(void **state)
{
	struct rig *t = *state;
	uint8_t data[4] = { 0x0f, 0xaa, 0xbb, 0xcc };

	/* Only byte 0 counts. */
	assert_true(io_bus__dispatch(t->bus, BASE + IER, data, 2, true));
	assert_int_equal(inb(t, IER), 0x0f);
	assert_int_equal(inb(t, LCR), 0);
	memset(data, 0xff, sizeof(data));
	assert_true(io_bus__dispatch(t->bus, BASE + IER, data, 4, false));
	assert_int_equal(data[0], 0x0f);
	assert_int_equal(data[1], 0);
	assert_int_equal(data[2], 0);
	assert_int_equal(data[3], 0);
	/* A word at the last register still reaches the UART. */
	data[0] = 0x42;
	assert_true(io_bus__dispatch(t->bus, BASE + SCR, data, 2, true));
	assert_int_equal(inb(t, SCR), 0x42);
}

static void save(struct device *dev, struct wbuf *w)
{
	wbuf__init(w);
	assert_int_equal(dev->save(dev, w), 0);
	assert_int_equal(w->len, P_LEN);
}

static int load(struct device *dev, const uint8_t *p, size_t len, uint32_t v)
{
	struct rbuf r;

	rbuf__init(&r, p, len);
	return dev->load(dev, &r, v);
}

/* A state with something in every field: wrapped FIFO, divisor, scratch,
 * modem deltas, a pending THRE and the line up. */
static void make_busy(struct rig *t)
{
	uint8_t buf[12] = "abcdefghijkl";

	outb(t, FCR, 0x87);
	outb(t, LCR, 0x80);
	outb(t, DLL, 0x03);
	outb(t, DLM, 0x01);
	outb(t, LCR, 0x1b);
	outb(t, SCR, 0x99);
	outb(t, MCR, 0x13);		/* loopback without OUT2: DCD drops */
	outb(t, MCR, 0x0b);
	assert_int_equal(uart16550__receive(t->dev, buf, 12), 12);
	for (int i = 0; i < 10; i++)
		inb(t, RBR);
	assert_int_equal(uart16550__receive(t->dev, buf, 12), 12);
	outb(t, IER, 0x0e);
	assert_int_equal(t->irq.level, 1);
}

static void test_save_load_round_trip(void **state)
{
	struct rig *a = *state, *b = rig_new(true);
	struct wbuf wa, wb;
	int i;

	make_busy(a);
	save(a->dev, &wa);
	assert_int_equal(load(b->dev, wa.data, wa.len, a->dev->state_version), 0);
	assert_int_equal(b->irq.calls, 1);
	assert_int_equal(b->irq.level, 1);
	save(b->dev, &wb);
	assert_memory_equal(wa.data, wb.data, wa.len);

	/* The same accesses now give the same answers on both. */
	for (i = 0; i < 8; i++)
		assert_int_equal(inb(a, i), inb(b, i));
	for (i = 0; i < 16; i++) {
		assert_int_equal(inb(a, IIR), inb(b, IIR));
		assert_int_equal(inb(a, RBR), inb(b, RBR));
		assert_int_equal(a->irq.level, b->irq.level);
	}
	outb(a, THR, 'q');
	outb(b, THR, 'q');
	assert_int_equal(inb(a, IIR), inb(b, IIR));
	wbuf__free(&wa);
	wbuf__free(&wb);
	rig_free(b);
}

static void expect_rejected(struct rig *t, const uint8_t *p, size_t len,
			    uint32_t version, int err)
{
	struct wbuf before, after;
	int calls = t->irq.calls;

	save(t->dev, &before);
	assert_int_equal(load(t->dev, p, len, version), err);
	save(t->dev, &after);
	assert_memory_equal(before.data, after.data, P_LEN);
	assert_int_equal(t->irq.calls, calls);
	wbuf__free(&before);
	wbuf__free(&after);
}

static void test_load_rejects_truncated(void **state)
{
	struct rig *t = *state, *src = rig_new(false);
	struct wbuf w;
	uint8_t *big;
	size_t len;

	make_busy(src);
	save(src->dev, &w);
	for (len = 0; len < w.len; len++)
		expect_rejected(t, w.data, len, 1, -EBADMSG);
	big = calloc(1, w.len + 1);
	assert_non_null(big);
	memcpy(big, w.data, w.len);
	expect_rejected(t, big, w.len + 1, 1, -EBADMSG);
	expect_rejected(t, w.data, w.len, 0, -EPROTONOSUPPORT);
	expect_rejected(t, w.data, w.len, 2, -EPROTONOSUPPORT);
	free(big);
	wbuf__free(&w);
	rig_free(src);
}

static void test_load_rejects_bad_fields(void **state)
{
	static const struct { int off; uint8_t val; } bad[] = {
		{ P_IER, 0x1e },	/* reserved IER bits */
		{ P_FCR, 0x83 },	/* self-clearing bit stored */
		{ P_MCR, 0x2b },	/* reserved MCR bit */
		{ P_LSR, 0x41 },	/* THRE missing: TX never pends */
		{ P_LSR, 0x60 },	/* DR clear with data */
		{ P_LSR, 0x71 },	/* break never happens here */
		{ P_MSR, 0xf0 },	/* inputs disagree with MCR */
		{ P_HEAD, 16 },
		{ P_COUNT, 17 },
		{ P_THR, 2 },
		{ P_IRQ, 0 },		/* line down with interrupts pending */
		{ P_IRQ, 2 },
	};
	struct rig *t = *state, *src = rig_new(false);
	struct wbuf w;
	uint8_t copy[P_LEN];
	size_t i;

	make_busy(src);
	save(src->dev, &w);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, w.data, P_LEN);
		copy[bad[i].off] = bad[i].val;
		expect_rejected(t, copy, P_LEN, 1, -EBADMSG);
	}
	/* More than one byte in the holding register without FIFOs. */
	memcpy(copy, w.data, P_LEN);
	copy[P_FCR] = 0;
	expect_rejected(t, copy, P_LEN, 1, -EBADMSG);
	/* An empty FIFO claiming data ready. */
	copy[P_FCR] = 0x81;
	copy[P_COUNT] = 0;
	expect_rejected(t, copy, P_LEN, 1, -EBADMSG);
	/* The unmodified payload is fine. */
	assert_int_equal(load(t->dev, w.data, w.len, 1), 0);
	wbuf__free(&w);
	rig_free(src);
}

/* One device thread; it records, the main thread asserts. */
struct writer {
	struct rig *t;
	char ch;
	int unclaimed;		/* accesses no device took */
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	uint8_t v = (uint8_t)w->ch;

	for (int i = 0; i < 2000; i++)
		w->unclaimed += !io_bus__dispatch(w->t->bus, BASE + THR, &v, 1, true);
	return NULL;
}

static void *receive_many(void *arg)
{
	struct writer *w = arg;
	uint8_t v = 0, got;
	int n = 0;

	while (n < 2000) {
		n += (int)uart16550__receive(w->t->dev, &v, 1);
		w->unclaimed += !io_bus__dispatch(w->t->bus, BASE + RBR, &got, 1, false);
	}
	return NULL;
}

/* Three threads at once: nothing lost on output, nothing torn. */
static void test_concurrent(void **state)
{
	struct rig *t = *state;
	struct writer wa = { t, 'a', 0 }, wb = { t, 'b', 0 }, wr = { t, 0, 0 };
	pthread_t ta, tb, tr;
	char out[4096];
	size_t total = 0, n;

	/* irq_set runs under the device lock, so even now every call must
	 * flip the level. */
	outb(t, IER, 0x01);
	t->irq.counting = 1;
	assert_int_equal(pthread_create(&ta, NULL, write_many, &wa), 0);
	assert_int_equal(pthread_create(&tb, NULL, write_many, &wb), 0);
	assert_int_equal(pthread_create(&tr, NULL, receive_many, &wr), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tr, NULL);
	t->irq.counting = 0;
	assert_int_equal(t->irq.bad, 0);
	assert_true(t->irq.calls > 0);
	assert_int_equal(wa.unclaimed + wb.unclaimed + wr.unclaimed, 0);
	while ((n = drain(t, out, sizeof(out))) > 0)
		total += n;
	assert_int_equal(total, 4000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_reset_values),
		T(test_dlab_switching),
		T(test_transmit),
		T(test_transmit_dropped),
		T(test_thre_interrupt_cycle),
		T(test_iir_priority),
		T(test_rx_fifo),
		T(test_rx_trigger_and_clear),
		T(test_no_fifo_mode),
		T(test_loopback),
		T(test_modem_status_interrupt),
		T(test_wide_access),
		T(test_save_load_round_trip),
		T(test_load_rejects_truncated),
		T(test_load_rejects_bad_fields),
		T(test_concurrent),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
