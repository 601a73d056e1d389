#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "unix_listen.h"
#include "vm.h"

#define MONITOR_MAX_CMDS 48
#define MONITOR_MAX_CLIENTS 8
#define MONITOR_LINE_MAX 4096
/* Replies a client has not read yet: past this it is dropped, so one
 * client that stops reading can neither block the others nor grow us. */
#define MONITOR_OUT_MAX (256u << 10)
/* With every slot taken, a new client replaces the one idle longest if it
 * has sent nothing for this long, so idle connections cannot lock the
 * operator out. */
#define MONITOR_IDLE_EVICT_US (5u * 1000000)

struct monitor_cmd {
	const char *name;
	const char *args_help;
	const char *help;
	monitor_cmd_fn fn;
	void *opaque;
};

struct client {
	int in_fd;
	int out_fd;
	bool stdio;		/* out_fd is our stdout: written blocking */
	uint64_t last_input_us;
	char *out;		/* replies not yet written (sockets only) */
	size_t out_len;
	size_t len;
	bool overflow;		/* the current line is too long: drop it */
	bool nul;		/* the current line holds a NUL byte */
	char line[MONITOR_LINE_MAX];
};

struct monitor {
	struct vm *vm;
	struct monitor_cmd cmds[MONITOR_MAX_CMDS];
	unsigned int nr_cmds;
	int listen_fd;
	bool stdio;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client clients[MONITOR_MAX_CLIENTS];
	unsigned int nr_clients;
	int stop_pipe[2];
	pthread_t thread;
	bool started;
	bool vm_arriving;	/* atomic: see monitor__set_vm_arriving */
};

void monitor_reply__printf(struct monitor_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = r->cap - r->len;

		va_start(ap, fmt);
		n = vsnprintf(r->buf ? r->buf + r->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			r->len += n;
			return;
		}
		size_t cap = (r->cap ? r->cap * 2 : 1024) + n;
		char *p = realloc(r->buf, cap);

		if (!p)
			return;
		r->buf = p;
		r->cap = cap;
	}
}

int monitor_reply__error(struct monitor_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -1;
}

void monitor_reply__free(struct monitor_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int monitor__register(struct monitor *m, const char *name, const char *args_help,
		      const char *help, monitor_cmd_fn fn, void *opaque)
{
	if (m->nr_cmds == MONITOR_MAX_CMDS)
		return -ENOSPC;
	m->cmds[m->nr_cmds++] = (struct monitor_cmd){ name, args_help, help, fn, opaque };
	return 0;
}

/* Matches a (possibly multi-word) command name at the start of line; returns
 * the length matched or 0. Words are separated by runs of blanks. */
static size_t match_name(const char *name, const char *line)
{
	const char *l = line;

	while (*name) {
		if (*name == ' ') {
			if (!isblank((unsigned char)*l))
				return 0;
			while (isblank((unsigned char)*l))
				l++;
			name++;
			continue;
		}
		if (*name++ != *l++)
			return 0;
	}
	if (*l && !isblank((unsigned char)*l))
		return 0;
	return (size_t)(l - line);
}

int monitor__execute(struct monitor *m, const char *line, struct monitor_reply *r)
{
	const struct monitor_cmd *best = NULL;
	size_t best_len = 0, i;
	const char *args;
	char *end;
	char *copy;
	int ret;

	while (isblank((unsigned char)*line))
		line++;
	if (!*line)
		return monitor_reply__error(r, "empty command (try 'help')");
	for (i = 0; i < m->nr_cmds; i++) {
		size_t n = match_name(m->cmds[i].name, line);

		if (n > best_len) {
			best = &m->cmds[i];
			best_len = n;
		}
	}
	if (!best) {
		size_t w = strcspn(line, " \t");

		return monitor_reply__error(r, "unknown command '%.*s' (try 'help')", (int)w, line);
	}
	args = line + best_len;
	while (isblank((unsigned char)*args))
		args++;
	copy = strdup(args);
	if (!copy)
		return monitor_reply__error(r, "out of memory");
	end = copy + strlen(copy);
	while (end > copy && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!best->args_help[0] && *copy) {
		ret = monitor_reply__error(r, "'%s' takes no arguments", best->name);
	} else {
		ret = best->fn(best->opaque, copy, r);
	}
	free(copy);
	return ret;
}

static int cmd_help(void *opaque, const char *args, struct monitor_reply *r)
{
	struct monitor *m = opaque;
	unsigned int i;

	for (i = 0; i < m->nr_cmds; i++) {
		char usage[96];

		snprintf(usage, sizeof(usage), "%s%s%s", m->cmds[i].name,
			 m->cmds[i].args_help[0] ? " " : "", m->cmds[i].args_help);
		monitor_reply__printf(r, "%-36s %s\n", usage, m->cmds[i].help);
	}
	return 0;
}

/* The VM, or NULL with the reply's error set while a destination's guest
 * is still arriving (the incoming side is building it: hands off). */
static struct vm *ready_vm(struct monitor *m, struct monitor_reply *r)
{
	if (__atomic_load_n(&m->vm_arriving, __ATOMIC_ACQUIRE)) {
		monitor_reply__error(r, "the guest is still arriving (an incoming migration); "
				     "'info migrate' shows it, 'quit' ends the wait");
		return NULL;
	}
	return m->vm;
}

static int cmd_info_status(void *opaque, const char *args, struct monitor_reply *r)
{
	struct monitor *m = opaque;

	if (__atomic_load_n(&m->vm_arriving, __ATOMIC_ACQUIRE))
		monitor_reply__printf(r, "VM status: inmigrate (the guest is arriving)\n");
	else
		monitor_reply__printf(r, "VM status: %s\n",
				      vm__is_paused(m->vm) ? "paused" : "running");
	return 0;
}

static int cmd_stop(void *opaque, const char *args, struct monitor_reply *r)
{
	struct vm *vm = ready_vm(opaque, r);

	if (!vm)
		return -1;
	vm__user_stop(vm);
	return 0;
}

static int cmd_cont(void *opaque, const char *args, struct monitor_reply *r)
{
	struct vm *vm = ready_vm(opaque, r);

	if (!vm)
		return -1;
	if (vm__user_cont(vm))
		return monitor_reply__error(r, "the VM stays paused: a migration's stop-and-copy "
					    "holds it");
	return 0;
}

static int cmd_info_registers(void *opaque, const char *args, struct monitor_reply *r)
{
	struct vm *vm = ready_vm(opaque, r);
	unsigned int first = 0, last, i;
	char buf[1536];

	if (!vm)
		return -1;
	last = vm->nr_cpus - 1;
	if (*args) {
		char *end;
		unsigned long n = strtoul(args, &end, 10);

		if (!isdigit((unsigned char)*args) || *end || n >= vm->nr_cpus)
			return monitor_reply__error(r, "no vCPU '%s' (this VM has vCPUs 0..%u)",
						    args, vm->nr_cpus - 1);
		first = last = (unsigned int)n;
	}
	/* Registers are only meaningful, and KVM only hands them out without
	 * blocking, while the vCPU is outside KVM_RUN. */
	vm__pause(vm);
	for (i = first; i <= last; i++) {
		if (vm__format_registers(vm, i, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "vCPU %u: registers unavailable", i);
		monitor_reply__printf(r, "%s\n", buf);
	}
	vm__resume(vm);
	return 0;
}

void monitor__set_vm_arriving(struct monitor *m, bool arriving)
{
	__atomic_store_n(&m->vm_arriving, arriving, __ATOMIC_RELEASE);
}

struct monitor *monitor__create(struct vm *vm)
{
	struct monitor *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->vm = vm;
	m->listen_fd = -1;
	m->stop_pipe[0] = m->stop_pipe[1] = -1;
	monitor__register(m, "help", "", "list the commands", cmd_help, m);
	monitor__register(m, "info status", "", "running or paused", cmd_info_status, m);
	monitor__register(m, "info registers", "[CPU]", "registers of every vCPU, or of one",
			  cmd_info_registers, m);
	monitor__register(m, "stop", "", "pause every vCPU", cmd_stop, m);
	monitor__register(m, "cont", "", "resume the vCPUs", cmd_cont, m);
	return m;
}

static int listen_unix(struct monitor *m, const char *path, char *err, size_t errlen)
{
	int fd = unix_listen(path, "monitor", err, errlen);

	if (fd < 0)
		return fd;
	strcpy(m->path, path);
	m->listen_fd = fd;
	return 0;
}

int monitor__listen(struct monitor *m, const char *spec, char *err, size_t errlen)
{
	if (!strcmp(spec, "stdio")) {
		m->stdio = true;
		return 0;
	}
	if (!strncmp(spec, "unix:", 5) && spec[5])
		return listen_unix(m, spec + 5, err, errlen);
	snprintf(err, errlen, "bad monitor '%s': use unix:PATH or stdio", spec);
	return -EINVAL;
}

static void drop_client(struct monitor *m, unsigned int i)
{
	struct client *c = &m->clients[i];

	if (c->in_fd > STDERR_FILENO)
		close(c->in_fd);
	free(c->out);
	m->clients[i] = m->clients[--m->nr_clients];
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

/* Writes what the socket takes now without waiting; keeps the rest for
 * POLLOUT. Returns -1 when the client is to be dropped. */
static int flush_client(struct client *c)
{
	while (c->out_len) {
		ssize_t w = send(c->out_fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	return 0;
}

static int client_send(struct client *c, const char *p, size_t n)
{
	char *grown;

	if (c->stdio)
		return write_all(c->out_fd, p, n);
	if (c->out_len + n > MONITOR_OUT_MAX) {
		log_warn("monitor: a client that does not read its replies was dropped "
			 "(%zu bytes waiting)", c->out_len);
		return -1;
	}
	grown = realloc(c->out, c->out_len + n);
	if (!grown)
		return -1;
	c->out = grown;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return flush_client(c);
}

/* The client idle longest, if it may make room for a new one; -1 if none. */
static int evictable_client(const struct monitor *m, uint64_t now)
{
	int best = -1;
	unsigned int i;

	for (i = 0; i < m->nr_clients; i++) {
		const struct client *c = &m->clients[i];

		if (c->stdio || now - c->last_input_us < MONITOR_IDLE_EVICT_US)
			continue;
		if (best < 0 || c->last_input_us < m->clients[best].last_input_us)
			best = (int)i;
	}
	return best;
}

static void add_client(struct monitor *m, int in_fd, int out_fd)
{
	uint64_t now = clock__mono_us();
	bool stdio = in_fd == STDIN_FILENO;

	if (m->nr_clients == MONITOR_MAX_CLIENTS) {
		static const char busy[] = "error: too many monitor clients, none idle\n";
		static const char idle[] = "error: dropped: idle, and a new client needs the slot\n";
		int victim = evictable_client(m, now);

		if (victim < 0) {
			if (send(out_fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				{ /* the client is turned away either way */ }
			close(in_fd);
			return;
		}
		client_send(&m->clients[victim], idle, sizeof(idle) - 1);
		log_info("monitor: an idle client made room for a new one");
		drop_client(m, (unsigned int)victim);
	}
	m->clients[m->nr_clients++] = (struct client){
		.in_fd = in_fd, .out_fd = out_fd, .stdio = stdio, .last_input_us = now,
	};
}

static int run_line(struct monitor *m, struct client *c, const char *line)
{
	struct monitor_reply r = { 0 };
	int ret;

	ret = monitor__execute(m, line, &r);
	if (ret)
		monitor_reply__printf(&r, "error: %s\n", r.error);
	else
		monitor_reply__printf(&r, "ok\n");
	ret = r.buf ? client_send(c, r.buf, r.len) : -1;
	monitor_reply__free(&r);
	return ret;
}

/* Every line gets exactly one status line, whatever it holds. */
static int end_line(struct monitor *m, struct client *c)
{
	static const char too_long[] = "error: line too long\n";
	static const char nul[] = "error: the line holds a NUL byte\n";
	static const char ok[] = "ok\n";
	int ret;

	c->line[c->len] = '\0';
	if (c->len && c->line[c->len - 1] == '\r')
		c->line[c->len - 1] = '\0';
	if (c->overflow)
		ret = client_send(c, too_long, sizeof(too_long) - 1);
	else if (c->nul)
		ret = client_send(c, nul, sizeof(nul) - 1);
	else if (!c->line[0])
		ret = client_send(c, ok, sizeof(ok) - 1);
	else
		ret = run_line(m, c, c->line);
	c->len = 0;
	c->overflow = c->nul = false;
	return ret;
}

/* Returns -1 when the client is gone. */
static int serve_client(struct monitor *m, struct client *c)
{
	char buf[1024];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));
	ssize_t i;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	c->last_input_us = clock__mono_us();
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (end_line(m, c))
				return -1;
			continue;
		}
		if (buf[i] == '\0')
			c->nul = true;
		if (c->len < sizeof(c->line) - 1)
			c->line[c->len++] = buf[i];
		else
			c->overflow = true;
	}
	return 0;
}

static void *monitor_thread(void *arg)
{
	struct monitor *m = arg;
	struct pollfd pfd[MONITOR_MAX_CLIENTS + 2];
	unsigned int i, n;

	pthread_setname_np(pthread_self(), "monitor");
	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = m->stop_pipe[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
		/* A client with replies waiting is not read until they are
		 * out: what it sends meanwhile waits in its socket. */
		for (i = 0; i < m->nr_clients; i++)
			pfd[n++] = m->clients[i].out_len ?
				(struct pollfd){ .fd = m->clients[i].out_fd, .events = POLLOUT } :
				(struct pollfd){ .fd = m->clients[i].in_fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("monitor: poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[0].revents)
			return NULL;
		/* Walk clients backwards: drop_client moves the last one down. */
		for (i = m->nr_clients; i-- > 0;) {
			struct client *c = &m->clients[i];
			short ev = pfd[2 + i].revents;

			if (!ev)
				continue;
			if (c->out_len ? (ev & (POLLERR | POLLHUP)) || flush_client(c) :
					 serve_client(m, c))
				drop_client(m, i);
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				add_client(m, fd, fd);
		}
	}
}

int monitor__start(struct monitor *m)
{
	int ret;

	if (m->listen_fd < 0 && !m->stdio)
		return 0;
	if (pipe2(m->stop_pipe, O_CLOEXEC))
		return -errno;
	if (m->stdio)
		add_client(m, STDIN_FILENO, STDOUT_FILENO);
	ret = pthread_create(&m->thread, NULL, monitor_thread, m);
	if (ret)
		return -ret;
	m->started = true;
	return 0;
}

void monitor__destroy(struct monitor *m)
{
	if (!m)
		return;
	if (m->started) {
		if (write(m->stop_pipe[1], "x", 1) < 0)
			log_warn("monitor: cannot signal its thread to stop");
		pthread_join(m->thread, NULL);
	}
	while (m->nr_clients)
		drop_client(m, m->nr_clients - 1);
	if (m->listen_fd >= 0) {
		close(m->listen_fd);
		unlink(m->path);
	}
	if (m->stop_pipe[0] >= 0) {
		close(m->stop_pipe[0]);
		close(m->stop_pipe[1]);
	}
	free(m);
}
