/* The live progress line: while a migration runs from here and stderr is
 * a terminal, one line at the bottom rewritten in place a few times a
 * second (round, sent and remaining, rate, dirty rate, expected downtime,
 * ETA). Off a terminal nothing is shown: the final summary says it all.
 * A destination receiving a block migration shows the images' share
 * received the same way, as QEMU's destination did ("Receiving block
 * device images Completed N %"), and keeps the 100 % line once they are
 * complete.
 */
#ifndef VMM__PROGRESS_H
#define VMM__PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct migration;
struct migrate_stats;
struct progress;

/* Starts the line's thread when stderr is a terminal; NULL (nothing to
 * stop) when it is not, or the thread cannot start. */
struct progress *progress__start(struct migration *m);
/* The destination's disk line, for in (its statistics, written while
 * the stream is received): the same thread, the same terminal rule. */
struct progress *progress__start_incoming(struct migrate_stats *in);
/* Ends the thread and erases the line (a destination's 100 % line,
 * once reached, stays). Safe on NULL. */
void progress__stop(struct progress *p);
/* The line for s (whose lock the caller holds), rate_bps being the rate
 * measured between the last two looks (negative: not known yet), cut to
 * width columns. */
void progress__format(const struct migrate_stats *s, double rate_bps, char *buf, size_t len,
		      unsigned int width);
/* The destination's disk line for s (locked by the caller), cut to width
 * columns: returns the percentage of the images received (99 at most
 * until they are complete, then 100), or -1 (and an empty line) while
 * no block migration is announced. */
int progress__format_disk(const struct migrate_stats *s, char *buf, size_t len,
			  unsigned int width);

#endif
