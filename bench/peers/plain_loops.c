/*
 * plain_loops.c - the PAUSE benchmarks' peers: the same loops without any
 * check (pause_loops.c), timed in the parent process.
 */
#include "peers.h"

#include "../pause_loops.h"

static volatile uint64_t sink;

static int sum_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink += pause_sum_plain();
	return 0;
}

static int chain_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink = pause_chain_plain(sink);
	return 0;
}

void peer_plain_sum(const struct bench_timing *bt, struct bench_value *v)
{
	bench_measure_value(bt, sum_batch, NULL, v, "the plain sum");
}

void peer_plain_chain(const struct bench_timing *bt, struct bench_value *v)
{
	bench_measure_value(bt, chain_batch, NULL, v, "the plain chain");
}
