/*
 * test_vcore.c - requests, the pool, oversubscription, dense vcore ids,
 * giving cores back and getting them again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt.h"
#include "test.h"

TEST(bad_requests_change_nothing)
{
	int limit = pc_vcore_limit();

	ASSERT_EQ(pc_vcore_request(-1), -EINVAL);
	ASSERT_EQ(pc_vcore_request(PC_VCORE_MAX + 1), -EINVAL);
	ASSERT_EQ(pc_vcore_request(0), 0); /* single-core already */
	ASSERT_EQ(pc_vcore_limit_set(0), -EINVAL);
	ASSERT_EQ(pc_vcore_limit_set(-3), -EINVAL);
	ASSERT_EQ(pc_vcore_limit_set(PC_VCORE_MAX + 1), -EINVAL);
	ASSERT_EQ(pc_vcore_limit(), limit);
	ASSERT_EQ(pc_vcore_count(), 0);
	ASSERT_EQ(pc_vcore_id(), -1);
	ASSERT_TRUE(pc_thread_self() == NULL);
	ASSERT_EQ(pc_vcore_cpu(0), -EINVAL);
}

static atomic_ulong seen; /* bitmap of vcores that ran a spinner */

static void *mark_vcore(void *arg)
{
	(void)arg;
	/* Spin, yielding, until every vcore has run one of us. */
	for (;;) {
		atomic_fetch_or(&seen, 1ul << pc_vcore_id());
		if (atomic_load(&seen) == 0xff)
			return NULL;
		pc_thread_yield();
	}
}

TEST(eight_vcores_on_fewer_cpus_all_run)
{
	struct pc_thread *t[32];

	ASSERT_EQ(pc_vcore_limit_set(8), 0);
	ASSERT_EQ(pc_vcore_request(8), 8);
	ASSERT_EQ(pc_vcore_count(), 8);
	ASSERT_EQ(pc_vcore_wanted(), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_GE(pc_vcore_cpu(i), 0);
	ASSERT_EQ(pc_vcore_cpu(8), -EINVAL);
	for (int i = 0; i < 32; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, mark_vcore, NULL), 0);
	for (int i = 0; i < 32; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&seen), 0xff);
}

TEST(grants_never_exceed_the_pool)
{
	ASSERT_EQ(pc_vcore_limit_set(2), 0);
	ASSERT_EQ(pc_vcore_request(5), 2);
	ASSERT_EQ(pc_vcore_wanted(), 5);
	ASSERT_EQ(pc_vcore_limit_set(3), 0);
	ASSERT_EQ(pc_vcore_request(5), 3); /* a raised pool grants more */
}

static atomic_int done;

static void *short_work(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		pc_thread_yield();
	atomic_fetch_add(&done, 1);
	return NULL;
}

static void run_batch(int n)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pc_thread_create(NULL,
					   &(struct pc_thread_attr){
						   0, NULL, PC_THREAD_DETACHED },
					   short_work, NULL),
			  0);
}

/* Lowering the request gives cores back; raising it fills the holes. */
TEST(lower_then_raise_the_request)
{
	test_enter(8);
	run_batch(200);
	ASSERT_EQ(pc_vcore_request(2), 8); /* surplus leaves later */
	while (pc_vcore_count() > 2) {
		run_batch(8); /* surplus vcores leave at their loop */
		pc_thread_yield();
	}
	ASSERT_EQ(pc_vcore_count(), 2);
	run_batch(200);
	while (atomic_load(&done) < 200 + 200)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_request(8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_GE(pc_vcore_cpu(i), 0); /* dense: ids 0..7 again */
	atomic_store(&seen, 0);
	{
		struct pc_thread *t[32];

		for (int i = 0; i < 32; i++)
			ASSERT_EQ(pc_thread_create(&t[i], NULL, mark_vcore,
						   NULL),
				  0);
		for (int i = 0; i < 32; i++)
			ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	}
	ASSERT_EQ(atomic_load(&seen), 0xff);
}

static void *request_from_pthread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_vcore_request(3);
}

TEST(request_from_a_plain_pthread)
{
	pthread_t p;
	void *r;

	test_enter(1);
	ASSERT_EQ(pc_vcore_limit_set(3), 0);
	ASSERT_EQ(pthread_create(&p, NULL, request_from_pthread, NULL), 0);
	ASSERT_EQ(pthread_join(p, &r), 0);
	ASSERT_EQ((intptr_t)r, 3);
	ASSERT_EQ(pc_vcore_count(), 3);
}

TEST(main_becomes_a_uthread_on_vcore_0)
{
	ASSERT_EQ(pc_vcore_limit_set(2), 0);
	ASSERT_EQ(pc_vcore_request(2), 2);
	ASSERT_TRUE(pc_thread_self() != NULL);
	ASSERT_EQ(pc_vcore_id(), 0);
	ASSERT_EQ(pc_sched_set(pc_sched_default()), -EBUSY);
}

static int online_vcores(void)
{
	int n = 0;

	for (int i = 0; i < PC_VCORE_MAX; i++)
		n += pc_sched_vcore_online(i);
	return n;
}

/*
 * Regression: a surplus vcore once went offline up to three times (once
 * per idle check), so the count fell below the online set and grants
 * overshot the pool (208 vcore threads with a limit of 8).
 */
TEST(request_storm_keeps_count_and_online_set_in_step)
{
	test_enter(8);
	for (int round = 0; round < 300; round++) {
		run_batch(4);
		ASSERT_GE(pc_vcore_request(round % 2 ? 8 : 1), 1);
		ASSERT_LE(pc_vcore_count(), 8);
		ASSERT_LE(online_vcores(), 8);
		pc_thread_yield();
	}
	ASSERT_EQ(pc_vcore_request(8), 8);
	ASSERT_EQ(online_vcores(), 8);
	while (atomic_load(&done) < 300 * 4)
		pc_thread_yield();
}

static atomic_int tid_of[PC_VCORE_MAX];
static atomic_int tid_mismatch;

static void *note_tid(void *arg)
{
	int id = pc_vcore_id(), tid = (int)syscall(SYS_gettid), expect = 0;

	(void)arg;
	if (!atomic_compare_exchange_strong(&tid_of[id], &expect, tid) &&
	    expect != tid)
		atomic_fetch_add(&tid_mismatch, 1);
	return NULL;
}

static atomic_int go, results_in, results_ok;

static void *first_request(void *arg)
{
	int r;

	(void)arg;
	while (!atomic_load(&go))
		;
	r = pc_vcore_request(2);
	atomic_fetch_add(&results_ok, r >= 1);
	atomic_fetch_add(&results_in, 1);
	/*
	 * The winner is now a uthread; it must not return into glibc's
	 * thread exit, which would end whatever Linux thread it runs on.
	 */
	if (pc_thread_self())
		pc_thread_exit(NULL);
	return NULL;
}

/*
 * Regression: two threads making the first request at once could both
 * start a vcore 0. Each vcore id must be one Linux thread.
 */
TEST(concurrent_first_requests_make_one_vcore_0)
{
	pthread_attr_t detached;
	pthread_t p[2];

	ASSERT_EQ(pc_vcore_limit_set(2), 0);
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], &detached, first_request, NULL),
			  0);
	atomic_store(&go, 1);
	while (atomic_load(&results_in) < 2)
		sched_yield();
	ASSERT_EQ(atomic_load(&results_ok), 2);
	ASSERT_EQ(pc_vcore_count(), 2);
	ASSERT_EQ(online_vcores(), 2);
	for (int i = 0; i < 200; i++) {
		struct pc_thread *t;

		ASSERT_EQ(pc_thread_create(&t, NULL, note_tid, NULL), 0);
		ASSERT_EQ(pc_thread_join(t, NULL), 0);
	}
	ASSERT_EQ(atomic_load(&tid_mismatch), 0);
}
