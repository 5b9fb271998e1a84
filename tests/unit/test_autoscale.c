/*
 * test_autoscale.c - the default 2LS managing the request itself
 * (pc_sched_default_autoscale()): a burst of runnable uthreads gets more
 * vcores, never more than the maximum; a process that turns idle gives
 * them back down to the minimum; and it grows again at the next burst.
 * With a minimum of 0 the last core goes too, until a wake-up.
 */
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "fifo_sched.h"
#include "rt.h"
#include "test.h"

#define MAX 6
#define SPINNERS 32

TEST(bad_arguments_change_nothing)
{
	ASSERT_EQ(pc_sched_default_autoscale(-1, 4), -EINVAL);
	ASSERT_EQ(pc_sched_default_autoscale(3, 2), -EINVAL);
	ASSERT_EQ(pc_sched_default_autoscale(1, PC_VCORE_MAX + 1), -EINVAL);
	ASSERT_EQ(pc_sched_default_autoscale(1, 0), 0); /* off */
}

TEST(refused_under_another_2ls)
{
	ASSERT_EQ(pc_sched_set(fifo_sched_ops()), 0);
	ASSERT_EQ(pc_sched_default_autoscale(1, 4), -EOPNOTSUPP);
}

static atomic_int stop;

/* Runnable all the time: a little work, then a yield. */
static void *spinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t until = test_now_ns() + 20000;

		while (test_now_ns() < until)
			;
		pc_thread_yield();
	}
	return NULL;
}

/* Runs a burst until the request reaches MAX, checking it never passes. */
static void burst(void)
{
	struct pc_thread *t[SPINNERS];

	atomic_store(&stop, 0);
	for (int i = 0; i < SPINNERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, spinner, NULL), 0);
	while (pc_vcore_count() < MAX) {
		ASSERT_LE(pc_vcore_wanted(), MAX);
		pc_thread_yield();
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < SPINNERS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_LE(pc_vcore_wanted(), MAX);
}

/* Sleeps (its vcore idles too) until the request is back at 1. */
static void idle_until_shrunk(void)
{
	while (pc_vcore_wanted() > 1 || pc_vcore_count() > 1)
		pc_thread_sleep(1000 * 1000);
	ASSERT_EQ(pc_vcore_wanted(), 1);
}

TEST(a_burst_grows_the_request_and_idleness_shrinks_it)
{
	test_dump_on_hang();
	ASSERT_EQ(pc_sched_default_autoscale(1, MAX), 0);
	ASSERT_EQ(pc_vcore_limit_set(8), 0);
	ASSERT_EQ(pc_vcore_request(1), 1);
	burst();
	idle_until_shrunk();
	/* And again: the estimate follows the load both ways. */
	burst();
	idle_until_shrunk();
	/* Off: the request is the program's again. */
	ASSERT_EQ(pc_sched_default_autoscale(1, 0), 0);
	ASSERT_EQ(pc_vcore_request(3), 3);
	pc_thread_sleep(30 * 1000 * 1000);
	ASSERT_EQ(pc_vcore_wanted(), 3);
}

static struct pc_thread *main_t;

/* Unparks main once no vcore is left. */
static void *unpark_when_none(void *arg)
{
	(void)arg;
	while (pc_vcore_count() > 0 || pc_vcore_wanted() > 0)
		sched_yield();
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
	return NULL;
}

TEST(with_a_minimum_of_zero_an_idle_process_gives_back_every_core)
{
	pthread_t p;

	test_dump_on_hang();
	ASSERT_EQ(pc_sched_default_autoscale(0, MAX), 0);
	ASSERT_EQ(pc_vcore_limit_set(8), 0);
	ASSERT_EQ(pc_vcore_request(1), 1);
	burst();
	main_t = pc_thread_self();
	ASSERT_EQ(pthread_create(&p, NULL, unpark_when_none, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	/* Woken, on a vcore that came back for it. */
	ASSERT_GE(pc_vcore_count(), 1);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	/* And it grows again. */
	burst();
}
