/*
 * pthread_spawn.c - pthread_create() + pthread_join() with default
 * attributes: a clone(), a thread start and exit, a futex wake-up for the
 * join. glibc keeps the stacks of joined threads for reuse, so after the
 * first batch no stack is mapped.
 */
#include "peers.h"

#include <pthread.h>

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
	bench_measure_value(bt, spawn_batch, NULL, v, "pthread_create/join");
}
