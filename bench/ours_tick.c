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
#include <sched.h>

#include <parcore/parcore.h>
#include <pthread.h>
#include <stdbool.h>
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

static int ticks_on_batch(void *arg, uint64_t n)
{
	pc_preempt_quantum_set(PC_QUANTUM_DEFAULT_NS);
	return two_workers_batch(arg, n);
}

static int ticks_off_batch(void *arg, uint64_t n)
{
	pc_preempt_quantum_set(0);
	return two_workers_batch(arg, n);
}

/*
 * The work with ticks on, and with ticks off as the paired peer, their
 * batches interleaved (the quantum changes between batches).
 */
void ours_tick_cost(void *arg, struct bench_value *v)
{
	/*
	 * Batches of 200 ops, about half a second here: 50 quanta, some 25
	 * preemptions each. The usual minimum of 1000 made the 42 batches
	 * outlast the child's timeout.
	 */
	struct bench_timing bt = *(const struct bench_timing *)arg;
	double on, off;
	int err;

	bt.min_ops = bt.max_ops = 200;
	if (ours_enter_vcores(1, v))
		return;
	if (!pc_preempt_supported()) {
		bench_value_missing(v, "this build does not preempt");
		return;
	}
	err = bench_measure_pair(&bt, ticks_on_batch, ticks_off_batch, NULL,
				 &on, &off);
	if (err) {
		ours_failed(v, "measuring", err);
		return;
	}
	bench_value_set(v, on);
	v->paired = off;
}

/* ---- a preemptive switch against a cooperative one ---- */

/*
 * One vcore, two uthreads: A is switched out, B runs once and yields back
 * to A. A times its absence with the TSC, in its own code (a safe point:
 * no clock call into the vDSO). Preemptive: A spins and a pthread on the
 * other CPU calls pc_sched_preempt(); the absence is the whole cost on
 * the vcore's CPU (the kernel's signal delivery, the handler, the save
 * into A's area, vcore context, the 2LS, B, and the way back with the
 * restore), but not the signal's flight. Cooperative: A calls
 * pc_thread_yield() instead. Ticks are off.
 */
#define SWITCH_SAMPLES 400

static atomic_uint b_runs;
static atomic_uint a_gaps;
static uint64_t gaps[SWITCH_SAMPLES];

static void *run_and_yield(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&b_runs, 1, memory_order_relaxed);
		pc_thread_yield();
	}
	return NULL;
}

/*
 * A, preempted: notes every absence during which B ran. The absence lies
 * between the last read of b_runs that did not see B's run and the one
 * that did: in the step of the second read, or if it came between that
 * step's TSC read and its b_runs read, in the next step.
 */
static void *watch_absences(void *arg)
{
	unsigned int seen = atomic_load(&b_runs), n = 0;
	uint64_t last = bench_stamp(), first = 0;
	bool noted = false;

	(void)arg;
	while (n < SWITCH_SAMPLES) {
		uint64_t now = bench_stamp(), step = now - last;
		unsigned int b = atomic_load_explicit(&b_runs,
						      memory_order_relaxed);

		if (noted) {
			gaps[n++] = step > first ? step : first;
			atomic_store_explicit(&a_gaps, n, memory_order_release);
			noted = false;
		}
		if (b != seen) {
			noted = true;
			first = step;
			seen = b;
		}
		last = now;
	}
	return NULL;
}

/* A, cooperative: times each yield to B and back. */
static void *time_yields(void *arg)
{
	(void)arg;
	for (unsigned int n = 0; n < SWITCH_SAMPLES; n++) {
		uint64_t t0 = bench_stamp();

		pc_thread_yield();
		gaps[n] = bench_stamp() - t0;
	}
	return NULL;
}

/*
 * The pthread that preempts A, one sample at a time, on a CPU other than
 * vcore 0's: it spins, and on A's CPU it would be part of A's absences.
 */
static void *preempt_a(void *arg)
{
	int cpu = pc_vcore_cpu(0);
	unsigned int n;
	cpu_set_t set;

	(void)arg;
	CPU_ZERO(&set);
	CPU_SET(cpu > 0 ? 0 : 1, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while ((n = atomic_load(&a_gaps)) < SWITCH_SAMPLES) {
		uint64_t until = bench_now_ns() + 200000;

		pc_sched_preempt(0);
		/* Wait for it (or retry: it may have found no safe point). */
		while (atomic_load(&a_gaps) == n && bench_now_ns() < until)
			;
		while (bench_now_ns() < until) /* let A run on a while */
			;
	}
	return NULL;
}

static void switch_round_trip(struct bench_value *v, bool preemptive)
{
	double ns[SWITCH_SAMPLES], ns_per_tick = bench_stamp_ns_per_tick();
	struct pc_thread *a, *b;
	pthread_t p;
	int err;

	if ((err = pc_preempt_quantum_set(0))) {
		ours_failed(v, "pc_preempt_quantum_set", err);
		return;
	}
	if (ours_enter_vcores(1, v))
		return;
	if (preemptive && !pc_preempt_supported()) {
		bench_value_missing(v, "this build does not preempt");
		return;
	}
	if ((err = pc_thread_create(&b, NULL, run_and_yield, NULL)) ||
	    (err = pc_thread_create(&a, NULL, preemptive ? watch_absences :
							   time_yields,
				    NULL))) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	if (preemptive && (err = pthread_create(&p, NULL, preempt_a, NULL))) {
		ours_failed(v, "pthread_create", err);
		return;
	}
	pc_thread_join(a, NULL);
	atomic_store(&stop, 1);
	pc_thread_join(b, NULL);
	if (preemptive)
		pthread_join(p, NULL);
	for (unsigned int i = 0; i < SWITCH_SAMPLES; i++)
		ns[i] = (double)gaps[i] * ns_per_tick;
	bench_value_set_samples(v, ns, SWITCH_SAMPLES);
}

void ours_preempt_switch(void *arg, struct bench_value *v)
{
	(void)arg;
	switch_round_trip(v, true);
}

void ours_coop_switch(void *arg, struct bench_value *v)
{
	(void)arg;
	switch_round_trip(v, false);
}
