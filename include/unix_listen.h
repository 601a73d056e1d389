/* A listening unix socket that only its owner can reach, for the monitor
 * and QMP. */
#ifndef VMM__UNIX_LISTEN_H
#define VMM__UNIX_LISTEN_H

#include <stddef.h>

/* Creates path as a listening socket of mode 0600 and returns its fd
 * (SOCK_CLOEXEC), or -errno with err saying what, naming the socket as
 * `what` ("monitor", "QMP"). A stale socket at path is replaced; anything
 * else there is refused.
 *
 * The mode is right from the moment the socket exists (bind under a umask,
 * not a chmod after it). umask is process-wide: call this before other
 * threads create files. */
int unix_listen(const char *path, const char *what, char *err, size_t errlen);

#endif
