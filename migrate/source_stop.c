/* The end of the migration thread's work: stop-and-copy (pause the guest,
 * the last dirty pages, the VM, vCPU and device state, END) and the
 * switchover (the destination's READY, our GO, its RESUMED; or the file
 * safely on disk). */
#include "migrate_source.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "migration_internal.h"
#include "vm.h"
#include "vm_sections.h"

/* "Carried": what may stay queued, about half a millisecond at 1 Gbit/s. */
#define LINK_DRAINED_BYTES (64u << 10)
/* The wait's bound: twice the queue's time at the last round's rate and
 * this much more, so that a peer that stops reading costs little. */
#define LINK_DRAIN_SLACK_US 10000u

uint64_t source__link_queued(struct source_run *r)
{
	int64_t n;

	if (r->uri.kind != TRANSPORT_TCP)
		return 0;
	n = transport__queued_bytes(r->s.fd);
	return n > 0 ? (uint64_t)n : 0;
}

/* How long the pause may wait for the destination to apply the rounds
 * before it: the downtime limit (a destination further behind than that
 * would have cost more), or this without one. */
#define DEST_WAIT_DEFAULT_US 300000u

/* The kernel's queue: bounded, and it gives up quietly (what is still
 * queued then crosses inside the downtime, as without the wait). */
static void drain_kernel_queue(struct source_run *r)
{
	uint64_t t0 = clock__mono_us(), until, now, queued = r->link_queued;

	if (queued <= LINK_DRAINED_BYTES || !(r->last_link_bps > 0))
		return;
	until = t0 + (uint64_t)((double)queued * 2e6 / r->last_link_bps) + LINK_DRAIN_SLACK_US;
	for (now = t0; now < until && queued > LINK_DRAINED_BYTES; now = clock__mono_us()) {
		if (source__cancelled(r))
			break;
		/* The time the rest needs at that rate, in steps of at most
		 * a millisecond: a few wake-ups, never a spin. */
		usleep((useconds_t)(queued * 1e6 / r->last_link_bps > 1000 ? 1000 :
				   queued * 1e6 / r->last_link_bps + 1));
		queued = source__link_queued(r);
	}
}

/* Before the pause, the guest still running (when it pays, see
 * policy__drain_pays): what the pre-copy rounds sent and the destination
 * has not yet read would be read inside the downtime, after the pause
 * and before the last pages. First the kernel's queue on this side, then
 * (stream 3.5) the destination's ROUND_DONE of the last round: its own
 * backlog, which no queue here shows. */
static int drain_link(struct source_run *r, uint32_t rounds)
{
	uint64_t t0 = clock__mono_us(), limit_us;
	int ret;

	if (r->drain_link)
		drain_kernel_queue(r);
	limit_us = r->params.downtime_limit_ms ? r->params.downtime_limit_ms * 1000 :
						 DEST_WAIT_DEFAULT_US;
	ret = source__take_round_done(r, rounds, r->drain_link ? clock__mono_us() + limit_us : 0);
	migrate_stats__lock(&r->m->stats);
	r->m->stats.link_drain_us = clock__mono_us() - t0;
	r->m->stats.rounds_applied_at_pause = r->rounds_done;
	migrate_stats__unlock(&r->m->stats);
	return ret;
}

/* Our own pause reference: a user's cont cannot run the guest while the
 * state that goes out must be the state it resumes from. */
static void pause_guest(struct source_run *r)
{
	r->t_pause = clock__mono_us();
	vm__pause(r->vm);
	r->paused_by_us = true;
	r->t_paused = clock__mono_us();
}

static int drain_devices(struct source_run *r)
{
	uint64_t t0 = clock__mono_us();
	int ret = vm__drain_devices(r->vm, r->err, sizeof(r->err));

	migrate_stats__lock(&r->m->stats);
	r->m->stats.downtime_drain_us = clock__mono_us() - t0;
	migrate_stats__unlock(&r->m->stats);
	return ret;
}

static int finish_stream(struct source_run *r, uint32_t rounds)
{
	/* A mapped file's pages are in its RAM region, not the stream. */
	struct end_msg end = { .rounds = rounds,
			       .total_pages = r->mapped ? 0 : r->m->stats.pages_total,
			       .block_sections = r->blk_sections };
	uint64_t before = r->s.bytes_out;
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	ret = vm_sections__send_state(r->vm, &r->s, r->err, sizeof(r->err));
	if (!ret) {
		/* The forecast used an estimate; record what it really was. */
		migrate_stats__lock(&r->m->stats);
		r->m->stats.device_state_bytes = r->s.bytes_out - before;
		migrate_stats__unlock(&r->m->stats);
		stream_msg__encode_end(&b, &end);
		ret = source__send(r, SECTION_END, b.data, b.len);
	}
	wbuf__free(&b);
	return ret;
}

/* Without downtime-max, how long the source waits for RESUMED after GO. */
#define RESUMED_WAIT_US 10000000ULL

/* Reads the destination's answer, which must be `want` or FAILED. A FAILED
 * means the destination does not run the guest (it says so before GO, and
 * after GO only when its vCPUs could not start). */
static int wait_answer(struct source_run *r, uint32_t want, const char *waiting_for)
{
	struct section sec;
	char reason[STREAM_REASON_MAX + 1], why[256];
	int ret;

	section__init(&sec);
	ret = stream__recv(&r->s, &sec, why, sizeof(why));
	if (ret == -ETIMEDOUT)
		ret = source__fail(r, ret, "no %s from the destination in time: %s",
				   waiting_for, source__deadline_reason(r));
	else if (ret == -ECANCELED || (ret && source__cancelled(r)))
		ret = source__fail(r, -ECANCELED, "cancelled while waiting for %s", waiting_for);
	else if (ret)
		ret = source__fail(r, ret, "no %s from the destination: %s", waiting_for, why);
	else if (sec.type == SECTION_FAILED) {
		stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason), why, sizeof(why));
		r->go_sent = false;	/* its word: the guest does not run there */
		ret = source__fail(r, -EIO, "destination failed: %s", reason);
	} else if (sec.type != want)
		ret = source__fail(r, -EPROTO, "destination answered %s instead of %s",
			   stream__type_name(sec.type), waiting_for);
	section__free(&sec);
	return ret;
}

/* The point of no return. Before it, any failure resumes the guest here;
 * after it, only the destination's RESUMED or FAILED settles where the
 * guest is. A GO of which not one byte left cannot have reached the
 * destination, so only then does a failed send leave the guest ours. */
static int send_go(struct source_run *r)
{
	uint64_t before = r->s.bytes_out;
	int ret;

	if (source__cancelled(r))
		return source__fail(r, -ECANCELED, "cancelled before GO");
	r->t_go = clock__mono_us();
	ret = stream__send(&r->s, SECTION_GO, NULL, 0);
	r->go_sent = !ret || r->s.bytes_out != before;
	if (ret)
		return source__fail(r, ret, "sending GO: %s", strerror(-ret));
	return 0;
}

static int handover(struct source_run *r)
{
	uint64_t wait_us = r->params.downtime_max_ms ? r->params.downtime_max_ms * 1000 :
			   RESUMED_WAIT_US;
	int ret;

	/* READY under the stop-and-copy's deadline, set at the pause; the
	 * rounds' ROUND_DONE (3.5) come before it. */
	ret = source__await_rounds_done(r);
	if (!ret)
		ret = wait_answer(r, SECTION_READY, "READY");
	r->t_ready = clock__mono_us();
	if (!ret)
		ret = send_go(r);
	if (ret)
		return ret;
	/* Past GO, giving up changes nothing about where the guest is: the
	 * wait is only as long as a switchover may take. */
	r->s.wait.deadline_us = r->t_go + wait_us;
	return wait_answer(r, SECTION_RESUMED, "RESUMED");
}

/* Pauses the guest and sends what is left: the pages still dirty (after
 * pre-copy rounds, read from the log once more; for a file, every page),
 * then the state and END. The status goes from active to stop-copy. */
int source__stop_and_copy(struct source_run *r, uint32_t rounds)
{
	struct round_stats rs;
	int64_t n;
	int ret;

	source__move(r, MIGRATE_STATUS_STOP_COPY);
	migrate_stats__lock(&r->m->stats);
	r->m->stats.link_queued_bytes = r->link_queued;
	migrate_stats__unlock(&r->m->stats);
	if (rounds) {
		ret = drain_link(r, rounds);
		if (ret)
			return ret;
	}
	pause_guest(r);
	/* Before the last dirty pages are read: completing the drives'
	 * requests writes guest RAM (data, status, used ring), and shared
	 * storage needs what the guest wrote on disk before its state goes. */
	ret = drain_devices(r);
	if (ret)
		return ret;
	/* From the pause to READY: downtime-max, a hard cap. A file is a
	 * snapshot whose guest ends anyway: only the timeout bounds it. */
	if (r->uri.kind == TRANSPORT_TCP && r->params.downtime_max_ms)
		r->s.wait.deadline_us = source__earliest(r->deadline_us,
							 r->t_pause + r->params.downtime_max_ms * 1000);
	if (rounds) {
		n = dirty_log__sync(&r->log, r->err, sizeof(r->err));
		if (n < 0)
			return (int)n;
	}
	ret = r->mapped ? source_file__save_ram(r, &rs) : source__run_round(r, rounds, &rs);
	if (ret)
		return ret;
	/* Exits between the last pre-copy read and the pause. */
	rs.ring_full_exits = rounds ? r->log.last_full_exits : 0;
	rs.ring_wait_us = rounds ? r->log.last_wait_us : 0;
	rs.dirty_rate_pps = 0;
	rs.expected_downtime_ms = 0;
	migrate_stats__add_round(&r->m->stats, &rs);
	r->t_last_ram = clock__mono_us();
	ret = finish_stream(r, rounds + 1);
	if (ret)
		return ret;
	r->t_state = clock__mono_us();
	return 0;
}

/* Hands the guest over: the destination's RESUMED (the guest runs there
 * now), or the file synced and renamed into place. Records the downtime
 * and its parts. */
int source__switchover(struct source_run *r)
{
	struct migrate_stats *st = &r->m->stats;
	int ret;

	ret = r->mapped ? source_file__write_tables(r) : 0;
	if (ret)
		return ret;
	if (r->uri.kind == TRANSPORT_FILE)
		ret = transport__commit_file(&r->uri, r->s.fd, r->err, sizeof(r->err));
	else
		ret = handover(r);
	if (ret)
		return ret;
	migrate_stats__set_downtime(st, &(struct downtime_marks){
		.pause = r->t_pause, .paused = r->t_paused, .last_ram = r->t_last_ram,
		.state = r->t_state, .ready = r->t_ready, .end = clock__mono_us() });
	migrate_stats__lock(st);
	st->ram_remaining = 0;
	st->disk_remaining = 0;
	st->bytes_total = r->s.bytes_out + r->file_ram_bytes;
	migrate_stats__unlock(st);
	return 0;
}
