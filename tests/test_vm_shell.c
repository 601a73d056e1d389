/* A VM made in two steps, as a destination given --mem makes it: the shell
 * (KVM VM, RAM in its memory slots) before a source connects, then its
 * vCPUs and CPUID once the source's configuration is known. Completed, it
 * is the VM vm__create makes; a completion that does not fit the shell
 * fails, naming why, and leaves nothing. */
#include "vm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include "test_kvm.h"

#define MIB (1ULL << 20)

static struct vm *shell_of(uint64_t ram_size)
{
	struct vm_options o = { .kvm_fd = -1, .ram_size = ram_size };
	struct vm *vm = calloc(1, sizeof(*vm));
	char err[256];

	assert_non_null(vm);
	if (vm__create_shell(vm, &o, err, sizeof(err)))
		fail_msg("vm__create_shell: %s", err);
	return vm;
}

/* Nothing of a failed VM is left open. */
static void assert_destroyed(const struct vm *vm)
{
	unsigned int i;

	assert_int_equal(vm->vm_fd, -1);
	assert_int_equal(vm->kvm_fd, -1);
	assert_null(vm->mem.base);
	for (i = 0; i < VM_MAX_CPUS; i++)
		assert_int_equal(vm->vcpus[i].fd, -1);
}

static void test_shell_then_complete(void **state)
{
	struct vm_options o = { .ram_size = 64 * MIB, .nr_cpus = 2 };
	struct vm *vm = shell_of(64 * MIB);
	char err[256];

	(void)state;
	/* The shell: a KVM VM and its RAM, no vCPU yet. */
	assert_true(vm->vm_fd >= 0);
	assert_non_null(vm->mem.base);
	assert_int_equal(vm->mem.size, 64 * MIB);
	assert_int_equal(vm->vcpus[0].fd, -1);
	if (vm__complete(vm, &o, err, sizeof(err)))
		fail_msg("vm__complete: %s", err);
	assert_int_equal(vm->nr_cpus, 2);
	assert_true(vm->vcpus[0].fd >= 0 && vm->vcpus[1].fd >= 0);
	assert_non_null(vm->vcpus[0].run);
	assert_non_null(vm->pio);
	assert_int_equal(vm->state, VM_RUNNING);
	vm__destroy(vm);
	free(vm);
}

/* Completing a 64 MiB shell with opts fails with a message holding why,
 * and leaves nothing. */
static void assert_completion_fails(const struct vm_options *opts, const char *why)
{
	struct vm *vm = shell_of(64 * MIB);
	char err[256] = "";

	assert_int_not_equal(vm__complete(vm, opts, err, sizeof(err)), 0);
	if (!strstr(err, why))
		fail_msg("'%s' does not say '%s'", err, why);
	assert_destroyed(vm);
	free(vm);
}

static void test_complete_with_other_ram_fails(void **state)
{
	struct vm_options o = { .ram_size = 128 * MIB, .nr_cpus = 1 };

	(void)state;
	assert_completion_fails(&o, "this VM's RAM is 64 MiB, not 128 MiB");
}

static void test_complete_with_bad_vcpu_count_fails(void **state)
{
	struct vm_options o = { .ram_size = 64 * MIB, .nr_cpus = 0 };

	(void)state;
	assert_completion_fails(&o, "vCPU count 0 out of range 1..");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_then_complete),
		cmocka_unit_test(test_complete_with_other_ram_fails),
		cmocka_unit_test(test_complete_with_bad_vcpu_count_fails),
	};
	kvm_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
