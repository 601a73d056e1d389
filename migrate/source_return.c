/* The return path while pre-copy runs (stream 3.5): the destination says
 * ROUND_DONE once each round is in guest memory. The source takes what
 * has arrived after every round, so the connection's buffer never fills
 * and a FAILED is noticed at once, and before the pause it waits for the
 * last pre-copy round: what the destination has yet to read would be
 * read inside the downtime. */
#include "migrate_source.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"

/* Bytes of the return path waiting to be read. A whole ROUND_DONE
 * section (or more) among them: a read cannot block, as one started on a
 * partial section could. */
static int waiting_bytes(const struct source_run *r)
{
	int n = 0;

	return ioctl(r->s.fd, FIONREAD, &n) ? 0 : n;
}

static int take_one(struct source_run *r)
{
	char why[256], reason[STREAM_REASON_MAX + 1];
	struct section sec;
	uint32_t round;
	int ret;

	section__init(&sec);
	ret = stream__recv(&r->s, &sec, why, sizeof(why));
	if (ret) {
		ret = source__fail(r, ret, "reading the destination's return path: %s", why);
	} else if (sec.type == SECTION_FAILED) {
		stream_msg__decode_reason(sec.payload, sec.len, reason, sizeof(reason), why,
					  sizeof(why));
		ret = source__fail(r, -EIO, "destination failed: %s", reason);
	} else if (sec.type != SECTION_ROUND_DONE) {
		ret = source__fail(r, -EPROTO, "destination sent %s before END",
				   stream__type_name(sec.type));
	} else if (stream_msg__decode_round_done(sec.payload, sec.len, &round, why, sizeof(why))) {
		ret = source__fail(r, -EPROTO, "%s", why);
	} else if (round != r->rounds_done || round >= r->rounds_ended) {
		/* In order, and only for rounds whose ROUND_END went out. */
		ret = source__fail(r, -EPROTO, "destination says round %u is done; %u rounds "
				   "were done before and %u ended", round, r->rounds_done,
				   r->rounds_ended);
	} else {
		r->rounds_done = round + 1;
	}
	section__free(&sec);
	return ret;
}

int source__take_round_done(struct source_run *r, uint32_t want, uint64_t until_us)
{
	struct pollfd p = { .fd = r->s.fd, .events = POLLIN };
	uint64_t now;
	int ret;

	if (!stream__has_round_done(&r->s))
		return 0;
	for (;;) {
		while (waiting_bytes(r) >= (int)ROUND_DONE_SECTION_LEN) {
			ret = take_one(r);
			if (ret)
				return ret;
		}
		now = clock__mono_us();
		if (r->rounds_done >= want || now >= until_us || source__cancelled(r))
			return 0;
		/* Wakes for the first byte; the rest of a section already
		 * begun is waited for without spinning on poll. */
		if (waiting_bytes(r) > 0)
			usleep(200);
		else
			poll(&p, 1, 1);
	}
}

int source__await_rounds_done(struct source_run *r)
{
	int ret = 0;

	if (!stream__has_round_done(&r->s))
		return 0;
	while (!ret && r->rounds_done < r->rounds_ended)
		ret = take_one(r);
	return ret;
}
