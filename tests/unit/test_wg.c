/*
 * test_wg.c - the wait group: waiters return when the count reaches 0,
 * and not before; bad counts change nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt.h"
#include "test.h"

TEST(bad_input_is_refused_and_changes_nothing)
{
	struct pc_wg wg = PC_WG_INIT;
	struct timespec bad = { -1, 0 };

	ASSERT_EQ(pc_wg_init(NULL), -EINVAL);
	ASSERT_EQ(pc_wg_add(NULL, 1), -EINVAL);
	ASSERT_EQ(pc_wg_done(&wg), -EINVAL); /* below 0 */
	ASSERT_EQ(pc_wg_count(&wg), 0);
	ASSERT_EQ(pc_wg_add(&wg, 3), 0);
	ASSERT_EQ(pc_wg_add(&wg, -4), -EINVAL);
	ASSERT_EQ(pc_wg_add(&wg, LONG_MIN), -EINVAL);
	ASSERT_EQ(pc_wg_add(&wg, LONG_MAX), -EOVERFLOW);
	ASSERT_EQ(pc_wg_count(&wg), 3);
	ASSERT_EQ(pc_wg_timedwait(&wg, &bad), -EINVAL);
	ASSERT_EQ(pc_wg_add(&wg, -3), 0);
	ASSERT_EQ(pc_wg_wait(&wg), 0); /* 0: at once, even before M mode */
	ASSERT_EQ(pc_wg_destroy(&wg), 0);
}

#define WORKERS 40

static struct pc_wg wg = PC_WG_INIT;
static atomic_int done_work, early;

static void *work(void *arg)
{
	if ((intptr_t)arg % 3 == 0)
		pc_thread_sleep(100 * 1000);
	else
		pc_thread_yield();
	atomic_fetch_add(&done_work, 1);
	ASSERT_EQ(pc_wg_done(&wg), 0);
	return NULL;
}

static void *wait_all(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_wg_wait(&wg), 0);
	if (atomic_load(&done_work) != WORKERS)
		atomic_store(&early, 1);
	return NULL;
}

/*
 * Rounds of 40 workers on 8 vcores; four uthreads and a pthread wait for
 * each round, and none returns before all 40 are done.
 */
TEST(waiters_return_when_all_the_work_is_done)
{
	for (int round = 0; round < 30; round++) {
		struct pc_thread *w[WORKERS], *waiter[4];
		pthread_t p;

		if (round == 0)
			test_enter(8);
		atomic_store(&done_work, 0);
		ASSERT_EQ(pc_wg_add(&wg, WORKERS), 0);
		for (int i = 0; i < 4; i++)
			ASSERT_EQ(pc_thread_create(&waiter[i], NULL, wait_all,
						   NULL),
				  0);
		ASSERT_EQ(pthread_create(&p, NULL, wait_all, NULL), 0);
		for (intptr_t i = 0; i < WORKERS; i++)
			ASSERT_EQ(pc_thread_create(&w[i], NULL, work,
						   (void *)i),
				  0);
		for (int i = 0; i < 4; i++)
			ASSERT_EQ(pc_thread_join(waiter[i], NULL), 0);
		ASSERT_EQ(pthread_join(p, NULL), 0);
		for (int i = 0; i < WORKERS; i++)
			ASSERT_EQ(pc_thread_join(w[i], NULL), 0);
		ASSERT_EQ(atomic_load(&early), 0);
		ASSERT_EQ(pc_wg_count(&wg), 0);
	}
	ASSERT_EQ(pc_wg_destroy(&wg), 0);
}

TEST(a_timed_wait_gives_up_and_leaves_the_count)
{
	struct pc_wg g = PC_WG_INIT;
	struct timespec d;

	test_enter(2);
	ASSERT_EQ(pc_wg_add(&g, 1), 0);
	d = test_deadline_in(1000 * 1000);
	ASSERT_EQ(pc_wg_timedwait(&g, &d), -ETIMEDOUT);
	ASSERT_EQ(pc_wg_count(&g), 1);
	ASSERT_EQ(test_waiters(&g._lock, &g._head), 0);
	ASSERT_EQ(pc_wg_done(&g), 0);
	d = test_deadline_in(1000 * 1000);
	ASSERT_EQ(pc_wg_timedwait(&g, &d), 0);
	ASSERT_EQ(pc_wg_destroy(&g), 0);
}
