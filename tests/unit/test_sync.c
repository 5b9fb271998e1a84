/*
 * test_sync.c - mutex, condition variable and semaphore (parcore/sync.h):
 * FIFO hand-off (waiters that queued in a known order own the lock in
 * that order, and a woken waiter already owns it), exact counts under
 * contention from uthreads on 8 vcores and pthreads together, a signal
 * that moves its waiter onto the mutex's queue, and every error return.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "../../src/lib/internal.h"
#include "rt.h"
#include "test.h"

/* Waiters queued on @m now, counted under its spinlock. */
static int queued(struct pc_mutex *m)
{
	struct pc__spinlock *l = (struct pc__spinlock *)&m->_lock;
	int n = 0;

	pc__spin_lock(l);
	for (struct pc__waiter *w = m->_head; w; w = w->next)
		n++;
	pc__spin_unlock(l);
	return n;
}

/* ---- bad input ---- */

TEST(bad_input_is_refused_and_changes_nothing)
{
	struct pc_mutex m = PC_MUTEX_INIT;
	struct pc_mutex e = PC_MUTEX_ERRORCHECK_INIT;
	struct pc_cond c = PC_COND_INIT;
	struct pc_sem s = PC_SEM_INIT(1);

	ASSERT_EQ(pc_mutex_init(NULL, PC_MUTEX_NORMAL), -EINVAL);
	ASSERT_EQ(pc_mutex_init(&m, 7), -EINVAL);
	ASSERT_EQ(pc_mutex_lock(NULL), -EINVAL);
	ASSERT_EQ(pc_mutex_unlock(&m), -EPERM); /* not locked */
	ASSERT_EQ(pc_mutex_unlock(&e), -EPERM);
	ASSERT_EQ(pc_mutex_lock(&e), 0);
	ASSERT_EQ(pc_mutex_lock(&e), -EDEADLK);
	ASSERT_EQ(pc_mutex_trylock(&e), -EDEADLK);
	ASSERT_EQ(pc_mutex_destroy(&e), -EBUSY);
	ASSERT_EQ(pc_mutex_unlock(&e), 0);
	ASSERT_EQ(pc_mutex_destroy(&e), 0);
	ASSERT_EQ(pc_cond_wait(&c, &m), -EPERM); /* m not held */
	ASSERT_EQ(pc_cond_wait(NULL, &m), -EINVAL);
	ASSERT_EQ(pc_sem_init(&s, -1), -EINVAL);
	ASSERT_EQ(pc_sem_init(&s, (long)PC_SEM_MAX + 1), -EINVAL);
	ASSERT_EQ(pc_sem_value(&s), 1);
	ASSERT_EQ(pc_sem_init(&s, PC_SEM_MAX), 0);
	ASSERT_EQ(pc_sem_post(&s), -EOVERFLOW);
	ASSERT_EQ(pc_sem_value(&s), PC_SEM_MAX);
	ASSERT_EQ(pc_sem_init(&s, 0), 0);
	ASSERT_EQ(pc_sem_trywait(&s), -EAGAIN);
}

static struct pc_mutex shared_e = PC_MUTEX_ERRORCHECK_INIT;

static void *unlock_other(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_mutex_unlock(&shared_e);
}

TEST(an_error_checking_mutex_refuses_another_owners_unlock)
{
	pthread_t p;
	void *rc;

	ASSERT_EQ(pc_mutex_lock(&shared_e), 0);
	ASSERT_EQ(pthread_create(&p, NULL, unlock_other, NULL), 0);
	ASSERT_EQ(pthread_join(p, &rc), 0);
	ASSERT_EQ((int)(intptr_t)rc, -EPERM);
	ASSERT_EQ(pc_mutex_unlock(&shared_e), 0);
}

/* ---- FIFO hand-off ---- */

#define QUEUED 16

static struct pc_mutex fifo_m = PC_MUTEX_INIT;
static int order[QUEUED];   /* who owned it, in turn (under fifo_m) */
static int nr_owned;

static void *lock_in_turn(void *arg)
{
	int me = (int)(intptr_t)arg;

	ASSERT_EQ(pc_mutex_lock(&fifo_m), 0);
	order[nr_owned++] = me;
	ASSERT_EQ(pc_mutex_unlock(&fifo_m), 0);
	return NULL;
}

/*
 * Main holds the lock while the lockers queue one at a time (each is
 * started only once the one before is queued), then lets go: they must
 * own it in the order they queued.
 */
TEST(waiters_own_the_mutex_in_the_order_they_queued)
{
	struct pc_thread *t[QUEUED];

	test_enter(4);
	ASSERT_EQ(pc_mutex_lock(&fifo_m), 0);
	for (int i = 0; i < QUEUED; i++) {
		ASSERT_EQ(pc_thread_create(&t[i], NULL, lock_in_turn,
					   (void *)(intptr_t)i),
			  0);
		while (queued(&fifo_m) <= i)
			pc_thread_yield();
	}
	ASSERT_EQ(pc_mutex_unlock(&fifo_m), 0);
	for (int i = 0; i < QUEUED; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(nr_owned, QUEUED);
	for (int i = 0; i < QUEUED; i++)
		ASSERT_EQ(order[i], i);
}

/* ---- counts under contention ---- */

#define ROUNDS 20000

static struct pc_mutex count_m = PC_MUTEX_INIT;
static long counter;       /* under count_m */
static atomic_int inside;  /* owners at once: must stay 1 */

static void critical(void)
{
	ASSERT_EQ(atomic_fetch_add(&inside, 1), 0);
	counter++;
	atomic_fetch_sub(&inside, 1);
}

static void *bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (i % 3 == 0) {
			while (pc_mutex_trylock(&count_m) != 0)
				pc_thread_yield();
		} else {
			ASSERT_EQ(pc_mutex_lock(&count_m), 0);
		}
		critical();
		if (i % 7 == 0)
			pc_thread_yield(); /* held across a switch */
		ASSERT_EQ(pc_mutex_unlock(&count_m), 0);
	}
	return NULL;
}

static void *bump_pthread(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(pc_mutex_lock(&count_m), 0);
		critical();
		ASSERT_EQ(pc_mutex_unlock(&count_m), 0);
	}
	return NULL;
}

TEST(uthreads_on_eight_vcores_and_pthreads_count_exactly)
{
	struct pc_thread *t[16];
	pthread_t p[2];

	test_enter(8);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, bump_pthread, NULL), 0);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, bump, NULL), 0);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_EQ(counter, 18L * ROUNDS);
	ASSERT_EQ(pc_mutex_destroy(&count_m), 0);
}

/* ---- condition variable ---- */

static struct pc_mutex cm = PC_MUTEX_INIT;
static struct pc_cond cv = PC_COND_INIT;
static int items;          /* under cm */
static long consumed;      /* under cm */

#define ITEMS 20000

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		ASSERT_EQ(pc_mutex_lock(&cm), 0);
		items++;
		ASSERT_EQ(i % 5 ? pc_cond_signal(&cv) : pc_cond_broadcast(&cv),
			  0);
		ASSERT_EQ(pc_mutex_unlock(&cm), 0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long want = (long)(intptr_t)arg;

	for (long i = 0; i < want; i++) {
		ASSERT_EQ(pc_mutex_lock(&cm), 0);
		while (items == 0)
			ASSERT_EQ(pc_cond_wait(&cv, &cm), 0);
		items--;
		consumed++;
		ASSERT_EQ(pc_mutex_unlock(&cm), 0);
	}
	return NULL;
}

TEST(producers_and_consumers_hand_over_every_item)
{
	struct pc_thread *p[4], *c[8];

	test_enter(8);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(pc_thread_create(&c[i], NULL, consumer,
					   (void *)(intptr_t)(ITEMS / 2)),
			  0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_create(&p[i], NULL, producer, NULL), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_join(p[i], NULL), 0);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(pc_thread_join(c[i], NULL), 0);
	ASSERT_EQ(consumed, 4L * ITEMS);
	ASSERT_EQ(items, 0);
	ASSERT_EQ(pc_cond_destroy(&cv), 0);
}

static struct pc_mutex sig_m = PC_MUTEX_INIT;
static struct pc_cond sig_c = PC_COND_INIT;
static atomic_int woke_order[4], nr_woke;
static int ready;

static void *wait_signal(void *arg)
{
	ASSERT_EQ(pc_mutex_lock(&sig_m), 0);
	ready++;
	ASSERT_EQ(pc_cond_wait(&sig_c, &sig_m), 0);
	/* Woken holding the mutex, in the order signaled. */
	atomic_store(&woke_order[atomic_fetch_add(&nr_woke, 1)],
		     (int)(intptr_t)arg);
	ASSERT_EQ(pc_mutex_unlock(&sig_m), 0);
	return NULL;
}

/* Waiters count under the condition variable's spinlock. */
static int cond_waiters(struct pc_cond *c)
{
	struct pc__spinlock *l = (struct pc__spinlock *)&c->_lock;
	int n = 0;

	pc__spin_lock(l);
	for (struct pc__waiter *w = c->_head; w; w = w->next)
		n++;
	pc__spin_unlock(l);
	return n;
}

/*
 * A broadcast while main holds the mutex moves the waiters onto its
 * queue, in order: none runs until main unlocks, then each owns it in
 * turn, in the order they waited.
 */
TEST(a_broadcast_moves_the_waiters_onto_the_mutex_in_order)
{
	struct pc_thread *t[4];

	test_enter(4);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pc_thread_create(&t[i], NULL, wait_signal,
					   (void *)(intptr_t)i),
			  0);
		while (cond_waiters(&sig_c) <= i)
			pc_thread_yield();
	}
	ASSERT_EQ(pc_mutex_lock(&sig_m), 0);
	ASSERT_EQ(pc_cond_broadcast(&sig_c), 0);
	ASSERT_EQ(cond_waiters(&sig_c), 0);
	ASSERT_EQ(queued(&sig_m), 4);
	ASSERT_EQ(atomic_load(&nr_woke), 0);
	ASSERT_EQ(pc_mutex_unlock(&sig_m), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(atomic_load(&woke_order[i]), i);
}

static struct pc_mutex other_m = PC_MUTEX_INIT;

static void *wait_with_other_mutex(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_mutex_lock(&other_m), 0);
	ASSERT_EQ(pc_cond_wait(&sig_c, &other_m), -EINVAL);
	ASSERT_EQ(pc_mutex_unlock(&other_m), 0);
	return NULL;
}

TEST(a_second_mutex_on_one_condition_variable_is_refused)
{
	struct pc_thread *t, *u;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&t, NULL, wait_signal, (void *)0), 0);
	while (cond_waiters(&sig_c) == 0)
		pc_thread_yield();
	ASSERT_EQ(pc_thread_create(&u, NULL, wait_with_other_mutex, NULL), 0);
	ASSERT_EQ(pc_thread_join(u, NULL), 0);
	ASSERT_EQ(pc_cond_destroy(&sig_c), -EBUSY);
	ASSERT_EQ(pc_mutex_lock(&sig_m), 0);
	ASSERT_EQ(pc_cond_signal(&sig_c), 0);
	ASSERT_EQ(pc_mutex_unlock(&sig_m), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/* ---- semaphore ---- */

static struct pc_sem sem = PC_SEM_INIT(0);
static atomic_long sem_taken;

static void *sem_taker(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++) {
		if (i % 4 == 0) {
			while (pc_sem_trywait(&sem) != 0)
				pc_thread_yield();
		} else {
			ASSERT_EQ(pc_sem_wait(&sem), 0);
		}
		atomic_fetch_add(&sem_taken, 1);
	}
	return NULL;
}

static void *sem_poster(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		ASSERT_EQ(pc_sem_post(&sem), 0);
	return NULL;
}

TEST(every_posted_unit_is_taken_once)
{
	struct pc_thread *t[12];
	pthread_t p;

	test_enter(8);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, sem_taker,
					   (void *)(intptr_t)5000),
			  0);
	for (int i = 8; i < 12; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, sem_poster,
					   (void *)(intptr_t)7500),
			  0);
	ASSERT_EQ(pthread_create(&p, NULL, sem_poster, (void *)(intptr_t)10000),
		  0);
	for (int i = 0; i < 12; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	ASSERT_EQ(atomic_load(&sem_taken), 40000);
	ASSERT_EQ(pc_sem_value(&sem), 0);
	ASSERT_EQ(pc_sem_destroy(&sem), 0);
}

/* ---- vcore context ---- */

static atomic_int handler_rc = 1;

static void in_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_store(&handler_rc, pc_mutex_lock(&count_m));
}

TEST(a_handler_cannot_block_on_a_mutex)
{
	struct pc_event ev = { .type = PC_EV_USER };

	test_enter(2);
	ASSERT_EQ(pc_mutex_lock(&count_m), 0);
	ASSERT_EQ(pc_event_handler_set(PC_EV_USER, in_handler, NULL), 0);
	ASSERT_EQ(pc_event_send(1 - pc_vcore_id(), &ev, PC_EVF_NOTIFY), 0);
	while (atomic_load(&handler_rc) == 1)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&handler_rc), -EPERM);
	ASSERT_EQ(pc_mutex_unlock(&count_m), 0);
}
