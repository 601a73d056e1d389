/* Measuring how fast the guest dirties its memory, without migrating
 * (QEMU's calc-dirty-rate in its dirty-bitmap and dirty-ring modes): dirty
 * logging on, wait, count the pages KVM (and vmm itself) marked dirty,
 * logging off. In dirty-ring mode (a VM made with --dirty-ring) each
 * vCPU's ring also says how many pages that vCPU dirtied.
 *
 * A measurement and a migration exclude each other, both ways: each is
 * refused with -EBUSY while the other runs, so neither has to undo the
 * other's dirty log. The measurement runs on a thread of its own and is
 * read with migration__dirty_rate (migration.h).
 */
#ifndef VMM__DIRTY_RATE_H
#define VMM__DIRTY_RATE_H

#include <stddef.h>
#include <stdint.h>

/* QEMU's bounds for calc-time, in seconds. */
#define DIRTY_RATE_MIN_SECONDS 1
#define DIRTY_RATE_MAX_SECONDS 60

/* Per-vCPU rates kept: as many as a VM may have (VM_MAX_CPUS). */
#define DIRTY_RATE_MAX_VCPUS 64

enum dirty_rate_mode {
	DIRTY_RATE_MODE_BITMAP,		/* QEMU's "dirty-bitmap": the total only */
	DIRTY_RATE_MODE_RING,		/* "dirty-ring": per vCPU too */
	/* The ring where the VM has one, else the bitmap (the monitor's). */
	DIRTY_RATE_MODE_AUTO,
};

enum dirty_rate_status {
	DIRTY_RATE_UNSTARTED,
	DIRTY_RATE_MEASURING,
	DIRTY_RATE_MEASURED,
	DIRTY_RATE_FAILED,
};

struct dirty_rate {
	enum dirty_rate_status status;
	uint64_t start_time_s;		/* CLOCK_MONOTONIC seconds, as QEMU's */
	uint32_t calc_time_s;		/* asked for */
	uint64_t pages;			/* distinct pages dirtied in the window */
	uint64_t elapsed_us;		/* the window as measured */
	double pages_per_s;		/* pages / elapsed */
	double mib_per_s;		/* the same in MiB/s (QEMU's "MB/s") */
	char dirty_log_mode[32];	/* "ring", "manual-protect" or "plain" */
	char error[256];		/* when failed */
	enum dirty_rate_mode mode;	/* BITMAP or RING once started */
	/* RING: the distinct pages each vCPU's ring gave in the window (a
	 * page two vCPUs wrote counts once, for one of them), so they add up
	 * to pages less what vmm wrote itself. Not ring entries, as QEMU
	 * counts: KVM may push a page several times in a window. */
	uint32_t nr_vcpus;
	uint64_t vcpu_pages[DIRTY_RATE_MAX_VCPUS];
};

/* 0, or -ERANGE with a message naming the accepted range. */
int dirty_rate__check_seconds(int64_t seconds, char *err, size_t errlen);
/* The measurement's end: its counts and the rates from them. */
void dirty_rate__finish(struct dirty_rate *r, uint64_t pages, uint64_t elapsed_us);
/* A vCPU's rate in MiB/s (QEMU's "MB/s"), from vcpu_pages and elapsed. */
double dirty_rate__vcpu_mib_per_s(const struct dirty_rate *r, unsigned int vcpu);
/* "dirty-bitmap", "dirty-ring" (QEMU's names). */
const char *dirty_rate__mode_name(enum dirty_rate_mode mode);
/* "unstarted", "measuring", "measured", "failed". */
const char *dirty_rate__status_name(enum dirty_rate_status st);
/* What 'info dirty-rate' prints, truncated safely to len. */
void dirty_rate__format(const struct dirty_rate *r, char *buf, size_t len);

#endif
