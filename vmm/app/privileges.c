#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "errmsg.h"

struct user_ids {
	uid_t uid;
	gid_t gid;
};

static int lookup_user(const char *name, struct user_ids *ids, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int ret;

	ret = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	if (ret)
		return errmsg__fail(-ret, err, errlen, "--runas %s: looking up the user: %s",
				    name, strerror(ret));
	if (!found)
		return errmsg__fail(-ENOENT, err, errlen, "--runas %s: no such user", name);
	if (!pw.pw_uid)
		return errmsg__fail(-EINVAL, err, errlen, "--runas %s: that is uid 0, which "
				    "drops nothing", name);
	ids->uid = pw.pw_uid;
	ids->gid = pw.pw_gid;
	return 0;
}

/* Group first: once the uid is not 0 the gid can no longer change. The
 * supplementary groups go too: root's would keep root's file access. */
static int switch_user(const char *name, const struct user_ids *ids, char *err, size_t errlen)
{
	if (setgroups(0, NULL) || setresgid(ids->gid, ids->gid, ids->gid) ||
	    setresuid(ids->uid, ids->uid, ids->uid))
		return errmsg__fail(-errno, err, errlen, "--runas %s: %s (vmm must start as "
				    "root to switch users)", name, strerror(errno));
	/* Belt and braces: a switch that can be undone is no switch. */
	if (!setuid(0) || !seteuid(0))
		return errmsg__fail(-EPERM, err, errlen, "--runas %s: uid 0 could be regained",
				    name);
	return 0;
}

/* Empties the bounding set while CAP_SETPCAP is still held; without it (an
 * unprivileged user) there is nothing to drop there anyway. */
static void drop_bounding_set(void)
{
	cap_value_t c;

	if (!CAP_IS_SUPPORTED(CAP_SETPCAP))
		return;
	for (c = 0; c <= CAP_LAST_CAP; c++)
		if (cap_drop_bound(c) && errno != EINVAL && errno != EPERM)
			break;
}

static int clear_capabilities(char *err, size_t errlen)
{
	cap_t none = cap_init();
	int ret = 0;

	if (!none)
		return errmsg__fail(-errno, err, errlen, "cap_init: %s", strerror(errno));
	if (cap_set_proc(none))
		ret = errmsg__fail(-errno, err, errlen, "dropping capabilities: %s",
				   strerror(errno));
	cap_free(none);
	return ret;
}

int privileges__drop(const char *runas, char *err, size_t errlen)
{
	struct user_ids ids;
	int ret;

	/* Looked up while /etc is still readable and NSS still loads. */
	if (runas) {
		ret = lookup_user(runas, &ids, err, errlen);
		if (ret)
			return ret;
	}
	/* No later execve may regain anything (setuid binaries, file caps). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return errmsg__fail(-errno, err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
				    strerror(errno));
	/* In this order: the bounding set needs CAP_SETPCAP and the switch
	 * CAP_SETUID/CAP_SETGID; the switch away from uid 0 clears the rest,
	 * and without one the last step clears them. */
	drop_bounding_set();
	if (runas) {
		ret = switch_user(runas, &ids, err, errlen);
		if (ret)
			return ret;
	}
	return clear_capabilities(err, errlen);
}
