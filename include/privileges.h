/* Once /dev/kvm, the sockets and the files the VMM needs are open, it keeps
 * no privilege: no capability, no way to regain one (no_new_privs), and
 * with --runas not even uid 0, so a guest that breaks out of a device model
 * finds a process that cannot open /dev/kvm anew, read root's files, load
 * modules, or change its uid. The system-call allow-list is
 * syscall_filter.h. */
#ifndef VMM__PRIVILEGES_H
#define VMM__PRIVILEGES_H

#include <stddef.h>

/* Drops every capability and sets no_new_privs; with runas (a user name,
 * or NULL) also switches to that user's uid and gid with no supplementary
 * groups. Capabilities and ids are per thread: call before any other
 * thread exists, so every thread inherits the result. */
int privileges__drop(const char *runas, char *err, size_t errlen);

#endif
