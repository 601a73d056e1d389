/* Control of the source side: start, cancel, statistics files, and the
 * monitor commands. The work itself is in source.c. */
#include "migration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "migration_internal.h"
#include "monitor.h"
#include "vm.h"

struct migration *migration__create(struct vm *vm)
{
	struct migration *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->vm = vm;
	m->fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	migrate_params__defaults(&m->params);
	if (migrate_stats__init(&m->stats)) {
		free(m);
		return NULL;
	}
	return m;
}

void migration__destroy(struct migration *m)
{
	if (!m)
		return;
	migration__cancel(m);
	migration__wait(m);
	migrate_stats__free(&m->stats);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void migration__set_stats_output(struct migration *m, const char *json_path, const char *csv_path)
{
	snprintf(m->json_path, sizeof(m->json_path), "%s", json_path ? json_path : "");
	snprintf(m->csv_path, sizeof(m->csv_path), "%s", csv_path ? csv_path : "");
}

struct migrate_stats *migration__stats(struct migration *m)
{
	return &m->stats;
}

void migration__set_incoming_stats(struct migration *m, struct migrate_stats *in)
{
	m->incoming = in;
}

void migration__force_plain_dirty_log(struct migration *m, bool plain)
{
	m->force_plain_log = plain;
}

static bool is_running(struct migration *m)
{
	enum migrate_status st;

	migrate_stats__lock(&m->stats);
	st = m->stats.status;
	migrate_stats__unlock(&m->stats);
	return st == MIGRATE_STATUS_SETUP || st == MIGRATE_STATUS_ACTIVE ||
	       st == MIGRATE_STATUS_STOP_COPY;
}

void migration__wait(struct migration *m)
{
	bool joinable;

	pthread_mutex_lock(&m->lock);
	joinable = m->thread_joinable;
	m->thread_joinable = false;
	pthread_mutex_unlock(&m->lock);
	if (joinable)
		pthread_join(m->thread, NULL);
}

int migration__start(struct migration *m, const char *uri, char *err, size_t errlen)
{
	struct migrate_uri u;
	int ret;

	if (is_running(m)) {
		snprintf(err, errlen, "a migration is already running (migrate_cancel stops it)");
		return -EBUSY;
	}
	ret = transport__parse_uri(uri, &u, err, errlen);
	if (ret)
		return ret;
	/* The previous thread has finished; reap it before starting anew. */
	migration__wait(m);
	migrate_stats__reset(&m->stats);
	migrate_stats__start(&m->stats, uri);
	migrate_stats__lock(&m->stats);
	m->stats.ram_total = m->vm->mem.size;
	m->stats.ram_remaining = m->vm->mem.size;
	migrate_stats__unlock(&m->stats);
	__atomic_store_n(&m->cancel_requested, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&m->lock);
	m->uri = u;
	ret = pthread_create(&m->thread, NULL, migration__thread, m);
	m->thread_joinable = !ret;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		migrate_stats__set_error(&m->stats, "cannot start the migration thread");
		migrate_stats__set_status(&m->stats, MIGRATE_STATUS_FAILED);
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

int migration__cancel(struct migration *m)
{
	if (!is_running(m))
		return -ENOENT;
	__atomic_store_n(&m->cancel_requested, true, __ATOMIC_RELEASE);
	/* Unblocks a send or receive in progress; the thread then sees the
	 * flag, resumes the guest and reports "cancelled". */
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void migration__write_stats(struct migration *m, const struct migrate_params *p)
{
	if (m->json_path[0])
		migrate_stats__write_file(&m->stats, p, m->json_path, false);
	if (m->csv_path[0])
		migrate_stats__write_file(&m->stats, p, m->csv_path, true);
}

/* --- monitor commands ------------------------------------------------- */

static int cmd_migrate(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char err[512];

	if (!*args)
		return monitor_reply__error(r, "usage: migrate tcp:HOST:PORT | file:PATH");
	if (migration__start(m, args, err, sizeof(err)))
		return monitor_reply__error(r, "%s", err);
	monitor_reply__printf(r, "migration to %s started ('info migrate' shows progress)\n", args);
	return 0;
}

static int cmd_migrate_cancel(void *opaque, const char *args, struct monitor_reply *r)
{
	if (migration__cancel(opaque))
		return monitor_reply__error(r, "no migration is running");
	monitor_reply__printf(r, "cancelling; the guest keeps running here\n");
	return 0;
}

static int cmd_info_migrate(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	enum migrate_status st;
	char buf[8192];

	migrate_stats__lock(&m->stats);
	st = m->stats.status;
	migrate_stats__unlock(&m->stats);
	if (st == MIGRATE_STATUS_NONE && m->incoming) {
		migrate_stats__format_info(m->incoming, buf, sizeof(buf));
		monitor_reply__printf(r, "incoming migration (none started from here yet):\n%s", buf);
		return 0;
	}
	migrate_stats__format_info(&m->stats, buf, sizeof(buf));
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

static int cmd_set_parameter(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char name[64], err[256];
	const char *value;
	size_t n = strcspn(args, " \t");
	int ret;

	if (!n || n >= sizeof(name) || !args[n])
		return monitor_reply__error(r, "usage: migrate_set_parameter NAME VALUE "
					    "('info migrate_parameters' lists them)");
	memcpy(name, args, n);
	name[n] = '\0';
	value = args + n + strspn(args + n, " \t");
	pthread_mutex_lock(&m->lock);
	ret = migrate_params__set(&m->params, name, value, err, sizeof(err));
	pthread_mutex_unlock(&m->lock);
	if (ret)
		return monitor_reply__error(r, "%s", err);
	if (is_running(m))
		monitor_reply__printf(r, "set; applies to the next migration\n");
	return 0;
}

static int cmd_info_parameters(void *opaque, const char *args, struct monitor_reply *r)
{
	struct migration *m = opaque;
	char buf[2048];

	pthread_mutex_lock(&m->lock);
	migrate_params__format(&m->params, buf, sizeof(buf));
	pthread_mutex_unlock(&m->lock);
	monitor_reply__printf(r, "%s", buf);
	return 0;
}

int migration__register_monitor(struct migration *m, struct monitor *mon)
{
	int ret = 0;

	ret |= monitor__register(mon, "migrate", "URI", "migrate to tcp:HOST:PORT, or save to file:PATH",
				 cmd_migrate, m);
	ret |= monitor__register(mon, "migrate_cancel", "", "stop a running migration; the guest stays here",
				 cmd_migrate_cancel, m);
	ret |= monitor__register(mon, "info migrate", "", "status, rounds and progress of the migration",
				 cmd_info_migrate, m);
	ret |= monitor__register(mon, "migrate_set_parameter", "NAME VALUE",
				 "set a migration parameter", cmd_set_parameter, m);
	ret |= monitor__register(mon, "info migrate_parameters", "", "the migration parameters",
				 cmd_info_parameters, m);
	return ret ? -ENOSPC : 0;
}
