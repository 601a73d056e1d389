/* PCI enumeration and the virtio-blk driver behind kit_blk.h. */
#include "kit.h"
#include "kit_blk.h"
#include "kit_io.h"

#define CFG_ADDR	0xcf8
#define CFG_DATA	0xcfc
#define VIRTIO_VENDOR	0x1af4
#define QSIZE		16	/* what we use of the device's queue */
#define ST_ACK		1
#define ST_DRIVER	2
#define ST_DRIVER_OK	4
#define ST_FEATURES_OK	8
#define ST_NEEDS_RESET	64
#define F_RO		(1u << 5)
#define F_FLUSH		(1u << 9)
#define DESC_NEXT	1
#define DESC_WRITE	2
#define AVAIL_NO_INTERRUPT 1
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define WAIT_US		5000000	/* a request unanswered this long: broken */

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct req_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* The rings and one request's header and status, in RAM (identity mapped,
 * so virtual addresses are the physical ones the device wants). */
static struct {
	struct desc desc[QSIZE] __attribute__((aligned(16)));
	struct {
		uint16_t flags, idx, ring[QSIZE], used_event;
	} avail __attribute__((aligned(2)));
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4096)));
	struct req_hdr hdr;
	volatile uint8_t status;
} q __attribute__((aligned(4096)));

/* Where the virtio structures are; the device found by ring 0. */
static struct {
	unsigned int slot;
	uint16_t device;
	uint64_t common, notify, isr, devcfg;
	uint32_t notify_mult;
	uint16_t notify_off;
	uint64_t features;		/* device's, low 32 bits */
	bool ok;
	const char *why;
	uint64_t sectors;
	uint16_t avail_idx, used_seen;
} dev;

/* One request at a time uses the queue's descriptors 0-2 and q.hdr, so
 * requests from several CPUs take turns (a ring-3 spinlock: a CPU waits
 * for another's request, which polls and is short). */
static int busy;

static void lock(void)
{
	while (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&busy, __ATOMIC_RELAXED))
			kit__pause();
}

static void unlock(void)
{
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

static uint32_t cfg_read(unsigned int slot, unsigned int reg)
{
	outl(CFG_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));
	return inl(CFG_DATA) >> (8 * (reg & 3));
}

static void cfg_write32(unsigned int slot, unsigned int reg, uint32_t v)
{
	outl(CFG_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));
	outl(CFG_DATA, v);
}

static volatile uint8_t *mmio8(uint64_t a)
{
	return (volatile uint8_t *)(uintptr_t)a;
}

static volatile uint16_t *mmio16(uint64_t a)
{
	return (volatile uint16_t *)(uintptr_t)a;
}

static volatile uint32_t *mmio32(uint64_t a)
{
	return (volatile uint32_t *)(uintptr_t)a;
}

/* A BAR's base; one the firmware left unset gets a place in the hole
 * (qboot does not place BARs). */
static uint64_t bar_base(unsigned int slot, unsigned int bar)
{
	static uint64_t next = KIT_PCI_MMIO_START;
	unsigned int reg = 0x10 + 4 * bar;
	uint32_t lo = cfg_read(slot, reg), size;
	uint64_t base = lo & ~0xfull;

	if ((lo & 6) == 4)
		base |= (uint64_t)cfg_read(slot, reg + 4) << 32;
	if (base)
		return base;
	cfg_write32(slot, reg, 0xffffffff);
	size = ~(cfg_read(slot, reg) & ~0xfu) + 1;
	next = (next + size - 1) & ~((uint64_t)size - 1);
	base = next;
	next += size;
	cfg_write32(slot, reg, (uint32_t)base);
	if ((lo & 6) == 4)
		cfg_write32(slot, reg + 4, 0);
	return base;
}

static bool find_caps(unsigned int slot)
{
	unsigned int at = cfg_read(slot, 0x34) & 0xfc, n;

	for (n = 0; at && n < 48; n++, at = cfg_read(slot, at + 1) & 0xfc) {
		unsigned int type = cfg_read(slot, at + 3) & 0xff;
		uint64_t a;

		if ((cfg_read(slot, at) & 0xff) != 0x09 || !type || type > 4)
			continue;
		a = bar_base(slot, cfg_read(slot, at + 4) & 0xff) + cfg_read(slot, at + 8);
		if (type == 1)
			dev.common = a;
		else if (type == 2) {
			dev.notify = a;
			dev.notify_mult = cfg_read(slot, at + 16);
		} else if (type == 3)
			dev.isr = a;
		else
			dev.devcfg = a;
	}
	return dev.common && dev.notify && dev.isr && dev.devcfg;
}

static bool find_device(void)
{
	unsigned int s;

	for (s = 0; s < 32; s++) {
		uint32_t id = cfg_read(s, 0);
		uint16_t d = (uint16_t)(id >> 16);

		if ((id & 0xffff) != VIRTIO_VENDOR || (d != 0x1042 && d != 0x1001))
			continue;
		dev.slot = s;
		dev.device = d;
		/* memory decoding and bus mastering */
		cfg_write32(s, 0x04, (cfg_read(s, 0x04) & 0xffff) | 0x6);
		if (!find_caps(s)) {
			dev.why = "virtio-blk without the modern capabilities";
			return false;
		}
		return true;
	}
	dev.why = "no virtio-blk device on PCI bus 0";
	return false;
}

/* The common config registers (virtio 1.x, 4.1.4.3). */
#define C_DFSELECT	0x00
#define C_DF		0x04
#define C_GFSELECT	0x08
#define C_GF		0x0c
#define C_STATUS	0x14
#define C_QSELECT	0x16
#define C_QSIZE		0x18
#define C_QENABLE	0x1c
#define C_QNOTIFYOFF	0x1e
#define C_QDESC		0x20
#define C_QDRIVER	0x28
#define C_QDEVICE	0x30

static void set64(uint64_t a, uint64_t v)
{
	*mmio32(a) = (uint32_t)v;
	*mmio32(a + 4) = (uint32_t)(v >> 32);
}

static bool negotiate(void)
{
	uint64_t c = dev.common;
	uint32_t hi, lo;

	*mmio8(c + C_STATUS) = 0;
	*mmio8(c + C_STATUS) = ST_ACK | ST_DRIVER;
	*mmio32(c + C_DFSELECT) = 1;
	hi = *mmio32(c + C_DF);
	*mmio32(c + C_DFSELECT) = 0;
	lo = *mmio32(c + C_DF);
	if (!(hi & 1)) {
		dev.why = "device without VERSION_1";
		return false;
	}
	dev.features = lo;
	*mmio32(c + C_GFSELECT) = 1;
	*mmio32(c + C_GF) = 1;
	*mmio32(c + C_GFSELECT) = 0;
	*mmio32(c + C_GF) = lo & (F_RO | F_FLUSH);
	*mmio8(c + C_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK;
	if (!(*mmio8(c + C_STATUS) & ST_FEATURES_OK)) {
		dev.why = "device refused our features";
		return false;
	}
	return true;
}

static bool setup_queue(void)
{
	uint64_t c = dev.common;
	uint16_t max;

	*mmio16(c + C_QSELECT) = 0;
	max = *mmio16(c + C_QSIZE);
	if (max < QSIZE) {
		dev.why = "queue smaller than 16";
		return false;
	}
	*mmio16(c + C_QSIZE) = QSIZE;
	set64(c + C_QDESC, (uintptr_t)q.desc);
	set64(c + C_QDRIVER, (uintptr_t)&q.avail);
	set64(c + C_QDEVICE, (uintptr_t)&q.used);
	dev.notify_off = *mmio16(c + C_QNOTIFYOFF);
	*mmio16(c + C_QENABLE) = 1;
	*mmio8(c + C_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK;
	dev.sectors = *mmio32(dev.devcfg) | (uint64_t)*mmio32(dev.devcfg + 4) << 32;
	return true;
}

static long init_r0(void *arg)
{
	bool found = dev.common ? true : find_device();

	(void)arg;
	memset(&q, 0, sizeof(q));
	q.avail.flags = AVAIL_NO_INTERRUPT;
	dev.avail_idx = dev.used_seen = 0;
	dev.ok = found && negotiate() && setup_queue();
	return dev.ok;
}

static bool init_common(struct kit_blk *info)
{
	if (!kit__ring0_call(init_r0, 0)) {
		kit__printf("blk: %s\n", dev.why ? dev.why : "cannot initialise");
		return false;
	}
	if (info) {
		info->sectors = dev.sectors;
		info->readonly = dev.features & F_RO;
		info->flush = dev.features & F_FLUSH;
		info->device_id = dev.device;
		info->slot = dev.slot;
	}
	return true;
}

bool kit__blk_init(struct kit_blk *info)
{
	return init_common(info);
}

bool kit__blk_reinit(void)
{
	return init_common(0);
}

static long notify_r0(void *arg)
{
	(void)arg;
	*mmio16(dev.notify + (uint64_t)dev.notify_off * dev.notify_mult) = 0;
	return 0;
}

static long status_r0(void *arg)
{
	(void)arg;
	return *mmio8(dev.common + C_STATUS);
}

/* Offers the chain at descriptor 0 and polls for its answer. */
static enum kit_blk_status submit(void)
{
	uint64_t now = kit__now_us(), deadline = now + WAIT_US, look = now + 100000;

	q.avail.ring[dev.avail_idx % QSIZE] = 0;
	__atomic_store_n(&q.avail.idx, (uint16_t)(dev.avail_idx + 1), __ATOMIC_RELEASE);
	dev.avail_idx++;
	kit__ring0_call(notify_r0, 0);
	/* The status register costs a ring-0 call: looked at every 100 ms. */
	while (__atomic_load_n(&q.used.idx, __ATOMIC_ACQUIRE) == dev.used_seen) {
		now = kit__now_us();
		if (now > deadline)
			return KIT_BLK_BROKEN;
		if (now > look) {
			look = now + 100000;
			if (kit__ring0_call(status_r0, 0) & ST_NEEDS_RESET)
				return KIT_BLK_BROKEN;
		}
		kit__pause();
	}
	dev.used_seen++;
	return (enum kit_blk_status)q.status;
}

static void set_desc(unsigned int i, const void *p, uint32_t len, uint16_t flags)
{
	q.desc[i] = (struct desc){ (uintptr_t)p, len, flags, (uint16_t)(i + 1) };
}

enum kit_blk_status kit__blk_rw(bool write, uint64_t sector, void *buf, uint32_t len)
{
	enum kit_blk_status st;

	lock();
	q.hdr = (struct req_hdr){ write ? T_OUT : T_IN, 0, sector };
	q.status = 0xff;
	set_desc(0, &q.hdr, sizeof(q.hdr), DESC_NEXT);
	set_desc(1, buf, len, DESC_NEXT | (write ? 0 : DESC_WRITE));
	set_desc(2, (const void *)&q.status, 1, DESC_WRITE);
	st = submit();
	unlock();
	return st;
}

enum kit_blk_status kit__blk_flush(void)
{
	enum kit_blk_status st;

	lock();
	q.hdr = (struct req_hdr){ T_FLUSH, 0, 0 };
	q.status = 0xff;
	set_desc(0, &q.hdr, sizeof(q.hdr), DESC_NEXT);
	set_desc(1, (const void *)&q.status, 1, DESC_WRITE);
	st = submit();
	unlock();
	return st;
}

uint8_t kit__blk_send_garbage(void)
{
	q.desc[0] = (struct desc){ 1ULL << 46, 16, DESC_NEXT, 1 };
	set_desc(1, (const void *)&q.status, 1, DESC_WRITE);
	submit();
	return (uint8_t)kit__ring0_call(status_r0, 0);
}
