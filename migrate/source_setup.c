/* The setup phase of the migration thread: connect, the handshake (the
 * destination checks the configuration before any RAM moves), dirty
 * logging on, every page pending for round 0. */
#include "migrate_source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "migration.h"
#include "migration_internal.h"
#include "tls_creds.h"
#include "tls_tunnel.h"
#include "vm.h"
#include "vm_sections.h"
#include "ram_zstd.h"
#include "xbzrle_cache.h"

#define CONNECT_TIMEOUT_MS 10000
/* A destination that stops reading or answering for this long has failed. */
#define PEER_TIMEOUT_MS 30000

static int handshake(struct source_run *r)
{
	struct vm_config *cfg = calloc(1, sizeof(*cfg));
	struct section sec;
	struct wbuf b;
	char reason[STREAM_REASON_MAX + 1], why[256];
	int ret;

	wbuf__init(&b);
	section__init(&sec);
	if (!cfg)
		return source__fail(r, -ENOMEM, "out of memory");
	ret = vm_sections__describe(r->vm, cfg, r->err, sizeof(r->err));
	if (ret)
		goto out;
	source_blk__describe(r, cfg);
	ret = vm_config__encode(cfg, &b);
	if (ret) {
		source__fail(r, ret, "encoding the configuration: %s", strerror(-ret));
		goto out;
	}
	ret = stream__write_preamble(&r->s);
	if (ret) {
		source__fail(r, ret, "sending the stream preamble: %s", strerror(-ret));
		goto out;
	}
	ret = source__send(r, SECTION_CONFIG, b.data, b.len);
	if (ret || r->uri.kind != TRANSPORT_TCP)
		goto out;
	/* The destination checks the configuration before any RAM is sent;
	 * its answer is due within PEER_TIMEOUT_MS in all, however it
	 * trickles in. */
	r->s.wait.deadline_us = source__earliest(r->deadline_us,
						 clock__mono_us() + PEER_TIMEOUT_MS * 1000ULL);
	ret = stream__read_preamble(&r->s, why, sizeof(why));
	if (!ret)
		ret = stream__recv(&r->s, &sec, why, sizeof(why));
	r->s.wait.deadline_us = r->deadline_us;
	if (ret == -ETIMEDOUT) {
		source__fail(r, ret, "waiting for the destination to accept: no answer in time (%s)",
			     r->deadline_us && clock__mono_us() >= r->deadline_us ?
			     "the migration's timeout" : "30 s");
		goto out;
	}
	if (ret) {
		source__fail(r, ret, "waiting for the destination to accept: %s", why);
		goto out;
	}
	if (sec.type == SECTION_REFUSE) {
		stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason), why, sizeof(why));
		ret = source__fail(r, -ECONNREFUSED, "destination refused: %s", reason);
	} else if (sec.type != SECTION_ACCEPT) {
		ret = source__fail(r, -EPROTO, "destination answered %s instead of ACCEPT",
			   stream__type_name(sec.type));
	}
out:
	section__free(&sec);
	wbuf__free(&b);
	free(cfg);
	return ret;
}

/* The secret this migration uses: the secret-file parameter's, read now,
 * else --secret-file's (read at start); none is NULL. A secret read here
 * is r->own_secret, wiped and freed by source__forget_secret. */
static int pick_secret(struct source_run *r)
{
	char why[384];
	int ret;

	r->secret = r->m->secret;
	if (r->uri.kind != TRANSPORT_TCP || !r->params.secret_file[0])
		goto out;
	r->own_secret = malloc(sizeof(*r->own_secret));
	if (!r->own_secret)
		return source__fail(r, -ENOMEM, "out of memory");
	ret = auth__load_secret(r->params.secret_file, r->own_secret, why, sizeof(why));
	if (ret)
		return source__fail(r, ret, "%s", why);
	r->secret = r->own_secret;
out:
	if (r->secret && !r->secret->len)
		r->secret = NULL;
	return 0;
}

/* The certificates likewise: the tls-creds parameter's, loaded now, else
 * --tls-creds's; a file: target needs none. Given, a tcp: target runs
 * TLS, as QEMU's tls-creds makes it. */
static int pick_creds(struct source_run *r)
{
	char why[512];
	int ret;

	r->creds = NULL;
	if (r->uri.kind != TRANSPORT_TCP)
		return 0;
	r->creds = r->m->creds;
	if (r->params.tls_creds[0]) {
		ret = tls_creds__load(r->params.tls_creds, TLS_CLIENT, &r->own_creds, why,
				      sizeof(why));
		if (ret)
			return source__fail(r, ret, "%s", why);
		r->creds = r->own_creds;
	}
	if (r->creds && !r->uri.tls) {
		r->uri.tls = true;
		log_info("tls-creds given: the tcp: migration runs TLS, as tls: does");
	}
	return 0;
}

void source__forget_secret(struct source_run *r)
{
	tls_creds__free(r->own_creds);
	r->own_creds = NULL;
	r->creds = NULL;
	if (r->own_secret) {
		auth__clear_secret(r->own_secret);
		free(r->own_secret);
		r->own_secret = NULL;
	}
	r->secret = NULL;
}

/* A bound on the steps before the stream: the destination answers within
 * PEER_TIMEOUT_MS, and the whole migration's deadline holds. */
static void peer_deadline(struct source_run *r)
{
	r->s.wait.deadline_us = source__earliest(r->deadline_us,
						 clock__mono_us() + PEER_TIMEOUT_MS * 1000ULL);
}

/* tls: the TCP connection becomes a TLS tunnel keyed by the secret or the
 * certificates; the stream gets the tunnel's plain end. */
static int start_tls(struct source_run *r, int tcp_fd)
{
	struct tls_keys keys = {
		.secret = r->secret, .creds = r->creds,
		.peer_name = tls_creds__peer_name(r->params.tls_hostname, r->uri.host),
	};
	char why[384];
	int fd;

	r->s.wait.cancel_fd = r->m->cancel_fd;
	peer_deadline(r);
	fd = tls_tunnel__start(tcp_fd, TLS_CLIENT, &keys, &r->s.wait, why, sizeof(why));
	if (fd < 0) {
		close(tcp_fd);
		if (fd == -ECANCELED)
			return source__fail(r, fd, "cancelled");
		return source__fail(r, fd, "%s; nothing of the VM was sent", why);
	}
	return fd;
}

/* Before any byte of the stream: both sides prove the secret, the
 * destination last, so nothing of the VM (not even its configuration)
 * reaches a destination that does not know it. */
static int authenticate(struct source_run *r)
{
	char why[384];
	int ret;

	if (r->uri.kind != TRANSPORT_TCP || !r->secret)
		return 0;
	peer_deadline(r);
	ret = auth__source(r->s.fd, r->secret, &r->s.wait, why, sizeof(why));
	r->s.wait.deadline_us = r->deadline_us;
	if (ret == -ECANCELED)
		source__fail(r, ret, "cancelled");
	else if (ret)
		source__fail(r, ret, "authentication with the destination failed: %s; nothing of "
			     "the VM was sent", why);
	return ret;
}

/* The xbzrle cache, before anything else: a migration that cannot have
 * the memory it was told to use fails at once. */
static int create_xbzrle(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	int ret;

	if (!r->params.caps[MIGRATE_CAP_XBZRLE])
		return 0;
	r->xbzrle = malloc(sizeof(*r->xbzrle));
	if (!r->xbzrle)
		return source__fail(r, -ENOMEM, "out of memory for the xbzrle cache");
	ret = xbzrle_cache__create(r->xbzrle, r->params.xbzrle_cache_size);
	if (ret) {
		free(r->xbzrle);
		r->xbzrle = NULL;
		return source__fail(r, ret, "creating the xbzrle cache of %llu bytes: %s",
				    (unsigned long long)r->params.xbzrle_cache_size, strerror(-ret));
	}
	xbzrle_cache__attach(r->xbzrle, &r->batch);
	migrate_stats__lock(st);
	st->xbzrle_on = true;
	st->xbzrle_cache_size = r->xbzrle->size;
	st->xbzrle_memory = xbzrle_cache__memory(r->xbzrle);
	migrate_stats__unlock(st);
	return 0;
}

/* The zstd compressor and its buffers, before anything else as well. */
static int create_zstd(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	int ret;

	if (r->params.compression != MIGRATE_COMPRESSION_ZSTD)
		return 0;
	r->zstd = malloc(sizeof(*r->zstd));
	if (!r->zstd)
		return source__fail(r, -ENOMEM, "out of memory for zstd");
	ret = ram_zstd__create(r->zstd, (int)r->params.zstd_level);
	if (ret) {
		free(r->zstd);
		r->zstd = NULL;
		return source__fail(r, ret, "setting up zstd at level %u: %s",
				    r->params.zstd_level, strerror(-ret));
	}
	migrate_stats__lock(st);
	st->zstd_on = true;
	st->zstd_level = r->params.zstd_level;
	st->zstd_memory = ram_zstd__memory(r->zstd);
	migrate_stats__unlock(st);
	return 0;
}

/* A save to a regular file puts every page at its own offset (holes for
 * zero pages): a compressed frame has no place there, so compression is
 * off for it, and the user is told once. */
static void drop_zstd(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;

	log_info("a save to a regular file keeps pages at fixed offsets: multifd-compression "
		 "does not apply to it");
	ram_zstd__destroy(r->zstd);
	free(r->zstd);
	r->zstd = NULL;
	migrate_stats__lock(st);
	st->zstd_on = false;
	st->zstd_memory = 0;
	migrate_stats__unlock(st);
}

/* Connects, checks with the destination, turns dirty logging on and marks
 * every page pending; the status goes from setup to active. */
int source__setup(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	char why[256];
	int fd, ret;

	if (r->params.timeout_s)
		r->deadline_us = st->start_mono_us + r->params.timeout_s * 1000000ULL;
	ret = migration__check_capabilities(r->m, &r->params, why, sizeof(why));
	if (ret)
		return source__fail(r, ret, "%s", why);
	ret = pick_secret(r);
	if (!ret)
		ret = pick_creds(r);
	if (ret)
		return ret;
	if (r->uri.tls && !r->secret && !r->creds)
		return source__fail(r, -EINVAL, "tls: needs a secret (--secret-file, or the "
				    "secret-file parameter) or certificates (--tls-creds, or the "
				    "tls-creds parameter): it is the TLS key");
	ret = create_xbzrle(r);
	if (!ret)
		ret = create_zstd(r);
	if (!ret)
		ret = source_blk__setup(r);
	if (ret)
		return ret;
	fd = transport__open_source(&r->uri, CONNECT_TIMEOUT_MS, r->m->cancel_fd, r->err,
				    sizeof(r->err));
	if (fd < 0)
		return source__cancelled(r) ? source__fail(r, -ECANCELED, "cancelled") : fd;
	if (r->uri.tls) {
		fd = start_tls(r, fd);
		if (fd < 0)
			return fd;
	}
	stream__init(&r->s, fd, STREAM_SOURCE);
	r->s.is_socket = r->uri.kind == TRANSPORT_TCP;
	r->s.wait.cancel_fd = r->m->cancel_fd;
	r->s.wait.deadline_us = r->deadline_us;
	/* A destination that takes nothing for this long has failed; a
	 * disk may be slow, and a file's reader is the user's business. */
	r->s.wait.stall_ms = r->s.is_socket ? PEER_TIMEOUT_MS : 0;
	pthread_mutex_lock(&r->m->lock);
	r->m->fd = fd;
	pthread_mutex_unlock(&r->m->lock);
	/* A cancel before the fd was published could not shut it down. */
	if (source__cancelled(r))
		return source__fail(r, -ECANCELED, "cancelled");

	ret = authenticate(r);
	if (!ret && r->uri.kind == TRANSPORT_FILE)
		ret = source_file__open(r);
	if (!ret && r->mapped && r->zstd)
		drop_zstd(r);
	if (!ret)
		ret = handshake(r);
	if (ret)
		return ret;
	ret = dirty_log__start(&r->log, r->vm,
			       r->m->force_plain_log, r->err, sizeof(r->err));
	if (ret)
		return ret;
	r->log_read_mono_us = clock__mono_us();
	/* Before the bulk pass reads a block: a write it misses is in the
	 * bitmap. */
	source_blk__track(r);
	migrate_stats__lock(st);
	snprintf(st->dirty_log_mode, sizeof(st->dirty_log_mode), "%s", dirty_log__mode_name(&r->log));
	st->setup_us = clock__mono_us() - st->start_mono_us;
	st->device_state_bytes = vm_sections__state_estimate(r->vm);
	migrate_stats__unlock(st);
	source__move(r, MIGRATE_STATUS_ACTIVE);
	r->limit_start_us = clock__mono_us();
	r->limit_start_bytes = r->s.bytes_out;
	dirty_log__mark_all(&r->log);
	return 0;
}
