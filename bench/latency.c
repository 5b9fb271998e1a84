/*
 * latency.c - one-way latencies from one CPU to another, one sample per
 * message (struct bench_ping), and the timestamps they are taken with.
 *
 * These are timed one at a time, not in batches: a message is answered by
 * a handler on the other CPU, and what is measured is how long the
 * handler took to start, which only the two stamps show. At 0.1-20 us per
 * sample a stamp of 10-25 ns is small enough.
 */
#include "bench.h"

#include <errno.h>

/* Long enough that the CLOCK_MONOTONIC reads around it do not matter. */
#define CALIBRATE_NS 20000000u

/*
 * How long a sender waits for an acknowledgement before it gives up: far
 * above any wake-up, even a futex one on a loaded host, and short enough
 * that a handler that never runs is reported as such, before the child's
 * time limit kills it without a word.
 */
#define ACK_TIMEOUT_NS 1000000000u

double bench_stamp_ns_per_tick(void)
{
	static double ns_per_tick;
	uint64_t t0, k0, t1, k1;

	if (ns_per_tick > 0)
		return ns_per_tick;
	t0 = bench_now_ns();
	k0 = bench_stamp();
	do {
		t1 = bench_now_ns();
		k1 = bench_stamp();
	} while (t1 - t0 < CALIBRATE_NS);
	ns_per_tick = (double)(t1 - t0) / (double)(k1 - k0);
	return ns_per_tick;
}

static void spin_until(uint64_t stamp)
{
	while ((int64_t)(bench_stamp() - stamp) < 0)
		;
}

/*
 * One message: stamp, send, spin until the receiver's acknowledgement.
 * @timeout in ticks. The latency in ticks goes to @ticks; signed, so that
 * a skew between the CPUs' counters would show rather than wrap.
 */
static int ping_once(struct bench_ping *p, uint64_t timeout, int64_t *ticks)
{
	unsigned int acks = atomic_load_explicit(&p->acks,
						 memory_order_relaxed);
	uint64_t t0;
	int err;

	p->sent++;
	t0 = bench_stamp();
	err = p->send(p->arg);
	if (err)
		return err;
	while (atomic_load_explicit(&p->acks, memory_order_acquire) == acks) {
		if (bench_stamp() - t0 > timeout)
			return -ETIMEDOUT;
	}
	*ticks = (int64_t)(atomic_load_explicit(&p->stamp,
						memory_order_relaxed) - t0);
	return 0;
}

/* @n messages, each @p->pause_ns after the previous acknowledgement. */
static int ping_n(struct bench_ping *p, unsigned int n, double *ns,
		  double ns_per_tick)
{
	uint64_t timeout = (uint64_t)(ACK_TIMEOUT_NS / ns_per_tick);
	uint64_t pause = (uint64_t)((double)p->pause_ns / ns_per_tick);
	unsigned int i;
	int64_t ticks;
	int err;

	for (i = 0; i < n; i++) {
		err = ping_once(p, timeout, &ticks);
		if (err)
			return err;
		ns[i] = (double)ticks * ns_per_tick;
		spin_until(bench_stamp() + pause);
	}
	return 0;
}

int bench_ping_run(struct bench_ping *p, unsigned int n, double *ns)
{
	double ns_per_tick = bench_stamp_ns_per_tick();
	int err;

	/* The warm-up's figures (never more than @n) are overwritten. */
	err = ping_n(p, n / 10 + 1, ns, ns_per_tick);
	if (!err)
		err = ping_n(p, n, ns, ns_per_tick);
	return err;
}
