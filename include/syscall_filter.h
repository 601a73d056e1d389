/* The system-call allow-list (seccomp, through libseccomp). Installed once
 * everything privileged is open and before any thread starts, so every
 * thread of vmm runs under it. It fails closed: a call outside the list
 * ends vmm at once with a message naming the call's number, rather than
 * letting a compromised device model reach the rest of the kernel. */
#ifndef VMM__SYSCALL_FILTER_H
#define VMM__SYSCALL_FILTER_H

#include <stddef.h>

int syscall_filter__install(char *err, size_t errlen);
/* Narrows the calling thread's list further, for a vCPU thread: no new
 * files, sockets or processes, no executable memory (syscall_filter.c
 * says why). Only that thread is affected. */
int syscall_filter__narrow_vcpu(char *err, size_t errlen);

#endif
