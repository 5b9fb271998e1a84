/*
 * test_sync_races.c - the races of the hand-off (parcore/sync.h), run
 * thousands of times on more vcores than CPUs: time-outs against
 * hand-offs, of mutex and semaphore waiters and of condition waits; a
 * timed-out waiter's removal against the unlock's plain pop; and pushes
 * of a biased mutex queue against the bias's revocation
 * (docs/design/sync.md).
 * A race lost shows as an owner not alone, a count off, a mutex left
 * held, or a waiter never woken (the case's time limit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "rt.h"
#include "test.h"

/*
 * Time-outs racing with hand-offs, thousands of times: deadlines of 0 to
 * 50 us against a mutex and a semaphore held for about as long. A
 * success must own the mutex alone (counted inside) and hold a unit; a
 * time-out must own nothing. At the end the counts match, the mutex is
 * free and every unit is back.
 */
#define RACERS 12
#define RACE_ROUNDS 3000
#define RACE_UNITS 2

static struct pc_mutex race_m = PC_MUTEX_INIT;
static struct pc_sem race_s = PC_SEM_INIT(RACE_UNITS);
static long race_count;            /* under race_m */
static atomic_int race_inside, race_units_out;
static atomic_long race_ok, race_timeouts;

static void hold_briefly(uint32_t r)
{
	uint64_t until = test_now_ns() + r % 20000;

	while (test_now_ns() < until)
		;
	if (r % 4 == 0)
		pc_thread_yield(); /* a no-op from a pthread's side */
}

static void race_round(uint32_t r)
{
	struct timespec d = test_deadline_in(r % 50000);
	int rc;

	rc = r % 2 ? pc_mutex_timedlock(&race_m, &d)
		   : pc_sem_timedwait(&race_s, &d);
	if (rc == -ETIMEDOUT) {
		atomic_fetch_add(&race_timeouts, 1);
		return;
	}
	ASSERT_EQ(rc, 0);
	atomic_fetch_add(&race_ok, 1);
	if (r % 2) {
		ASSERT_EQ(atomic_fetch_add(&race_inside, 1), 0);
		race_count++;
		hold_briefly(r >> 8);
		atomic_fetch_sub(&race_inside, 1);
		ASSERT_EQ(pc_mutex_unlock(&race_m), 0);
	} else {
		ASSERT_LT(atomic_fetch_add(&race_units_out, 1), RACE_UNITS);
		hold_briefly(r >> 8);
		atomic_fetch_sub(&race_units_out, 1);
		ASSERT_EQ(pc_sem_post(&race_s), 0);
	}
}

static void *racer(void *arg)
{
	uint32_t rnd = (uint32_t)(uintptr_t)arg * 2654435761u + 7;

	for (int i = 0; i < RACE_ROUNDS; i++)
		race_round(test_xorshift(&rnd));
	return NULL;
}

TEST(time_outs_racing_with_hand_offs_lose_and_double_nothing)
{
	struct pc_thread *t[RACERS];
	pthread_t p[2];
	long mutex_ok;

	test_enter(8);
	for (uintptr_t i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, racer,
					 (void *)(RACERS + i)),
			  0);
	for (uintptr_t i = 0; i < RACERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, racer, (void *)i), 0);
	for (int i = 0; i < RACERS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_EQ(atomic_load(&race_ok) + atomic_load(&race_timeouts),
		  (RACERS + 2) * RACE_ROUNDS);
	ASSERT_GT(atomic_load(&race_timeouts), 0);
	mutex_ok = race_count;
	ASSERT_GT(mutex_ok, 0);
	ASSERT_EQ(pc_mutex_destroy(&race_m), 0);
	ASSERT_EQ(pc_sem_value(&race_s), RACE_UNITS);
	ASSERT_EQ(pc_sem_destroy(&race_s), 0);
	printf("%ld successes (%ld on the mutex), %ld time-outs\n",
	       atomic_load(&race_ok), mutex_ok, atomic_load(&race_timeouts));
}

/*
 * A timed-out waiter's removal racing with the plain pop: the unlock
 * takes the queue's head without the spinlock while a waiter is queued
 * behind it (mutex.c's hand_off_plain()), and the head, or the waiter
 * behind it, times out and takes itself out at that moment (give_up()).
 * The remover's stop (pops_stop(): `removing`, the fence, the wait
 * while `popping`) is what keeps the two apart. Without it the head
 * leaves the queue and returns -ETIMEDOUT just as the pop makes it the
 * owner (the mutex stays locked, with nobody to unlock it), or the pop
 * makes a waiter that has left the new head (a later pop grants a
 * returned wait: two owners, or none).
 *
 * Steady lockers keep two or more queued, so that unlocks pop plainly:
 * their deadline is far, only to end their waits should the mutex be
 * lost. Two racers queue behind them with deadlines of 0 to 20 us, a
 * few holds, so that they time out at every place in the queue and at
 * every point of a pop; more racers would keep a stop at work nearly
 * always, and the pops on the spinlock's path. More vcores than CPUs:
 * a vcore may also lose its CPU in the middle of a pop. With the stop
 * sabotaged (no count, no wait), 4 steady lockers, holds of 0 to 2 us
 * and deadlines of 0 to 10 us failed 32 runs of 60; as here, 100 of
 * 100. Unsabotaged, a stop found `popping` set 250-350 times a run as
 * here, 0-2 times so.
 *
 * An owner must be alone (counted inside), every acquisition counted
 * under the lock, and at the end the mutex free.
 */
#define PP_STEADY 6
#define PP_RACERS 2
#define PP_VCORES 4
#define PP_ROUNDS 5000
#define PP_HOLD_NS 8000
#define PP_RACE_NS 20000
#define PP_FAR_NS (50 * 1000 * 1000)

static struct pc_mutex pp_m = PC_MUTEX_INIT;
static long pp_count; /* under pp_m */
static atomic_int pp_inside, pp_racing;
static atomic_long pp_ok, pp_raced_ok, pp_timeouts, pp_far_timeouts;

/* One try at @deadline_ns from now: true if it owned the mutex. */
static bool pp_try(uint32_t r, uint64_t deadline_ns)
{
	struct timespec d = test_deadline_in(deadline_ns);
	uint64_t until;
	int rc;

	rc = pc_mutex_timedlock(&pp_m, &d);
	if (rc == -ETIMEDOUT)
		return false;
	ASSERT_EQ(rc, 0);
	ASSERT_EQ(atomic_fetch_add(&pp_inside, 1), 0);
	pp_count++;
	until = test_now_ns() + r % PP_HOLD_NS;
	while (test_now_ns() < until)
		;
	atomic_fetch_sub(&pp_inside, 1);
	ASSERT_EQ(pc_mutex_unlock(&pp_m), 0);
	atomic_fetch_add(&pp_ok, 1);
	return true;
}

static void *pp_steady(void *arg)
{
	uint32_t rnd = (uint32_t)(uintptr_t)arg * 2654435761u + 11;

	while (atomic_load(&pp_racing))
		if (!pp_try(test_xorshift(&rnd), PP_FAR_NS))
			atomic_fetch_add(&pp_far_timeouts, 1);
	return NULL;
}

static void *pp_racer(void *arg)
{
	uint32_t rnd = (uint32_t)(uintptr_t)arg * 2654435761u + 13;

	for (int i = 0; i < PP_ROUNDS; i++) {
		uint32_t r = test_xorshift(&rnd);

		if (pp_try(r, (r >> 12) % PP_RACE_NS))
			atomic_fetch_add(&pp_raced_ok, 1);
		else
			atomic_fetch_add(&pp_timeouts, 1);
	}
	atomic_fetch_sub(&pp_racing, 1);
	return NULL;
}

TEST(time_outs_at_the_head_racing_with_plain_pops_lose_and_double_nothing)
{
	struct pc_thread *s[PP_STEADY], *r[PP_RACERS];
	long ok, raced_ok, timeouts;

	test_enter(PP_VCORES);
	atomic_store(&pp_racing, PP_RACERS);
	for (uintptr_t i = 0; i < PP_STEADY; i++)
		ASSERT_EQ(pc_thread_create(&s[i], NULL, pp_steady, (void *)i),
			  0);
	for (uintptr_t i = 0; i < PP_RACERS; i++)
		ASSERT_EQ(pc_thread_create(&r[i], NULL, pp_racer,
					   (void *)(PP_STEADY + i)),
			  0);
	for (int i = 0; i < PP_RACERS; i++)
		ASSERT_EQ(pc_thread_join(r[i], NULL), 0);
	for (int i = 0; i < PP_STEADY; i++)
		ASSERT_EQ(pc_thread_join(s[i], NULL), 0);
	ok = atomic_load(&pp_ok);
	raced_ok = atomic_load(&pp_raced_ok);
	timeouts = atomic_load(&pp_timeouts);
	printf("%ld acquisitions; racers: %ld acquisitions, %ld time-outs; "
	       "%ld far deadlines passed\n",
	       ok, raced_ok, timeouts, atomic_load(&pp_far_timeouts));
	/* Not lost: nobody owns it, so it is free. */
	ASSERT_EQ(pc_mutex_trylock(&pp_m), 0);
	ASSERT_EQ(pc_mutex_unlock(&pp_m), 0);
	ASSERT_EQ(pc_mutex_destroy(&pp_m), 0);
	ASSERT_EQ(pp_count, ok);
	/* Both outcomes came, or nothing raced. */
	ASSERT_GT(raced_ok, 0);
	ASSERT_GT(timeouts, 0);
}

/* Consumers that wait with deadlines still get every item once. */
static struct pc_mutex tq_m = PC_MUTEX_INIT;
static struct pc_cond tq_c = PC_COND_INIT;
static int tq_items;   /* under tq_m */
static long tq_taken;  /* under tq_m */
static atomic_long tq_timeouts;

#define TQ_ITEMS 20000

static void *tq_consumer(void *arg)
{
	long want = (long)(intptr_t)arg;

	ASSERT_EQ(pc_mutex_lock(&tq_m), 0);
	for (long got = 0; got < want;) {
		struct timespec d = test_deadline_in(test_now_ns() % 30000);
		int rc = 0;

		while (tq_items == 0 && rc == 0)
			rc = pc_cond_timedwait(&tq_c, &tq_m, &d);
		if (rc == -ETIMEDOUT && tq_items == 0) {
			atomic_fetch_add(&tq_timeouts, 1);
			continue;
		}
		ASSERT_TRUE(rc == 0 || rc == -ETIMEDOUT);
		tq_items--;
		tq_taken++;
		got++;
	}
	ASSERT_EQ(pc_mutex_unlock(&tq_m), 0);
	return NULL;
}

static void *tq_producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < TQ_ITEMS; i++) {
		ASSERT_EQ(pc_mutex_lock(&tq_m), 0);
		tq_items++;
		ASSERT_EQ(pc_cond_signal(&tq_c), 0);
		ASSERT_EQ(pc_mutex_unlock(&tq_m), 0);
		if (i % 16 == 0)
			pc_thread_yield();
	}
	return NULL;
}

TEST(condition_waits_with_deadlines_lose_no_item)
{
	struct pc_thread *c[6], *p[3];

	test_enter(8);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_create(&c[i], NULL, tq_consumer,
					   (void *)(intptr_t)(TQ_ITEMS / 2)),
			  0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pc_thread_create(&p[i], NULL, tq_producer, NULL), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pc_thread_join(p[i], NULL), 0);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_join(c[i], NULL), 0);
	ASSERT_EQ(tq_taken, 3L * TQ_ITEMS);
	ASSERT_EQ(tq_items, 0);
	ASSERT_EQ(pc_cond_destroy(&tq_c), 0);
	printf("%ld condition time-outs\n", atomic_load(&tq_timeouts));
}

/*
 * Timed condition waits from plain threads and uthreads together, woken
 * by broadcasts: every waiter returns holding the mutex, and each one
 * that was there for a broadcast returns 0 (never a lost signal).
 */
static struct pc_mutex bc_m = PC_MUTEX_INIT;
static struct pc_cond bc_c = PC_COND_INIT;
static unsigned int bc_round; /* under bc_m: broadcasts made */
static atomic_int bc_inside;
static atomic_long bc_woken, bc_timeouts;

#define BC_ROUNDS 300

static void *bc_waiter(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned int seen;
		int rc = 0;

		ASSERT_EQ(pc_mutex_lock(&bc_m), 0);
		seen = bc_round;
		if (seen >= BC_ROUNDS) {
			ASSERT_EQ(pc_mutex_unlock(&bc_m), 0);
			return NULL;
		}
		while (bc_round == seen && rc == 0) {
			struct timespec d = test_deadline_in(test_now_ns() % 200000);

			rc = pc_cond_timedwait(&bc_c, &bc_m, &d);
			ASSERT_EQ(atomic_fetch_add(&bc_inside, 1), 0);
			atomic_fetch_sub(&bc_inside, 1);
		}
		if (rc == -ETIMEDOUT)
			atomic_fetch_add(&bc_timeouts, 1);
		else
			atomic_fetch_add(&bc_woken, 1);
		ASSERT_EQ(pc_mutex_unlock(&bc_m), 0);
	}
}

static void *bc_pthread_waiter(void *arg)
{
	return bc_waiter(arg);
}

TEST(timed_condition_waits_of_threads_and_uthreads_meet_broadcasts)
{
	struct pc_thread *t[6];
	pthread_t p[2];

	test_enter(4);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, bc_waiter, NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, bc_pthread_waiter, NULL),
			  0);
	for (int r = 0; r < BC_ROUNDS; r++) {
		pc_thread_sleep(test_now_ns() % 100000);
		ASSERT_EQ(pc_mutex_lock(&bc_m), 0);
		bc_round++;
		ASSERT_EQ(pc_cond_broadcast(&bc_c), 0);
		ASSERT_EQ(pc_mutex_unlock(&bc_m), 0);
	}
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_GT(atomic_load(&bc_woken), 0);
	ASSERT_EQ(pc_cond_destroy(&bc_c), 0);
	ASSERT_EQ(pc_mutex_destroy(&bc_m), 0);
	printf("%ld woken by broadcasts, %ld timed out\n",
	       atomic_load(&bc_woken), atomic_load(&bc_timeouts));
}

/*
 * The biased queue (mutex.c): uthreads that queue from one vcore bias
 * the mutex to it, and pthreads that lock it every few microseconds
 * revoke the bias, while that vcore's uthreads go on queueing without
 * the spinlock. A revocation that did not wait for the biased holder to
 * leave, or a push that missed the revocation, links two waiters at one
 * tail: one is never woken (the case's time limit) or two own the mutex
 * (counted inside). The uthreads yield inside every 64th hold, so that
 * the others queue behind from the same vcore; 8 vcores on 2 CPUs, so
 * that a vcore loses its CPU inside a push now and then. Each round
 * starts a fresh mutex, biased again 16 pushes in a row after a
 * revocation at first; the bar's doublings count the revocations, and
 * some must come, or the race was not run. Sabotaged (sync.md, "The
 * biased queue"): without the revoker's wait, 8 runs of 10 failed; with
 * no revocation, 4 of 4.
 */
/* TSan runs a round about 40 times slower; a tenth of them still races. */
#if defined(__SANITIZE_THREAD__)
#define BIAS_ROUNDS 100
#else
#define BIAS_ROUNDS 1000
#endif
#define BIAS_UTHREADS 6
#define BIAS_LOCKS 300 /* per uthread and round */
#define BIAS_PTHREADS 2
#define BIAS_VCORES 8

static struct pc_mutex bias_m;
static long bias_count; /* under bias_m */
static atomic_int bias_inside, bias_on, bias_busy;
static atomic_long bias_revokes;

static void bias_critical(void)
{
	ASSERT_EQ(atomic_fetch_add(&bias_inside, 1), 0);
	bias_count++;
	atomic_fetch_sub(&bias_inside, 1);
}

static void *bias_uthread(void *arg)
{
	(void)arg;
	for (int i = 0; i < BIAS_LOCKS; i++) {
		ASSERT_EQ(pc_mutex_lock(&bias_m), 0);
		bias_critical();
		if (i % 64 == 0)
			pc_thread_yield(); /* the others queue behind */
		ASSERT_EQ(pc_mutex_unlock(&bias_m), 0);
	}
	return NULL;
}

/*
 * Locks while a round is on (bias_on 1), a few microseconds apart; ends
 * at -1. Busy around each look, so that the round's end can wait for
 * the lock of a look made just before it.
 */
static void *bias_pthread(void *arg)
{
	long *mine = arg;
	int on;

	do {
		atomic_fetch_add(&bias_busy, 1);
		on = atomic_load(&bias_on);
		if (on > 0) {
			ASSERT_EQ(pc_mutex_lock(&bias_m), 0);
			bias_critical();
			(*mine)++;
			ASSERT_EQ(pc_mutex_unlock(&bias_m), 0);
		}
		atomic_fetch_sub(&bias_busy, 1);
		if (on == 0)
			sched_yield();
		for (uint64_t until = test_now_ns() + 5000;
		     on > 0 && test_now_ns() < until;)
			;
	} while (on >= 0);
	return NULL;
}

TEST(a_biased_queue_revoked_as_its_vcore_pushes_loses_nothing)
{
	struct pc_thread *t[BIAS_UTHREADS];
	pthread_t p[BIAS_PTHREADS];
	long by_pthreads[BIAS_PTHREADS] = { 0 }, extra = 0;
	int biased_rounds = 0;

	test_enter(BIAS_VCORES);
	for (int i = 0; i < BIAS_PTHREADS; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, bias_pthread,
					 &by_pthreads[i]),
			  0);
	for (int r = 0; r < BIAS_ROUNDS; r++) {
		ASSERT_EQ(pc_mutex_init(&bias_m, PC_MUTEX_NORMAL), 0);
		bias_count = 0;
		atomic_store(&bias_on, 1);
		for (int i = 0; i < BIAS_UTHREADS; i++)
			ASSERT_EQ(pc_thread_create(&t[i], NULL, bias_uthread,
						   NULL),
				  0);
		for (int i = 0; i < BIAS_UTHREADS; i++)
			ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
		atomic_store(&bias_on, 0);
		while (atomic_load(&bias_busy))
			pc_thread_yield();
		ASSERT_GE(bias_count, BIAS_UTHREADS * BIAS_LOCKS);
		extra += bias_count - BIAS_UTHREADS * BIAS_LOCKS;
		atomic_fetch_add(&bias_revokes, bias_m._bias_bar);
		biased_rounds += bias_m._bias_bar > 0;
		ASSERT_EQ(pc_mutex_destroy(&bias_m), 0);
	}
	atomic_store(&bias_on, -1);
	for (int i = 0; i < BIAS_PTHREADS; i++) {
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
		extra -= by_pthreads[i];
	}
	ASSERT_EQ(extra, 0); /* each pthread's lock counted once */
	if (test_asym_fence())
		ASSERT_GT(biased_rounds, 0);
	else
		ASSERT_EQ(biased_rounds, 0); /* no bias without the fence */
	printf("%ld revocations, in %d rounds of %d\n",
	       atomic_load(&bias_revokes), biased_rounds, BIAS_ROUNDS);
}
