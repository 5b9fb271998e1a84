/*
 * stress_sync.c - the validation harness of the synchronization
 * primitives, in the manner of Concurrency Kit's regressions: a small
 * adapter per primitive turns it into a lock (acquire, release), and
 * uthreads on 8 vcores pinned to 2 CPUs, with a pthread beside them,
 * hammer every adapter at once while the provisioner (harness/provision.c)
 * takes vcores away and gives them back at full rate. Only a race can
 * break the invariants:
 *  - exclusion: an owner finds nobody else inside, around a read, a
 *    yield and a write of a shared value;
 *  - counts: each shared value ends at exactly the acquisitions made;
 *  - the reader-writer lock's readers never see a writer inside;
 *  - every message sent on a channel with time-outs is received once;
 *  - nobody passes a barrier round before everyone reached it.
 * A canceller uthread cancels the hammering uthreads' waits at random
 * (pc_sync_cancel()): a cancelled wait takes nothing, and retries.
 * $PC_STRESS_SECONDS sets the duration (default 3).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "provision.h"
#include "rt.h"
#include "test.h"

#define VCORES 8
#define PER_ADAPTER 6 /* uthreads, plus one pthread */

/* ---- adapters: each primitive as a lock ---- */

static struct pc_mutex mtx = PC_MUTEX_INIT;
static struct pc_sem sem = PC_SEM_INIT(1);
static struct pc_rwlock rw = PC_RWLOCK_INIT;
static void *token_slot[1];
static struct pc_chan token = PC_CHAN_BOUNDED_INIT(token_slot, 1);
static struct pc_mutex mon_m = PC_MUTEX_INIT;
static struct pc_cond mon_c = PC_COND_INIT;
static bool mon_busy; /* under mon_m */
static atomic_long timeouts, cancels;

/* A wait that failed: timed out or cancelled; counted, and retried. */
static void failed(int err)
{
	if (err == -ECANCELED) {
		atomic_fetch_add(&cancels, 1);
		return;
	}
	ASSERT_EQ(err, -ETIMEDOUT);
	atomic_fetch_add(&timeouts, 1);
}

/* A deadline 0-30 us away: time-outs race hand-offs. */
static struct timespec soon(uint32_t *seed)
{
	return test_deadline_in(test_xorshift(seed) % 30000);
}

static void lock_retrying(struct pc_mutex *pm);

static void mutex_acquire(uint32_t *seed)
{
	(void)seed;
	lock_retrying(&mtx);
}

static void mutex_release(void)
{
	ASSERT_EQ(pc_mutex_unlock(&mtx), 0);
}

static void mutex_timed_acquire(uint32_t *seed)
{
	for (;;) {
		struct timespec d = soon(seed);
		int err = pc_mutex_timedlock(&mtx, &d);

		if (!err)
			return;
		failed(err);
	}
}

static void sem_acquire(uint32_t *seed)
{
	for (;;) {
		struct timespec d = soon(seed);
		int err = test_xorshift(seed) % 2 ? pc_sem_wait(&sem) :
						    pc_sem_timedwait(&sem, &d);

		if (!err)
			return;
		failed(err);
	}
}

static void sem_release(void)
{
	ASSERT_EQ(pc_sem_post(&sem), 0);
}

static void rw_acquire(uint32_t *seed)
{
	for (;;) {
		struct timespec d = soon(seed);
		int err = test_xorshift(seed) % 2 ?
				  pc_rwlock_wrlock(&rw) :
				  pc_rwlock_timedwrlock(&rw, &d);

		if (!err)
			return;
		failed(err);
	}
}

static void rw_release(void)
{
	ASSERT_EQ(pc_rwlock_unlock(&rw), 0);
}

/* The token: whoever received it holds the lock. */
static void token_acquire(uint32_t *seed)
{
	void *m;

	for (;;) {
		struct timespec d = soon(seed);
		int err = pc_chan_timedrecv(&token, &m, &d);

		if (!err) {
			ASSERT_TRUE(m == &token);
			return;
		}
		failed(err);
	}
}

static void token_release(void)
{
	ASSERT_EQ(pc_chan_trysend(&token, &token), 0); /* never full */
}

static void lock_retrying(struct pc_mutex *pm)
{
	int err;

	while ((err = pc_mutex_lock(pm)))
		failed(err);
}

/* A monitor: a flag under a mutex, waited for on a condition. */
static void monitor_acquire(uint32_t *seed)
{
	int err;

	(void)seed;
	lock_retrying(&mon_m);
	while (mon_busy)
		if ((err = pc_cond_wait(&mon_c, &mon_m)))
			failed(err); /* holding mon_m all the same */
	mon_busy = true;
	ASSERT_EQ(pc_mutex_unlock(&mon_m), 0);
}

static void monitor_release(void)
{
	lock_retrying(&mon_m);
	mon_busy = false;
	ASSERT_EQ(pc_cond_signal(&mon_c), 0);
	ASSERT_EQ(pc_mutex_unlock(&mon_m), 0);
}

struct adapter {
	const char *name;
	void (*acquire)(uint32_t *seed);
	void (*release)(void);
	atomic_int inside;
	long value; /* under the adapter's lock */
	atomic_long acquisitions;
	atomic_int broken;
};

static struct adapter adapters[] = {
	{ .name = "mutex", mutex_acquire, mutex_release },
	{ .name = "mutex, timed", mutex_timed_acquire, mutex_release },
	{ .name = "semaphore of 1", sem_acquire, sem_release },
	{ .name = "rwlock, writers", rw_acquire, rw_release },
	{ .name = "channel token", token_acquire, token_release },
	{ .name = "cond monitor", monitor_acquire, monitor_release },
};
#define NADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

/* One acquisition: alone inside, and the value's increment not lost. */
static void hammer_once(struct adapter *a, uint32_t *seed, bool uthread)
{
	long v;

	a->acquire(seed);
	if (atomic_fetch_add(&a->inside, 1))
		atomic_store(&a->broken, 1);
	v = a->value;
	if (uthread && test_xorshift(seed) % 8 == 0)
		pc_thread_yield(); /* holding it: others queue behind */
	a->value = v + 1;
	atomic_fetch_sub(&a->inside, 1);
	a->release();
	atomic_fetch_add(&a->acquisitions, 1);
}

struct hammer_arg {
	struct adapter *a;
	uint32_t seed;
	bool uthread;
};

static void *hammer(void *arg)
{
	struct hammer_arg *h = arg;

	while (!test_provisioner_done())
		hammer_once(h->a, &h->seed, h->uthread);
	return NULL;
}

/* ---- cancelling the hammers' waits ---- */

static struct pc_thread *hammers[NADAPTERS][PER_ADAPTER];

/* Until the provisioner is done; joined before the hammers are. */
static void *cancel_hammers(void *arg)
{
	uint32_t seed = 4242;

	(void)arg;
	while (!test_provisioner_done()) {
		uint32_t r = test_xorshift(&seed);

		ASSERT_EQ(pc_sync_cancel(hammers[r % NADAPTERS]
						[(r >> 8) % PER_ADAPTER]),
			  0);
		pc_thread_sleep(20 * 1000);
	}
	return NULL;
}

/* ---- readers of the rwlock ---- */

static atomic_long reads;

static void *reader(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg;

	while (!test_provisioner_done()) {
		struct timespec d = soon(&seed);
		int err = pc_rwlock_timedrdlock(&rw, &d);

		if (err == -ETIMEDOUT)
			continue;
		ASSERT_EQ(err, 0);
		if (atomic_load(&adapters[3].inside))
			atomic_store(&adapters[3].broken, 1);
		atomic_fetch_add(&reads, 1);
		ASSERT_EQ(pc_rwlock_unlock(&rw), 0);
	}
	return NULL;
}

/* ---- a channel with time-outs on both sides ---- */

static struct pc_chan flow = PC_CHAN_UNBUFFERED_INIT;
static atomic_long flow_sent, flow_got, flow_sum_sent, flow_sum_got;

static void *flow_side(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg;
	bool sender = (uintptr_t)arg % 2;

	while (!test_provisioner_done()) {
		struct timespec d = soon(&seed);
		void *m = (void *)(uintptr_t)(test_xorshift(&seed) % 4096 + 1);
		int err = sender ? pc_chan_timedsend(&flow, m, &d) :
				   pc_chan_timedrecv(&flow, &m, &d);

		if (err == -ETIMEDOUT)
			continue;
		ASSERT_EQ(err, 0);
		atomic_fetch_add(sender ? &flow_sent : &flow_got, 1);
		atomic_fetch_add(sender ? &flow_sum_sent : &flow_sum_got,
				 (long)(uintptr_t)m);
	}
	return NULL;
}

/* ---- a barrier ---- */

#define PARTIES 4
static struct pc_barrier bar = PC_BARRIER_INIT(PARTIES);
static atomic_int reached[PARTIES], early, rounds_left = -1;
static atomic_long rounds;

static void *party(void *arg)
{
	int me = (int)(uintptr_t)arg;

	for (int r = 0;; r++) {
		/* All parties must agree on the last round: party 0 decides. */
		if (me == 0 && test_provisioner_done() &&
		    atomic_load(&rounds_left) < 0)
			atomic_store(&rounds_left, r + 1);
		atomic_store(&reached[me], r);
		if (pc_barrier_wait(&bar) == PC_BARRIER_SERIAL)
			atomic_fetch_add(&rounds, 1);
		for (int i = 0; i < PARTIES; i++)
			if (atomic_load(&reached[i]) < r)
				atomic_store(&early, 1);
		/* A second wait: party 0's decision is seen by all. */
		pc_barrier_wait(&bar);
		if (atomic_load(&rounds_left) >= 0 &&
		    r + 1 >= atomic_load(&rounds_left))
			return NULL;
	}
}

TEST(every_primitive_keeps_its_invariants_under_preemption)
{
	uint64_t ns = test_stress_ns(3);
	static struct hammer_arg args[NADAPTERS][PER_ADAPTER + 1];
	struct pc_thread *rd[4], *fl[6], *pt[PARTIES], *canceller;
	pthread_t p[NADAPTERS];
	long changes;

	test_enter(VCORES);
	ASSERT_EQ(pc_chan_send(&token, &token), 0);
	test_provisioner_start(VCORES, ns);
	for (unsigned int a = 0; a < NADAPTERS; a++) {
		for (int i = 0; i <= PER_ADAPTER; i++)
			args[a][i] = (struct hammer_arg){
				&adapters[a], a * 131u + (uint32_t)i * 7u + 1,
				i < PER_ADAPTER
			};
		for (int i = 0; i < PER_ADAPTER; i++)
			ASSERT_EQ(pc_thread_create(&hammers[a][i], NULL, hammer,
						   &args[a][i]),
				  0);
		ASSERT_EQ(pthread_create(&p[a], NULL, hammer,
					 &args[a][PER_ADAPTER]),
			  0);
	}
	for (uintptr_t i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_create(&rd[i], NULL, reader,
					   (void *)(i + 991)),
			  0);
	for (uintptr_t i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_create(&fl[i], NULL, flow_side,
					   (void *)(i + 17)),
			  0);
	for (uintptr_t i = 0; i < PARTIES; i++)
		ASSERT_EQ(pc_thread_create(&pt[i], NULL, party, (void *)i), 0);
	ASSERT_EQ(pc_thread_create(&canceller, NULL, cancel_hammers, NULL), 0);

	while (!test_provisioner_done())
		pc_thread_sleep(10 * 1000 * 1000);
	changes = test_provisioner_join();
	ASSERT_EQ(pc_thread_join(canceller, NULL), 0);
	for (unsigned int a = 0; a < NADAPTERS; a++) {
		for (int i = 0; i < PER_ADAPTER; i++)
			ASSERT_EQ(pc_thread_join(hammers[a][i], NULL), 0);
		ASSERT_EQ(pthread_join(p[a], NULL), 0);
	}
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_join(rd[i], NULL), 0);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_join(fl[i], NULL), 0);
	for (int i = 0; i < PARTIES; i++)
		ASSERT_EQ(pc_thread_join(pt[i], NULL), 0);

	printf("  %ld core changes; %ld time-outs, %ld cancellations, %ld "
	       "reads, %ld messages, %ld barrier rounds\n",
	       changes, atomic_load(&timeouts), atomic_load(&cancels),
	       atomic_load(&reads),
	       atomic_load(&flow_got), atomic_load(&rounds));
	for (unsigned int a = 0; a < NADAPTERS; a++) {
		printf("  %-16s %ld acquisitions\n", adapters[a].name,
		       atomic_load(&adapters[a].acquisitions));
		ASSERT_EQ(atomic_load(&adapters[a].broken), 0);
		ASSERT_EQ(adapters[a].value,
			  atomic_load(&adapters[a].acquisitions));
		ASSERT_GT(adapters[a].value, 0);
	}
	ASSERT_EQ(atomic_load(&flow_sent), atomic_load(&flow_got));
	ASSERT_EQ(atomic_load(&flow_sum_sent), atomic_load(&flow_sum_got));
	ASSERT_EQ(atomic_load(&early), 0);
	ASSERT_GT(atomic_load(&rounds), 0);
	ASSERT_EQ(pc_mutex_destroy(&mtx), 0);
	ASSERT_EQ(pc_sem_value(&sem), 1);
	ASSERT_EQ(pc_rwlock_destroy(&rw), 0);
	ASSERT_EQ(pc_chan_len(&token), 1);
	ASSERT_EQ(pc_chan_destroy(&flow), 0);
	ASSERT_EQ(pc_barrier_destroy(&bar), 0);
}
