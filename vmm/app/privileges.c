#include "privileges.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int privileges__drop(char *err, size_t errlen)
{
	cap_value_t c;
	cap_t none;
	int ret = 0;

	/* No later execve may regain anything (setuid binaries, file caps). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -errno;
	}
	/* Empty the bounding set while CAP_SETPCAP is still held; without it
	 * (an unprivileged user) there is nothing to drop there anyway. */
	if (CAP_IS_SUPPORTED(CAP_SETPCAP)) {
		for (c = 0; c <= CAP_LAST_CAP; c++)
			if (cap_drop_bound(c) && errno != EINVAL && errno != EPERM)
				break;
	}
	none = cap_init();
	if (!none) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -errno;
	}
	if (cap_set_proc(none)) {
		ret = -errno;
		snprintf(err, errlen, "dropping capabilities: %s", strerror(errno));
	}
	cap_free(none);
	return ret;
}
