/* Time in ring 0: how fast the TSC runs, and sleeping until a TSC
 * deadline with the LAPIC timer (TSC-deadline mode when the CPU has it,
 * else one-shot mode at a measured rate). No periodic tick: the timer is
 * armed only while a CPU sleeps.
 */
#include "kit.h"
#include "kit_priv.h"

#define MSR_TSC_DEADLINE	0x6e0
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define KVM_SIGNATURE_EBX	0x4b4d564b	/* "KVMK" */
#define PIT_HZ			1193182ULL
#define PIT_CALIBRATE_MS	25
#define LVT_TSC_DEADLINE	(2u << 17)
#define TIMER_DIV_1		0xb
#define KVMCLOCK_WAIT_TSC	(1ULL << 26)	/* tens of ms: the rate is not known yet */

/* PIT channel 2 counts down once (mode 0); its output shows in port 0x61
 * bit 5. The loop runs at emulation speed on some hosts: each pass is a
 * few instructions and one port read, small against 25 ms. */
static uint64_t tsc_hz_from_pit(void)
{
	const uint64_t count = PIT_HZ * PIT_CALIBRATE_MS / 1000;
	uint8_t saved = inb(0x61);
	uint64_t t0, t1, limit;

	outb(0x61, (uint8_t)((saved & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, count & 0xff);
	outb(0x42, (uint8_t)(count >> 8));
	t0 = kit__rdtsc();
	limit = t0 + (1ULL << 36);
	do {
		t1 = kit__rdtsc();
	} while (!(inb(0x61) & 0x20) && t1 < limit);
	outb(0x61, saved);
	return kit_scale(t1 - t0, PIT_HZ, count);
}

/* KVM's paravirtual clock states the TSC rate exactly (as a ns-per-tick
 * multiplier). Turned on just long enough to read it, so KVM does not keep
 * writing guest memory afterwards. */
static uint64_t tsc_hz_from_kvmclock(void)
{
	static struct {
		uint32_t version, pad0;
		uint64_t tsc_timestamp, system_time;
		uint32_t mul;
		int8_t shift;
		uint8_t flags, pad[2];
	} __attribute__((aligned(64))) pv;
	uint32_t r[4], mul = 0;
	int8_t shift = 0;
	uint64_t hz, end;

	cpuid(1, 0, r);
	if (!(r[2] & (1u << 31)))
		return 0;
	cpuid(0x40000000, 0, r);
	if (r[1] != KVM_SIGNATURE_EBX || r[0] < 0x40000001)
		return 0;
	cpuid(0x40000001, 0, r);
	if (!(r[0] & KVM_FEATURE_CLOCKSOURCE2))
		return 0;
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&pv | 1);
	/* Version 0: not written yet; odd: being written. */
	end = kit__rdtsc() + KVMCLOCK_WAIT_TSC;
	while (kit__rdtsc() < end) {
		r[0] = __atomic_load_n(&pv.version, __ATOMIC_ACQUIRE);
		mul = pv.mul;
		shift = pv.shift;
		if (r[0] && !(r[0] & 1) &&
		    r[0] == __atomic_load_n(&pv.version, __ATOMIC_ACQUIRE))
			break;
		mul = 0;
	}
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
	if (!mul)
		return 0;
	hz = (1000000000ULL << 32) / mul;
	return shift >= 0 ? hz >> shift : hz << -shift;
}

/* The processor's base frequency in MHz: the TSC's rate to within a
 * fraction of a percent on the CPUs that report it. */
static uint64_t tsc_hz_from_leaf16(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	if (r[0] < 0x16)
		return 0;
	cpuid(0x16, 0, r);
	return (r[0] & 0xffff) * 1000000ULL;
}

void kit_delay_us(uint64_t us)
{
	uint64_t end = kit__rdtsc() + kit__us_to_tsc(us);

	while (kit__rdtsc() < end)
		kit__pause();
}

static uint32_t timer_lvt(void)
{
	return KIT_VEC_TIMER | (kit_boot.tsc_deadline ? LVT_TSC_DEADLINE : 0);
}

void kit_timer_cpu_init(void)
{
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_1);
	lapic_write(LAPIC_LVT_TIMER, timer_lvt());
}

/* One-shot mode needs the LAPIC timer's rate; TSC-deadline mode does not. */
static void calibrate_lapic(void)
{
	uint64_t t0, t1;
	uint32_t left;

	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	t0 = kit__rdtsc();
	lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
	kit_delay_us(10000);
	left = lapic_read(LAPIC_TIMER_CUR);
	t1 = kit__rdtsc();
	lapic_write(LAPIC_TIMER_INIT, 0);
	kit_boot.lapic_hz = kit_scale(0xffffffffu - left, kit_boot.tsc_hz, t1 - t0);
	lapic_write(LAPIC_LVT_TIMER, timer_lvt());
}

/* Returns 0, or -1 when the TSC rate could not be found. */
int kit_timer_setup(void)
{
	if (!kit_boot.tsc_hz)
		kit_boot.tsc_hz = tsc_hz_from_kvmclock();
	if (!kit_boot.tsc_hz)
		kit_boot.tsc_hz = tsc_hz_from_leaf16();
	if (!kit_boot.tsc_hz)
		kit_boot.tsc_hz = tsc_hz_from_pit();
	if (kit_boot.tsc_hz < 1000000)
		return -1;
	if (!kit_boot.tsc_deadline)
		calibrate_lapic();
	return 0;
}

static void arm_timer(uint64_t now, uint64_t deadline)
{
	uint64_t count;

	if (kit_boot.tsc_deadline) {
		wrmsr(MSR_TSC_DEADLINE, deadline);
		return;
	}
	count = deadline - now;
	count = count / kit_boot.tsc_hz > 4 ? 0xffffffffULL :
		kit_scale(count, kit_boot.lapic_hz, kit_boot.tsc_hz);
	if (count > 0xffffffffULL)
		count = 0xffffffffULL;
	lapic_write(LAPIC_TIMER_INIT, count ? (uint32_t)count : 1);
}

/* Wakes early are fine (we loop); the deadline is absolute, so a late wake
 * never shifts the caller's schedule. */
void kit_timer_sleep_until(uint64_t deadline)
{
	uint64_t now;

	while ((now = kit__rdtsc()) < deadline) {
		arm_timer(now, deadline);
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
}
