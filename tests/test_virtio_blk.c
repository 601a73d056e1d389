#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_backend.h"
#include "blk_dirty.h"
#include "drive.h"
#include "guest_memory.h"
#include "io_bus.h"
#include "pci.h"
#include "virtio_blk.h"
#include "virtq.h"
#include "wire.h"

#define RAM	(2ULL << 20)
#define BAR	PCI_MMIO_BASE
#define DESC	0x1000ULL
#define AVAIL	0x2000ULL
#define USED	0x3000ULL
#define HDR	0x10000ULL
#define DATA	0x11000ULL
#define STATUS	0x20000ULL
#define QSIZE	16
#define IMG_SECTORS 64

struct rig {
	struct guest_memory mem;
	struct io_bus *pio, *mmio;
	struct device *host, *blk;
	struct blk_backend *backend;
	char path[64];
	uint16_t avail_idx;
	int irq_level;
};

static void irq(void *ctx, unsigned int line, int level)
{
	struct rig *t = ctx;

	t->irq_level = level;
}

static struct rig *rig_new(bool readonly)
{
	struct rig *t = calloc(1, sizeof(*t));
	struct drive_config d = { .readonly = readonly };
	struct virtio_blk_config vc;
	struct blk_backend *b;
	char err[256];
	int fd;

	assert_non_null(t);
	assert_int_equal(guest_memory__layout(&t->mem, RAM), 0);
	t->mem.base = calloc(1, RAM);
	t->mem.slots[0].hva = t->mem.base;
	t->mem.vmm_dirty = calloc(RAM / GUEST_PAGE_SIZE / 64 + 1, 8);
	snprintf(t->path, sizeof(t->path), "/tmp/test_virtio_blk.XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SECTORS * 512), 0);
	close(fd);
	snprintf(d.path, sizeof(d.path), "%s", t->path);
	if (blk_backend__open(&d, &b, err, sizeof(err)))
		fail_msg("%s", err);
	t->backend = b;
	t->pio = io_bus__create("pio");
	t->mmio = io_bus__create("mmio");
	t->host = pci_host__create(t->pio, t->mmio, irq, t);
	assert_non_null(t->host);
	vc = (struct virtio_blk_config){ .pci_host = t->host, .mem = &t->mem,
					 .backend = b, .readonly = readonly };
	t->blk = virtio_blk__create(&vc);
	assert_non_null(t->blk);
	return t;
}

static void rig_free(struct rig *t)
{
	t->blk->destroy(t->blk);
	blk_backend__close(t->backend);
	t->host->destroy(t->host);
	io_bus__destroy(t->pio);
	io_bus__destroy(t->mmio);
	unlink(t->path);
	free(t->mem.base);
	free(t->mem.vmm_dirty);
	free(t);
}

static int setup(void **state)
{
	*state = rig_new(false);
	return 0;
}

static int teardown(void **state)
{
	rig_free(*state);
	return 0;
}

static uint64_t rd(struct rig *t, uint64_t off, uint32_t len)
{
	uint8_t d[8] = { 0 };

	assert_true(io_bus__dispatch(t->mmio, BAR + off, d, len, false));
	return wire__get_le64(d);
}

static void wr(struct rig *t, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t d[8];

	wire__le64(d, v);
	assert_true(io_bus__dispatch(t->mmio, BAR + off, d, len, true));
}

/* The driver's side of the handshake, as the guest kit does it. */
static void driver_init(struct rig *t)
{
	wr(t, 0x14, 1 | 2, 1);
	wr(t, 0x08, 1, 4);
	wr(t, 0x0c, 1, 4);			/* VERSION_1 */
	wr(t, 0x08, 0, 4);
	wr(t, 0x0c, 1 << 9, 4);			/* FLUSH */
	wr(t, 0x14, 1 | 2 | 8, 1);
	assert_int_equal(rd(t, 0x14, 1), 1 | 2 | 8);
	wr(t, 0x16, 0, 2);
	wr(t, 0x18, QSIZE, 2);
	wr(t, 0x20, DESC, 8);
	wr(t, 0x28, AVAIL, 4);
	wr(t, 0x2c, 0, 4);
	wr(t, 0x30, USED, 8);
	wr(t, 0x1c, 1, 2);
	wr(t, 0x14, 1 | 2 | 4 | 8, 1);
}

static void desc(struct rig *t, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags)
{
	uint8_t *d = t->mem.base + DESC + 16 * i;

	wire__le64(d, gpa);
	wire__le32(d + 8, len);
	d[12] = (uint8_t)flags;
	d[13] = 0;
	d[14] = (uint8_t)(i + 1);
	d[15] = 0;
}

static uint16_t used_idx(struct rig *t)
{
	return __atomic_load_n((uint16_t *)(t->mem.base + USED + 2), __ATOMIC_ACQUIRE);
}

/* Offers the chain at descriptor 0, notifies, waits for it on the used
 * ring (bounded: a lost request fails the test, it does not hang it). */
static void submit(struct rig *t)
{
	uint8_t *a = t->mem.base + AVAIL;
	uint16_t want = (uint16_t)(used_idx(t) + 1);
	int i;

	a[4 + 2 * (t->avail_idx % QSIZE)] = 0;
	t->avail_idx++;
	__atomic_store_n((uint16_t *)(a + 2), t->avail_idx, __ATOMIC_RELEASE);
	wr(t, VIRTIO_BLK_NOTIFY, 0, 2);
	for (i = 0; i < 10000 && used_idx(t) != want; i++)
		usleep(1000);
	assert_int_equal(used_idx(t), want);
}

static uint8_t request(struct rig *t, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t *h = t->mem.base + HDR;

	wire__le32(h, type);
	wire__le32(h + 4, 0);
	wire__le64(h + 8, sector);
	t->mem.base[STATUS] = 0xee;
	desc(t, 0, HDR, 16, VIRTQ_DESC_F_NEXT);
	if (len) {
		desc(t, 1, DATA, len, VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0));
		desc(t, 2, STATUS, 1, VIRTQ_DESC_F_WRITE);
	} else {
		desc(t, 1, STATUS, 1, VIRTQ_DESC_F_WRITE);
	}
	submit(t);
	return t->mem.base[STATUS];
}

/* Several chains offered before one notify: all are served (in flight
 * together on the ring), each with its own status. */
static void test_many_in_flight(void **state)
{
	struct rig *t = *state;
	uint8_t *a = t->mem.base + AVAIL;
	unsigned int i, n = 5;
	int k;

	driver_init(t);
	for (i = 0; i < n; i++) {
		uint64_t hdr = HDR + 0x100 * i, data = DATA + 0x1000 * i;
		uint8_t *h = t->mem.base + hdr;

		wire__le32(h, 1);
		wire__le32(h + 4, 0);
		wire__le64(h + 8, 8 * i);
		memset(t->mem.base + data, 0x10 + i, 4096);
		t->mem.base[STATUS + i] = 0xee;
		desc(t, (uint16_t)(3 * i), hdr, 16, VIRTQ_DESC_F_NEXT);
		desc(t, (uint16_t)(3 * i + 1), data, 4096, VIRTQ_DESC_F_NEXT);
		desc(t, (uint16_t)(3 * i + 2), STATUS + i, 1, VIRTQ_DESC_F_WRITE);
		a[4 + 2 * i] = (uint8_t)(3 * i);
	}
	__atomic_store_n((uint16_t *)(a + 2), (uint16_t)n, __ATOMIC_RELEASE);
	t->avail_idx = (uint16_t)n;
	wr(t, VIRTIO_BLK_NOTIFY, 0, 2);
	for (k = 0; k < 10000 && used_idx(t) != n; k++)
		usleep(1000);
	assert_int_equal(used_idx(t), n);
	for (i = 0; i < n; i++)
		assert_int_equal(t->mem.base[STATUS + i], 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(request(t, 0, 8 * i, 4096), 0);
		assert_int_equal(t->mem.base[DATA + 4095], 0x10 + i);
	}
}

static void test_config_space(void **state)
{
	struct rig *t = *state;

	assert_int_equal(rd(t, 0x12, 2), 1);		/* num_queues */
	wr(t, 0x00, 1, 4);
	assert_int_equal(rd(t, 0x04, 4), 1);		/* VERSION_1 */
	wr(t, 0x00, 0, 4);
	assert_int_equal(rd(t, 0x04, 4), (1 << 2) | (1 << 6) | (1 << 9));
	assert_int_equal(rd(t, 0x18, 2), VIRTIO_BLK_QUEUE_SIZE);
	assert_int_equal(rd(t, VIRTIO_BLK_DEVCFG, 8), IMG_SECTORS);
	assert_int_equal(rd(t, VIRTIO_BLK_DEVCFG + 20, 4), 512);
	assert_int_equal(rd(t, VIRTIO_BLK_DEVCFG + 12, 4), VIRTIO_BLK_SEG_MAX);
	wr(t, 0x16, 1, 2);				/* no queue 1 */
	assert_int_equal(rd(t, 0x18, 2), 0);
}

static void test_features_ok_refused(void **state)
{
	struct rig *t = *state;

	wr(t, 0x14, 1 | 2, 1);
	wr(t, 0x08, 0, 4);
	wr(t, 0x0c, 1 << 9, 4);		/* no VERSION_1 */
	wr(t, 0x14, 1 | 2 | 8, 1);
	assert_int_equal(rd(t, 0x14, 1), 1 | 2);
}

static void test_write_read_back(void **state)
{
	struct rig *t = *state;
	uint64_t page = DATA / GUEST_PAGE_SIZE;

	driver_init(t);
	memset(t->mem.base + DATA, 0x3c, 4096);
	assert_int_equal(request(t, 1, 8, 4096), 0);
	memset(t->mem.base + DATA, 0, 4096);
	t->mem.vmm_dirty[page / 64] = 0;
	assert_int_equal(request(t, 0, 8, 4096), 0);
	assert_int_equal(t->mem.base[DATA], 0x3c);
	assert_int_equal(t->mem.base[DATA + 4095], 0x3c);
	assert_true(t->mem.vmm_dirty[page / 64] & (1ULL << (page % 64)));
	assert_int_equal(wire__get_le32(t->mem.base + USED + 4 + 8 + 4), 4097);
	assert_int_equal(request(t, 4, 0, 0), 0);	/* flush */
	assert_int_equal(t->irq_level, 1);
	rd(t, VIRTIO_BLK_ISR, 1);
	assert_int_equal(t->irq_level, 0);
}

/* With a bitmap attached, completed writes mark their block and reads do
 * not; detached, nothing marks. */
static void test_dirty_tracking(void **state)
{
	struct rig *t = *state;
	struct blk_dirty *d = NULL;
	uint64_t b = 0;

	assert_int_equal(blk_dirty__create(IMG_SECTORS * 512, &d), 0);
	driver_init(t);
	assert_int_equal(request(t, 1, 8, 4096), 0);	/* before: not marked */
	blk_backend__track_dirty(t->backend, d);
	assert_int_equal(request(t, 0, 8, 4096), 0);
	assert_int_equal(blk_dirty__count(d), 0);
	assert_int_equal(request(t, 1, 16, 512), 0);
	assert_int_equal(blk_dirty__count(d), 1);
	assert_true(blk_dirty__take_next(d, &b));
	assert_int_equal(b, 0);
	blk_backend__track_dirty(t->backend, NULL);
	assert_int_equal(blk_backend__drain(t->backend), 0);
	assert_int_equal(request(t, 1, 16, 512), 0);
	assert_int_equal(blk_dirty__count(d), 0);
	blk_dirty__free(d);
}

static void test_bad_requests_get_ioerr(void **state)
{
	struct rig *t = *state;

	driver_init(t);
	assert_int_equal(request(t, 0, IMG_SECTORS - 1, 1024), 1);	/* past the end */
	assert_int_equal(request(t, 0, UINT64_MAX, 512), 1);
	assert_int_equal(request(t, 1, 0, 100), 1);			/* not sectors */
	assert_int_equal(request(t, 99, 0, 0), 2);			/* unsupported */
	assert_int_equal(request(t, 0, 0, 512), 0);			/* still serving */
}

static void test_readonly(void **state)
{
	struct rig *t = rig_new(true);

	wr(t, 0x00, 0, 4);
	assert_true(rd(t, 0x04, 4) & (1 << 5));
	driver_init(t);
	assert_int_equal(request(t, 1, 0, 512), 1);
	assert_int_equal(request(t, 0, 0, 512), 0);
	rig_free(t);
}

static void test_garbage_chain_needs_reset(void **state)
{
	struct rig *t = *state;
	uint8_t *a = t->mem.base + AVAIL;
	int i;

	driver_init(t);
	desc(t, 0, RAM + 4096, 16, 0);		/* outside RAM */
	a[4] = 0;
	__atomic_store_n((uint16_t *)(a + 2), 1, __ATOMIC_RELEASE);
	wr(t, VIRTIO_BLK_NOTIFY, 0, 2);
	for (i = 0; i < 10000 && !(rd(t, 0x14, 1) & 64); i++)
		usleep(1000);
	assert_true(rd(t, 0x14, 1) & 64);
	assert_int_equal(used_idx(t), 0);
	/* A reset brings it back. */
	wr(t, 0x14, 0, 1);
	assert_int_equal(rd(t, 0x14, 1), 0);
	memset(t->mem.base + AVAIL, 0, 64);
	memset(t->mem.base + USED, 0, 64);
	t->avail_idx = 0;
	driver_init(t);
	assert_int_equal(request(t, 0, 0, 512), 0);
}

static void test_save_load(void **state)
{
	struct rig *t = *state, *u = rig_new(false), *ro = rig_new(true);
	struct wbuf b;
	struct rbuf in;

	driver_init(t);
	assert_int_equal(request(t, 1, 0, 512), 0);
	wbuf__init(&b);
	assert_int_equal(t->blk->save(t->blk, &b), 0);
	/* RAM comes over first, as in a migration. */
	memcpy(u->mem.base, t->mem.base, RAM);
	rbuf__init(&in, b.data, b.len);
	assert_int_equal(u->blk->load(u->blk, &in, t->blk->state_version), 0);
	assert_int_equal(rd(u, 0x14, 1), 1 | 2 | 4 | 8);
	assert_int_equal(rd(u, 0x20, 8), DESC);
	/* A read-only drive on the destination is not the same drive. */
	rbuf__init(&in, b.data, b.len);
	assert_int_equal(ro->blk->load(ro->blk, &in, t->blk->state_version), -EBADMSG);
	rbuf__init(&in, b.data, b.len - 1);
	assert_int_equal(u->blk->load(u->blk, &in, t->blk->state_version), -EBADMSG);
	wbuf__free(&b);
	rig_free(u);
	rig_free(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_ok_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_tracking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests_get_ioerr, setup, teardown),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test_setup_teardown(test_garbage_chain_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
