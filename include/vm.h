/* The virtual machine: KVM handles, guest memory, vCPU threads, devices.
 *
 * Threads: one per vCPU (vmm/vcpu.c), the main thread (waits for the VM to
 * end), the monitor thread, a stdin reader for the UART, and during a
 * migration the migration thread. vm->lock protects the run state below;
 * vCPU threads only take it between KVM_RUN calls.
 */
#ifndef VMM__VM_H
#define VMM__VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "dirty_ring.h"
#include "guest_memory.h"
#include "io_bus.h"
#include "device.h"
#include "vcpu_throttle.h"

#define VM_MAX_CPUS 64
#define VM_MAX_DEVICES 16

/* vmm's own exit statuses; anything else is the guest's debug-exit value. */
#define VMM_EXIT_ERROR 1		/* bad options, KVM failure, bad image */
#define VMM_EXIT_GUEST_CRASH 121	/* triple fault, internal error, entry failure */

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool paused;			/* under vm->lock */
	/* The last exit was KVM_EXIT_IO or KVM_EXIT_MMIO: KVM completes
	 * that access at the next KVM_RUN. Only the vCPU's thread uses it. */
	bool io_pending;
	struct kvm_cpuid2 *cpuid;	/* what this vCPU's guest sees */
	struct dirty_ring ring;		/* --dirty-ring's; entries 0 without */
	struct vcpu_throttle throttle;	/* vcpu_throttle.h */
};

enum vm_run_state {
	VM_RUNNING,
	VM_PAUSED,
	VM_EXITING,
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct guest_memory mem;

	unsigned int nr_cpus;
	struct vcpu vcpus[VM_MAX_CPUS];
	struct kvm_cpuid2 *cpuid;	/* base table (vCPU 0's view) */

	struct io_bus *pio;
	struct io_bus *mmio;
	struct device *devices[VM_MAX_DEVICES];
	unsigned int nr_devices;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vm_run_state state;
	/* Pauses nest: every pauser (the monitor's stop, info registers, a
	 * migration's stop-and-copy) holds one; vCPUs run at zero. */
	unsigned int pause_count;
	bool user_paused;		/* the monitor's stop holds one */
	/* Told, under vm->lock, when the vCPUs stop (running false) or run
	 * again: it must only note it and return. */
	void (*run_listener)(void *ctx, bool running);
	void *run_listener_ctx;
	/* Run first thing by each vCPU thread (set before vm__start_vcpus):
	 * the program narrows what that thread may do. A failure ends the VM
	 * with err. */
	int (*vcpu_thread_init)(unsigned int index, char *err, size_t errlen);
	unsigned int nr_paused;
	unsigned int nr_running;	/* vCPU threads inside their loop */
	int exit_status;
	char exit_reason[256];

	/* Unclaimed port accesses are logged once per port. */
	uint8_t unclaimed_port_seen[65536 / 8];
	unsigned int unclaimed_mmio_logged;

	/* The dirty ring (--dirty-ring; 0 entries: the bitmap). A vCPU whose
	 * ring is full counts the exit, writes ring_full_fd (an eventfd the
	 * dirty log's owner watches) and waits on cond until ring_resets
	 * moves, tracking stops, a pause is asked for or the VM ends. All
	 * under lock but the fd. */
	uint32_t dirty_ring_entries;
	int ring_full_fd;
	bool ring_tracking;
	uint64_t ring_resets;
	uint64_t ring_full_exits;
	uint64_t ring_wait_us;

	/* How long building the rest of this VM took: its vCPUs and devices
	 * (board__create). A migration's destination given --mem makes its
	 * shell before it listens and the rest beside round 0, where
	 * `forecast` counts build_us. */
	uint64_t build_us;
};

struct vm_options {
	int kvm_fd;			/* an open /dev/kvm (the VM takes it), or -1 */
	uint64_t ram_size;
	unsigned int nr_cpus;
	/* CPUID the guest must see (an incoming migration's); NULL = this
	 * host's supported set. */
	const struct kvm_cpuid2 *cpuid;
	/* Entries of each vCPU's dirty ring (dirty_ring.h); 0 = no ring. */
	uint32_t dirty_ring_entries;
	/* --mem-prealloc: every page of RAM allocated when it is made. */
	bool ram_prealloc;
	/* RAM mapped (guest_memory__map) before this VM, e.g. by a destination
	 * at start; the VM takes it when its size is ram_size (it is then
	 * left zeroed), else it is left alone and RAM is made as usual. */
	struct guest_memory *ram_premapped;
};

/* What every VM here needs and this host's KVM lacks: capability names
 * separated by ", " into missing ("" when nothing lacks); and the most
 * vCPUs a VM may have here (KVM's limit, at most VM_MAX_CPUS). */
void vm__host_limits(int kvm_fd, char *missing, size_t len, unsigned int *max_cpus);
/* Opens /dev/kvm; returns the fd or -errno with err set. */
int vm__open_kvm(char *err, size_t errlen);
/* Creates the KVM VM, its memory, vCPUs and empty I/O buses: a machine
 * without devices (board.h adds them). vm__create_shell, then
 * vm__complete. */
int vm__create(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen);
/* The part of a VM that needs neither its vCPU count nor its CPUID: the
 * KVM VM with its in-kernel irqchip, PIT and TSS, its RAM mapped and in
 * KVM's memory slots, the dirty ring switched on. Registering a memory
 * slot alone takes milliseconds here, so a destination that knows the
 * RAM size (--mem) makes the shell before a source connects. opts->nr_cpus
 * and opts->cpuid are not read. On failure nothing is left. */
int vm__create_shell(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen);
/* Completes a shell into a VM: opts' vCPUs and CPUID, empty I/O buses.
 * opts->ram_size must be the shell's. On failure the whole VM is
 * destroyed. */
int vm__complete(struct vm *vm, const struct vm_options *opts, char *err, size_t errlen);
void vm__destroy(struct vm *vm);
/* Registers a device (created on vm->pio or vm->mmio) so it is saved,
 * restored and destroyed with the VM; on failure the device is destroyed. */
int vm__add_device(struct vm *vm, struct device *dev);
/* The device half of a VM, which needs no KVM: empty buses (vm__create
 * makes them), and the teardown of every device and both buses. */
int vm__create_buses(struct vm *vm);
void vm__destroy_devices(struct vm *vm);
/* Raises or lowers an ISA interrupt line of the in-kernel irqchip; an
 * irq_set_fn for devices, ctx the VM. */
void vm__set_irq_line(void *ctx, unsigned int irq, int level);
struct device *vm__find_device(struct vm *vm, const char *name);
/* Runs every device's drain (device.h); the first failure names the
 * device in err. */
int vm__drain_devices(struct vm *vm, char *err, size_t errlen);

/* vCPU threads (vmm/vcpu.c). */
int vm__start_vcpus(struct vm *vm, char *err, size_t errlen);
/* Takes a pause reference; returns once every vCPU is out of KVM_RUN and
 * parked. */
void vm__pause(struct vm *vm);
/* Drops a pause reference; the vCPUs run again when none is left. */
void vm__resume(struct vm *vm);
bool vm__is_paused(struct vm *vm);
/* Sets the listener told of every move between running and paused (not
 * of the VM's end). Set it once the VM exists: vm__create clears it. */
void vm__set_run_listener(struct vm *vm, void (*fn)(void *ctx, bool running), void *ctx);
bool vm__is_exiting(struct vm *vm);
/* The monitor's stop and cont: one user reference, taken or dropped at
 * most once, so cont never undoes another pauser's pause. cont returns
 * -EBUSY when the VM stays paused by someone else. */
void vm__user_stop(struct vm *vm);
int vm__user_cont(struct vm *vm);
/* Ends the VM: every vCPU thread leaves its loop; the first caller's status
 * and reason win. */
void vm__request_exit(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Blocks until the VM ends, joins the vCPU threads, returns the status. */
int vm__wait(struct vm *vm);
/* Formats vCPU n's registers. Only while the VM is paused (vm__pause: no
 * access is then half done), or from vCPU n's own thread after an exit
 * other than port I/O or MMIO. */
int vm__format_registers(struct vm *vm, unsigned int n, char *buf, size_t len);

/* The dirty ring's two sides of a harvest (vmm/vcpu.c). The harvester
 * says when the rings are tracked (vCPUs wait for a harvest only then;
 * off releases every waiter), and after each KVM_RESET_DIRTY_RINGS that
 * the waiters may go on. */
void vm__ring_tracking(struct vm *vm, bool on);
void vm__ring_harvested(struct vm *vm);
/* Ring-full exits so far and the microseconds vCPUs spent waiting. */
void vm__ring_full_stats(struct vm *vm, uint64_t *exits, uint64_t *wait_us);

/* Applies one vCPU's CPUID (vmm/cpuid.c). */
int vm__setup_cpuid(struct vm *vm, char *err, size_t errlen);

#endif
