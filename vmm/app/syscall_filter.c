#include "syscall_filter.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"
#include "vm.h"

#if defined(__SANITIZE_ADDRESS__)
#define VMM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMM_SANITIZED 1
#endif
#endif

/* What vmm does once it runs: guest memory and vCPUs (ioctl on the KVM
 * fds, mmap), threads (clone3, futex, signals to kick vCPUs), the monitor
 * and migration sockets (connect, accept, send and receive; name lookups
 * through getaddrinfo for a `migrate tcp:HOST:...`), statistics and save
 * files (openat, write, fsync, rename, unlink; block migration's
 * destination starts writeback early with sync_file_range), clocks and sleeps. Not
 * here, among others: execve and fork, ptrace, mount, module loading,
 * setuid and friends, keyctl, bpf, process_vm_*, chroot. Measured with
 * strace over the integration tests. */
static const int allowed[] = {
	/* files and descriptors */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close),
	SCMP_SYS(openat), SCMP_SYS(newfstatat), SCMP_SYS(fstat), SCMP_SYS(statx),
	SCMP_SYS(fcntl), SCMP_SYS(ioctl), SCMP_SYS(dup), SCMP_SYS(dup3),
	SCMP_SYS(pipe2), SCMP_SYS(eventfd2), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(sync_file_range),
	SCMP_SYS(ftruncate), SCMP_SYS(fallocate), SCMP_SYS(rename), SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select),
	SCMP_SYS(pselect6),
	/* io_uring: the drives' rings and the saved files' (file_ram.c) are
	 * all made, restricted and enabled before the sandbox, then only
	 * entered; no io_uring_setup or io_uring_register here, so no ring
	 * that could open a file can be made or widened afterwards */
	SCMP_SYS(io_uring_enter),
	/* memory */
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
	SCMP_SYS(mremap), SCMP_SYS(brk),
	/* threads and signals */
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(futex), SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
	/* sigwait: the thread that takes SIGINT, SIGTERM, SIGHUP */
	SCMP_SYS(rt_sigtimedwait),
	/* the kernel's own resumption of a timed wait (nanosleep, poll...)
	 * after SIGSTOP and SIGCONT: never called by vmm itself */
	SCMP_SYS(restart_syscall),
	SCMP_SYS(tgkill), SCMP_SYS(tkill), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(kill), SCMP_SYS(prctl), SCMP_SYS(sched_yield),
	/* a thread narrowing its own filter further (vCPU threads) */
	SCMP_SYS(seccomp),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(prlimit64), SCMP_SYS(getrusage),
	/* sockets (socket itself below, by address family) */
	SCMP_SYS(connect), SCMP_SYS(accept4), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg), SCMP_SYS(sendto),
	SCMP_SYS(recvmsg), SCMP_SYS(recvmmsg), SCMP_SYS(recvfrom), SCMP_SYS(shutdown),
	/* clocks and ids */
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
	/* a throttled vCPU's slice timer (vmm/vcpu_throttle.c) */
	SCMP_SYS(timer_create), SCMP_SYS(timer_settime), SCMP_SYS(timer_delete),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(uname),
};

/* The sanitizers' runtime: LeakSanitizer stops the world with ptrace from
 * a cloned task at exit, and reports may start a symbolizer. Only in a
 * sanitizer build, which is a test build. */
#ifdef VMM_SANITIZED
static const int allowed_sanitized[] = {
	SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(execve),
	SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(getppid), SCMP_SYS(pipe),
	SCMP_SYS(dup2), SCMP_SYS(setpgid), SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(open),
	SCMP_SYS(stat), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(sysinfo),
};
#endif

static const int socket_families[] = { AF_UNIX, AF_INET, AF_INET6 };

/* Async-signal-safe: formats the number by hand and ends the process. */
static void blocked_syscall(int sig, siginfo_t *info, void *uctx)
{
	static const char head[] = "vmm: error: the sandbox stopped system call ";
	static const char in_thread[] = " in thread ";
	static const char tail[] = ", which is outside vmm's allow-list for that thread "
				   "(--sandbox off runs without it)\n";
	char num[16], thread[17] = "";
	unsigned int n = (unsigned int)info->si_syscall, i = sizeof(num);

	(void)sig;
	(void)uctx;
	do {
		num[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n && i);
	/* prctl is async-signal-safe and on every list. */
	if (prctl(PR_GET_NAME, thread, 0, 0, 0))
		thread[0] = '\0';
	if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0 ||
	    write(STDERR_FILENO, num + i, sizeof(num) - i) < 0 ||
	    write(STDERR_FILENO, in_thread, sizeof(in_thread) - 1) < 0 ||
	    write(STDERR_FILENO, thread, strlen(thread)) < 0 ||
	    write(STDERR_FILENO, tail, sizeof(tail) - 1) < 0) {
		/* nothing more can be said */
	}
	_exit(VMM_EXIT_ERROR);
}

static int add_rules(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
		if (ret)
			return ret;
	}
	return 0;
}

static int build(scmp_filter_ctx ctx)
{
	size_t i;
	int ret;

	ret = add_rules(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]));
#ifdef VMM_SANITIZED
	if (!ret)
		ret = add_rules(ctx, allowed_sanitized,
				sizeof(allowed_sanitized) / sizeof(allowed_sanitized[0]));
#endif
	for (i = 0; !ret && i < sizeof(socket_families) / sizeof(socket_families[0]); i++) {
		struct scmp_arg_cmp family = {
			.arg = 0, .op = SCMP_CMP_EQ,
			.datum_a = (scmp_datum_t)socket_families[i], .datum_b = 0,
		};

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &family);
	}
	/* A tls: migration's tunnel (migrate/tls_tunnel.c): a local pair only. */
	if (!ret) {
		struct scmp_arg_cmp unix_only = {
			.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0,
		};

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
					     &unix_only);
	}
	return ret;
}

int syscall_filter__install(char *err, size_t errlen)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = blocked_syscall;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return errmsg__fail(-errno, err, errlen, "sandbox: SIGSYS handler: %s",
				    strerror(errno));
	/* TRAP rather than KILL: the SIGSYS handler says which call it was. */
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return errmsg__fail(-ENOMEM, err, errlen, "sandbox: seccomp_init failed");
	ret = build(ctx);
	/* Every thread, including the drives' I/O threads the board started. */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		return errmsg__fail(ret, err, errlen, "sandbox: installing the system-call "
				    "filter: %s (--sandbox off runs without it)", strerror(-ret));
	return 0;
}

/* A vCPU thread runs the device models, the code a guest drives: it only
 * needs KVM_RUN, the devices' reads and writes on descriptors already
 * open, memory, locks and clocks. So on top of the process's list it
 * loses everything that reaches beyond the process: new files and
 * sockets, renames and unlinks, new processes, and executable memory.
 * Sanitizer builds keep what their runtime needs to report an error from
 * this thread (opening /proc, starting a symbolizer). */
static const int vcpu_denied[] = {
	SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect), SCMP_SYS(accept4),
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(rename), SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(ftruncate),
	SCMP_SYS(fallocate),
#ifndef VMM_SANITIZED
	SCMP_SYS(openat), SCMP_SYS(clone), SCMP_SYS(clone3),
#endif
};

int syscall_filter__narrow_vcpu(char *err, size_t errlen)
{
	struct scmp_arg_cmp exec = {
		.arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = PROT_EXEC,
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	size_t i;
	int ret = 0;

	if (!ctx)
		return errmsg__fail(-ENOMEM, err, errlen, "sandbox: seccomp_init failed");
	for (i = 0; !ret && i < sizeof(vcpu_denied) / sizeof(vcpu_denied[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_TRAP, vcpu_denied[i], 0);
	if (!ret)
		ret = seccomp_rule_add_array(ctx, SCMP_ACT_TRAP, SCMP_SYS(mmap), 1, &exec);
	if (!ret)
		ret = seccomp_rule_add_array(ctx, SCMP_ACT_TRAP, SCMP_SYS(mprotect), 1, &exec);
	/* This thread only: the others keep the process's list. */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		return errmsg__fail(ret, err, errlen, "sandbox: narrowing the vCPU thread's "
				    "system calls: %s", strerror(-ret));
	return 0;
}
