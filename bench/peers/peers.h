/*
 * peers.h - the C peers parcore is measured against. Each fills @v with its
 * median nanoseconds per operation (timed as bench_measure() says, or
 * sample by sample as bench_ping_run() does), or with the reason it could
 * not run.
 */
#ifndef PARCORE_BENCH_PEERS_H
#define PARCORE_BENCH_PEERS_H

#include "bench.h"

/* Round trip A -> B -> A through a minimal callee-saved-GPRs-only switch. */
void peer_handwritten_switch(const struct bench_timing *bt,
			     struct bench_value *v);

/* Round trip through Boost.Context's jump_fcontext(). */
void peer_fcontext_switch(const struct bench_timing *bt,
			  struct bench_value *v);

/* Round trip through glibc's swapcontext(). */
void peer_swapcontext_switch(const struct bench_timing *bt,
			     struct bench_value *v);

/*
 * Round trip of two pthreads pinned to one CPU, handing a futex word back
 * and forth.
 */
void peer_futex_pingpong(const struct bench_timing *bt, struct bench_value *v);

/* pthread_create() + pthread_join() of a thread that returns at once. */
/*
 * @k pthreads contending for one pthread_mutex around bench_critical();
 * ns per acquisition (peers/pthread_mutex.c).
 */
void peer_pthread_mutex(const struct bench_timing *bt, unsigned int k,
			struct bench_value *v);

/* bench_spread() of @k pthreads taking one pthread_mutex in a loop. */
void peer_pthread_mutex_fairness(const struct bench_timing *bt,
				 unsigned int k, struct bench_value *v);

/*
 * Round trip between two pthreads pinned to one CPU passing a turn with a
 * pthread_cond_t and its mutex (peers/pthread_cond.c).
 */
void peer_pthread_cond_pingpong(const struct bench_timing *bt,
				struct bench_value *v);

void peer_pthread_create_join(const struct bench_timing *bt,
			      struct bench_value *v);

/*
 * One-way latency of a signal: a pthread on the first CPU stamps the time
 * and tgkill()s a pthread spinning on the second, whose handler stamps it
 * again (struct bench_ping). Median of bt->samples, with the p99.
 */
void peer_tgkill_notify(const struct bench_timing *bt, struct bench_value *v);

/*
 * One-way latency of a cache line: half the round trip of a sequence
 * number passed between pthreads spinning on the first two CPUs.
 */
void peer_cacheline_pingpong(const struct bench_timing *bt,
			     struct bench_value *v);

/*
 * One-way latency of a cache line, one message at a time: a pthread on
 * the first CPU stamps the time and stores to a line that a pthread on the
 * second polls, which stamps it again (struct bench_ping, as
 * peer_tgkill_notify()). Median of bt->samples, with the p99.
 */
void peer_cacheline_stamped(const struct bench_timing *bt,
			    struct bench_value *v);

#endif /* PARCORE_BENCH_PEERS_H */
