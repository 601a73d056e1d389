/* vCPU threads: the KVM_RUN loop, exit dispatch, and pause/resume.
 *
 * Pausing: the pauser raises pause_count and sets every vCPU's immediate_exit
 * under vm->lock, then signals each vCPU thread. A thread that is inside
 * KVM_RUN is kicked out by the signal (EINTR); one that is about to enter
 * sees immediate_exit and returns at once. Either way it parks on vm->cond
 * until resumed. Nothing spins.
 *
 * A parked vCPU's state is complete: one that last left KVM_RUN for a port
 * I/O or MMIO access enters it once more before parking (see
 * wait_while_paused), so whoever reads its state while it is parked (a
 * migration, a save, info registers) never sees an access half done.
 *
 * Throttling (vcpu_throttle.c) runs in the same loop: before each KVM_RUN
 * a throttled vCPU whose slice is up sleeps its share on vm->cond, which
 * vm__pause and vm__request_exit broadcast, so neither waits for it.
 */
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define SIG_VCPU_KICK VCPU_KICK_SIGNAL

/* This thread's vCPU, for the kick handler. */
static __thread struct kvm_run *self_run;

/* A kick that lands outside KVM_RUN (the throttle's slice timer can fire
 * at any moment) must still end the next KVM_RUN at once: setting
 * immediate_exit here makes sure. Every other kicker has set it already. */
static void kick_handler(int sig)
{
	(void)sig;
	if (self_run)
		self_run->immediate_exit = 1;
}

static void install_kick_handler_once(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(SIG_VCPU_KICK, &sa, NULL);
}

static void install_kick_handler(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install_kick_handler_once);
}

void vm__request_exit(struct vm *vm, int status, const char *fmt, ...)
{
	unsigned int i;
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_EXITING) {
		vm->state = VM_EXITING;
		vm->exit_status = status;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
		va_end(ap);
	}
	for (i = 0; i < vm->nr_cpus; i++) {
		if (vm->vcpus[i].run)
			vm->vcpus[i].run->immediate_exit = 1;
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_cpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_kill(vm->vcpus[i].thread, SIG_VCPU_KICK);
}

int vm__format_registers(struct vm *vm, unsigned int n, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_mp_state mp = { 0 };
	int fd;

	if (n >= vm->nr_cpus)
		return -EINVAL;
	fd = vm->vcpus[n].fd;
	if (ioctl(fd, KVM_GET_REGS, &r) || ioctl(fd, KVM_GET_SREGS, &s))
		return -errno;
	ioctl(fd, KVM_GET_MP_STATE, &mp);
	snprintf(buf, len,
		 "vCPU %u (mp_state %u, CPL %u)\n"
		 "RIP=%016llx RSP=%016llx RFLAGS=%016llx\n"
		 "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
		 "RSI=%016llx RDI=%016llx RBP=%016llx\n"
		 "R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
		 "R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
		 "CS=%04x SS=%04x DS=%04x ES=%04x FS=%04x GS=%04x TR=%04x\n"
		 "CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx\n"
		 "EFER=%016llx GDT=%016llx/%04x IDT=%016llx/%04x",
		 n, mp.mp_state, s.cs.selector & 3,
		 r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx,
		 r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11,
		 r.r12, r.r13, r.r14, r.r15,
		 s.cs.selector, s.ss.selector, s.ds.selector, s.es.selector,
		 s.fs.selector, s.gs.selector, s.tr.selector,
		 s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		 s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
	return 0;
}

static void guest_crashed(struct vcpu *v, const char *what)
{
	char regs[1024];

	if (vm__format_registers(v->vm, v->index, regs, sizeof(regs)))
		snprintf(regs, sizeof(regs), "(registers unavailable: %s)", strerror(errno));
	log_error("guest crashed on vCPU %u: %s\n%s", v->index, what, regs);
	vm__request_exit(v->vm, VMM_EXIT_GUEST_CRASH, "guest crashed on vCPU %u: %s", v->index, what);
}

static void unclaimed_port(struct vm *vm, uint16_t port, bool is_write)
{
	uint8_t bit = 1u << (port % 8);

	if (__atomic_fetch_or(&vm->unclaimed_port_seen[port / 8], bit, __ATOMIC_RELAXED) & bit)
		return;
	log_warn("guest %s unclaimed port 0x%04x (reads return all ones, writes are "
		 "ignored; logged once per port)", is_write ? "wrote" : "read", port);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t i;

	/* String I/O (rep outsb etc.) arrives as count back-to-back items. */
	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		if (io_bus__dispatch(v->vm->pio, run->io.port, data, run->io.size, is_write))
			continue;
		if (!is_write)
			memset(data, 0xff, run->io.size);
		unclaimed_port(v->vm, run->io.port, is_write);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (io_bus__dispatch(vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			     run->mmio.is_write))
		return;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
	/* Bounded: a guest sweeping MMIO must not flood the log. */
	if (__atomic_fetch_add(&vm->unclaimed_mmio_logged, 1, __ATOMIC_RELAXED) < 16)
		log_warn("guest %s unclaimed MMIO at 0x%llx (%u bytes; the first 16 are logged)",
			 run->mmio.is_write ? "wrote" : "read",
			 (unsigned long long)run->mmio.phys_addr, len);
}

/* KVM_EXIT_DIRTY_RING_FULL: the ring has no room left, and KVM would exit
 * again at once until it is harvested and reset. Asks the dirty log's
 * owner for a harvest and sleeps on vm->cond until one is done, or until
 * nothing will come (tracking stopped), a pause wants the vCPU parked, or
 * the VM ends: the caller's loop then parks or leaves, and a ring still
 * full just exits again on the next KVM_RUN. */
static void wait_for_harvest(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t one = 1, gen, t0 = clock__mono_us();
	ssize_t n;

	pthread_mutex_lock(&vm->lock);
	vm->ring_full_exits++;
	gen = vm->ring_resets;
	n = write(vm->ring_full_fd, &one, sizeof(one));	/* EAGAIN: already asked */
	(void)n;
	while (vm->ring_resets == gen && vm->ring_tracking && !vm->pause_count &&
	       vm->state != VM_EXITING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->ring_wait_us += clock__mono_us() - t0;
	pthread_mutex_unlock(&vm->lock);
}

void vm__ring_tracking(struct vm *vm, bool on)
{
	pthread_mutex_lock(&vm->lock);
	vm->ring_tracking = on;
	vm->ring_resets++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm__ring_harvested(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->ring_resets++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm__ring_full_stats(struct vm *vm, uint64_t *exits, uint64_t *wait_us)
{
	pthread_mutex_lock(&vm->lock);
	*exits = vm->ring_full_exits;
	*wait_us = vm->ring_wait_us;
	pthread_mutex_unlock(&vm->lock);
}

/* Returns false when the thread must leave its loop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[256];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		v->io_pending = true;
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		v->io_pending = true;
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_DIRTY_RING_FULL:
		wait_for_harvest(v);
		return true;
	case KVM_EXIT_SHUTDOWN:
		guest_crashed(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 " (instruction emulation failed)" : "");
		guest_crashed(v, what);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		guest_crashed(v, what);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vm__request_exit(v->vm, 0, "guest shut down");
			return false;
		}
		snprintf(what, sizeof(what), "system event %u (reset/crash)", run->system_event.type);
		guest_crashed(v, what);
		return false;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC KVM handles HLT itself; seeing it
		 * means a halted vCPU with nothing left to wake it. */
		guest_crashed(v, "HLT with no way to wake up (KVM_EXIT_HLT)");
		return false;
	default:
		snprintf(what, sizeof(what), "unhandled KVM exit reason %u", run->exit_reason);
		guest_crashed(v, what);
		return false;
	}
}

/* Parks the thread while a pause is requested. Returns false on exit.
 *
 * Not while an access is pending, though. After KVM_EXIT_IO or
 * KVM_EXIT_MMIO, KVM finishes the instruction (stores the data a read
 * returned into the guest's register, moves RIP past the in/out/mov) only
 * when userspace enters KVM_RUN again; until then RIP is still on it, and
 * nothing userspace can read or save says that the access already
 * happened. KVM's API (Documentation/virt/kvm/api.rst, kvm_run, on
 * KVM_EXIT_IO and KVM_EXIT_MMIO) says so, and that userspace must complete
 * the operation before a migration by re-entering with immediate_exit set
 * (or a signal pending): KVM first completes it, then returns EINTR without
 * running another guest instruction. A vCPU parked without that would, on
 * a destination, execute the access a second time (a device sees two reads,
 * the guest gets the second one's value). So with a pause requested and an
 * access pending this returns true with immediate_exit still set (the
 * pauser set it under vm->lock): the caller's KVM_RUN completes the access
 * and comes back with EINTR, and the next call parks. */
static bool wait_while_paused(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool keep_running;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_count && v->io_pending && vm->state != VM_EXITING) {
		pthread_mutex_unlock(&vm->lock);
		return true;
	}
	while (vm->pause_count && vm->state != VM_EXITING) {
		if (!v->paused) {
			v->paused = true;
			vm->nr_paused++;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (v->paused) {
		v->paused = false;
		vm->nr_paused--;
	}
	keep_running = vm->state != VM_EXITING;
	if (keep_running)
		v->run->immediate_exit = 0;
	pthread_mutex_unlock(&vm->lock);
	return keep_running;
}

/* A slice timer that cannot be made leaves the vCPU unthrottled: said
 * once per vCPU, the guest keeps running. */
static void throttle_step(struct vcpu *v)
{
	int ret = vcpu_throttle__before_run(v);

	if (ret && !v->throttle.failed_said) {
		v->throttle.failed_said = true;
		log_warn("vCPU %u runs unthrottled: its slice timer failed: %s", v->index,
			 strerror(-ret));
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	if (vm->vcpu_thread_init) {
		char err[256];

		if (vm->vcpu_thread_init(v->index, err, sizeof(err))) {
			vm__request_exit(vm, VMM_EXIT_ERROR, "vCPU %u: %s", v->index, err);
			goto out;
		}
	}
	self_run = v->run;
	while (wait_while_paused(v)) {
		int ret;

		throttle_step(v);
		ret = ioctl(v->fd, KVM_RUN, 0);

		/* KVM completes a pending access first thing in KVM_RUN,
		 * before it looks at immediate_exit or signals. */
		v->io_pending = false;
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_error("KVM_RUN on vCPU %u: %s", v->index, strerror(errno));
			vm__request_exit(vm, VMM_EXIT_ERROR, "KVM_RUN failed on vCPU %u", v->index);
			break;
		}
		if (!handle_exit(v))
			break;
	}
out:
	vcpu_throttle__thread_exit(v);
	self_run = NULL;
	pthread_mutex_lock(&vm->lock);
	vm->nr_running--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vm__start_vcpus(struct vm *vm, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	install_kick_handler();
	for (i = 0; i < vm->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		pthread_mutex_lock(&vm->lock);
		vm->nr_running++;
		pthread_mutex_unlock(&vm->lock);
		ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret) {
			pthread_mutex_lock(&vm->lock);
			vm->nr_running--;
			pthread_mutex_unlock(&vm->lock);
			snprintf(err, errlen, "cannot start vCPU %u's thread: %s", i, strerror(ret));
			vm__request_exit(vm, VMM_EXIT_ERROR, "%s", err);
			return -ret;
		}
		v->thread_started = true;
	}
	return 0;
}

void vm__set_run_listener(struct vm *vm, void (*fn)(void *ctx, bool running), void *ctx)
{
	pthread_mutex_lock(&vm->lock);
	vm->run_listener = fn;
	vm->run_listener_ctx = ctx;
	pthread_mutex_unlock(&vm->lock);
}

static void tell_run_listener(struct vm *vm, bool running)
{
	if (vm->run_listener)
		vm->run_listener(vm->run_listener_ctx, running);
}

void vm__pause(struct vm *vm)
{
	unsigned int i;

	pthread_mutex_lock(&vm->lock);
	vm->pause_count++;
	for (i = 0; i < vm->nr_cpus; i++)
		vm->vcpus[i].run->immediate_exit = 1;
	/* A vCPU waiting for a dirty-ring harvest parks instead, and a
	 * throttled vCPU may be asleep on the cond: a kick ends neither
	 * wait, this does. */
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_cpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_kill(vm->vcpus[i].thread, SIG_VCPU_KICK);
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_paused < vm->nr_running && vm->state != VM_EXITING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->state == VM_RUNNING) {
		vm->state = VM_PAUSED;
		tell_run_listener(vm, false);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vm__resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->pause_count && !--vm->pause_count) {
		if (vm->state == VM_PAUSED) {
			vm->state = VM_RUNNING;
			tell_run_listener(vm, true);
		}
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

bool vm__is_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->state == VM_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}

bool vm__is_exiting(struct vm *vm)
{
	bool exiting;

	pthread_mutex_lock(&vm->lock);
	exiting = vm->state == VM_EXITING;
	pthread_mutex_unlock(&vm->lock);
	return exiting;
}

void vm__user_stop(struct vm *vm)
{
	bool take;

	pthread_mutex_lock(&vm->lock);
	take = !vm->user_paused;
	vm->user_paused = true;
	pthread_mutex_unlock(&vm->lock);
	if (take)
		vm__pause(vm);
}

int vm__user_cont(struct vm *vm)
{
	bool drop, still;

	pthread_mutex_lock(&vm->lock);
	drop = vm->user_paused;
	vm->user_paused = false;
	pthread_mutex_unlock(&vm->lock);
	if (drop)
		vm__resume(vm);
	pthread_mutex_lock(&vm->lock);
	still = vm->pause_count > 0;
	pthread_mutex_unlock(&vm->lock);
	return still ? -EBUSY : 0;
}

int vm__wait(struct vm *vm)
{
	unsigned int i;
	int status;

	pthread_mutex_lock(&vm->lock);
	while (vm->state != VM_EXITING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	status = vm->exit_status;
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_cpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
	return status;
}
