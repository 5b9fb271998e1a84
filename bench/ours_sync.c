/*
 * ours_sync.c - parcore's side of the contended-mutex benchmarks: k
 * uthreads on 2 vcores each take one pc_mutex, run bench_critical() and
 * let go, over and over; the figure is the time per acquisition. The
 * contenders are made once; each batch hands them their share (n / k)
 * and waits until all are done, so no creation is timed. Both waits
 * block on semaphores, as Go's peer blocks on a WaitGroup: a thread
 * polling with yields would share the vcores with the contenders. The peers:
 * peers/pthread_mutex.c, go/mutex.go.
 */
#include "ours.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>

struct contention {
	struct pc_mutex m;
	uint64_t x; /* under m */
	unsigned int k;
	uint64_t per;       /* acquisitions per contender */
	struct pc_sem go;   /* a unit per contender starts a batch */
	struct pc_sem done; /* a unit per contender through it */
	atomic_int stop;
};

static void *contender(void *arg)
{
	struct contention *c = arg;

	for (;;) {
		pc_sem_wait(&c->go);
		if (atomic_load(&c->stop))
			return NULL;
		for (uint64_t i = 0; i < c->per; i++) {
			pc_mutex_lock(&c->m);
			bench_critical(&c->x);
			pc_mutex_unlock(&c->m);
		}
		pc_sem_post(&c->done);
	}
}

static int contention_batch(void *arg, uint64_t n)
{
	struct contention *c = arg;

	c->per = n / c->k ? n / c->k : 1;
	for (unsigned int i = 0; i < c->k; i++)
		pc_sem_post(&c->go);
	for (unsigned int i = 0; i < c->k; i++)
		pc_sem_wait(&c->done);
	return 0;
}

static void ours_mutex(void *arg, struct bench_value *v, unsigned int k)
{
	static struct contention c = { .m = PC_MUTEX_INIT,
				       .go = PC_SEM_INIT(0),
				       .done = PC_SEM_INIT(0) };
	struct pc_thread *t[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	double ns;
	int err = 0;

	if (ours_enter_vcores(2, v))
		return;
	c.k = k;
	while (made < k && !err)
		err = pc_thread_create(&t[made++], NULL, contender, &c);
	if (err) {
		made--;
		ours_failed(v, "pc_thread_create", err);
	} else {
		err = bench_measure(arg, contention_batch, &c, &ns);
		if (err)
			ours_failed(v, "measuring", err);
		else
			bench_value_set(v, ns);
	}
	atomic_store(&c.stop, 1);
	for (unsigned int i = 0; i < made; i++)
		pc_sem_post(&c.go);
	for (unsigned int i = 0; i < made; i++)
		pc_thread_join(t[i], NULL);
}

void ours_mutex_2(void *arg, struct bench_value *v)
{
	ours_mutex(arg, v, 2);
}

void ours_mutex_8(void *arg, struct bench_value *v)
{
	ours_mutex(arg, v, 8);
}

void ours_mutex_64(void *arg, struct bench_value *v)
{
	ours_mutex(arg, v, 64);
}
