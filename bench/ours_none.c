/*
 * ours_none.c - parcore's side compiled out (PARCORE_BENCH_NO_OURS, which
 * defines BENCH_NO_OURS): the peers can be built and measured before the
 * library links, and parcore's figures are reported missing.
 */
#include "ours.h"

static void compiled_out(struct bench_value *v)
{
	bench_value_missing(v, "compiled out: built with BENCH_NO_OURS");
}

void ours_switch(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_yield(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_create_join(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_idle_memory(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_notify_latency(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_event_poll_latency(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_preempt_forced(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_preempt_nice(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_mutex_2(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_mutex_8(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_mutex_64(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_fifo_floor_2(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_fifo_floor_8(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_fifo_floor_64(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_queue_ideal_2(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_queue_ideal_8(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_queue_ideal_64(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_mutex_fairness_8(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_cond_pingpong(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_chan_pingpong(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_pause_sum_helper(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_pause_chain_helper(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_pause_chain_every(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_tick_latency(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_tick_cost(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_preempt_switch(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}

void ours_coop_switch(void *arg, struct bench_value *v)
{
	(void)arg;
	compiled_out(v);
}
