/*
 * pthread_cond.c - the pthread peer of the condition-variable ping-pong:
 * two pthreads pinned to one CPU pass a turn under a pthread_mutex with a
 * pthread_cond_t, as ours_sync.c does with two uthreads on one vcore.
 */
#include "peers.h"

#include <pthread.h>
#include <string.h>

enum { PING, PONG };

struct ppc {
	pthread_mutex_t m;
	pthread_cond_t c;
	int turn, stop; /* under m */
	int cpu;
	int pong_err;
};

static void *pong_thread(void *arg)
{
	struct ppc *pp = arg;

	pp->pong_err = bench_pin_self(pp->cpu);
	pthread_mutex_lock(&pp->m);
	for (;;) {
		while (pp->turn != PONG && !pp->stop)
			pthread_cond_wait(&pp->c, &pp->m);
		if (pp->stop)
			break;
		pp->turn = PING;
		pthread_cond_signal(&pp->c);
	}
	pthread_mutex_unlock(&pp->m);
	return NULL;
}

static int ping_batch(void *arg, uint64_t n)
{
	struct ppc *pp = arg;

	pthread_mutex_lock(&pp->m);
	while (n--) {
		pp->turn = PONG;
		pthread_cond_signal(&pp->c);
		while (pp->turn != PING)
			pthread_cond_wait(&pp->c, &pp->m);
	}
	pthread_mutex_unlock(&pp->m);
	return 0;
}

void peer_pthread_cond_pingpong(const struct bench_timing *bt,
				struct bench_value *v)
{
	struct ppc pp = { .m = PTHREAD_MUTEX_INITIALIZER,
			  .c = PTHREAD_COND_INITIALIZER,
			  .turn = PING };
	pthread_t pong;
	cpu_set_t saved;
	double ns;
	int err;

	/*
	 * This thread is pinned for the measurement and unpinned after:
	 * the peers that run after it in this process need every CPU (the
	 * signal latency measured for tick_latency found only one).
	 */
	pp.cpu = bench_pin_first(&saved);
	if (pp.cpu < 0) {
		bench_value_missing(v, "pinning: %s", strerror(-pp.cpu));
		return;
	}
	err = pthread_create(&pong, NULL, pong_thread, &pp);
	if (err) {
		bench_unpin(&saved);
		bench_value_missing(v, "pthread_create: %s", strerror(err));
		return;
	}
	err = bench_measure(bt, ping_batch, &pp, &ns);
	pthread_mutex_lock(&pp.m);
	pp.stop = 1;
	pthread_cond_signal(&pp.c);
	pthread_mutex_unlock(&pp.m);
	pthread_join(pong, NULL);
	bench_unpin(&saved);
	if (err || pp.pong_err)
		bench_value_missing(v, "measuring: %s",
				    strerror(-(err ? err : pp.pong_err)));
	else
		bench_value_set(v, ns);
}
