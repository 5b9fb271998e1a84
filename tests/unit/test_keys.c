/*
 * test_keys.c - uthread-local keys: values follow the uthread, start NULL,
 * destructors run at exit, dead keys are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt.h"
#include "test.h"

static pc_key_t key;
static atomic_int dtor_calls;
static atomic_long dtor_sum;

static void count_dtor(void *v)
{
	atomic_fetch_add(&dtor_calls, 1);
	atomic_fetch_add(&dtor_sum, (long)(intptr_t)v);
}

static void *keeper(void *arg)
{
	intptr_t mine = (intptr_t)arg;

	ASSERT_TRUE(pc_key_get(key) == NULL); /* starts NULL */
	ASSERT_EQ(pc_key_set(key, (void *)mine), 0);
	for (int i = 0; i < 200; i++) {
		pc_thread_yield(); /* may move to another vcore */
		ASSERT_EQ((intptr_t)pc_key_get(key), mine);
	}
	return NULL;
}

TEST(values_follow_the_uthread_and_dtors_run)
{
	struct pc_thread *t[32];

	test_enter(4);
	ASSERT_EQ(pc_key_create(&key, count_dtor), 0);
	for (intptr_t i = 0; i < 32; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, keeper,
					   (void *)(i + 1)),
			  0);
	for (int i = 0; i < 32; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&dtor_calls), 32);
	ASSERT_EQ(atomic_load(&dtor_sum), 32 * 33 / 2);
}

static void *set_then_exit(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_key_set(key, NULL), 0); /* NULL: no destructor */
	return NULL;
}

TEST(null_values_get_no_dtor)
{
	struct pc_thread *t;

	test_enter(1);
	ASSERT_EQ(pc_key_create(&key, count_dtor), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, set_then_exit, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(atomic_load(&dtor_calls), 0);
}

static int resets;

static void resetting_dtor(void *v)
{
	(void)v;
	resets++;
	pc_key_set(key, (void *)1); /* sets again: bounded rounds */
}

static void *set_one(void *arg)
{
	(void)arg;
	pc_key_set(key, (void *)1);
	return NULL;
}

TEST(dtor_that_sets_again_runs_a_bounded_number_of_rounds)
{
	struct pc_thread *t;

	test_enter(1);
	ASSERT_EQ(pc_key_create(&key, resetting_dtor), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, set_one, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(resets, 4);
}

TEST(deleted_keys_are_refused_and_new_keys_start_null)
{
	pc_key_t k2;

	test_enter(1);
	ASSERT_EQ(pc_key_create(&key, NULL), 0);
	ASSERT_EQ(pc_key_set(key, (void *)5), 0);
	ASSERT_EQ(pc_key_delete(key), 0);
	ASSERT_EQ(pc_key_delete(key), -EINVAL);
	ASSERT_EQ(pc_key_set(key, (void *)6), -EINVAL);
	ASSERT_TRUE(pc_key_get(key) == NULL);
	/* The slot is reused, but the old value does not show through. */
	ASSERT_EQ(pc_key_create(&k2, NULL), 0);
	ASSERT_TRUE(pc_key_get(k2) == NULL);
	ASSERT_EQ(pc_key_delete(k2), 0);
}

TEST(bad_arguments)
{
	ASSERT_EQ(pc_key_create(NULL, NULL), -EINVAL);
	ASSERT_EQ(pc_key_delete(0), -EINVAL); /* never a valid key */
	ASSERT_EQ(pc_key_delete(0xffffffffu), -EINVAL);
	ASSERT_EQ(pc_key_create(&key, NULL), 0);
	/* Outside a uthread: no value to set or get. */
	ASSERT_EQ(pc_key_set(key, (void *)1), -EPERM);
	ASSERT_TRUE(pc_key_get(key) == NULL);
}

TEST(all_keys_in_use_is_eagain)
{
	pc_key_t keys[PC_KEYS_MAX], extra;

	for (int i = 0; i < PC_KEYS_MAX; i++)
		ASSERT_EQ(pc_key_create(&keys[i], NULL), 0);
	ASSERT_EQ(pc_key_create(&extra, NULL), -EAGAIN);
	ASSERT_EQ(pc_key_delete(keys[7]), 0);
	ASSERT_EQ(pc_key_create(&extra, NULL), 0);
}
