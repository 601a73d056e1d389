#include "term_signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "errmsg.h"
#include "log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void (*handler)(int sig);	/* set before the thread starts */
static bool muted;			/* under lock */
static bool hup_ignored;		/* started so (nohup): left alone */

static void term_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	if (!hup_ignored)
		sigaddset(set, SIGHUP);
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	default:
		return "SIGHUP";
	}
}

/* The default action of sig, for the whole process: this thread alone
 * has it unblocked when it raises it. */
static void die_by(int sig)
{
	sigset_t set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

static void *signal_thread(void *arg)
{
	bool first = true;
	sigset_t set;
	int sig;

	(void)arg;
	pthread_setname_np(pthread_self(), "signals");
	term_set(&set);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (!first) {
			log_warn("%s again: ending at once, nothing flushed", sig_name(sig));
			die_by(sig);
			continue;
		}
		first = false;
		pthread_mutex_lock(&lock);
		if (muted) {
			log_info("%s: vmm is already ending", sig_name(sig));
		} else {
			log_info("%s: ending as 'quit' does (a second signal ends vmm at once)",
				 sig_name(sig));
			handler(sig);
		}
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int term_signals__block(char *err, size_t errlen)
{
	struct sigaction hup;
	sigset_t set;
	int ret;

	/* Linux queues a blocked signal even when its action is to ignore
	 * it, so sigwait takes SIGINT from a script's background job (which
	 * a shell starts with SIGINT ignored). SIGHUP ignored at start is
	 * nohup's: the user asked to outlive the terminal, so it is neither
	 * blocked nor waited for. */
	hup_ignored = !sigaction(SIGHUP, NULL, &hup) && hup.sa_handler == SIG_IGN;
	term_set(&set);
	ret = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return ret ? errmsg__fail(-ret, err, errlen, "blocking SIGINT/SIGTERM/SIGHUP: %s",
				  strerror(ret)) : 0;
}

int term_signals__start(void (*on_term)(int sig), char *err, size_t errlen)
{
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	handler = on_term;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&thread, &attr, signal_thread, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		return errmsg__fail(-ret, err, errlen, "the signal thread: %s", strerror(ret));
	return 0;
}

void term_signals__mute(void)
{
	pthread_mutex_lock(&lock);
	muted = true;
	pthread_mutex_unlock(&lock);
}
