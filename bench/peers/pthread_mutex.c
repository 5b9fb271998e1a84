/*
 * pthread_mutex.c - the pthread peer of the contended-mutex benchmarks:
 * k pthreads (unpinned, on the CPUs there are) take one pthread_mutex
 * around bench_critical(), as ours_sync.c does with uthreads; made once,
 * handed their share per batch.
 */
#include "peers.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct pcontention {
	pthread_mutex_t m;
	uint64_t x; /* under m */
	unsigned int k;
	atomic_uint_fast64_t round;
	uint64_t per;
	atomic_uint done;
	atomic_int stop;
};

static void *pcontender(void *arg)
{
	struct pcontention *c = arg;
	uint64_t seen = 0;

	for (;;) {
		uint64_t r;

		while ((r = atomic_load(&c->round)) == seen &&
		       !atomic_load(&c->stop))
			sched_yield();
		if (atomic_load(&c->stop))
			return NULL;
		seen = r;
		for (uint64_t i = 0; i < c->per; i++) {
			pthread_mutex_lock(&c->m);
			bench_critical(&c->x);
			pthread_mutex_unlock(&c->m);
		}
		atomic_fetch_add(&c->done, 1);
	}
}

static int pcontention_batch(void *arg, uint64_t n)
{
	struct pcontention *c = arg;

	c->per = n / c->k ? n / c->k : 1;
	atomic_store(&c->done, 0);
	atomic_fetch_add(&c->round, 1);
	while (atomic_load(&c->done) < c->k)
		sched_yield();
	return 0;
}

void peer_pthread_mutex(const struct bench_timing *bt, unsigned int k,
			struct bench_value *v)
{
	static struct pcontention c = { .m = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	int err = 0;

	c.k = k;
	atomic_store(&c.stop, 0);
	atomic_store(&c.round, 0);
	while (made < k && !err)
		if (!(err = pthread_create(&t[made], NULL, pcontender, &c)))
			made++;
	if (err)
		bench_value_missing(v, "pthread_create: %s", strerror(err));
	else
		bench_measure_value(bt, pcontention_batch, &c, v,
				    "pthread_mutex contention");
	atomic_store(&c.stop, 1);
	for (unsigned int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
}

/* ---- fairness ---- */

struct pfairness {
	pthread_mutex_t m;
	uint64_t x; /* under m */
	uint64_t got[BENCH_CONTENDERS_MAX];
	atomic_int stop;
};

struct pfair_arg {
	struct pfairness *f;
	unsigned int i;
};

static void *pfair_contender(void *arg)
{
	struct pfair_arg *a = arg;
	struct pfairness *f = a->f;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		pthread_mutex_lock(&f->m);
		bench_critical(&f->x);
		pthread_mutex_unlock(&f->m);
		f->got[a->i]++;
	}
	return NULL;
}

void peer_pthread_mutex_fairness(const struct bench_timing *bt,
				 unsigned int k, struct bench_value *v)
{
	static struct pfairness f = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct pfair_arg a[BENCH_CONTENDERS_MAX];
	pthread_t t[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	int err = 0;
	struct timespec ts;
	uint64_t ns = bench_fairness_window_ns(bt);

	memset(f.got, 0, sizeof(f.got));
	atomic_store(&f.stop, 0);
	for (; made < k; made++) {
		a[made] = (struct pfair_arg){ &f, made };
		err = pthread_create(&t[made], NULL, pfair_contender, &a[made]);
		if (err)
			break;
	}
	if (!err) {
		ts.tv_sec = (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		nanosleep(&ts, NULL);
	}
	atomic_store(&f.stop, 1);
	for (unsigned int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	if (err)
		bench_value_missing(v, "pthread_create: %s", strerror(err));
	else
		bench_value_set(v, bench_spread(f.got, k));
}
