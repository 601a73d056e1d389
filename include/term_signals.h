/* SIGINT, SIGTERM and SIGHUP end vmm as `quit` does (the guest's drives
 * flushed and closed, a migration ended as a quit ends it, exit status
 * 0), as QEMU ends on them; a second one ends it at once, by the signal.
 *
 * The signals are blocked in every thread (term_signals__block, before
 * the first thread starts: threads inherit the mask) and taken by one
 * thread of their own in sigwait, so the quit runs as ordinary code,
 * not in a signal handler.
 */
#ifndef VMM__TERM_SIGNALS_H
#define VMM__TERM_SIGNALS_H

#include <stddef.h>

/* Blocks the three signals in the calling thread; first thing in main.
 * SIGINT and SIGTERM are taken even when vmm was started with them
 * ignored (a background job of a script); SIGHUP is left ignored then
 * (nohup). */
int term_signals__block(char *err, size_t errlen);
/* Starts the thread; on_term(sig) runs on it for the first signal, until
 * term_signals__mute. 0 or -errno with err. */
int term_signals__start(void (*on_term)(int sig), char *err, size_t errlen);
/* From here on a first signal is only logged (the program is already
 * ending, and what on_term touches is being taken down); waits for an
 * on_term in progress to return. */
void term_signals__mute(void);

#endif
