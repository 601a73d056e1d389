#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errmsg.h"

/* Rights newer than some distributions' headers; the kernel tells which
 * ABI it has, and rights it does not know are left out. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION	(1U << 0)
#endif

#if defined(__SANITIZE_ADDRESS__)
#define JAIL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JAIL_SANITIZED 1
#endif
#endif

/* Everything Landlock could forbid on files, for an ABI version. */
static uint64_t handled_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

/* Beneath DIR: what saves, traces and statistics need (files and
 * directories made, written, read, renamed over, removed); never
 * execution, devices, FIFOs or sockets. */
static const uint64_t dir_rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
	LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE;

/* Read-only outside DIR: what getaddrinfo reads for `migrate tcp:NAME`. */
static const char *const resolver_files[] = {
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/host.conf", "/etc/services",
};

static int landlock_abi(void)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			    LANDLOCK_CREATE_RULESET_VERSION);
}

int jail__check(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int abi;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return errmsg__fail(-ENOTDIR, err, errlen, "--jail %s: not a directory", dir);
	abi = landlock_abi();
	if (abi < 1)
		return errmsg__fail(-EOPNOTSUPP, err, errlen, "--jail needs Landlock (Linux 5.13 or "
				    "later, enabled with lsm=...,landlock): this kernel says %s",
				    strerror(errno));
	return 0;
}

bool jail__contains(const char *dir, const char *path)
{
	char parent[PATH_MAX], real_dir[PATH_MAX], real_parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == path)
		snprintf(parent, sizeof(parent), "/");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	if (!realpath(dir, real_dir) || !realpath(parent, real_parent))
		return false;
	n = strlen(real_dir);
	if (n == 1)	/* the root: everything is beneath it */
		return true;
	return !strncmp(real_parent, real_dir, n) &&
	       (real_parent[n] == '\0' || real_parent[n] == '/');
}

static int allow(int ruleset, const char *path, uint64_t rights, uint64_t handled)
{
	struct landlock_path_beneath_attr rule = { .allowed_access = rights & handled };
	int ret = 0;

	rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (rule.parent_fd < 0)
		return -errno;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0))
		ret = -errno;
	close(rule.parent_fd);
	return ret;
}

int jail__enter(const char *dir, char *err, size_t errlen)
{
	struct landlock_ruleset_attr attr = { 0 };
	struct addrinfo *res = NULL;
	int abi = landlock_abi(), ruleset, ret;
	size_t i;

	if (abi < 1)
		return errmsg__fail(-EOPNOTSUPP, err, errlen, "--jail: Landlock is not available");
	/* glibc loads its name-service modules at the first lookup: do one
	 * now, while their files may still be read and mapped. */
	if (!getaddrinfo("localhost", NULL, NULL, &res))
		freeaddrinfo(res);
	attr.handled_access_fs = handled_rights(abi);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return errmsg__fail(-errno, err, errlen, "--jail: landlock_create_ruleset: %s",
				    strerror(errno));
	ret = allow(ruleset, dir, dir_rights, attr.handled_access_fs);
	if (ret) {
		errmsg__fail(ret, err, errlen, "--jail %s: %s", dir, strerror(-ret));
		goto out;
	}
	for (i = 0; i < sizeof(resolver_files) / sizeof(resolver_files[0]); i++)
		allow(ruleset, resolver_files[i], LANDLOCK_ACCESS_FS_READ_FILE,
		      attr.handled_access_fs);	/* a file this host lacks: nothing to allow */
#ifdef JAIL_SANITIZED
	/* The sanitizers' runtime reads /proc and runs its symbolizer. */
	allow(ruleset, "/proc", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
	      attr.handled_access_fs);
	allow(ruleset, "/usr", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	      LANDLOCK_ACCESS_FS_EXECUTE, attr.handled_access_fs);
#endif
	if (!prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) {
		ret = errmsg__fail(-EPERM, err, errlen, "--jail: no_new_privs is not set");
		goto out;
	}
	if (syscall(SYS_landlock_restrict_self, ruleset, 0))
		ret = errmsg__fail(-errno, err, errlen, "--jail: landlock_restrict_self: %s",
				   strerror(errno));
out:
	close(ruleset);
	return ret;
}
