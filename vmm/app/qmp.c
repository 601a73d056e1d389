#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "unix_listen.h"
#include "migration.h"
#include "qmp_commands.h"
#include "vm.h"

#define QMP_MAX_CLIENTS 8
/* As the text monitor's: with every slot taken, a new client replaces the
 * one that has sent nothing for longest, if that is at least this long,
 * so idle connections cannot lock a management script out. */
#define QMP_IDLE_EVICT_US (5u * 1000000)
/* A request larger than this is refused and the client's buffer dropped. */
#define QMP_MAX_REQUEST (64 * 1024)

struct qmp_event {
	struct qmp_event *next;
	char *line;
};

struct qmp_client {
	int fd;
	struct qmp_session s;
	char *buf;
	size_t len;
	uint64_t last_input_us;		/* monotonic: connected, or last read */
};

struct qmp {
	pthread_mutex_t lock;		/* everything below but the clients */
	pthread_cond_t cond;		/* quit */
	struct vm *vm;
	struct migration *mig;
	bool ended;
	bool migrated;			/* the VM ended because it moved away */
	bool quit;
	bool quit_done;			/* a quit has done all it does */
	void (*on_quit)(void *ctx);	/* set before qmp__start */
	void *on_quit_ctx;
	bool events_on;
	struct qmp_event *head, **tail;
	/* Only the QMP thread touches these. */
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct qmp_client clients[QMP_MAX_CLIENTS];
	unsigned int nr_clients;
	int wake[2];			/* events queued, or stop */
	bool stop;
	pthread_t thread;
	bool started;
};

struct qmp *qmp__create(void)
{
	struct qmp *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->tail = &q->head;
	q->listen_fd = -1;
	q->wake[0] = q->wake[1] = -1;
	return q;
}

int qmp__listen(struct qmp *q, const char *spec, char *err, size_t errlen)
{
	const char *path = spec + 5;
	int fd;

	if (strncmp(spec, "unix:", 5) || !*path) {
		snprintf(err, errlen, "bad --qmp '%s': use unix:PATH", spec);
		return -EINVAL;
	}
	fd = unix_listen(path, "QMP", err, errlen);
	if (fd < 0)
		return fd;
	strcpy(q->path, path);
	q->listen_fd = fd;
	return 0;
}

/* --- events ------------------------------------------------------------ */

void qmp__emit(struct qmp *q, const char *name, json_t *data)
{
	struct timeval tv;
	struct qmp_event *e;
	json_t *ev;

	gettimeofday(&tv, NULL);
	ev = json_pack("{s:s, s:{s:I, s:I}}", "event", name, "timestamp",
		       "seconds", (json_int_t)tv.tv_sec, "microseconds", (json_int_t)tv.tv_usec);
	if (ev && data)
		json_object_set(ev, "data", data);
	json_decref(data);
	e = calloc(1, sizeof(*e));
	if (!ev || !e || !(e->line = json_dumps(ev, JSON_PRESERVE_ORDER))) {
		free(e);
		json_decref(ev);
		return;
	}
	json_decref(ev);
	pthread_mutex_lock(&q->lock);
	*q->tail = e;
	q->tail = &e->next;
	pthread_mutex_unlock(&q->lock);
	if (q->wake[1] >= 0 && write(q->wake[1], "e", 1) < 0)
		{ /* a full pipe already wakes the thread */ }
}

/* QEMU's MigrationStatus names for ours; stop-copy is QEMU's "device"
 * (the stop-and-copy: last pages and device state). */
static const char *qemu_status(enum migrate_status st)
{
	return st == MIGRATE_STATUS_STOP_COPY ? "device" : migrate_status__name(st);
}

static void on_migration_status(void *ctx, enum migrate_status st)
{
	struct qmp *q = ctx;

	if (qmp__events_enabled(q))
		qmp__emit(q, "MIGRATION", json_pack("{s:s}", "status", qemu_status(st)));
}

static void on_run_state(void *ctx, bool running)
{
	qmp__emit(ctx, running ? "RESUME" : "STOP", NULL);
}

/* --- what the commands act on ------------------------------------------ */

void qmp__set_migration(struct qmp *q, struct migration *m)
{
	pthread_mutex_lock(&q->lock);
	q->mig = m;
	pthread_mutex_unlock(&q->lock);
	migration__set_status_listener(m, on_migration_status, q);
}

void qmp__watch_incoming(struct qmp *q, struct migrate_stats *in)
{
	migrate_stats__set_listener(in, on_migration_status, q);
}

void qmp__set_vm(struct qmp *q, struct vm *vm)
{
	vm__set_run_listener(vm, on_run_state, q);
	pthread_mutex_lock(&q->lock);
	q->vm = vm;
	pthread_mutex_unlock(&q->lock);
}

struct vm *qmp__vm(struct qmp *q)
{
	struct vm *vm;

	pthread_mutex_lock(&q->lock);
	vm = q->vm;
	pthread_mutex_unlock(&q->lock);
	return vm;
}

struct migration *qmp__migration(struct qmp *q)
{
	struct migration *m;

	pthread_mutex_lock(&q->lock);
	m = q->mig;
	pthread_mutex_unlock(&q->lock);
	return m;
}

bool qmp__ended(struct qmp *q)
{
	bool ended;

	pthread_mutex_lock(&q->lock);
	ended = q->ended;
	pthread_mutex_unlock(&q->lock);
	return ended;
}

bool qmp__events_enabled(struct qmp *q)
{
	bool on;

	pthread_mutex_lock(&q->lock);
	on = q->events_on;
	pthread_mutex_unlock(&q->lock);
	return on;
}

void qmp__set_events_enabled(struct qmp *q, bool on)
{
	pthread_mutex_lock(&q->lock);
	q->events_on = on;
	pthread_mutex_unlock(&q->lock);
}

static json_t *shutdown_data(bool guest, const char *reason)
{
	return json_pack("{s:b, s:s}", "guest", guest, "reason", reason);
}

void qmp__quit(struct qmp *q, const char *reason)
{
	struct vm *vm;
	bool ended;

	pthread_mutex_lock(&q->lock);
	q->quit = true;		/* no guest SHUTDOWN from here on */
	ended = q->ended;
	vm = q->vm;
	pthread_mutex_unlock(&q->lock);
	/* QEMU says SHUTDOWN before the quit's reply. */
	qmp__emit(q, "SHUTDOWN", shutdown_data(false, reason));
	if (q->on_quit)
		q->on_quit(q->on_quit_ctx);
	else if (vm && !ended)
		vm__request_exit(vm, 0, "quit from QMP");
	/* Last: once the linger sees this, the main thread goes on to destroy
	 * q, and the text monitor's quit runs this on a thread qmp__destroy
	 * does not join; nothing here touches q after the unlock. */
	pthread_mutex_lock(&q->lock);
	q->quit_done = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void qmp__on_quit(struct qmp *q, void (*fn)(void *ctx), void *ctx)
{
	q->on_quit = fn;
	q->on_quit_ctx = ctx;
}

void qmp__vm_ended(struct qmp *q, int status)
{
	struct migration *m = qmp__migration(q);
	bool migrated, quit;

	/* A completing migration ends the VM just before its status leaves
	 * stop-copy: let it finish to know whether the guest moved away. */
	if (m && migration__status(m) == MIGRATE_STATUS_STOP_COPY)
		migration__wait(m);
	migrated = m && migration__moved_away(m);

	pthread_mutex_lock(&q->lock);
	q->ended = true;
	q->migrated = migrated;
	quit = q->quit;
	pthread_mutex_unlock(&q->lock);
	if (!quit && !migrated)
		qmp__emit(q, "SHUTDOWN", shutdown_data(true, status == VMM_EXIT_GUEST_CRASH ?
							  "guest-panic" : "guest-shutdown"));
}

void qmp__linger(struct qmp *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->migrated && !q->quit_done && q->started)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

/* --- requests ---------------------------------------------------------- */

static char *dump_and_free(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	return s;
}

char *qmp__greeting(struct qmp *q)
{
	int major = 0, minor = 0, micro = 0;

	sscanf(VMM_VERSION, "%d.%d.%d", &major, &minor, &micro);
	return dump_and_free(json_pack("{s:{s:{s:{s:i, s:i, s:i}, s:s}, s:[]}}", "QMP",
				       "version", "qemu", "micro", micro, "minor", minor,
				       "major", major, "package", "vmm " VMM_VERSION,
				       "capabilities"));
}

static json_t *error_reply(const char *cls, const char *desc)
{
	return json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
}

/* QEMU's checks of the request's shape, in its order and words. */
static const char *check_shape(json_t *req)
{
	const char *key;
	json_t *v;
	static char msg[128];

	if (!json_is_object(req))
		return "QMP input must be a JSON object";
	json_object_foreach(req, key, v) {
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			snprintf(msg, sizeof(msg), "QMP input member '%.64s' is unexpected", key);
			return msg;
		}
	}
	v = json_object_get(req, "execute");
	if (!v)
		return "QMP input lacks member 'execute'";
	if (!json_is_string(v))
		return "QMP input member 'execute' must be a string";
	v = json_object_get(req, "arguments");
	if (v && !json_is_object(v))
		return "QMP input member 'arguments' must be an object";
	return NULL;
}

static json_t *execute(struct qmp *q, struct qmp_session *s, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "execute"));
	json_t *args = json_object_get(req, "arguments");
	struct qmp_error e = { 0 };
	json_t *ret, *empty = NULL;

	if (!strcmp(name, "qmp_capabilities")) {
		if (s->negotiated)
			return error_reply("CommandNotFound", "Capabilities negotiation is "
					   "already complete, command ignored");
		if (args && json_object_size(args) &&
		    !(json_object_size(args) == 1 && json_is_array(json_object_get(args, "enable")) &&
		      !json_array_size(json_object_get(args, "enable"))))
			return error_reply("GenericError", "vmm offers no QMP capabilities");
		s->negotiated = true;
		return json_pack("{s:{}}", "return");
	}
	if (!s->negotiated)
		return error_reply("CommandNotFound",
				   "Expecting capabilities negotiation with 'qmp_capabilities'");
	if (!args)
		args = empty = json_object();
	ret = qmp_commands__run(q, name, args, &e);
	json_decref(empty);
	if (!ret)
		return error_reply(e.cls ? e.cls : "GenericError", e.desc);
	return json_pack("{s:o}", "return", ret);
}

static char *parse_error(const json_error_t *jerr)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "JSON parse error, %s", jerr->text);
	return dump_and_free(error_reply("GenericError", msg));
}

static char *reply_to(struct qmp *q, struct qmp_session *s, json_t *req)
{
	json_t *reply, *id;
	const char *bad;

	bad = check_shape(req);
	reply = bad ? error_reply("GenericError", bad) : execute(q, s, req);
	id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	if (reply && id)
		json_object_set(reply, "id", id);
	return dump_and_free(reply);
}

char *qmp__request(struct qmp *q, struct qmp_session *s, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(text, len, 0, &jerr);
	char *reply;

	if (!req)
		return parse_error(&jerr);
	reply = reply_to(q, s, req);
	json_decref(req);
	return reply;
}

/* --- clients and the thread -------------------------------------------- */

/* A client that stops reading has a second to drain its socket, then it
 * is dropped rather than stall every other client and the events. */
static int write_line(int fd, const char *line)
{
	size_t n = strlen(line), off = 0;
	char *msg = malloc(n + 2);
	int ret = 0;

	if (!msg)
		return -1;
	memcpy(msg, line, n);
	memcpy(msg + n, "\r\n", 2);
	n += 2;
	while (off < n && !ret) {
		ssize_t w = send(fd, msg + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (w > 0)
			off += w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && errno == EAGAIN && poll(&p, 1, 1000) == 1)
			continue;
		else
			ret = -1;
	}
	free(msg);
	return ret;
}

static void drop_client(struct qmp *q, unsigned int i)
{
	close(q->clients[i].fd);
	free(q->clients[i].buf);
	q->clients[i] = q->clients[--q->nr_clients];
}

/* The client idle longest, if it may make room for a new one; -1 if none. */
static int evictable_client(const struct qmp *q, uint64_t now)
{
	int best = -1;
	unsigned int i;

	for (i = 0; i < q->nr_clients; i++) {
		const struct qmp_client *c = &q->clients[i];

		if (now - c->last_input_us < QMP_IDLE_EVICT_US)
			continue;
		if (best < 0 || c->last_input_us < q->clients[best].last_input_us)
			best = (int)i;
	}
	return best;
}

/* Both are told why, in QMP's error form (no id: nothing asked for it). */
static const char busy_error[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				 "\"too many QMP clients, none idle\"}}";
static const char evicted_error[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				    "\"dropped: idle, and a new client needs the slot\"}}";

static void add_client(struct qmp *q, int fd)
{
	uint64_t now = clock__mono_us();
	char *greeting;
	int victim;

	if (q->nr_clients == QMP_MAX_CLIENTS) {
		victim = evictable_client(q, now);
		if (victim < 0) {
			if (write_line(fd, busy_error))
				{ /* turned away either way */ }
			close(fd);
			log_warn("QMP: %d clients, none idle; one turned away", QMP_MAX_CLIENTS);
			return;
		}
		if (write_line(q->clients[victim].fd, evicted_error))
			{ /* dropped either way */ }
		log_info("QMP: an idle client made room for a new one");
		drop_client(q, (unsigned int)victim);
	}
	greeting = qmp__greeting(q);
	if (!greeting || write_line(fd, greeting)) {
		free(greeting);
		close(fd);
		return;
	}
	free(greeting);
	q->clients[q->nr_clients++] = (struct qmp_client){ .fd = fd, .last_input_us = now };
}

/* Runs every complete request in the client's buffer, in order. Returns
 * -1 when the client is to be dropped. */
static int run_buffer(struct qmp *q, struct qmp_client *c)
{
	json_error_t jerr;
	size_t off = 0;
	int ret = 0;

	while (!ret) {
		char *reply = NULL;
		json_t *req;

		off += strspn(c->buf + off, " \t\r\n");
		if (off == c->len)
			break;
		req = json_loadb(c->buf + off, c->len - off, JSON_DISABLE_EOF_CHECK, &jerr);
		if (req) {
			off += jerr.position;
			reply = reply_to(q, &c->s, req);
			json_decref(req);
		} else if (json_error_code(&jerr) == json_error_premature_end_of_input &&
			   c->len < QMP_MAX_REQUEST) {
			break;
		} else {
			char *nl = memchr(c->buf + off, '\n', c->len - off);

			/* Skip the rest of the line the error is on. */
			off = nl ? (size_t)(nl - c->buf) + 1 : c->len;
			reply = parse_error(&jerr);
		}
		ret = reply ? write_line(c->fd, reply) : 0;
		free(reply);
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	c->buf[c->len] = '\0';
	return ret;
}

static int serve_client(struct qmp *q, struct qmp_client *c)
{
	char *p = realloc(c->buf, c->len + 4096 + 1);
	ssize_t n;

	if (!p)
		return -1;
	c->buf = p;
	n = read(c->fd, c->buf + c->len, 4096);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return -1;
	c->last_input_us = clock__mono_us();
	c->len += n;
	c->buf[c->len] = '\0';
	return run_buffer(q, c);
}

/* Writes every queued event to every client that has negotiated. */
static void flush_events(struct qmp *q)
{
	struct qmp_event *e, *next;
	unsigned int i;

	pthread_mutex_lock(&q->lock);
	e = q->head;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&q->lock);
	for (; e; e = next) {
		next = e->next;
		for (i = q->nr_clients; i-- > 0;)
			if (q->clients[i].s.negotiated && write_line(q->clients[i].fd, e->line))
				drop_client(q, i);
		free(e->line);
		free(e);
	}
}

static void *qmp_thread(void *arg)
{
	struct qmp *q = arg;
	struct pollfd pfd[QMP_MAX_CLIENTS + 2];
	unsigned int i, n;

	pthread_setname_np(pthread_self(), "qmp");
	while (!__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE)) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = q->wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = q->listen_fd, .events = POLLIN };
		for (i = 0; i < q->nr_clients; i++)
			pfd[n++] = (struct pollfd){ .fd = q->clients[i].fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("QMP: poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[0].revents & POLLIN) {
			char buf[64];

			while (read(q->wake[0], buf, sizeof(buf)) > 0)
				;	/* events are in the queue, or stop is set */
		}
		/* Backwards: drop_client moves the last one down. */
		for (i = q->nr_clients; i-- > 0;)
			if (pfd[2 + i].revents && serve_client(q, &q->clients[i]))
				drop_client(q, i);
		flush_events(q);
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				add_client(q, fd);
		}
	}
	flush_events(q);
	return NULL;
}

int qmp__start(struct qmp *q)
{
	int ret;

	if (q->listen_fd < 0)
		return 0;
	if (pipe2(q->wake, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	ret = pthread_create(&q->thread, NULL, qmp_thread, q);
	if (ret)
		return -ret;
	pthread_mutex_lock(&q->lock);
	q->started = true;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void qmp__destroy(struct qmp *q)
{
	struct qmp_event *e, *next;

	if (!q)
		return;
	/* A migration thread may still be ending (quit during a migration)
	 * and tell its status, or resume the guest, after this: neither may
	 * reach q once it is freed. Both listeners are called under the lock
	 * their setter takes, so none is running once these return. */
	if (q->mig)
		migration__set_status_listener(q->mig, NULL, NULL);
	if (q->vm)
		vm__set_run_listener(q->vm, NULL, NULL);
	if (q->started) {
		__atomic_store_n(&q->stop, true, __ATOMIC_RELEASE);
		if (write(q->wake[1], "s", 1) < 0)
			log_warn("QMP: cannot signal its thread to stop");
		pthread_join(q->thread, NULL);
	}
	while (q->nr_clients)
		drop_client(q, q->nr_clients - 1);
	for (e = q->head; e; e = next) {
		next = e->next;
		free(e->line);
		free(e);
	}
	if (q->listen_fd >= 0) {
		close(q->listen_fd);
		unlink(q->path);
	}
	if (q->wake[0] >= 0) {
		close(q->wake[0]);
		close(q->wake[1]);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
