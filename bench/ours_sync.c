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
#include <stdbool.h>

/* The lock, the data and the harness's words: a line each (as the peer's). */
struct contention {
	_Alignas(64) struct pc_mutex m;
	_Alignas(64) uint64_t x; /* under m */
	_Alignas(64) unsigned int k;
	uint64_t per;       /* acquisitions per contender */
	struct pc_sem done; /* a unit per contender through its share */
	atomic_int stop;
	/* Contender i's start: each does exactly one share per batch. */
	struct pc_sem go[BENCH_CONTENDERS_MAX];
};

struct contender_arg {
	struct contention *c;
	unsigned int i;
};

static void *contender(void *arg)
{
	struct contender_arg *a = arg;
	struct contention *c = a->c;

	for (;;) {
		pc_sem_wait(&c->go[a->i]);
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
		pc_sem_post(&c->go[i]);
	for (unsigned int i = 0; i < c->k; i++)
		pc_sem_wait(&c->done);
	return 0;
}

static void ours_mutex(void *arg, struct bench_value *v, unsigned int k)
{
	static struct contention c = { .m = PC_MUTEX_INIT,
				       .done = PC_SEM_INIT(0) };
	struct contender_arg a[BENCH_CONTENDERS_MAX];
	struct pc_thread *t[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	int err = 0;

	if (ours_enter_vcores(2, v))
		return;
	c.k = k;
	for (unsigned int i = 0; i < k; i++)
		pc_sem_init(&c.go[i], 0);
	for (; made < k; made++) {
		a[made] = (struct contender_arg){ &c, made };
		err = pc_thread_create(&t[made], NULL, contender, &a[made]);
		if (err)
			break;
	}
	ours_measure_made(arg, v, err, contention_batch, &c);
	atomic_store(&c.stop, 1);
	for (unsigned int i = 0; i < made; i++) {
		pc_sem_post(&c.go[i]);
		pc_thread_join(t[i], NULL);
	}
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

/*
 * ---- the floor of a strict-FIFO hand-off ----
 *
 * While k contenders always wait, strict FIFO makes every acquisition
 * the next contender's: each one costs at least a switch to another
 * uthread, plus the lock and unlock themselves. This ring does just
 * that on one vcore, with nothing to hand off: each uthread takes the
 * mutex uncontended around bench_critical(), lets it go and switches
 * straight to the next (pc_thread_switch()). A time per acquisition
 * below this one is out of reach for any strict-FIFO lock of parcore's.
 */
struct ring {
	struct pc_mutex m;
	uint64_t x; /* under m */
	unsigned int k;
	unsigned int next; /* whose turn it is */
	uint64_t left;     /* turns left in the batch */
	struct pc_thread *main, *t[BENCH_CONTENDERS_MAX];
	int err;
	bool stop;
};

struct ring_member {
	struct ring *r;
	unsigned int i;
	bool done; /* it left the ring: a switch to it would fail */
};

static void *ring_turns(void *arg)
{
	struct ring_member *me = arg;
	struct ring *r = me->r;
	int err = pc_thread_park();

	while (!err && !r->stop) {
		pc_mutex_lock(&r->m);
		bench_critical(&r->x);
		pc_mutex_unlock(&r->m);
		r->next = (me->i + 1) % r->k;
		err = ours_switch_when_parked(--r->left ? r->t[r->next] : r->main);
	}
	if (err)
		r->err = err;
	me->done = true;
	pc_thread_unpark(r->main);
	return NULL;
}

static int ring_batch(void *arg, uint64_t n)
{
	struct ring *r = arg;
	int err;

	r->left = n;
	err = ours_switch_when_parked(r->t[r->next]);
	return err ? err : r->err;
}

static void ours_fifo_floor(void *arg, struct bench_value *v, unsigned int k)
{
	static struct ring r = { .m = PC_MUTEX_INIT };
	struct ring_member members[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	int err = 0;

	if (ours_enter_vcores(1, v))
		return;
	r.k = k;
	r.main = pc_thread_self();
	for (; made < k && !err; made++) {
		members[made] = (struct ring_member){ &r, made, false };
		err = pc_thread_create(&r.t[made], NULL, ring_turns,
				       &members[made]);
	}
	if (err)
		made--;
	ours_measure_made(arg, v, err, ring_batch, &r);
	r.stop = true;
	for (unsigned int i = 0; i < made; i++) {
		/* It sees stop, makes this one runnable again and exits. */
		if (!members[i].done)
			ours_switch_when_parked(r.t[i]);
		pc_thread_join(r.t[i], NULL);
	}
}

void ours_fifo_floor_2(void *arg, struct bench_value *v)
{
	ours_fifo_floor(arg, v, 2);
}

void ours_fifo_floor_8(void *arg, struct bench_value *v)
{
	ours_fifo_floor(arg, v, 8);
}

void ours_fifo_floor_64(void *arg, struct bench_value *v)
{
	ours_fifo_floor(arg, v, 64);
}

/* ---- ping-pong between two uthreads on one vcore ---- */

enum { PING, PONG };

struct cond_pingpong {
	struct pc_mutex m;
	struct pc_cond c;
	int turn; /* under m */
	int stop; /* under m */
};

/* Passes every turn straight back until told to stop. */
static void *cond_pong(void *arg)
{
	struct cond_pingpong *pp = arg;

	pc_mutex_lock(&pp->m);
	for (;;) {
		while (pp->turn != PONG && !pp->stop)
			pc_cond_wait(&pp->c, &pp->m);
		if (pp->stop)
			break;
		pp->turn = PING;
		pc_cond_signal(&pp->c);
	}
	pc_mutex_unlock(&pp->m);
	return NULL;
}

static int cond_ping_batch(void *arg, uint64_t n)
{
	struct cond_pingpong *pp = arg;

	pc_mutex_lock(&pp->m);
	while (n--) {
		pp->turn = PONG;
		pc_cond_signal(&pp->c);
		while (pp->turn != PING)
			pc_cond_wait(&pp->c, &pp->m);
	}
	pc_mutex_unlock(&pp->m);
	return 0;
}

void ours_cond_pingpong(void *arg, struct bench_value *v)
{
	static struct cond_pingpong pp = { PC_MUTEX_INIT, PC_COND_INIT, PING,
					   0 };
	struct pc_thread *pong;
	double ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	err = pc_thread_create(&pong, NULL, cond_pong, &pp);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	err = bench_measure(arg, cond_ping_batch, &pp, &ns);
	pc_mutex_lock(&pp.m);
	pp.stop = 1;
	pc_cond_signal(&pp.c);
	pc_mutex_unlock(&pp.m);
	pc_thread_join(pong, NULL);
	if (err)
		ours_failed(v, "measuring", err);
	else
		bench_value_set(v, ns);
}

struct chan_pingpong {
	struct pc_chan ping, pong; /* unbuffered */
};

/* Echoes every message until the channel closes. */
static void *chan_pong(void *arg)
{
	struct chan_pingpong *pp = arg;
	void *m;

	while (!pc_chan_recv(&pp->pong, &m))
		pc_chan_send(&pp->ping, m);
	return NULL;
}

static int chan_ping_batch(void *arg, uint64_t n)
{
	struct chan_pingpong *pp = arg;
	void *m;
	int err;

	while (n--) {
		err = pc_chan_send(&pp->pong, (void *)(uintptr_t)n);
		if (!err)
			err = pc_chan_recv(&pp->ping, &m);
		if (err)
			return err;
		if (m != (void *)(uintptr_t)n)
			return -EPROTO;
	}
	return 0;
}

void ours_chan_pingpong(void *arg, struct bench_value *v)
{
	static struct chan_pingpong pp = { PC_CHAN_UNBUFFERED_INIT,
					   PC_CHAN_UNBUFFERED_INIT };
	struct pc_thread *pong;
	double ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	err = pc_thread_create(&pong, NULL, chan_pong, &pp);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	err = bench_measure(arg, chan_ping_batch, &pp, &ns);
	pc_chan_close(&pp.pong);
	pc_thread_join(pong, NULL);
	if (err)
		ours_failed(v, "measuring", err);
	else
		bench_value_set(v, ns);
}

/* ---- fairness ---- */

/* A line each, as the peer's. */
struct fairness {
	_Alignas(64) struct pc_mutex m;
	_Alignas(64) uint64_t x; /* under m */
	struct bench_count got[BENCH_CONTENDERS_MAX]; /* each contender's own */
	_Alignas(64) atomic_int stop;
};

struct fair_arg {
	struct fairness *f;
	unsigned int i;
};

static void *fair_contender(void *arg)
{
	struct fair_arg *a = arg;
	struct fairness *f = a->f;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		pc_mutex_lock(&f->m);
		bench_critical(&f->x);
		pc_mutex_unlock(&f->m);
		f->got[a->i].n++;
	}
	return NULL;
}

void ours_mutex_fairness_8(void *arg, struct bench_value *v)
{
	static struct fairness f = { .m = PC_MUTEX_INIT };
	struct fair_arg a[8];
	struct pc_thread *t[8];
	unsigned int made = 0;
	int err = 0;

	if (ours_enter_vcores(2, v))
		return;
	for (; made < 8 && !err; made++) {
		a[made] = (struct fair_arg){ &f, made };
		err = pc_thread_create(&t[made], NULL, fair_contender,
				       &a[made]);
	}
	if (!err)
		pc_thread_sleep(bench_fairness_window_ns(arg));
	atomic_store(&f.stop, 1);
	for (unsigned int i = 0; i < made - (err != 0); i++)
		pc_thread_join(t[i], NULL);
	if (err)
		ours_failed(v, "pc_thread_create", err);
	else
		bench_value_set(v, bench_spread(f.got, 8));
}
