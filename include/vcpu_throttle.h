/* vCPU throttling: a throttled vCPU runs a time slice, then sleeps outside
 * KVM_RUN for pct / (100 - pct) of it, so it gets (100 - pct) % of the
 * time it would have had. auto-converge sets every vCPU's share;
 * dirty-limit sets each vCPU's own.
 *
 * Threads: anyone sets and reads the percentages and the time slept; only
 * the vCPU's own thread runs the slice clock (vcpu_throttle__before_run,
 * from its KVM_RUN loop). A per-thread timer signals the vCPU thread when
 * its slice is up, so the guest leaves KVM_RUN even when it never exits on
 * its own; the sleep is a timed wait on vm->cond, which a pause, the VM's
 * end and a lowered throttle cut short. Nothing spins.
 */
#ifndef VMM__VCPU_THROTTLE_H
#define VMM__VCPU_THROTTLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* QEMU's slice (CPU_THROTTLE_TIMESLICE_NS) and its highest share. */
#define VCPU_THROTTLE_SLICE_NS 10000000ull
#define VCPU_THROTTLE_MAX_PCT 99
/* Kicks a vCPU thread out of KVM_RUN (a pause, the end, a slice's end). */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vm;
struct vcpu;

struct vcpu_throttle {
	unsigned int pct;		/* atomic: 0 = runs freely */
	uint64_t throttled_ns;		/* atomic: slept, since the VM began */
	/* The vCPU thread's own. */
	bool timer_made;
	bool timer_armed;
	bool failed_said;		/* a timer failure, logged once */
	timer_t timer;
	uint64_t slice_start_ns;	/* 0 = no slice running */
};

/* Sets every vCPU's share (0..99; more is taken as 99). */
void vcpu_throttle__set_all(struct vm *vm, unsigned int pct);
/* Sets vCPU cpu's share; -EINVAL for a vCPU the VM does not have. */
int vcpu_throttle__set(struct vm *vm, unsigned int cpu, unsigned int pct);
unsigned int vcpu_throttle__get(struct vm *vm, unsigned int cpu);
/* The highest share in force over all vCPUs. */
unsigned int vcpu_throttle__max(struct vm *vm);
/* Microseconds vCPU cpu has slept throttled since the VM began. */
uint64_t vcpu_throttle__slept_us(struct vm *vm, unsigned int cpu);

/* From the vCPU thread's loop, before each KVM_RUN: when the slice is
 * up, sleeps its share. Returns 0, or -errno when the slice timer cannot
 * be made (the vCPU then runs unthrottled; the caller logs it once). */
int vcpu_throttle__before_run(struct vcpu *v);
/* From the vCPU thread as it leaves its loop: drops its timer. */
void vcpu_throttle__thread_exit(struct vcpu *v);

#endif
