/*
 * test_once.c - pc_once(): one run, and nobody returns before it ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt.h"
#include "test.h"

static void nothing(void *arg)
{
	(void)arg;
}

TEST(bad_input_is_refused)
{
	struct pc_once o = PC_ONCE_INIT;

	ASSERT_EQ(pc_once(NULL, nothing, NULL), -EINVAL);
	ASSERT_EQ(pc_once(&o, NULL, NULL), -EINVAL);
	ASSERT_EQ(pc_once(&o, nothing, NULL), 0); /* before multi-core mode */
	ASSERT_EQ(pc_once(&o, NULL, NULL), -EINVAL);
}

static struct pc_once once = PC_ONCE_INIT;
static atomic_int runs, finished, early;

/* Slow on purpose: the others arrive while it runs, and must wait. */
static void init_slowly(void *arg)
{
	atomic_fetch_add(&runs, 1);
	ASSERT_EQ((intptr_t)arg, 42);
	pc_thread_sleep(5 * 1000 * 1000);
	atomic_store(&finished, 1);
}

static void *call_once(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_once(&once, init_slowly, (void *)42), 0);
	if (!atomic_load(&finished))
		atomic_store(&early, 1);
	return NULL;
}

/* 16 uthreads on 8 vcores and 2 pthreads call it at once. */
TEST(it_runs_once_and_everyone_returns_after_it)
{
	struct pc_thread *t[16];
	pthread_t p[2];

	test_enter(8);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, call_once, NULL), 0);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, call_once, NULL), 0);
	call_once(NULL);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(p[i], NULL), 0);
	ASSERT_EQ(atomic_load(&runs), 1);
	ASSERT_EQ(atomic_load(&early), 0);
}

static struct pc_once nested = PC_ONCE_INIT;
static atomic_int nested_rc = 1;

static void call_myself(void *arg)
{
	(void)arg;
	atomic_store(&nested_rc, pc_once(&nested, call_myself, NULL));
}

TEST(a_function_that_calls_its_own_once_gets_edeadlk)
{
	test_enter(2);
	ASSERT_EQ(pc_once(&nested, call_myself, NULL), 0);
	ASSERT_EQ(atomic_load(&nested_rc), -EDEADLK);
	ASSERT_EQ(pc_once(&nested, call_myself, NULL), 0); /* done */
}
