/*
 * ping_pair.c - the two pthreads of a one-way latency peer: a receiver
 * pinned to the second CPU runs its loop, and a sender pinned to the first
 * times struct bench_ping messages to it, exactly as parcore's side of the
 * same benchmark is timed.
 */
#include "ping_pair.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *receiver_thread(void *arg)
{
	struct ping_pair *pp = arg;

	pp->recv_err = bench_pin_self(pp->cpu[1]);
	pp->receive(pp);
	return NULL;
}

/* Measures once the receiver is ready, then stops it. */
static void *sender_thread(void *arg)
{
	struct ping_pair *pp = arg;

	pp->send_err = bench_pin_self(pp->cpu[0]);
	while (!atomic_load_explicit(&pp->ready, memory_order_acquire))
		;
	if (!pp->send_err && !pp->recv_err)
		pp->send_err = bench_ping_run(&pp->ping, pp->n, pp->ns);
	atomic_store_explicit(&pp->stop, 1, memory_order_relaxed);
	return NULL;
}

/* Runs the receiver and the sender; returns 0 or -errno. */
static int run_threads(struct ping_pair *pp)
{
	pthread_t receiver, sender;
	int err;

	err = pthread_create(&receiver, NULL, receiver_thread, pp);
	if (err)
		return -err;
	err = pthread_create(&sender, NULL, sender_thread, pp);
	if (err)
		atomic_store(&pp->stop, 1);
	else
		pthread_join(sender, NULL);
	pthread_join(receiver, NULL);
	if (err)
		return -err;
	return pp->recv_err ? pp->recv_err : pp->send_err;
}

void ping_pair_ready(struct ping_pair *pp)
{
	/* Release: publishes recv_err and whatever receive() set up. */
	atomic_store_explicit(&pp->ready, 1, memory_order_release);
}

bool ping_pair_stopped(struct ping_pair *pp)
{
	return atomic_load_explicit(&pp->stop, memory_order_relaxed);
}

void ping_pair_measure(struct ping_pair *pp, const struct bench_timing *bt,
		       const char *what, struct bench_value *v)
{
	int err;

	pp->n = bt->samples;
	pp->cpu[0] = bench_cpu_nth(0);
	pp->cpu[1] = bench_cpu_nth(1);
	if (pp->cpu[1] < 0) {
		bench_value_missing(v, "needs two CPUs: %s",
				    strerror(-pp->cpu[1]));
		return;
	}
	pp->ns = malloc(pp->n * sizeof(*pp->ns));
	if (!pp->ns) {
		bench_value_missing(v, "no memory for %u samples", pp->n);
		return;
	}
	err = run_threads(pp);
	if (err == -ETIMEDOUT)
		bench_value_missing(v, "%s was not answered within 1 s", what);
	else if (err)
		bench_value_missing(v, "%s from CPU %d to CPU %d: %s", what,
				    pp->cpu[0], pp->cpu[1], strerror(-err));
	else
		bench_value_set_samples(v, pp->ns, pp->n);
	free(pp->ns);
}
