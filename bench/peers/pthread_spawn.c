/*
 * pthread_spawn.c - pthread_create() + pthread_join() with default
 * attributes: a clone(), a thread start and exit, a futex wake-up for the
 * join. glibc keeps the stacks of joined threads for reuse, so after the
 * first batch no stack is mapped.
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
	double ns;
	int err;

	err = bench_measure(bt, spawn_batch, NULL, &ns);
	if (err)
		bench_value_missing(v, "pthread_create/join: %s",
				    strerror(-err));
	else
		bench_value_set(v, ns);
}
