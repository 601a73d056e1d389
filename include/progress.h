/* The live progress line: while a migration runs from here and stderr is
 * a terminal, one line at the bottom rewritten in place a few times a
 * second (round, sent and remaining, rate, dirty rate, expected downtime,
 * ETA). Off a terminal nothing is shown: the final summary says it all.
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
/* Ends the thread and erases the line. Safe on NULL. */
void progress__stop(struct progress *p);
/* The line for s (whose lock the caller holds), rate_bps being the rate
 * measured between the last two looks (negative: not known yet), cut to
 * width columns. */
void progress__format(const struct migrate_stats *s, double rate_bps, char *buf, size_t len,
		      unsigned int width);

#endif
