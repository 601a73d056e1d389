/* vCPU throttling (see include/vcpu_throttle.h): a slice of running, a
 * sleep of its share, the slice's end signalled by a per-thread timer. */
#include "vcpu_throttle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "vm.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned int load_pct(const struct vcpu *v)
{
	return __atomic_load_n(&v->throttle.pct, __ATOMIC_ACQUIRE);
}

/* Wakes a sleeping vCPU (its share fell) and makes a running one leave
 * KVM_RUN (its share rose from 0: its slice clock must start now, not at
 * its next exit, which a guest that only computes may never make).
 * immediate_exit is set under vm->lock, as the pauser sets it, so that
 * the vCPU's loop never loses it between its reset and KVM_RUN. */
static void tell_vcpu(struct vcpu *v, bool kick)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	if (kick && v->run)
		v->run->immediate_exit = 1;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (kick && v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

static void store_pct(struct vcpu *v, unsigned int pct)
{
	unsigned int old;

	if (pct > VCPU_THROTTLE_MAX_PCT)
		pct = VCPU_THROTTLE_MAX_PCT;
	old = __atomic_exchange_n(&v->throttle.pct, pct, __ATOMIC_ACQ_REL);
	if (old != pct)
		tell_vcpu(v, !old && pct);
}

void vcpu_throttle__set_all(struct vm *vm, unsigned int pct)
{
	unsigned int i;

	for (i = 0; i < vm->nr_cpus; i++)
		store_pct(&vm->vcpus[i], pct);
}

int vcpu_throttle__set(struct vm *vm, unsigned int cpu, unsigned int pct)
{
	if (cpu >= vm->nr_cpus)
		return -EINVAL;
	store_pct(&vm->vcpus[cpu], pct);
	return 0;
}

unsigned int vcpu_throttle__get(struct vm *vm, unsigned int cpu)
{
	return cpu < vm->nr_cpus ? load_pct(&vm->vcpus[cpu]) : 0;
}

unsigned int vcpu_throttle__max(struct vm *vm)
{
	unsigned int i, pct, max = 0;

	for (i = 0; i < vm->nr_cpus; i++) {
		pct = load_pct(&vm->vcpus[i]);
		if (pct > max)
			max = pct;
	}
	return max;
}

uint64_t vcpu_throttle__slept_us(struct vm *vm, unsigned int cpu)
{
	if (cpu >= vm->nr_cpus)
		return 0;
	return __atomic_load_n(&vm->vcpus[cpu].throttle.throttled_ns, __ATOMIC_RELAXED) / 1000;
}

/* The slice timer signals this thread, not the process: the kick handler
 * then sets this vCPU's immediate_exit, so the signal is never lost. */
static int make_timer(struct vcpu_throttle *t)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = VCPU_KICK_SIGNAL;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer))
		return -errno;
	t->timer_made = true;
	return 0;
}

static int arm_timer(struct vcpu_throttle *t, uint64_t ns)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ns / 1000000000ull),
						.tv_nsec = (long)(ns % 1000000000ull) } };
	int ret;

	if (!t->timer_made && ns) {
		ret = make_timer(t);
		if (ret)
			return ret;
	}
	if (!t->timer_made || (!ns && !t->timer_armed))
		return 0;
	if (timer_settime(t->timer, 0, &its, NULL))
		return -errno;
	t->timer_armed = ns != 0;
	return 0;
}

static uint64_t sleep_for(uint64_t slice_ns, unsigned int pct)
{
	return pct ? slice_ns * pct / (100 - pct) : 0;
}

/* Sleeps pct's share of a slice, waking early for a pause, the VM's end
 * or a lower share (the deadline is recomputed from the share now in
 * force at every wake). Returns the nanoseconds slept. */
static uint64_t throttle_sleep(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t start = now_ns(), deadline, now = start;
	struct timespec ts;

	pthread_mutex_lock(&vm->lock);
	for (;;) {
		deadline = start + sleep_for(VCPU_THROTTLE_SLICE_NS, load_pct(v));
		if (now >= deadline || vm->pause_count || vm->state == VM_EXITING)
			break;
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		pthread_cond_clockwait(&vm->cond, &vm->lock, CLOCK_MONOTONIC, &ts);
		now = now_ns();
	}
	pthread_mutex_unlock(&vm->lock);
	return now - start;
}

int vcpu_throttle__before_run(struct vcpu *v)
{
	struct vcpu_throttle *t = &v->throttle;
	uint64_t now;
	int ret;

	if (!load_pct(v)) {
		t->slice_start_ns = 0;
		return arm_timer(t, 0);
	}
	now = now_ns();
	if (!t->slice_start_ns) {
		t->slice_start_ns = now;
		return arm_timer(t, VCPU_THROTTLE_SLICE_NS);
	}
	if (now - t->slice_start_ns < VCPU_THROTTLE_SLICE_NS)
		return 0;	/* an exit of the guest's own, mid-slice */
	__atomic_add_fetch(&t->throttled_ns, throttle_sleep(v), __ATOMIC_RELAXED);
	t->slice_start_ns = now_ns();
	ret = arm_timer(t, load_pct(v) ? VCPU_THROTTLE_SLICE_NS : 0);
	if (!load_pct(v))
		t->slice_start_ns = 0;
	return ret;
}

void vcpu_throttle__thread_exit(struct vcpu *v)
{
	if (v->throttle.timer_made)
		timer_delete(v->throttle.timer);
	v->throttle.timer_made = false;
	v->throttle.timer_armed = false;
}
