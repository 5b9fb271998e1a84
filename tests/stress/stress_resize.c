/*
 * stress_resize.c - wake-ups racing vcores that leave and come back.
 *
 * 32 uthreads park in a loop; 3 plain pthreads unpark them without pause;
 * a fourth pthread moves the request between 1-2 and 8 vcores
 * $PC_STRESS_TOGGLES times (default 2,000). Then every uthread must still finish and be joined. A uthread lost
 * from the queues (regression: a push that raced a vcore's leave, rescued
 * to a vcore that came back meanwhile, once dropped the whole queue) leaves
 * a join hanging, which the harness's time limit turns into a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "rt.h"
#include "test.h"

#define WORKERS 32
#define PUSHERS 3

static struct pc_thread *workers[WORKERS];
static atomic_int stop, pushers_stop;
static atomic_long wakeups;

static void *worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		ASSERT_EQ(pc_thread_park(), 0);
		atomic_fetch_add(&wakeups, 1);
	}
	return NULL;
}

/* Once stop is set a worker may be joined, its handle stale: -EINVAL. */
static void unpark_checked(struct pc_thread *t)
{
	int err = pc_thread_unpark(t);

	if (err && !(err == -EINVAL && atomic_load(&stop)))
		ASSERT_EQ(err, 0);
}

static void *pusher(void *arg)
{
	(void)arg;
	while (!atomic_load(&pushers_stop))
		for (int i = 0; i < WORKERS; i++)
			unpark_checked(workers[i]);
	return NULL;
}

static void *resizer(void *arg)
{
	const char *env = getenv("PC_STRESS_TOGGLES");
	int toggles = env ? atoi(env) : 2000;
	unsigned int r = 1;

	(void)arg;
	for (int i = 0; i < toggles; i++) {
		r = r * 1103515245u + 12345u;
		ASSERT_GE(pc_vcore_request(1 + (int)((r >> 16) % 2)), 1);
		pc_thread_sleep((r >> 8) % 200 * 1000); /* let vcores leave */
		ASSERT_GE(pc_vcore_request(8), 1);
		pc_thread_sleep((r >> 12) % 200 * 1000);
	}
	return NULL;
}

TEST(unparks_race_vcores_leaving_and_returning)
{
	pthread_t p[PUSHERS], resize;

	test_enter(8);
	for (int i = 0; i < WORKERS; i++)
		ASSERT_EQ(pc_thread_create(&workers[i], NULL, worker, NULL), 0);
	for (int i = 0; i < PUSHERS; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, pusher, NULL), 0);
	ASSERT_EQ(pthread_create(&resize, NULL, resizer, NULL), 0);
	ASSERT_EQ(pthread_join(resize, NULL), 0);
	atomic_store(&stop, 1);
	/* The pushers keep unparking until every worker has seen stop. */
	for (int i = 0; i < WORKERS; i++)
		ASSERT_EQ(pc_thread_join(workers[i], NULL), 0);
	atomic_store(&pushers_stop, 1);
	for (int i = 0; i < PUSHERS; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_GT(atomic_load(&wakeups), 0);
	ASSERT_EQ(pc_vcore_count(), 8);
}
