/* The destination's state collection (vm_sections.c) without KVM: a VCPU
 * or VM_STATE payload must end where its state ends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm_sections.h"

static int take(struct vm_state_set *set, uint32_t type, struct wbuf *w, char *err,
		size_t errlen)
{
	struct section sec = { .type = type, .len = w->len, .payload = w->data };

	return vm_state_set__take(set, NULL, &sec, err, errlen);
}

static void test_vcpu_trailing_bytes(void **state)
{
	struct vcpu_state *vs = calloc(1, sizeof(*vs));
	struct vm_state_set set;
	char err[256];
	struct wbuf w;

	assert_non_null(vs);
	vs->xsave_len = CPU_XSAVE_MIN;
	assert_int_equal(vm_state_set__init(&set, 2), 0);
	wbuf__init(&w);
	wbuf__put_u32(&w, 1);
	assert_int_equal(vcpu_state__encode(vs, &w), 0);
	assert_int_equal(take(&set, SECTION_VCPU, &w, err, sizeof(err)), 0);
	vm_state_set__free(&set);
	assert_int_equal(vm_state_set__init(&set, 2), 0);
	wbuf__put_bytes(&w, "junk", 4);
	assert_int_equal(take(&set, SECTION_VCPU, &w, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "VCPU section for vCPU 1: 4 bytes after the state");
	wbuf__free(&w);
	vm_state_set__free(&set);
	free(vs);
}

static void test_vm_state_trailing_bytes(void **state)
{
	struct vm_state vms;
	struct vm_state_set set;
	char err[256];
	struct wbuf w;
	unsigned int i;

	memset(&vms, 0, sizeof(vms));
	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++)
		vms.irqchip[i].chip_id = i;
	assert_int_equal(vm_state_set__init(&set, 1), 0);
	wbuf__init(&w);
	assert_int_equal(vm_state__encode(&vms, &w), 0);
	assert_int_equal(take(&set, SECTION_VM_STATE, &w, err, sizeof(err)), 0);
	vm_state_set__free(&set);
	assert_int_equal(vm_state_set__init(&set, 1), 0);
	wbuf__put_u8(&w, 0);
	assert_int_equal(take(&set, SECTION_VM_STATE, &w, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "VM_STATE section: 1 bytes after the state");
	wbuf__free(&w);
	vm_state_set__free(&set);
}

static void test_vcpu_index_guarded(void **state)
{
	struct vm_state_set set;
	char err[256];
	struct wbuf w;

	assert_int_equal(vm_state_set__init(&set, 1), 0);
	wbuf__init(&w);
	wbuf__put_u32(&w, 1);
	assert_int_equal(take(&set, SECTION_VCPU, &w, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "VCPU section for vCPU 1: no such vCPU");
	wbuf__free(&w);
	vm_state_set__free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcpu_trailing_bytes),
		cmocka_unit_test(test_vm_state_trailing_bytes),
		cmocka_unit_test(test_vcpu_index_guarded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
