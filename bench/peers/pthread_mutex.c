/*
 * pthread_mutex.c - the pthread peer of the contended-mutex benchmarks:
 * k pthreads (on the first 2 CPUs, as parcore's side has 2 vcores and
 * Go's 2 Ps; free to move between them) take one pthread_mutex
 * around bench_critical(), as ours_sync.c does with uthreads; made once,
 * handed their share per batch. Both waits block on semaphores, as
 * parcore's side does: a thread polling with sched_yield() for the end
 * of a batch takes CPU time from the contenders (bench/README.md).
 */
#include "peers.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/*
 * The lock, the data under it and the harness's words each on a line of
 * their own, as in ours_sync.c: where the linker put them decided this
 * peer's time otherwise (bench/README.md).
 */
struct pcontention {
	_Alignas(64) pthread_mutex_t m;
	_Alignas(64) uint64_t x; /* under m */
	_Alignas(64) unsigned int k;
	uint64_t per;
	sem_t done; /* a unit per contender through its share */
	atomic_int stop;
	/* Contender i's start: each does exactly one share per batch. */
	sem_t go[BENCH_CONTENDERS_MAX];
};

struct pcontender_arg {
	struct pcontention *c;
	unsigned int i;
};

static void sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) && errno == EINTR)
		;
}

static void *pcontender(void *arg)
{
	struct pcontender_arg *a = arg;
	struct pcontention *c = a->c;

	for (;;) {
		sem_wait_intr(&c->go[a->i]);
		if (atomic_load(&c->stop))
			return NULL;
		for (uint64_t i = 0; i < c->per; i++) {
			pthread_mutex_lock(&c->m);
			bench_critical(&c->x);
			pthread_mutex_unlock(&c->m);
		}
		sem_post(&c->done);
	}
}

static int pcontention_batch(void *arg, uint64_t n)
{
	struct pcontention *c = arg;

	c->per = n / c->k ? n / c->k : 1;
	for (unsigned int i = 0; i < c->k; i++)
		sem_post(&c->go[i]);
	for (unsigned int i = 0; i < c->k; i++)
		sem_wait_intr(&c->done);
	return 0;
}

void peer_pthread_mutex(const struct bench_timing *bt, unsigned int k,
			struct bench_value *v)
{
	static struct pcontention c = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct pcontender_arg a[BENCH_CONTENDERS_MAX];
	pthread_t t[BENCH_CONTENDERS_MAX];
	pthread_attr_t attr;
	unsigned int made = 0;
	int err;

	err = bench_attr_cpus(&attr, 2);
	if (err) {
		bench_value_missing(v, "thread attributes: %s", strerror(err));
		return;
	}
	c.k = k;
	atomic_store(&c.stop, 0);
	sem_init(&c.done, 0, 0);
	for (unsigned int i = 0; i < k; i++)
		sem_init(&c.go[i], 0, 0);
	for (; made < k; made++) {
		a[made] = (struct pcontender_arg){ &c, made };
		err = pthread_create(&t[made], &attr, pcontender, &a[made]);
		if (err)
			break;
	}
	if (err)
		bench_value_missing(v, "pthread_create: %s", strerror(err));
	else
		bench_measure_value(bt, pcontention_batch, &c, v,
				    "pthread_mutex contention");
	atomic_store(&c.stop, 1);
	for (unsigned int i = 0; i < made; i++) {
		sem_post(&c.go[i]);
		pthread_join(t[i], NULL);
	}
	for (unsigned int i = 0; i < k; i++)
		sem_destroy(&c.go[i]);
	sem_destroy(&c.done);
	pthread_attr_destroy(&attr);
}

/* ---- fairness ---- */

/* A line each, as struct pcontention's and parcore's. */
struct pfairness {
	_Alignas(64) pthread_mutex_t m;
	_Alignas(64) uint64_t x; /* under m */
	struct bench_count got[BENCH_CONTENDERS_MAX];
	_Alignas(64) atomic_int stop;
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
		f->got[a->i].n++;
	}
	return NULL;
}

void peer_pthread_mutex_fairness(const struct bench_timing *bt,
				 unsigned int k, struct bench_value *v)
{
	static struct pfairness f = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct pfair_arg a[BENCH_CONTENDERS_MAX];
	pthread_t t[BENCH_CONTENDERS_MAX];
	pthread_attr_t attr;
	unsigned int made = 0;
	int err;
	struct timespec ts;
	uint64_t ns = bench_fairness_window_ns(bt);

	err = bench_attr_cpus(&attr, 2);
	if (err) {
		bench_value_missing(v, "thread attributes: %s", strerror(err));
		return;
	}
	memset(f.got, 0, sizeof(f.got));
	atomic_store(&f.stop, 0);
	for (; made < k; made++) {
		a[made] = (struct pfair_arg){ &f, made };
		err = pthread_create(&t[made], &attr, pfair_contender,
				     &a[made]);
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
	pthread_attr_destroy(&attr);
	if (err)
		bench_value_missing(v, "pthread_create: %s", strerror(err));
	else
		bench_value_set(v, bench_spread(f.got, k));
}
