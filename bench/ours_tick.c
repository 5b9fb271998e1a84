/*
 * ours_tick.c - how long a uthread waits for the CPU behind one that
 * spins without PAUSE points: one vcore, the default quantum; a sleeper
 * whose deadline passes while a spinner holds the vcore. Each sample is
 * the time from the deadline to the sleeper running again. The peer is
 * go/preempt_latency.go (a goroutine spinning in a call-free loop,
 * GOMAXPROCS=1, where the runtime forces a preemption after 10 ms).
 */
#include "ours.h"

#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Each sample costs one to two quanta: a few dozen are enough. */
#define SAMPLES_MAX 40

static atomic_int stop;

static void *spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	return NULL;
}

void ours_tick_latency(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	unsigned int n = bt->samples < SAMPLES_MAX ? bt->samples : SAMPLES_MAX;
	double ns[SAMPLES_MAX];
	struct pc_thread *s;
	uint32_t rnd = 2463534242u;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	if (!pc_preempt_supported()) {
		bench_value_missing(v, "this build does not preempt");
		return;
	}
	err = pc_thread_create(&s, NULL, spinner, NULL);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint64_t deadline;
		struct timespec ts;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 17;
		rnd ^= rnd << 5;
		/* 1-3 ms: the deadline falls anywhere between two ticks. */
		deadline = bench_now_ns() + 1000000 + rnd % 2000000;
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		pc_thread_sleep_until(&ts);
		ns[i] = (double)(bench_now_ns() - deadline);
	}
	atomic_store(&stop, 1);
	pc_thread_join(s, NULL);
	bench_value_set_samples(v, ns, n);
}
