/*
 * test_barrier.c - the barrier: rounds that nobody leaves early, one
 * serial waiter per round, uthreads and pthreads together.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt.h"
#include "test.h"

TEST(bad_input_is_refused)
{
	struct pc_barrier b = PC_BARRIER_INIT(0);

	ASSERT_EQ(pc_barrier_init(NULL, 2), -EINVAL);
	ASSERT_EQ(pc_barrier_init(&b, 0), -EINVAL);
	ASSERT_EQ(pc_barrier_wait(NULL), -EINVAL);
	ASSERT_EQ(pc_barrier_wait(&b), -EINVAL); /* count 0 */
	ASSERT_EQ(pc_barrier_destroy(NULL), -EINVAL);
	ASSERT_EQ(pc_barrier_init(&b, 1), 0);
	ASSERT_EQ(pc_barrier_wait(&b), PC_BARRIER_SERIAL); /* alone */
	ASSERT_EQ(pc_barrier_destroy(&b), 0);
}

#define PARTIES 14 /* 12 uthreads, 2 pthreads */
#define UPARTIES 12
#define ROUNDS 300

static struct pc_barrier bar = PC_BARRIER_INIT(PARTIES);
static atomic_int reached[PARTIES]; /* the round each is in */
static atomic_int serials[ROUNDS];
static atomic_int early;

static void *party(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (int r = 0; r < ROUNDS; r++) {
		int rc;

		atomic_store(&reached[me], r);
		rc = pc_barrier_wait(&bar);
		ASSERT_TRUE(rc == 0 || rc == PC_BARRIER_SERIAL);
		if (rc == PC_BARRIER_SERIAL)
			atomic_fetch_add(&serials[r], 1);
		/* Past the barrier: everyone has reached round r. */
		for (int i = 0; i < PARTIES; i++)
			if (atomic_load(&reached[i]) < r)
				atomic_store(&early, 1);
		if ((me + r) % 5 == 0)
			pc_thread_yield();
	}
	return NULL;
}

/*
 * 12 uthreads on 8 vcores (2 CPUs) and 2 pthreads meet 300 times:
 * nobody passes a round before all reached it, and each round has
 * exactly one serial waiter.
 */
TEST(nobody_passes_before_all_arrive_and_one_is_serial)
{
	struct pc_thread *t[UPARTIES];
	pthread_t p[PARTIES - UPARTIES];

	test_enter(8);
	for (int i = UPARTIES; i < PARTIES; i++)
		ASSERT_EQ(pthread_create(&p[i - UPARTIES], NULL, party,
					 (void *)(intptr_t)i),
			  0);
	for (int i = 0; i < UPARTIES; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, party,
					   (void *)(intptr_t)i),
			  0);
	for (int i = 0; i < UPARTIES; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < PARTIES - UPARTIES; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_EQ(atomic_load(&early), 0);
	for (int r = 0; r < ROUNDS; r++)
		ASSERT_EQ(atomic_load(&serials[r]), 1);
	ASSERT_EQ(pc_barrier_destroy(&bar), 0);
}

static struct pc_barrier two = PC_BARRIER_INIT(2);

static void *meet(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_barrier_wait(&two);
}

TEST(destroy_refuses_a_barrier_with_a_waiter)
{
	struct pc_thread *t;
	void *rc;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&t, NULL, meet, NULL), 0);
	while (test_waiters(&two._lock, &two._head) < 1)
		pc_thread_yield();
	ASSERT_EQ(pc_barrier_destroy(&two), -EBUSY);
	ASSERT_EQ(pc_barrier_wait(&two), PC_BARRIER_SERIAL);
	ASSERT_EQ(pc_thread_join(t, &rc), 0);
	ASSERT_EQ((int)(intptr_t)rc, 0);
	ASSERT_EQ(pc_barrier_destroy(&two), 0);
}
