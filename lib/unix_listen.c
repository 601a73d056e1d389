#include "unix_listen.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errmsg.h"

int unix_listen(const char *path, const char *what, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return errmsg__fail(-ENAMETOOLONG, err, errlen,
				    "%s socket path too long (max %zu bytes)", what,
				    sizeof(addr.sun_path) - 1);
	/* A stale socket from an earlier run is replaced; anything else at
	 * that path is not ours to delete. */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			return errmsg__fail(-EEXIST, err, errlen,
					    "%s path %s exists and is not a socket", what, path);
		unlink(path);
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg__fail(-errno, err, errlen, "%s socket %s: %s", what, path,
				    strerror(errno));
	/* Whoever can connect owns the VM: no window in which the socket
	 * exists with a wider mode. */
	old_mask = umask(0177);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ? -errno : 0;
	umask(old_mask);
	if (!ret && listen(fd, 4))
		ret = -errno;
	if (ret) {
		close(fd);
		return errmsg__fail(ret, err, errlen, "%s socket %s: %s", what, path,
				    strerror(-ret));
	}
	return fd;
}
