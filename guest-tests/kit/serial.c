/* COM1 output and a small printf for ring 3 and for ring 0's boot and
 * exception paths. Ring 3 formats into a buffer and hands it to ring 0 in
 * one syscall; a spinlock keeps each call's output in one piece.
 */
#include "kit.h"
#include "kit_priv.h"

#define COM1		0x3f8
#define UART_THR	0
#define UART_DLL	0
#define UART_IER	1
#define UART_DLM	1
#define UART_FCR	2
#define UART_IIR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define FCR_ENABLE	0x07	/* enable and clear both FIFOs */
#define IIR_FIFO	0xc0
#define MCR_DTR_RTS	0x03
#define RING0_LOCK_TRIES 20000

struct out {
	char buf[128];
	size_t n;
};

static unsigned int lock_word;
/* Bytes we may write each time LSR says the transmitter is empty. */
static unsigned int tx_room = 1;

void kit_serial_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, 1);
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE);
	outb(COM1 + UART_MCR, MCR_DTR_RTS);
	/* A 16550A with working FIFOs takes 16 bytes per THRE; a UART
	 * without them takes one. */
	tx_room = (inb(COM1 + UART_IIR) & IIR_FIFO) == IIR_FIFO ? 16 : 1;
}

/* Ring 0 gets here only to report a fault, possibly one taken while this
 * very CPU held the lock: it waits a bounded time, then takes over. */
void kit_serial_lock(bool from_ring0)
{
	unsigned int tries = 0;

	while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE)) {
		if (from_ring0 && ++tries > RING0_LOCK_TRIES)
			return;
		kit__pause();
	}
}

void kit_serial_unlock(void)
{
	__atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
}

/* rep outsb: one exit for up to 16 bytes where the hypervisor batches
 * string I/O (KVM does), instead of one exit per byte. */
static void outsb(uint16_t port, const char *s, size_t n)
{
	__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"(port) : "memory");
}

void kit_uart_write(const char *s, size_t n)
{
	size_t chunk;

	while (n) {
		while (!(inb(COM1 + UART_LSR) & LSR_THRE))
			kit__pause();
		chunk = n < tx_room ? n : tx_room;
		outsb(COM1 + UART_THR, s, chunk);
		s += chunk;
		n -= chunk;
	}
}

/* Ring 3 may not reach the ports (a PVM host ignores IOPL=3), and a
 * syscall per buffer is cheaper than a trap per byte anyway. */
static void put_bytes(const char *s, size_t n)
{
	if (kit_in_ring0())
		kit_uart_write(s, n);
	else
		kit_syscall(KIT_SYS_WRITE, (uintptr_t)s, n);
}

void kit_uart_flush(void)
{
	unsigned int tries = 0;

	/* Bounded: a UART model may never report an idle shift register. */
	while (!(inb(COM1 + UART_LSR) & LSR_TEMT) && ++tries < 100000)
		kit__pause();
}

static void emit(struct out *o, char c)
{
	o->buf[o->n++] = c;
	if (o->n == sizeof(o->buf)) {
		put_bytes(o->buf, o->n);
		o->n = 0;
	}
}

static void emit_pad(struct out *o, char c, int count)
{
	while (count-- > 0)
		emit(o, c);
}

struct spec {
	int width;
	bool zero, left, upper;
};

static void emit_str(struct out *o, const char *s, const struct spec *sp)
{
	int len = (int)strlen(s);

	if (!sp->left)
		emit_pad(o, ' ', sp->width - len);
	while (*s)
		emit(o, *s++);
	if (sp->left)
		emit_pad(o, ' ', sp->width - len);
}

static void emit_num(struct out *o, uint64_t v, unsigned int base, bool neg,
		     const struct spec *sp)
{
	const char *digits = sp->upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, len;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + neg;
	if (neg && sp->zero)
		emit(o, '-');
	if (!sp->left)
		emit_pad(o, sp->zero ? '0' : ' ', sp->width - len);
	if (neg && !sp->zero)
		emit(o, '-');
	while (n)
		emit(o, tmp[--n]);
	if (sp->left)
		emit_pad(o, ' ', sp->width - len);
}

static const char *parse_spec(const char *f, struct spec *sp, int *lng)
{
	*sp = (struct spec){ 0 };
	*lng = 0;
	for (;; f++) {
		if (*f == '0')
			sp->zero = true;
		else if (*f == '-')
			sp->left = true;
		else
			break;
	}
	while (*f >= '0' && *f <= '9')
		sp->width = sp->width * 10 + (*f++ - '0');
	while (*f == 'l' || *f == 'z' || *f == 'h') {
		if (*f != 'h')
			(*lng)++;
		f++;
	}
	if (sp->left)
		sp->zero = false;
	return f;
}

void kit_vprintf_locked(const char *fmt, va_list ap)
{
	struct out o = { .n = 0 };
	struct spec sp;
	const char *s;
	int64_t sv;
	uint64_t uv;
	int lng;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		fmt = parse_spec(fmt + 1, &sp, &lng);
		switch (*fmt) {
		case 'd':
		case 'i':
			sv = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			uv = sv < 0 ? -(uint64_t)sv : (uint64_t)sv;
			emit_num(&o, uv, 10, sv < 0, &sp);
			break;
		case 'u':
		case 'x':
		case 'X':
			uv = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			sp.upper = *fmt == 'X';
			emit_num(&o, uv, *fmt == 'u' ? 10 : 16, false, &sp);
			break;
		case 'p':
			emit(&o, '0');
			emit(&o, 'x');
			emit_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, &sp);
			break;
		case 's':
			s = va_arg(ap, const char *);
			emit_str(&o, s ? s : "(null)", &sp);
			break;
		case 'c':
			emit(&o, (char)va_arg(ap, int));
			break;
		case '%':
			emit(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			emit(&o, '%');
			emit(&o, *fmt);
		}
	}
	put_bytes(o.buf, o.n);
}

void kit_printf_locked(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kit_vprintf_locked(fmt, ap);
	va_end(ap);
}

void kit__vprintf(const char *fmt, va_list ap)
{
	kit_serial_lock(false);
	kit_vprintf_locked(fmt, ap);
	kit_serial_unlock();
}

void kit__printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kit__vprintf(fmt, ap);
	va_end(ap);
}

void kit__die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kit_serial_lock(false);
	kit_vprintf_locked(fmt, ap);
	kit_printf_locked("\n");
	kit_serial_unlock();
	va_end(ap);
	kit__exit(code);
}
