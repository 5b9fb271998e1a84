/*
 * ping_pair.h - a sender and a receiver pthread on the first two CPUs,
 * for the peers that time one-way latency with struct bench_ping.
 */
#ifndef PARCORE_BENCH_PING_PAIR_H
#define PARCORE_BENCH_PING_PAIR_H

#include "bench.h"

#include <stdbool.h>

struct ping_pair {
	/* Set by the peer: ping.send, ping.arg, ping.pause_ns. */
	struct bench_ping ping;
	/*
	 * The receiver's loop, on the second CPU: calls ping_pair_ready()
	 * once messages may come, and returns once ping_pair_stopped().
	 */
	void (*receive)(struct ping_pair *pp);
	void *arg;		/* the peer's, for receive() */
	/*
	 * The rest is ping_pair_measure()'s. The receiver polls @stop: on a
	 * line the sender writes only once, at the end.
	 */
	_Alignas(64) atomic_int ready;
	atomic_int stop;
	int cpu[2];		/* the sender's, the receiver's */
	unsigned int n;
	double *ns;		/* @n samples */
	int send_err;		/* pinning or measuring failed */
	int recv_err;		/* pinning failed */
};

/* The receiver is ready for messages. Receiver only. */
void ping_pair_ready(struct ping_pair *pp);
/* The sender is done: receive() should return. */
bool ping_pair_stopped(struct ping_pair *pp);
/*
 * Runs both threads and fills @v with the median and p99 of bt->samples
 * messages, or with why there are none; @what names a message in that
 * reason ("a signal").
 */
void ping_pair_measure(struct ping_pair *pp, const struct bench_timing *bt,
		       const char *what, struct bench_value *v);

#endif /* PARCORE_BENCH_PING_PAIR_H */
