/*
 * ours_pause.c - the PAUSE benchmarks: the checked loops, run as
 * parcore's figures, in a uthread on one vcore, ticks on, nothing else
 * runnable (so the flag is never set: what is measured is the check).
 * Their peers, the plain loops (pause_loops.c), are timed in the same
 * uthread, batch for batch in between (bench_measure_pair()): the gaps
 * asked for (1%) are smaller than this VM's drift from one run to the
 * next.
 */
#include "ours.h"

#include <parcore/parcore.h>

#include "pause_loops.h"

static volatile uint64_t sink;

__attribute__((noinline)) static uint32_t pause_sum_helper(void)
{
	uint32_t sum = 0;

	PC_PAUSE_FOR(i, 0, PAUSE_N, 8192)
		sum += pause_array[i];
	return sum;
}

__attribute__((noinline)) static uint64_t pause_chain_helper(uint64_t x)
{
	PC_PAUSE_FOR(i, 0, PAUSE_N, 8192)
		x = x * 6364136223846793005u + i;
	return x;
}

__attribute__((noinline)) static uint64_t pause_chain_every(uint64_t x)
{
	for (size_t i = 0; i < PAUSE_N; i++) {
		x = x * 6364136223846793005u + i;
		pc_pause();
	}
	return x;
}

static int sum_helper_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink += pause_sum_helper();
	return 0;
}

static int chain_helper_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink = pause_chain_helper(sink);
	return 0;
}

static int chain_every_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink = pause_chain_every(sink);
	return 0;
}

static int sum_plain_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink += pause_sum_plain();
	return 0;
}

static int chain_plain_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--)
		sink = pause_chain_plain(sink);
	return 0;
}

/* @checked's figure, and @plain's as the paired peer. */
static void run(void *arg, struct bench_value *v, bench_batch_fn checked,
		bench_batch_fn plain)
{
	double ns, plain_ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	pause_array_fill();
	err = bench_measure_pair(arg, checked, plain, NULL, &ns, &plain_ns);
	if (err) {
		ours_failed(v, "measuring", err);
		return;
	}
	bench_value_set(v, ns);
	v->paired = plain_ns;
}

void ours_pause_sum_helper(void *arg, struct bench_value *v)
{
	run(arg, v, sum_helper_batch, sum_plain_batch);
}

void ours_pause_chain_helper(void *arg, struct bench_value *v)
{
	run(arg, v, chain_helper_batch, chain_plain_batch);
}

void ours_pause_chain_every(void *arg, struct bench_value *v)
{
	run(arg, v, chain_every_batch, chain_plain_batch);
}
