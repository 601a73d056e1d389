/* A line-stamping writer: copies bytes to a file descriptor and puts the
 * host's CLOCK_REALTIME time in front of every line, taken when the line's
 * first byte is written. The form is fixed so scripts can parse it:
 *
 *     [SECONDS.MICROSECONDS] text of the line\n
 *
 * SECONDS is decimal without padding, MICROSECONDS always six digits, one
 * space follows the bracket. A line ends at '\n' only: a '\r' before it
 * stays in the line, a lone '\r' does not start a new stamp. A stamp costs
 * no extra system call: it goes out with the line's first bytes in one
 * writev. Callers serialise calls on one writer (the UART's lock does).
 */
#ifndef VMM__LINE_STAMP_H
#define VMM__LINE_STAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "[" + 20 digits + "." + 6 digits + "] " and a NUL */
#define LINE_STAMP_MAX 32

struct line_stamp {
	int fd;
	bool mid_line;			/* the next byte continues a line */
	uint64_t (*now_us)(void);	/* the clock; tests set their own */
};

/* Writes to fd (not owned) with the realtime clock. */
void line_stamp__init(struct line_stamp *ls, int fd);
/* Formats the stamp for time us into buf; returns its length. */
size_t line_stamp__format(uint64_t us, char buf[LINE_STAMP_MAX]);
/* Writes all of buf, stamping each line that starts in it. Returns len or
 * -errno (EINTR retried); after an error the line state is that of the
 * last batch of lines written whole. */
ssize_t line_stamp__write(struct line_stamp *ls, const void *buf, size_t len);

#endif
