/* Once /dev/kvm, the sockets and the files the VMM needs are open, it keeps
 * no capability: a guest that breaks out of a device model finds a process
 * that cannot open /dev/kvm anew, load modules, or change its uid. */
#ifndef VMM__PRIVILEGES_H
#define VMM__PRIVILEGES_H

#include <stddef.h>

/* Capabilities are per thread: call before any other thread exists, so
 * every thread inherits the empty set. */
int privileges__drop(char *err, size_t errlen);

#endif
