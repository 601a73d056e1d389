#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest_memory.h"
#include "virtq.h"
#include "wire.h"

#define RAM	(2ULL << 20)
#define DESC	0x1000ULL
#define AVAIL	0x2000ULL
#define USED	0x3000ULL
#define QSIZE	8

struct rig {
	struct guest_memory mem;
	struct virtq vq;
	struct virtq_chain c;
	uint16_t avail_idx;
};

static int setup(void **state)
{
	struct rig *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(guest_memory__layout(&t->mem, RAM), 0);
	t->mem.base = calloc(1, RAM);
	t->mem.slots[0].hva = t->mem.base;
	t->mem.vmm_dirty = calloc(RAM / GUEST_PAGE_SIZE / 64 + 1, 8);
	t->vq = (struct virtq){ .size = QSIZE, .enabled = true, .desc = DESC,
				.avail = AVAIL, .used = USED };
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct rig *t = *state;

	free(t->mem.base);
	free(t->mem.vmm_dirty);
	free(t);
	return 0;
}

static void desc(struct rig *t, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *d = t->mem.base + DESC + 16 * i;

	wire__le64(d, gpa);
	wire__le32(d + 8, len);
	d[12] = (uint8_t)flags;
	d[13] = 0;
	d[14] = (uint8_t)next;
	d[15] = 0;
}

static void offer(struct rig *t, uint16_t head)
{
	uint8_t *a = t->mem.base + AVAIL;
	uint16_t slot = t->avail_idx % QSIZE;

	a[4 + 2 * slot] = (uint8_t)head;
	t->avail_idx++;
	a[2] = (uint8_t)t->avail_idx;
	a[3] = (uint8_t)(t->avail_idx >> 8);
}

static void test_check(void **state)
{
	struct rig *t = *state;
	struct virtq q = t->vq;

	assert_int_equal(virtq__check(&q, &t->mem), 0);
	q.size = 6;
	assert_int_equal(virtq__check(&q, &t->mem), -EINVAL);
	q = t->vq;
	q.desc = DESC + 8;
	assert_int_equal(virtq__check(&q, &t->mem), -EINVAL);
	q = t->vq;
	q.used = RAM - 8;
	assert_int_equal(virtq__check(&q, &t->mem), -EINVAL);
	q = t->vq;
	q.size = 512;
	assert_int_equal(virtq__check(&q, &t->mem), -EINVAL);
}

static void test_empty(void **state)
{
	struct rig *t = *state;

	assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), 0);
}

static void test_chain(void **state)
{
	struct rig *t = *state;

	desc(t, 3, 0x10000, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(t, 5, 0x20000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	desc(t, 0, 0x30000, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(t, 3);
	assert_int_equal(virtq__pending(&t->vq, &t->mem), 1);
	assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), 1);
	assert_int_equal(t->c.head, 3);
	assert_int_equal(t->c.nr_segs, 3);
	assert_ptr_equal(t->c.segs[0].hva, t->mem.base + 0x10000);
	assert_false(t->c.segs[0].write);
	assert_int_equal(t->c.segs[1].len, 4096);
	assert_true(t->c.segs[1].write);
	assert_true(t->c.segs[2].write);
	assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), 0);
}

static void broken(struct rig *t)
{
	offer(t, 0);
	assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), -EBADMSG);
}

static void test_loop(void **state)
{
	struct rig *t = *state;

	desc(t, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0);
	broken(t);
}

static void test_bad_next(void **state)
{
	struct rig *t = *state;

	desc(t, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, QSIZE);
	broken(t);
}

static void test_buffer_outside_ram(void **state)
{
	struct rig *t = *state;

	desc(t, 0, RAM - 8, 16, 0, 0);
	broken(t);
}

static void test_buffer_wraps(void **state)
{
	struct rig *t = *state;

	desc(t, 0, UINT64_MAX - 4, 16, 0, 0);
	broken(t);
}

static void test_readable_after_writable(void **state)
{
	struct rig *t = *state;

	desc(t, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(t, 1, 0x20000, 16, 0, 0);
	broken(t);
}

static void test_indirect(void **state)
{
	struct rig *t = *state;

	desc(t, 0, 0x10000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	broken(t);
}

static void test_avail_runs_ahead(void **state)
{
	struct rig *t = *state;
	uint8_t *a = t->mem.base + AVAIL;

	desc(t, 0, 0x10000, 16, 0, 0);
	a[2] = QSIZE + 1;
	assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), -EBADMSG);
}

static void test_push(void **state)
{
	struct rig *t = *state;
	uint8_t *u = t->mem.base + USED;
	uint64_t page = USED / GUEST_PAGE_SIZE;

	assert_true(virtq__push(&t->vq, &t->mem, 5, 513));
	assert_int_equal(wire__get_le32(u + 4), 5);
	assert_int_equal(wire__get_le32(u + 8), 513);
	assert_int_equal(u[2], 1);
	assert_true(t->mem.vmm_dirty[page / 64] & (1ULL << (page % 64)));
	/* The driver asked for no interrupts. */
	t->mem.base[AVAIL] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq__push(&t->vq, &t->mem, 6, 0));
	assert_int_equal(wire__get_le32(u + 12), 6);
	assert_int_equal(u[2], 2);
}

static void test_wraparound(void **state)
{
	struct rig *t = *state;
	unsigned int i;

	desc(t, 2, 0x10000, 16, 0, 0);
	t->vq.last_avail = 65534;
	t->avail_idx = 65534;
	for (i = 0; i < 4; i++) {
		offer(t, 2);
		assert_int_equal(virtq__pop(&t->vq, &t->mem, &t->c), 1);
		assert_int_equal(t->c.head, 2);
	}
	assert_int_equal(t->vq.last_avail, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_runs_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wraparound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
