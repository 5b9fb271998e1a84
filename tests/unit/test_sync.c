/*
 * test_sync.c - mutex, condition variable and semaphore (parcore/sync.h):
 * FIFO hand-off (waiters that queued in a known order own the lock in
 * that order, and a woken waiter already owns it), exact counts under
 * contention from uthreads on 8 vcores and pthreads together, a signal
 * that moves its waiter onto the mutex's queue, and every error return.
 * The races of timed waits and of the queue: test_sync_races.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <time.h>

#include "rt.h"
#include "test.h"

/* Waiters queued on @m now, its heir included (mutex.c). */
static int queued(struct pc_mutex *m)
{
	return test_mutex_waiters(m) +
	       (__atomic_load_n(&m->_heir, __ATOMIC_RELAXED) != NULL);
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

static struct pc_mutex ec = PC_MUTEX_ERRORCHECK_INIT;
static atomic_int ec_errors;

static void *lock_unlock_errorcheck(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200000; i++) {
		if (pc_mutex_lock(&ec) != 0 || pc_mutex_unlock(&ec) != 0)
			atomic_fetch_add(&ec_errors, 1);
	}
	return NULL;
}

/* A correct program gets no error: an old owner is never taken as now. */
TEST(an_error_checking_mutex_passed_between_pthreads_reports_nothing)
{
	pthread_t p[2];

	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, lock_unlock_errorcheck,
					 NULL),
			  0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_EQ(atomic_load(&ec_errors), 0);
}

TEST(main_keeps_its_locks_across_entering_multicore_mode)
{
	ASSERT_EQ(pc_mutex_lock(&ec), 0);
	test_enter(2);
	ASSERT_EQ(pc_mutex_lock(&ec), -EDEADLK);
	ASSERT_EQ(pc_mutex_unlock(&ec), 0);
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

/* Waiters queued on @c now. */
static int cond_waiters(struct pc_cond *c)
{
	return test_waiters(&c->_lock, &c->_head);
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

/*
 * A signal by the owner with nobody queued makes the waiter the mutex's
 * heir; a locker that comes later queues behind it. With the locker
 * queued first, the signaled waiter queues behind the locker. Either
 * way they own the mutex in the order they reached its queue.
 */
static struct pc_mutex heir_m = PC_MUTEX_INIT;
static struct pc_cond heir_c = PC_COND_INIT;
static int heir_order[2], heir_owned; /* under heir_m */

static void *heir_waiter(void *arg)
{
	ASSERT_EQ(pc_mutex_lock(&heir_m), 0);
	ASSERT_EQ(pc_cond_wait(&heir_c, &heir_m), 0);
	heir_order[heir_owned++] = (int)(intptr_t)arg;
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	return NULL;
}

static void *heir_locker(void *arg)
{
	ASSERT_EQ(pc_mutex_lock(&heir_m), 0);
	heir_order[heir_owned++] = (int)(intptr_t)arg;
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	return NULL;
}

/* The waiter waits; main signals before a locker queues, or after. */
static void signal_and_lock_in_order(bool lock_first)
{
	struct pc_thread *w, *l;

	heir_owned = 0;
	ASSERT_EQ(pc_thread_create(&w, NULL, heir_waiter, (void *)0), 0);
	while (cond_waiters(&heir_c) == 0)
		pc_thread_yield();
	ASSERT_EQ(pc_mutex_lock(&heir_m), 0);
	if (!lock_first)
		ASSERT_EQ(pc_cond_signal(&heir_c), 0);
	ASSERT_EQ(pc_thread_create(&l, NULL, heir_locker, (void *)1), 0);
	while (queued(&heir_m) < (lock_first ? 1 : 2))
		pc_thread_yield();
	if (lock_first)
		ASSERT_EQ(pc_cond_signal(&heir_c), 0);
	ASSERT_EQ(queued(&heir_m), 2);
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	ASSERT_EQ(pc_thread_join(w, NULL), 0);
	ASSERT_EQ(pc_thread_join(l, NULL), 0);
	ASSERT_EQ(heir_owned, 2);
	ASSERT_EQ(heir_order[0], lock_first ? 1 : 0);
	ASSERT_EQ(heir_order[1], lock_first ? 0 : 1);
	ASSERT_EQ(pc_mutex_destroy(&heir_m), 0);
}

TEST(a_signaled_waiter_and_a_locker_own_the_mutex_in_queue_order)
{
	test_enter(2);
	signal_and_lock_in_order(false);
	signal_and_lock_in_order(true);
}

/*
 * A timed wait signaled by the owner, its deadline passing while the
 * owner still holds the mutex, and a cancelled one: signaled first, both
 * return 0 once the owner unlocks, owning the mutex in turn. No timing
 * is assumed: a round where a deadline passes before the broadcast moved
 * both waiters (a loaded machine) is run again with a longer deadline.
 */
static atomic_int heir_rc[2];
static uint64_t heir_wait_ns;

static void *heir_timed_waiter(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct timespec d = test_deadline_in(heir_wait_ns);

	ASSERT_EQ(pc_mutex_lock(&heir_m), 0);
	atomic_store(&heir_rc[i], pc_cond_timedwait(&heir_c, &heir_m, &d));
	ASSERT_EQ(pc_mutex_trylock(&heir_m), -EBUSY); /* held, by itself */
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	return NULL;
}

/*
 * Starts the two waiters, *@started of them, and broadcasts holding the
 * mutex; false, the mutex not held, if a deadline passed too soon.
 */
static bool heir_waiters_queue(struct pc_thread *t[2], int *started)
{
	for (*started = 0; *started < 2; ++*started) {
		int i = *started;

		atomic_store(&heir_rc[i], 1);
		ASSERT_EQ(pc_thread_create(&t[i], NULL, heir_timed_waiter,
					   (void *)(intptr_t)i),
			  0);
		while (cond_waiters(&heir_c) <= i) {
			if (atomic_load(&heir_rc[0]) != 1) {
				*started = i + 1;
				return false;
			}
			pc_thread_yield();
		}
	}
	ASSERT_EQ(pc_mutex_lock(&heir_m), 0);
	ASSERT_EQ(pc_cond_broadcast(&heir_c), 0); /* the first is the heir */
	if (queued(&heir_m) == 2)
		return true;
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	return false;
}

TEST(signaled_waits_that_time_out_or_are_cancelled_still_own_the_mutex)
{
	struct pc_thread *t[2];
	int started;

	test_enter(2);
	for (heir_wait_ns = 2000000; !heir_waiters_queue(t, &started);
	     heir_wait_ns *= 4) {
		for (int i = 0; i < started; i++)
			ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
		ASSERT_TRUE(heir_wait_ns < 1000000000u);
	}
	ASSERT_EQ(pc_sync_cancel(t[1]), 0);
	/* Past the deadlines. */
	ASSERT_EQ(pc_thread_sleep(heir_wait_ns + 5000000), 0);
	ASSERT_EQ(atomic_load(&heir_rc[0]), 1);
	ASSERT_EQ(atomic_load(&heir_rc[1]), 1);
	ASSERT_EQ(pc_mutex_unlock(&heir_m), 0);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
		ASSERT_EQ(atomic_load(&heir_rc[i]), 0);
	}
	ASSERT_EQ(pc_mutex_destroy(&heir_m), 0);
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

static atomic_int handler_rc = 1, handler_sem_rc = 1;
static struct pc_sem free_unit = PC_SEM_INIT(1);

static void in_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	/* Refused even with a unit free: it may wait, so it may not. */
	atomic_store(&handler_sem_rc, pc_sem_wait(&free_unit));
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
	ASSERT_EQ(atomic_load(&handler_sem_rc), -EPERM);
	ASSERT_EQ(pc_sem_value(&free_unit), 1);
	ASSERT_EQ(pc_mutex_unlock(&count_m), 0);
}

/* ---- timed waits ---- */

static struct pc_mutex held_m = PC_MUTEX_INIT;

static void *timedlock_held(void *arg)
{
	struct timespec d = test_deadline_in(2 * 1000 * 1000);

	(void)arg;
	return (void *)(intptr_t)pc_mutex_timedlock(&held_m, &d);
}

TEST(timed_waits_give_up_and_leave_everything_as_it_was)
{
	struct pc_mutex m = PC_MUTEX_INIT;
	struct pc_cond c = PC_COND_INIT;
	struct pc_sem s = PC_SEM_INIT(0);
	struct timespec d = test_deadline_in(1000 * 1000), bad = { 0, 1000000000L };
	struct pc_thread *t;
	pthread_t p;
	void *rc;

	test_enter(2);
	ASSERT_EQ(pc_mutex_timedlock(&m, &bad), -EINVAL);
	ASSERT_EQ(pc_sem_timedwait(&s, NULL), -EINVAL);
	ASSERT_EQ(pc_sem_timedwait(&s, &d), -ETIMEDOUT);
	ASSERT_EQ(pc_sem_value(&s), 0);
	ASSERT_EQ(pc_sem_destroy(&s), 0);
	ASSERT_EQ(pc_mutex_lock(&m), 0);
	d = test_deadline_in(1000 * 1000);
	ASSERT_EQ(pc_cond_timedwait(&c, &m, &d), -ETIMEDOUT);
	ASSERT_EQ(pc_mutex_trylock(&m), -EBUSY); /* held again, by us */
	ASSERT_EQ(pc_cond_destroy(&c), 0);
	ASSERT_EQ(pc_mutex_unlock(&m), 0);
	/* A uthread and a pthread time out on a mutex main holds. */
	ASSERT_EQ(pc_mutex_lock(&held_m), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, timedlock_held, NULL), 0);
	ASSERT_EQ(pthread_create(&p, NULL, timedlock_held, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, &rc), 0);
	ASSERT_EQ((int)(intptr_t)rc, -ETIMEDOUT);
	ASSERT_EQ(pthread_join(p, &rc), 0);
	ASSERT_EQ((int)(intptr_t)rc, -ETIMEDOUT);
	ASSERT_EQ(queued(&held_m), 0);
	ASSERT_EQ(pc_mutex_unlock(&held_m), 0);
	ASSERT_EQ(pc_mutex_destroy(&held_m), 0); /* free: nobody waits */
}

/*
 * Grants made by a uthread that a notification interrupts, while event
 * handlers post semaphores in vcore context: the grant's call into the
 * 2LS must not be stopped halfway (a 2LS whose lock a handler then wants
 * would deadlock its vcore: the FIFO 2LS run of this case hung so).
 */
static struct pc_sem hs = PC_SEM_INIT(0);
static struct pc_sem pp[4] = { PC_SEM_INIT(0), PC_SEM_INIT(0),
			       PC_SEM_INIT(0), PC_SEM_INIT(0) };
static atomic_long handled, rounds;
static atomic_int hs_stop;

static void post_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	ASSERT_EQ(pc_sem_post(&hs), 0);
	atomic_fetch_add(&handled, 1);
}

static void *hs_waiter(void *arg)
{
	(void)arg;
	while (!atomic_load(&hs_stop))
		ASSERT_EQ(pc_sem_wait(&hs), 0);
	return NULL;
}

/* Pairs (0, 1) and (2, 3) pass a unit back and forth. */
static void *ping(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct pc_sem *mine = &pp[i], *other = &pp[i ^ 1];

	while (!atomic_load(&hs_stop)) {
		if (i & 1) {
			ASSERT_EQ(pc_sem_wait(mine), 0);
			ASSERT_EQ(pc_sem_post(other), 0);
		} else {
			ASSERT_EQ(pc_sem_post(other), 0);
			ASSERT_EQ(pc_sem_wait(mine), 0);
		}
		atomic_fetch_add(&rounds, 1);
	}
	return pc_sem_post(other) ? (void *)1 : NULL; /* free the partner */
}

static void *notify_both(void *arg)
{
	struct pc_event ev = { .type = PC_EV_USER };

	(void)arg;
	while (!atomic_load(&hs_stop)) {
		pc_event_send(0, &ev, PC_EVF_NOTIFY);
		pc_event_send(1, &ev, PC_EVF_NOTIFY);
		for (volatile int i = 0; i < 200; i++)
			;
	}
	return NULL;
}

TEST(grants_interrupted_by_notifications_that_post_do_not_deadlock)
{
	struct pc_thread *t[6];
	pthread_t p;

	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(PC_EV_USER, post_handler, NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, hs_waiter, NULL), 0);
	for (int i = 2; i < 6; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, ping,
					   (void *)(intptr_t)(i - 2)),
			  0);
	ASSERT_EQ(pthread_create(&p, NULL, notify_both, NULL), 0);
	while (atomic_load(&rounds) < 50000 || atomic_load(&handled) < 5000)
		pc_thread_sleep(1000 * 1000);
	atomic_store(&hs_stop, 1);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pc_sem_post(&hs), 0); /* the waiters' last round */
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
}
