#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test device: one MMIO page whose counter register has a side effect
 * on every read, so a guest can tell an access that happened twice (or
 * not at all) from one that happened once. Nothing a real guest needs.
 *
 * Registers, little endian:
 *   0x00 ID (u32, TESTDEV_ID)
 *   0x08 counter: a 4- or 8-byte read here returns the counter (its low
 *        32 bits for 4 bytes) and then adds one to it
 * Every other read returns zeros without a side effect; writes are
 * ignored. The counter starts at 0 and is the device's whole state.
 */

#define TESTDEV_STATE_V1	1

struct testdev {
	struct device dev;
	char name[DEVICE_NAME_MAX];
	pthread_mutex_t lock;
	uint64_t counter;
};

static struct testdev *to_testdev(struct device *dev)
{
	return (struct testdev *)((char *)dev - offsetof(struct testdev, dev));
}

static void put_le(uint8_t *data, uint32_t len, uint64_t v)
{
	uint32_t i;

	for (i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

static void testdev_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct testdev *t = opaque;
	uint64_t off = addr - TESTDEV_MMIO_BASE;

	if (is_write)
		return;
	memset(data, 0, len);
	if (off == TESTDEV_REG_ID && len == 4) {
		put_le(data, len, TESTDEV_ID);
	} else if (off == TESTDEV_REG_COUNTER && (len == 4 || len == 8)) {
		pthread_mutex_lock(&t->lock);
		put_le(data, len, t->counter++);
		pthread_mutex_unlock(&t->lock);
	}
}

/* Payload v1: counter (u64); one list saves and loads. */
static void testdev_fields(struct wire_walk *w, uint64_t *counter)
{
	wire_walk__u64(w, counter);
}

static int testdev_save(struct device *dev, struct wbuf *out)
{
	struct testdev *t = to_testdev(dev);
	struct wire_walk w = { .out = out };
	uint64_t counter;

	pthread_mutex_lock(&t->lock);
	counter = t->counter;
	pthread_mutex_unlock(&t->lock);
	testdev_fields(&w, &counter);
	return out->err;
}

static int testdev_load(struct device *dev, struct rbuf *in, uint32_t version)
{
	struct testdev *t = to_testdev(dev);
	struct wire_walk w = { .in = in };
	uint64_t counter;

	if (version != TESTDEV_STATE_V1)
		return -EPROTONOSUPPORT;
	testdev_fields(&w, &counter);
	if (in->err || rbuf__remaining(in))
		return -EBADMSG;
	pthread_mutex_lock(&t->lock);
	t->counter = counter;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void testdev_destroy(struct device *dev)
{
	struct testdev *t;

	if (!dev)
		return;
	t = to_testdev(dev);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct device *testdev__create(struct io_bus *mmio)
{
	struct testdev *t;
	int ret;

	if (!mmio) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "testdev@0x%llx",
		 (unsigned long long)TESTDEV_MMIO_BASE);
	t->dev = (struct device){
		.name = t->name,
		.state_version = TESTDEV_STATE_V1,
		.save = testdev_save,
		.load = testdev_load,
		.destroy = testdev_destroy,
	};
	ret = pthread_mutex_init(&t->lock, NULL);
	if (ret)
		goto err_free;
	ret = -io_bus__register(mmio, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, testdev_io, t);
	if (ret)
		goto err_mutex;
	return &t->dev;

err_mutex:
	pthread_mutex_destroy(&t->lock);
err_free:
	free(t);
	errno = ret;
	return NULL;
}
