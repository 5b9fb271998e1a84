/*
 * pthread_spawn.c - pthread_create() + pthread_join() with default
 * attributes: a clone(), a thread start and exit, a futex wake-up for the
 * join. glibc keeps the stacks of joined threads for reuse, so after the
 * first batch no stack is mapped. On one CPU, as parcore's side runs on
 * one vcore: unpinned, each new thread woke the idle second CPU, which
 * made a create and join 3.4 times as slow on this VM (bench/README.md).
 */
#include "peers.h"

#include <pthread.h>
#include <string.h>

static void *noop_thread(void *arg)
{
	return arg;
}

static int spawn_batch(void *arg, uint64_t n)
{
	pthread_t t;
	int err;

	(void)arg;
	while (n--) {
		err = pthread_create(&t, NULL, noop_thread, NULL);
		if (err)
			return -err;
		err = pthread_join(t, NULL);
		if (err)
			return -err;
	}
	return 0;
}

void peer_pthread_create_join(const struct bench_timing *bt,
			      struct bench_value *v)
{
	cpu_set_t saved;
	int cpu = bench_pin_first(&saved);

	if (cpu < 0) {
		bench_value_missing(v, "pinning: %s", strerror(-cpu));
		return;
	}
	bench_measure_value(bt, spawn_batch, NULL, v, "pthread_create/join");
	bench_unpin(&saved);
}
