/*
 * tgkill.c - the limit for a notification: a thread on one CPU interrupts
 * a thread spinning on another with a signal. tgkill(), the kernel's IPI
 * to the other CPU, signal delivery and the handler's first instruction:
 * what parcore's pc_event_send(PC_EVF_NOTIFY) costs before parcore's own
 * part (saving the interrupted uthread, the vcore loop, the dispatch).
 */
#include "peers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* parcore_bench uses no signal itself; parcore's own are in its children. */
#define PING_SIGNAL SIGUSR1

struct sigping {
	struct bench_ping ping;
	pid_t pid;		/* read once: getpid() is a system call */
	atomic_int tid;		/* the spinner's, 0 until it spins */
	atomic_int stop;
	int cpu[2];		/* the sender's, the spinner's */
	unsigned int n;
	double *ns;		/* @n samples */
	int send_err;		/* pinning or measuring failed */
	int spin_err;		/* pinning failed */
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
	int tid = atomic_load_explicit(&sp->tid, memory_order_relaxed);

	if (syscall(SYS_tgkill, sp->pid, tid, PING_SIGNAL) < 0)
		return -errno;
	return 0;
}

/* Spins in user mode, where only an IPI can reach it, until told to stop. */
static void *spinner_thread(void *arg)
{
	struct sigping *sp = arg;

	sp->spin_err = bench_pin_self(sp->cpu[1]);
	/* Publishes spin_err to the sender. */
	atomic_store_explicit(&sp->tid, (int)syscall(SYS_gettid),
			      memory_order_release);
	while (!atomic_load_explicit(&sp->stop, memory_order_relaxed))
		;
	return NULL;
}

/* Measures once the spinner spins, then stops it. */
static void *sender_thread(void *arg)
{
	struct sigping *sp = arg;

	sp->send_err = bench_pin_self(sp->cpu[0]);
	while (!atomic_load_explicit(&sp->tid, memory_order_acquire))
		;
	if (!sp->send_err && !sp->spin_err)
		sp->send_err = bench_ping_run(&sp->ping, sp->n, sp->ns);
	atomic_store_explicit(&sp->stop, 1, memory_order_relaxed);
	return NULL;
}

/* Runs the spinner and the sender; returns 0 or -errno. */
static int run_pair(struct sigping *sp)
{
	pthread_t spinner, sender;
	int err;

	err = pthread_create(&spinner, NULL, spinner_thread, sp);
	if (err)
		return -err;
	err = pthread_create(&sender, NULL, sender_thread, sp);
	if (err)
		atomic_store(&sp->stop, 1);
	else
		pthread_join(sender, NULL);
	pthread_join(spinner, NULL);
	if (err)
		return -err;
	return sp->spin_err ? sp->spin_err : sp->send_err;
}

/* With PING_SIGNAL handled by on_ping_signal() meanwhile. */
static int run_with_handler(struct sigping *sp)
{
	struct sigaction sa, old;
	int err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_ping_signal;
	sigemptyset(&sa.sa_mask);
	active_ping = &sp->ping;
	if (sigaction(PING_SIGNAL, &sa, &old) < 0)
		return -errno;
	err = run_pair(sp);
	sigaction(PING_SIGNAL, &old, NULL);
	return err;
}

void peer_tgkill_notify(const struct bench_timing *bt, struct bench_value *v)
{
	struct sigping sp = {
		.ping = { .send = send_ping_signal,
			  .pause_ns = BENCH_NOTIFY_PAUSE_NS },
		.pid = getpid(),
		.n = bt->samples,
	};
	int err;

	sp.ping.arg = &sp;
	sp.cpu[0] = bench_cpu_nth(0);
	sp.cpu[1] = bench_cpu_nth(1);
	if (sp.cpu[1] < 0) {
		bench_value_missing(v, "needs two CPUs: %s",
				    strerror(-sp.cpu[1]));
		return;
	}
	sp.ns = malloc(sp.n * sizeof(*sp.ns));
	if (!sp.ns) {
		bench_value_missing(v, "no memory for %u samples", sp.n);
		return;
	}
	err = run_with_handler(&sp);
	if (err == -ETIMEDOUT)
		bench_value_missing(v, "a signal was not handled within 1 s");
	else if (err)
		bench_value_missing(v, "signals from CPU %d to CPU %d: %s",
				    sp.cpu[0], sp.cpu[1], strerror(-err));
	else
		bench_value_set_samples(v, sp.ns, sp.n);
	free(sp.ns);
}
