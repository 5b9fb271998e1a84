/*
 * tgkill.c - the limit for a notification: a thread on one CPU interrupts
 * a thread spinning on another with a signal. tgkill(), the kernel's IPI
 * to the other CPU, signal delivery and the handler's first instruction:
 * what parcore's pc_event_send(PC_EVF_NOTIFY) costs before parcore's own
 * part (saving the interrupted uthread, the vcore loop, the dispatch).
 */
#include "peers.h"
#include "ping_pair.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* parcore_bench uses no signal itself; parcore's own are in its children. */
#define PING_SIGNAL SIGUSR1

struct sigping {
	struct ping_pair pair;
	pid_t pid;		/* read once: getpid() is a system call */
	int tid;		/* the receiver's, published by ping_pair_ready() */
};

/* A signal handler has no argument: the one measurement running. */
static struct bench_ping *active_ping;

static void on_ping_signal(int sig)
{
	(void)sig;
	bench_ping_ack(active_ping);
}

static int send_ping_signal(void *arg)
{
	struct sigping *sp = arg;

	if (syscall(SYS_tgkill, sp->pid, sp->tid, PING_SIGNAL) < 0)
		return -errno;
	return 0;
}

/* Spins in user mode, where only an IPI can reach it, until told to stop. */
static void spin(struct ping_pair *pp)
{
	struct sigping *sp = pp->arg;

	sp->tid = (int)syscall(SYS_gettid);
	ping_pair_ready(pp);
	while (!ping_pair_stopped(pp))
		;
}

void peer_tgkill_notify(const struct bench_timing *bt, struct bench_value *v)
{
	struct sigping sp = {
		.pair = { .ping = { .send = send_ping_signal,
				    .pause_ns = BENCH_NOTIFY_PAUSE_NS },
			  .receive = spin },
		.pid = getpid(),
	};
	struct sigaction sa, old;

	sp.pair.ping.arg = &sp;
	sp.pair.arg = &sp;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_ping_signal;
	sigemptyset(&sa.sa_mask);
	active_ping = &sp.pair.ping;
	if (sigaction(PING_SIGNAL, &sa, &old) < 0) {
		bench_value_missing(v, "sigaction: %s", strerror(errno));
		return;
	}
	ping_pair_measure(&sp.pair, bt, "a signal", v);
	sigaction(PING_SIGNAL, &old, NULL);
}
