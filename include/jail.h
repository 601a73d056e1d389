/* --jail DIR: once everything is open, vmm may touch files only beneath
 * DIR (read, write, create, rename, remove), whatever its uid: Landlock
 * (the kernel's unprivileged access control, Linux 5.13 and later) on top
 * of the dropped capabilities and the system-call allow-list. A vmm left
 * with uid 0 can then no longer open /dev/kvm anew, read /etc/shadow or
 * write root's files. Outside DIR it may only read the few files name
 * resolution needs (/etc/hosts, resolv.conf, ...), so `migrate
 * tcp:HOSTNAME:PORT` still works.
 */
#ifndef VMM__JAIL_H
#define VMM__JAIL_H

#include <stdbool.h>
#include <stddef.h>

/* Checks DIR (an existing directory) and that the host has Landlock;
 * call early, so that a mistake shows before anything starts. */
int jail__check(const char *dir, char *err, size_t errlen);

/* Whether PATH, a file to be written later, lies beneath DIR: its parent
 * directory, resolved, is DIR or below it. */
bool jail__contains(const char *dir, const char *path);

/* Restricts the calling process (every thread it starts later too) to
 * DIR. Needs no_new_privs already set. Returns 0 or -errno with err. */
int jail__enter(const char *dir, char *err, size_t errlen);

#endif
