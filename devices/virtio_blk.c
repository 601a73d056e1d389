#include "virtio_blk.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pci.h"
#include "virtq.h"
#include "wire.h"

#define VBLK_STATE_V1		VIRTIO_BLK_STATE_VERSION

#define F_SEG_MAX		(1ULL << 2)
#define F_RO			(1ULL << 5)
#define F_BLK_SIZE		(1ULL << 6)
#define F_FLUSH			(1ULL << 9)
#define F_VERSION_1		(1ULL << 32)

#define S_ACKNOWLEDGE		1
#define S_DRIVER		2
#define S_DRIVER_OK		4
#define S_FEATURES_OK		8
#define S_NEEDS_RESET		64
#define S_FAILED		128

#define ISR_QUEUE		1
#define ISR_CONFIG		2

#define T_IN			0
#define T_OUT			1
#define T_FLUSH			4
#define T_GET_ID		8
#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2
#define BLK_ID_BYTES		20

#define COMMON_LEN		0x38
#define NO_VECTOR		0xffff

/* One request between its chain's pop and its push on the used ring. */
struct vblk_req {
	struct blk_io io;
	bool busy;
	uint16_t head;
	uint64_t status_gpa;
	uint32_t data_len;
	uint16_t nr_data;
	uint64_t data_gpa[BLK_IO_MAX_IOV];
};

struct vblk {
	struct device dev;
	char name[DEVICE_NAME_MAX];
	struct pci_function fn;
	struct device *host;
	struct guest_memory *mem;
	struct blk_backend *backend;
	uint64_t capacity;		/* sectors */
	uint64_t features;		/* offered */
	bool readonly;
	pthread_mutex_t lock;
	/* Guest-visible state, under lock: what save() writes. */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint8_t status, config_gen, isr;
	uint16_t queue_select;
	struct virtq vq;
	/* Under lock too. */
	bool resetting;
	struct vblk_req reqs[VIRTIO_BLK_QUEUE_SIZE];
	struct virtq_chain chain;
	double last_drain_ms;
};

static struct vblk *to_vblk(struct device *dev)
{
	return (struct vblk *)((char *)dev - offsetof(struct vblk, dev));
}

static void raise_isr(struct vblk *v, uint8_t bit)
{
	v->isr |= bit;
	pci_host__set_intx(v->host, &v->fn, true);
}

/* The ring is broken: stop serving until the driver resets the device. */
static void needs_reset(struct vblk *v, const char *why)
{
	if (!(v->status & S_NEEDS_RESET))
		log_warn("%s: %s; the device needs a reset", v->name, why);
	v->status |= S_NEEDS_RESET;
	raise_isr(v, ISR_CONFIG);
}

static void push(struct vblk *v, uint16_t head, uint32_t len)
{
	if (virtq__push(&v->vq, v->mem, head, len))
		raise_isr(v, ISR_QUEUE);
}

static void finish(struct vblk *v, struct vblk_req *r, uint8_t status)
{
	guest_memory__write(v->mem, r->status_gpa, &status, 1);
	push(v, r->head, (r->io.op == BLK_OP_READ && status == BLK_S_OK ? r->data_len : 0) + 1);
	r->busy = false;
}

static struct vblk_req *free_req(struct vblk *v)
{
	unsigned int i;

	for (i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		if (!v->reqs[i].busy)
			return &v->reqs[i];
	return NULL;
}

/* The header (type, reserved, sector) in the first buffer, the status byte
 * the last byte of the last buffer, the data in between, every data buffer
 * in the direction the type wants. Returns a BLK_S_ status, or -1 when
 * there is no status byte to answer with. */
static int parse(struct vblk *v, struct vblk_req *r, const struct virtq_chain *c,
		 uint32_t *type, uint64_t *sector)
{
	const struct virtq_seg *last = &c->segs[c->nr_segs - 1];
	unsigned int i;

	if (c->nr_segs < 2 || !last->write || !last->len)
		return -1;
	r->status_gpa = last->gpa + last->len - 1;
	if (c->segs[0].write || c->segs[0].len < 16)
		return BLK_S_IOERR;
	*type = wire__get_le32(c->segs[0].hva);
	*sector = wire__get_le64((const uint8_t *)c->segs[0].hva + 8);
	r->io.niov = 0;
	r->io.len = 0;
	r->nr_data = 0;
	for (i = 1; i < c->nr_segs; i++) {
		uint32_t len = c->segs[i].len - (i == c->nr_segs - 1);

		if (!len)
			continue;
		if (r->io.niov == VIRTIO_BLK_SEG_MAX ||
		    c->segs[i].write != (*type == T_IN || *type == T_GET_ID))
			return BLK_S_IOERR;
		r->io.iov[r->io.niov++] = (struct iovec){ c->segs[i].hva, len };
		r->data_gpa[r->nr_data++] = c->segs[i].gpa;
		r->io.len += len;
	}
	r->data_len = (uint32_t)r->io.len;
	return BLK_S_OK;
}

static int check_rw(struct vblk *v, struct vblk_req *r, uint32_t type, uint64_t sector)
{
	uint64_t n = r->io.len / BLK_SECTOR_SIZE;

	if (r->io.len % BLK_SECTOR_SIZE || r->io.len > UINT32_MAX)
		return BLK_S_IOERR;
	if (sector > v->capacity || n > v->capacity - sector)
		return BLK_S_IOERR;
	if (type == T_OUT && v->readonly)
		return BLK_S_IOERR;
	r->io.op = type == T_IN ? BLK_OP_READ : BLK_OP_WRITE;
	r->io.offset = sector * BLK_SECTOR_SIZE;
	return BLK_S_OK;
}

static int get_id(struct vblk *v, struct vblk_req *r)
{
	char id[DEVICE_NAME_MAX + 8] = { 0 };
	size_t left = BLK_ID_BYTES;
	unsigned int i;

	/* The ID is 20 bytes, NUL-padded, not terminated when full. */
	snprintf(id, sizeof(id), "vmm-%s", v->name);
	for (i = 0; i < r->io.niov && left; i++) {
		size_t n = r->io.iov[i].iov_len < left ? r->io.iov[i].iov_len : left;

		guest_memory__write(v->mem, r->data_gpa[i], id + BLK_ID_BYTES - left, n);
		left -= n;
	}
	r->io.op = BLK_OP_READ;
	r->data_len = BLK_ID_BYTES - (uint32_t)left;
	return BLK_S_OK;
}

/* Starts one request; returns false when the ring turned out broken. */
static bool start(struct vblk *v, struct vblk_req *r, const struct virtq_chain *c)
{
	uint32_t type = 0;
	uint64_t sector = 0;
	int st;

	r->head = c->head;
	r->busy = true;
	r->io.op = BLK_OP_FLUSH;
	st = parse(v, r, c, &type, &sector);
	if (st < 0) {
		r->busy = false;
		return false;
	}
	if (st == BLK_S_OK) {
		if (type == T_IN || type == T_OUT)
			st = check_rw(v, r, type, sector);
		else if (type == T_GET_ID)
			st = get_id(v, r);
		else if (type != T_FLUSH)
			st = BLK_S_UNSUPP;
		if (st == BLK_S_OK && type != T_GET_ID) {
			r->io.cookie = r;
			if (!blk_backend__submit(v->backend, &r->io))
				return true;
			st = BLK_S_IOERR;
		}
	}
	finish(v, r, (uint8_t)st);
	return true;
}

static bool serving(const struct vblk *v)
{
	return (v->status & S_DRIVER_OK) && !(v->status & S_NEEDS_RESET) &&
	       v->vq.enabled && !v->resetting;
}

/* Takes chains while a request slot is free; a completion frees one and
 * comes back here. Called with the lock held, on the I/O thread. */
static void process(struct vblk *v)
{
	struct vblk_req *r;
	int ret;

	while (serving(v) && (r = free_req(v))) {
		ret = virtq__pop(&v->vq, v->mem, &v->chain);
		if (!ret)
			return;
		if (ret < 0) {
			needs_reset(v, "bad descriptor chain or avail index");
			return;
		}
		if (!start(v, r, &v->chain)) {
			needs_reset(v, "request without a status byte");
			return;
		}
	}
}

static void on_kick(void *ctx)
{
	struct vblk *v = ctx;

	pthread_mutex_lock(&v->lock);
	process(v);
	pthread_mutex_unlock(&v->lock);
}

static void on_done(void *ctx, struct blk_io *io)
{
	struct vblk *v = ctx;
	struct vblk_req *r = io->cookie;
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	if (io->op == BLK_OP_READ && !io->result)
		for (i = 0; i < r->nr_data; i++)
			guest_memory__mark(v->mem, r->data_gpa[i], io->iov[i].iov_len);
	if (io->result)
		log_warn("%s: %s at byte %llu: %s", v->name,
			 io->op == BLK_OP_READ ? "read" : io->op == BLK_OP_WRITE ? "write" : "flush",
			 (unsigned long long)io->offset, strerror(-io->result));
	finish(v, r, io->result ? BLK_S_IOERR : BLK_S_OK);
	process(v);
	pthread_mutex_unlock(&v->lock);
}

/* --- registers (vCPU threads) ------------------------------------------ */

static void common_image(struct vblk *v, uint8_t *c)
{
	uint64_t f = v->dfselect < 2 ? v->features >> (32 * v->dfselect) : 0;
	uint64_t g = v->gfselect < 2 ? v->driver_features >> (32 * v->gfselect) : 0;
	bool q0 = v->queue_select == 0;

	memset(c, 0, COMMON_LEN);
	wire__le32(c + 0x00, v->dfselect);
	wire__le32(c + 0x04, (uint32_t)f);
	wire__le32(c + 0x08, v->gfselect);
	wire__le32(c + 0x0c, (uint32_t)g);
	c[0x10] = c[0x11] = 0xff;		/* msix_config: no vector */
	c[0x12] = 1;				/* num_queues */
	c[0x14] = v->status;
	c[0x15] = v->config_gen;
	c[0x16] = (uint8_t)v->queue_select;
	c[0x17] = (uint8_t)(v->queue_select >> 8);
	c[0x1a] = c[0x1b] = 0xff;		/* queue_msix_vector */
	if (!q0)
		return;
	c[0x18] = (uint8_t)v->vq.size;
	c[0x19] = (uint8_t)(v->vq.size >> 8);
	c[0x1c] = v->vq.enabled;
	wire__le64(c + 0x20, v->vq.desc);
	wire__le64(c + 0x28, v->vq.avail);
	wire__le64(c + 0x30, v->vq.used);
}

static void reset_locked(struct vblk *v)
{
	v->dfselect = v->gfselect = 0;
	v->driver_features = 0;
	v->status = 0;
	v->isr = 0;
	v->queue_select = 0;
	v->vq = (struct virtq){ .size = VIRTIO_BLK_QUEUE_SIZE };
	pci_host__set_intx(v->host, &v->fn, false);
}

/* A reset must not leave a request writing into memory the driver took
 * back: wait for those in flight first (the vCPU waits, as on hardware). */
static void reset(struct vblk *v)
{
	v->resetting = true;
	pthread_mutex_unlock(&v->lock);
	blk_backend__drain(v->backend);
	pthread_mutex_lock(&v->lock);
	v->resetting = false;
	reset_locked(v);
}

static void write_status(struct vblk *v, uint8_t s)
{
	uint64_t g = v->driver_features;

	if (!s) {
		reset(v);
		return;
	}
	/* FEATURES_OK sticks only for a subset of the offer with VERSION_1. */
	if ((s & S_FEATURES_OK) && !(v->status & S_FEATURES_OK) &&
	    ((g & ~v->features) || !(g & F_VERSION_1)))
		s &= (uint8_t)~S_FEATURES_OK;
	v->status = (uint8_t)(s | (v->status & S_NEEDS_RESET));
	if (serving(v))
		blk_backend__kick(v->backend);
}

static void enable_queue(struct vblk *v)
{
	if (virtq__check(&v->vq, v->mem)) {
		needs_reset(v, "queue rings outside RAM or misaligned");
		return;
	}
	v->vq.last_avail = 0;
	v->vq.used_idx = 0;
	v->vq.enabled = true;
}

static bool touched(uint64_t off, uint32_t len, unsigned int field, unsigned int flen)
{
	return off < field + flen && field < off + len;
}

/* The written bytes are laid over the register image, then every field
 * they touched is taken from it: any access width works the same. */
static void common_write(struct vblk *v, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint8_t c[COMMON_LEN];
	bool q0 = v->queue_select == 0, idle = q0 && !v->vq.enabled;

	common_image(v, c);
	memcpy(c + off, data, len);
	if (touched(off, len, 0x00, 4))
		v->dfselect = wire__get_le32(c);
	if (touched(off, len, 0x08, 4))
		v->gfselect = wire__get_le32(c + 0x08);
	if (touched(off, len, 0x0c, 4) && v->gfselect < 2 && !(v->status & S_FEATURES_OK)) {
		unsigned int sh = 32 * v->gfselect;

		v->driver_features &= ~(0xffffffffULL << sh);
		v->driver_features |= (uint64_t)wire__get_le32(c + 0x0c) << sh;
	}
	if (touched(off, len, 0x16, 2))
		v->queue_select = (uint16_t)(c[0x16] | c[0x17] << 8);
	if (idle && touched(off, len, 0x18, 2)) {
		uint16_t n = (uint16_t)(c[0x18] | c[0x19] << 8);

		v->vq.size = n && n <= VIRTIO_BLK_QUEUE_SIZE ? n : v->vq.size;
	}
	if (idle && touched(off, len, 0x20, 8))
		v->vq.desc = wire__get_le64(c + 0x20);
	if (idle && touched(off, len, 0x28, 8))
		v->vq.avail = wire__get_le64(c + 0x28);
	if (idle && touched(off, len, 0x30, 8))
		v->vq.used = wire__get_le64(c + 0x30);
	if (idle && touched(off, len, 0x1c, 2) && c[0x1c] == 1)
		enable_queue(v);
	if (touched(off, len, 0x14, 1))
		write_status(v, c[0x14]);
}

static void devcfg_image(const struct vblk *v, uint8_t *c, size_t n)
{
	memset(c, 0, n);
	wire__le64(c, v->capacity);
	wire__le32(c + 12, VIRTIO_BLK_SEG_MAX);
	wire__le32(c + 20, BLK_SECTOR_SIZE);
}

static void bar_io(void *opaque, unsigned int bar, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct vblk *v = opaque;
	uint8_t img[64];

	pthread_mutex_lock(&v->lock);
	if (!is_write)
		memset(data, 0, len);
	if (off < COMMON_LEN && len <= COMMON_LEN - off) {
		if (is_write) {
			common_write(v, off, data, len);
		} else {
			common_image(v, img);
			memcpy(data, img + off, len);
		}
	} else if (off == VIRTIO_BLK_ISR && !is_write) {
		data[0] = v->isr;
		v->isr = 0;
		pci_host__set_intx(v->host, &v->fn, false);
	} else if (off >= VIRTIO_BLK_DEVCFG && off - VIRTIO_BLK_DEVCFG + len <= sizeof(img)) {
		if (!is_write) {
			devcfg_image(v, img, sizeof(img));
			memcpy(data, img + off - VIRTIO_BLK_DEVCFG, len);
		}
	} else if (off == VIRTIO_BLK_NOTIFY && is_write) {
		if (serving(v))
			blk_backend__kick(v->backend);
	}
	pthread_mutex_unlock(&v->lock);
}

/* --- PCI identity -------------------------------------------------------- */

/* A virtio_pci_cap: vendor capability 0x09 naming a structure in BAR0. */
static unsigned int add_cap(uint8_t *cfg, unsigned int at, unsigned int next, uint8_t type,
			    uint32_t offset, uint32_t length, unsigned int caplen)
{
	cfg[at] = 0x09;
	cfg[at + 1] = (uint8_t)next;
	cfg[at + 2] = (uint8_t)caplen;
	cfg[at + 3] = type;
	cfg[at + 4] = 0;			/* BAR0 */
	wire__le32(cfg + at + 8, offset);
	wire__le32(cfg + at + 12, length);
	return next;
}

static void pci_identity(struct vblk *v)
{
	uint8_t *c = v->fn.config;
	unsigned int at;

	wire__le32(c, 0x10421af4);		/* virtio, 0x1040 + device type 2 */
	c[PCI_REVISION_ID] = 1;			/* modern only */
	c[PCI_CLASS_PROG + 2] = 0x01;		/* mass storage, */
	c[PCI_CLASS_PROG + 1] = 0x80;		/* other */
	wire__le32(c + PCI_SUBSYSTEM_VENDOR_ID, 0x11001af4);
	c[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	c[PCI_CAPABILITY_LIST] = 0x40;
	at = add_cap(c, 0x40, 0x50, 1, VIRTIO_BLK_COMMON, COMMON_LEN, 16);
	at = add_cap(c, at, 0x68, 2, VIRTIO_BLK_NOTIFY, 4, 20);
	wire__le32(c + 0x50 + 16, 0);		/* notify_off_multiplier */
	at = add_cap(c, at, 0x78, 3, VIRTIO_BLK_ISR, 1, 16);
	add_cap(c, at, 0, 4, VIRTIO_BLK_DEVCFG, 24, 16);
	v->fn.bar_size[0] = VIRTIO_BLK_BAR_SIZE;
	v->fn.bar_io = bar_io;
	v->fn.opaque = v;
}

/* --- state ----------------------------------------------------------------- */

/* Payload v1, in this order: capacity in sectors (u64) and read-only (u8),
 * checked against the destination's drive; device and driver feature
 * selects (u32, u32); driver features (u64); status, config generation,
 * ISR (u8 each); queue select (u16); queue 0: size (u16), enabled (u8),
 * desc, driver and device ring addresses (u64 each), last avail index and
 * used index (u16 each). Requests are never in flight in a saved state. */
struct vblk_state {
	uint64_t capacity;
	uint8_t readonly;
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint8_t status, config_gen, isr;
	uint16_t queue_select;
	uint16_t qsize;
	uint8_t qenabled;
	uint64_t desc, avail, used;
	uint16_t last_avail, used_idx;
};

static void state_fields(struct wire_walk *w, struct vblk_state *s)
{
	wire_walk__u64(w, &s->capacity);
	wire_walk__u8(w, &s->readonly);
	wire_walk__u32(w, &s->dfselect);
	wire_walk__u32(w, &s->gfselect);
	wire_walk__u64(w, &s->driver_features);
	wire_walk__u8(w, &s->status);
	wire_walk__u8(w, &s->config_gen);
	wire_walk__u8(w, &s->isr);
	wire_walk__u16(w, &s->queue_select);
	wire_walk__u16(w, &s->qsize);
	wire_walk__u8(w, &s->qenabled);
	wire_walk__u64(w, &s->desc);
	wire_walk__u64(w, &s->avail);
	wire_walk__u64(w, &s->used);
	wire_walk__u16(w, &s->last_avail);
	wire_walk__u16(w, &s->used_idx);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Waits for requests in flight and syncs the image: a state saved after it
 * has none, and a destination on shared storage reads what was written. */
static int vblk_drain(struct device *dev)
{
	struct vblk *v = to_vblk(dev);
	double t0 = now_ms();
	int ret = blk_backend__drain(v->backend);

	pthread_mutex_lock(&v->lock);
	v->last_drain_ms = now_ms() - t0;
	pthread_mutex_unlock(&v->lock);
	if (ret)
		log_error("%s: syncing the image: %s", v->name, strerror(-ret));
	else
		log_info("%s: waited %.3f ms for requests in flight and the sync", v->name,
			 v->last_drain_ms);
	return ret;
}

/* Drains first too (a no-op after the migration's drain), so no path
 * saves a request in flight. */
static int vblk_save(struct device *dev, struct wbuf *out)
{
	struct vblk *v = to_vblk(dev);
	struct wire_walk w = { .out = out };
	struct vblk_state s;
	int ret = blk_backend__drain(v->backend);

	pthread_mutex_lock(&v->lock);
	s = (struct vblk_state){
		.capacity = v->capacity, .readonly = v->readonly,
		.dfselect = v->dfselect, .gfselect = v->gfselect,
		.driver_features = v->driver_features, .status = v->status,
		.config_gen = v->config_gen, .isr = v->isr,
		.queue_select = v->queue_select, .qsize = v->vq.size,
		.qenabled = v->vq.enabled, .desc = v->vq.desc, .avail = v->vq.avail,
		.used = v->vq.used, .last_avail = v->vq.last_avail,
		.used_idx = v->vq.used_idx,
	};
	pthread_mutex_unlock(&v->lock);
	if (ret)
		return ret;
	state_fields(&w, &s);
	return out->err;
}

static int check_state(struct vblk *v, const struct vblk_state *s)
{
	struct virtq q = { .size = s->qsize, .desc = s->desc, .avail = s->avail,
			   .used = s->used };

	if (s->capacity != v->capacity || !s->readonly != !v->readonly) {
		log_error("%s: the source's drive has %llu sectors%s, this one %llu%s: "
			  "give the same --drive", v->name, (unsigned long long)s->capacity,
			  s->readonly ? " read-only" : "", (unsigned long long)v->capacity,
			  v->readonly ? " read-only" : "");
		return -EBADMSG;
	}
	if ((s->driver_features & ~v->features) || s->qsize > VIRTIO_BLK_QUEUE_SIZE ||
	    !s->qsize || (s->qsize & (s->qsize - 1)) || s->qenabled > 1 ||
	    (s->isr & ~(ISR_QUEUE | ISR_CONFIG)))
		return -EBADMSG;
	if (s->qenabled && virtq__check(&q, v->mem))
		return -EBADMSG;
	return 0;
}

static int vblk_load(struct device *dev, struct rbuf *in, uint32_t version)
{
	struct vblk *v = to_vblk(dev);
	struct wire_walk w = { .in = in };
	struct vblk_state s;
	int ret;

	if (version != VBLK_STATE_V1)
		return -EPROTONOSUPPORT;
	state_fields(&w, &s);
	if (in->err || rbuf__remaining(in))
		return -EBADMSG;
	ret = check_state(v, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&v->lock);
	v->dfselect = s.dfselect;
	v->gfselect = s.gfselect;
	v->driver_features = s.driver_features;
	v->status = s.status;
	v->config_gen = s.config_gen;
	v->isr = s.isr;
	v->queue_select = s.queue_select;
	v->vq = (struct virtq){ .size = s.qsize, .enabled = s.qenabled, .desc = s.desc,
				.avail = s.avail, .used = s.used,
				.last_avail = s.last_avail, .used_idx = s.used_idx };
	pci_host__set_intx(v->host, &v->fn, v->isr != 0);
	if (serving(v))
		blk_backend__kick(v->backend);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static void vblk_destroy(struct device *dev)
{
	struct vblk *v;

	if (!dev)
		return;
	v = to_vblk(dev);
	blk_backend__stop(v->backend);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

struct device *virtio_blk__create(const struct virtio_blk_config *cfg)
{
	struct blk_callbacks cb = { .kicked = on_kick, .done = on_done };
	struct vblk *v = calloc(1, sizeof(*v));
	int ret = -ENOMEM;

	if (!v)
		goto err;
	v->dev = (struct device){
		.name = v->name, .state_version = VBLK_STATE_V1,
		.save = vblk_save, .load = vblk_load, .destroy = vblk_destroy,
		.drain = vblk_drain,
	};
	snprintf(v->name, sizeof(v->name), "virtio-blk.%u", cfg->index);
	v->host = cfg->pci_host;
	v->mem = cfg->mem;
	v->backend = cfg->backend;
	v->readonly = cfg->readonly;
	v->capacity = (cfg->size && cfg->size < blk_backend__size(cfg->backend) ?
		       cfg->size : blk_backend__size(cfg->backend)) / BLK_SECTOR_SIZE;
	v->features = F_VERSION_1 | F_SEG_MAX | F_BLK_SIZE | F_FLUSH |
		      (cfg->readonly ? F_RO : 0);
	reset_locked(v);
	pci_identity(v);
	pthread_mutex_init(&v->lock, NULL);
	cb.ctx = v;
	ret = blk_backend__start(v->backend, &cb);
	if (ret)
		goto err_free;
	/* Last: the bus has no removal, so nothing may fail after it. */
	ret = pci_host__add(v->host, &v->fn);
	if (ret)
		goto err_stop;
	return &v->dev;

err_stop:
	blk_backend__stop(v->backend);
err_free:
	pthread_mutex_destroy(&v->lock);
	free(v);
err:
	errno = -ret;
	return NULL;
}
