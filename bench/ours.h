/*
 * ours.h - parcore's side of each benchmark. Each runs in a fresh forked
 * child (bench_run_forked(), @arg is the struct bench_timing), enters
 * multi-core mode with one vcore (two for the cross-vcore latencies, three
 * for the preemptions), and fills @v with its figure or the reason it has
 * none.
 */
#ifndef PARCORE_BENCH_OURS_H
#define PARCORE_BENCH_OURS_H

#include "bench.h"

#include <errno.h>
#include <parcore/parcore.h>

/* Reports @call's failure with @err (a -errno) as the reason in @v. */
void ours_failed(struct bench_value *v, const char *call, int err);
/*
 * Makes the calling context a uthread with @n vcores under it (the pool
 * set to @n). Returns 0, or -errno with the reason in @v.
 */
int ours_enter_vcores(int n, struct bench_value *v);

/*
 * The figure of @fn's batches (bench_measure()) into @v, once the
 * uthreads it needs were made; @made_err: their pc_thread_create()'s
 * error, if one failed, reported instead.
 */
void ours_measure_made(void *arg, struct bench_value *v, int made_err,
		       bench_batch_fn fn, void *state);

/*
 * pc_thread_switch() to @to, yielding while it is not suspended yet
 * (-EINVAL): on its first pass @to may not have parked. Returns the
 * switch's result. Inline: fifo_floor's ring takes it at every turn.
 */
static inline int ours_switch_when_parked(struct pc_thread *to)
{
	int err;

	while ((err = pc_thread_switch(to)) == -EINVAL)
		pc_thread_yield();
	return err;
}

/*
 * Contended mutex, ours_sync.c: @k uthreads on 2 vcores take one
 * pc_mutex in turn around bench_critical(); ns per acquisition.
 */
void ours_mutex_2(void *arg, struct bench_value *v);
void ours_mutex_8(void *arg, struct bench_value *v);
void ours_mutex_64(void *arg, struct bench_value *v);

/*
 * The floor of a strict-FIFO hand-off, ours_sync.c: @k uthreads on one
 * vcore take a pc_mutex uncontended around bench_critical() in turn,
 * passing the turn with pc_thread_switch(); ns per acquisition.
 */
void ours_fifo_floor_2(void *arg, struct bench_value *v);
void ours_fifo_floor_8(void *arg, struct bench_value *v);
void ours_fifo_floor_64(void *arg, struct bench_value *v);

/*
 * The ideal spinlock-queued hand-off, queue_ideal.c: @k uthreads on one
 * vcore in steady contention for a bare FIFO lock that switches straight
 * to the next owner; ns per acquisition. Correct on one vcore only.
 */
void ours_queue_ideal_2(void *arg, struct bench_value *v);
void ours_queue_ideal_8(void *arg, struct bench_value *v);
void ours_queue_ideal_64(void *arg, struct bench_value *v);

/* bench_spread() of 8 uthreads on 2 vcores taking one pc_mutex. */
void ours_mutex_fairness_8(void *arg, struct bench_value *v);

/*
 * Round trips between two uthreads on one vcore: a turn passed with a
 * pc_cond (and its pc_mutex), or a message each way on two unbuffered
 * pc_chans.
 */
void ours_cond_pingpong(void *arg, struct bench_value *v);
void ours_chan_pingpong(void *arg, struct bench_value *v);

/*
 * One pass of the PAUSE benchmarks' checked loops (pause_loops.h) in a
 * uthread: the sum with PC_PAUSE_FOR(), the chain with PC_PAUSE_FOR()
 * and with pc_pause() every iteration.
 */
void ours_pause_sum_helper(void *arg, struct bench_value *v);
void ours_pause_chain_helper(void *arg, struct bench_value *v);
void ours_pause_chain_every(void *arg, struct bench_value *v);

/*
 * Time from a sleeper's deadline to its running, one vcore held by a
 * uthread spinning without PAUSE points (ours_tick.c); samples.
 */
void ours_tick_latency(void *arg, struct bench_value *v);

/*
 * A million iterations of a call-free loop, two uthreads sharing one
 * vcore, with the default quantum (switched by ticks), and with ticks
 * off (one after the other) as the paired figure: what the ticks cost.
 */
void ours_tick_cost(void *arg, struct bench_value *v);

/*
 * A uthread switched out and back, one vcore (ours_tick.c): preempted by
 * pc_sched_preempt(), or yielding; each sample is its absence.
 */
void ours_preempt_switch(void *arg, struct bench_value *v);
void ours_coop_switch(void *arg, struct bench_value *v);

/* pc_thread_switch() round trip between two parked uthreads. */
void ours_switch(void *arg, struct bench_value *v);

/* pc_thread_yield() round trip through the default 2LS. */
void ours_yield(void *arg, struct bench_value *v);

/* pc_thread_create() + pc_thread_join(). */
void ours_create_join(void *arg, struct bench_value *v);

/* Resident bytes per parked uthread. */
void ours_idle_memory(void *arg, struct bench_value *v);

/*
 * Event to a vcore running a uthread that never yields, with
 * PC_EVF_NOTIFY: from the send to the handler's start, median and p99.
 */
void ours_notify_latency(void *arg, struct bench_value *v);

/* Event to an idle vcore, polling: from the send to the handler's start. */
void ours_event_poll_latency(void *arg, struct bench_value *v);

/*
 * pc_vcore_preempt() of a vcore whose uthread spins and never yields,
 * deadline at once: from the call until the uthread runs on another
 * vcore (stranded and recovered). Median and p99. Three vcores.
 */
void ours_preempt_forced(void *arg, struct bench_value *v);

/*
 * pc_vcore_preempt() with a 100 ms warning, answered by the uthread with
 * pc_vcore_yield(1): from the call until the yield returns on another
 * vcore. Median and p99. Three vcores.
 */
void ours_preempt_nice(void *arg, struct bench_value *v);

#endif /* PARCORE_BENCH_OURS_H */
