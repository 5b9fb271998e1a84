/*
 * ours_tick.c - what ticks cost and what they buy.
 *
 * tick_latency: how long a uthread waits for the CPU behind one that
 * spins without PAUSE points: one vcore, the default quantum; a sleeper
 * whose deadline passes while a spinner holds the vcore. Each sample is
 * the time from the deadline to the sleeper running again. The peer is
 * go/preempt_latency.go (a goroutine spinning in a call-free loop,
 * GOMAXPROCS=1, where the runtime forces a preemption after 10 ms).
 */
#include "ours.h"

#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* ---- what ticks cost a vcore with work to switch between ---- */

#define WORK_UNIT 1000000u /* iterations of the call-free loop per op */

static void *work(void *arg)
{
	uint64_t n = (uint64_t)(uintptr_t)arg;

	for (volatile uint64_t i = 0; i < n; i++)
		;
	return NULL;
}

/* @n units of work split between two uthreads on one vcore. */
static int two_workers_batch(void *arg, uint64_t n)
{
	struct pc_thread *t[2];
	int err = 0, made = 0;

	(void)arg;
	for (; made < 2 && !err; made++)
		err = pc_thread_create(&t[made], NULL, work,
				       (void *)(uintptr_t)(n * WORK_UNIT / 2));
	for (int i = 0; i < made - (err != 0); i++)
		pc_thread_join(t[i], NULL);
	return err;
}

static void tick_cost(void *arg, struct bench_value *v, uint64_t quantum)
{
	double ns;
	int err;

	err = pc_preempt_quantum_set(quantum);
	if (err) {
		ours_failed(v, "pc_preempt_quantum_set", err);
		return;
	}
	if (ours_enter_vcores(1, v))
		return;
	if (quantum && !pc_preempt_supported()) {
		bench_value_missing(v, "this build does not preempt");
		return;
	}
	err = bench_measure(arg, two_workers_batch, NULL, &ns);
	if (err)
		ours_failed(v, "measuring", err);
	else
		bench_value_set(v, ns);
}

void ours_tick_cost(void *arg, struct bench_value *v)
{
	tick_cost(arg, v, PC_QUANTUM_DEFAULT_NS);
}

void ours_tick_cost_off(void *arg, struct bench_value *v)
{
	tick_cost(arg, v, 0);
}
