/*
 * test_sleep.c - sleeping: never early, from uthreads and plain threads,
 * and a sleeper whose vcore is busy is woken by another vcore.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "rt.h"
#include "test.h"

static atomic_int early;

static void *sleeper(void *arg)
{
	uint64_t d = (uint64_t)(uintptr_t)arg;

	for (int i = 0; i < 5; i++) {
		uint64_t deadline = test_now_ns() + d;
		struct timespec ts = { (time_t)(deadline / 1000000000u),
				       (long)(deadline % 1000000000u) };

		if (i % 2)
			ASSERT_EQ(pc_thread_sleep(d), 0);
		else
			ASSERT_EQ(pc_thread_sleep_until(&ts), 0);
		if (test_now_ns() < deadline)
			atomic_fetch_add(&early, 1);
	}
	return NULL;
}

TEST(sleepers_never_wake_early)
{
	struct pc_thread *t[200];

	test_enter(4);
	for (int i = 0; i < 200; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, sleeper,
					   (void *)(uintptr_t)(i * 7919 %
							       2000000)),
			  0);
	for (int i = 0; i < 200; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&early), 0);
}

TEST(past_deadline_returns)
{
	struct timespec past = { 0, 1 };

	test_enter(1);
	ASSERT_EQ(pc_thread_sleep_until(&past), 0);
	ASSERT_EQ(pc_thread_sleep(0), 0);
}

TEST(bad_deadlines_are_einval)
{
	struct timespec bad_ns = { 1, 1000000000L }, neg = { -1, 0 };

	ASSERT_EQ(pc_thread_sleep_until(NULL), -EINVAL);
	ASSERT_EQ(pc_thread_sleep_until(&bad_ns), -EINVAL);
	ASSERT_EQ(pc_thread_sleep_until(&neg), -EINVAL);
	bad_ns.tv_nsec = -1;
	ASSERT_EQ(pc_thread_sleep_until(&bad_ns), -EINVAL);
}

TEST(sleep_outside_a_uthread_sleeps_the_thread)
{
	uint64_t t0 = test_now_ns();

	ASSERT_EQ(pc_thread_sleep(2 * 1000 * 1000), 0);
	ASSERT_GE(test_now_ns() - t0, 2 * 1000 * 1000);
}

static atomic_int slept_vcore = -1;
static atomic_int woke;

static void *nap(void *arg)
{
	(void)arg;
	atomic_store(&slept_vcore, pc_vcore_id());
	pc_thread_sleep(5 * 1000 * 1000);
	atomic_store(&woke, 1);
	return NULL;
}

/*
 * A sleeper is woken even while the vcore it slept on stays busy: main
 * spins without yielding on that vcore; another vcore must run the timer.
 * Repeated until the sleeper happened to sleep on main's vcore.
 */
TEST(busy_vcore_does_not_strand_its_sleepers)
{
	int hits = 0;

	test_enter(2);
	for (int round = 0; round < 50 && hits < 3; round++) {
		struct pc_thread *t;

		atomic_store(&slept_vcore, -1);
		atomic_store(&woke, 0);
		ASSERT_EQ(pc_thread_create(&t, NULL, nap, NULL), 0);
		while (atomic_load(&slept_vcore) < 0)
			pc_thread_yield();
		if (atomic_load(&slept_vcore) == pc_vcore_id()) {
			hits++;
			while (!atomic_load(&woke)) /* no yield: stay busy */
				;
		}
		ASSERT_EQ(pc_thread_join(t, NULL), 0);
	}
	if (hits == 0)
		SKIP("the sleeper never landed on main's vcore");
}

static void *plain_sleeper(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_thread_sleep(1000 * 1000);
}

TEST(plain_pthread_sleeps_in_multicore_mode)
{
	pthread_t p;
	void *r;

	test_enter(2);
	ASSERT_EQ(pthread_create(&p, NULL, plain_sleeper, NULL), 0);
	ASSERT_EQ(pthread_join(p, &r), 0);
	ASSERT_EQ((intptr_t)r, 0);
}
