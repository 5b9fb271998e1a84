/*
 * test_thread.c - the uthread API: create, join, detach, exit, yield,
 * self, name, errno, park/unpark/switch, and bad arguments.
 * Runs under both the default 2LS and examples/fifo_sched.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "test.h"

static void *ret_arg(void *arg)
{
	return arg;
}

TEST(create_join_returns_value)
{
	struct pc_thread *t;
	void *ret = NULL;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, (void *)0x1234), 0);
	ASSERT_EQ(pc_thread_join(t, &ret), 0);
	ASSERT_PTR_EQ(ret, (void *)0x1234);
}

static void *park_once(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_thread_park(), 0);
	return NULL;
}

static void *exit_early(void *arg)
{
	pc_thread_exit(arg);
	return NULL; /* not reached */
}

TEST(exit_passes_value)
{
	struct pc_thread *t;
	void *ret = NULL;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&t, NULL, exit_early, (void *)7), 0);
	ASSERT_EQ(pc_thread_join(t, &ret), 0);
	ASSERT_PTR_EQ(ret, (void *)7);
}

TEST(exit_outside_uthread_is_eperm)
{
	ASSERT_EQ(pc_thread_exit(NULL), -EPERM);
	ASSERT_TRUE(pc_thread_self() == NULL);
	ASSERT_EQ(pc_vcore_id(), -1);
}

TEST(create_before_multicore_is_eperm)
{
	struct pc_thread *t = (struct pc_thread *)0x1;

	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, NULL), -EPERM);
	ASSERT_PTR_EQ(t, (void *)0x1);
}

TEST(bad_attributes_are_einval)
{
	struct pc_thread_attr small = { PC_THREAD_STACK_MIN - 1, NULL, 0 };
	struct pc_thread_attr flags = { 0, NULL, 0x80 };
	struct pc_thread_attr huge = { (size_t)1 << 40, NULL, 0 };
	struct pc_thread *t = (struct pc_thread *)0x1;

	test_enter(1);
	ASSERT_EQ(pc_thread_create(&t, &small, ret_arg, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_create(&t, &flags, ret_arg, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_create(&t, &huge, ret_arg, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_create(&t, NULL, NULL, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_create(NULL, NULL, ret_arg, NULL), -EINVAL);
	ASSERT_PTR_EQ(t, (void *)0x1); /* untouched */
}

TEST(join_errors)
{
	struct pc_thread_attr det = { 0, NULL, PC_THREAD_DETACHED };
	struct pc_thread *t, *d;

	test_enter(1);
	ASSERT_EQ(pc_thread_join(NULL, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_join(pc_thread_self(), NULL), -EDEADLK);
	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	/* Already joined: the handle is stale and refused. */
	ASSERT_EQ(pc_thread_join(t, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_detach(t), -EINVAL);
	/* Detached: join refused while it lives (it is parked here). */
	ASSERT_EQ(pc_thread_create(&d, &det, park_once,
				   NULL),
		  0);
	ASSERT_EQ(pc_thread_join(d, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_unpark(d), 0);
	ASSERT_EQ(pc_thread_detach(NULL), -EINVAL);
}

TEST(stale_handle_after_reuse_is_refused)
{
	struct pc_thread *a, *b;

	test_enter(1);
	ASSERT_EQ(pc_thread_create(&a, NULL, ret_arg, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	/* The cache hands the same TCB back; the old handle must not name it. */
	ASSERT_EQ(pc_thread_create(&b, NULL, park_once,
				   NULL),
		  0);
	ASSERT_EQ(pc_thread_join(a, NULL), -EINVAL);
	ASSERT_EQ(pc_thread_unpark(a), -EINVAL);
	ASSERT_EQ(pc_thread_unpark(b), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

static atomic_int detached_ran;

static void *mark_ran(void *arg)
{
	(void)arg;
	atomic_fetch_add(&detached_ran, 1);
	return NULL;
}

TEST(detached_threads_run_and_free_themselves)
{
	struct pc_thread_attr det = { 0, "det", PC_THREAD_DETACHED };

	test_enter(4);
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(pc_thread_create(NULL, &det, mark_ran, NULL), 0);
	while (atomic_load(&detached_ran) < 1000)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&detached_ran), 1000);
}

TEST(detach_after_exit_frees)
{
	struct pc_thread *t;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, NULL), 0);
	pc_thread_sleep(1000 * 1000); /* let it finish */
	ASSERT_EQ(pc_thread_detach(t), 0);
	ASSERT_EQ(pc_thread_detach(t), -EINVAL);
}

static void *self_and_name(void *arg)
{
	struct pc_thread *self = pc_thread_self();

	ASSERT_TRUE(self != NULL);
	ASSERT_EQ(strcmp(pc_thread_name(self), (const char *)arg), 0);
	return self;
}

TEST(self_and_name)
{
	char longname[100];
	struct pc_thread_attr a = { 0, "worker-1", 0 };
	struct pc_thread *t;
	void *ret;

	test_enter(2);
	ASSERT_EQ(strcmp(pc_thread_name(pc_thread_self()), "main"), 0);
	ASSERT_EQ(pc_thread_create(&t, &a, self_and_name, "worker-1"), 0);
	ASSERT_EQ(pc_thread_join(t, &ret), 0);
	ASSERT_PTR_EQ(ret, t);
	/* Long names are truncated to PC_THREAD_NAME_MAX - 1. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	a.name = longname;
	ASSERT_EQ(pc_thread_create(&t, &a, park_once, NULL),
		  0);
	ASSERT_EQ(strlen(pc_thread_name(t)), PC_THREAD_NAME_MAX - 1);
	ASSERT_EQ(pc_thread_unpark(t), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_TRUE(pc_thread_name(NULL) == NULL);
}

/*
 * errno belongs to the uthread: its value survives yields and vcore moves.
 * Read through a fresh lookup after each call (see thread.h on errno).
 */
static void *errno_keeper(void *arg)
{
	int mine = (int)(intptr_t)arg;
	int moved = 0, vc = pc_vcore_id();

	for (int i = 0; i < 2000; i++) {
		test_errno_set(mine);
		pc_thread_yield();
		ASSERT_EQ(test_errno_get(), mine);
		if (i % 100 == 0)
			pc_thread_sleep(1000);
		ASSERT_EQ(test_errno_get(), mine);
		moved += pc_vcore_id() != vc;
		vc = pc_vcore_id();
	}
	return (void *)(intptr_t)moved;
}

TEST(errno_follows_uthread)
{
	struct pc_thread *t[16];

	test_enter(4);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, errno_keeper,
					   (void *)(intptr_t)(i + 1000)),
			  0);
	test_errno_set(5);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(test_errno_get(), 5);
}

TEST(yield_outside_uthread_works)
{
	ASSERT_EQ(pc_thread_yield(), 0);
	ASSERT_EQ(pc_thread_park(), -EPERM);
	ASSERT_EQ(pc_thread_switch(NULL), -EPERM);
}

/* Park/unpark: a wake-up that comes first is not lost. */
TEST(unpark_before_park_is_remembered)
{
	test_enter(1);
	ASSERT_EQ(pc_thread_unpark(pc_thread_self()), 0);
	ASSERT_EQ(pc_thread_unpark(pc_thread_self()), 0); /* coalesces */
	ASSERT_EQ(pc_thread_park(), 0);                   /* returns at once */
	ASSERT_EQ(pc_thread_unpark(NULL), -EINVAL);
}

static struct pc_thread *main_thread;
static atomic_int pingpong_count;

static void *ponger(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++) {
		atomic_fetch_add(&pingpong_count, 1);
		ASSERT_EQ(pc_thread_switch(main_thread), 0);
	}
	return NULL;
}

/* Direct switches hand the vcore back and forth with nothing lost. */
TEST(switch_ping_pong)
{
	const long n = 100000;
	struct pc_thread *t;

	test_enter(1);
	main_thread = pc_thread_self();
	ASSERT_EQ(pc_thread_create(&t, NULL, ponger, (void *)n), 0);
	/* Let the ponger run up to its first switch to us. */
	ASSERT_EQ(pc_thread_park(), 0);
	for (long i = 1; i < n; i++) {
		ASSERT_EQ(atomic_load(&pingpong_count), i);
		ASSERT_EQ(pc_thread_switch(t), 0);
	}
	ASSERT_EQ(atomic_load(&pingpong_count), n);
	/* The ponger is a coroutine of this vcore: unpark from here works. */
	ASSERT_EQ(pc_thread_unpark(t), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

static struct pc_thread *co_target;

/* Switches to main once, then wakes it (same vcore) and finishes. */
static void *co_once(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_thread_switch(main_thread), 0);
	ASSERT_EQ(pc_thread_unpark(main_thread), 0);
	return NULL;
}

static void *remote_unpark(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_thread_unpark(co_target);
}

/* A coroutine bound to one vcore cannot be woken from another thread. */
TEST(coroutine_refuses_remote_unpark)
{
	struct pc_thread *t;
	pthread_t p;
	void *ret;

	test_enter(1);
	main_thread = pc_thread_self();
	ASSERT_EQ(pc_thread_create(&t, NULL, co_once, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0); /* co_once switches to us */
	co_target = t;
	ASSERT_EQ(pthread_create(&p, NULL, remote_unpark, NULL), 0);
	ASSERT_EQ(pthread_join(p, &ret), 0);
	ASSERT_EQ((intptr_t)ret, -EXDEV);
	ASSERT_EQ(pc_thread_switch(t), 0); /* it unparks us and ends */
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

TEST(switch_errors)
{
	struct pc_thread *t;

	test_enter(1);
	ASSERT_EQ(pc_thread_switch(NULL), -EINVAL);
	ASSERT_EQ(pc_thread_switch(pc_thread_self()), -EINVAL);
	/* Runnable, not parked: refused, nothing changes. */
	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, NULL), 0);
	ASSERT_EQ(pc_thread_switch(t), -EINVAL);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/* A plain pthread joins a uthread by blocking itself. */
static struct pc_thread *pthread_target;

static void *pthread_joiner(void *arg)
{
	void *ret = NULL;

	(void)arg;
	ASSERT_TRUE(pc_thread_self() == NULL);
	ASSERT_EQ(pc_thread_join(pthread_target, &ret), 0);
	return ret;
}

static void *slow_ret(void *arg)
{
	pc_thread_sleep(20 * 1000 * 1000);
	return arg;
}

TEST(join_from_plain_pthread)
{
	pthread_t p;
	void *ret = NULL;

	test_enter(2);
	ASSERT_EQ(pc_thread_create(&pthread_target, NULL, slow_ret,
				   (void *)99),
		  0);
	ASSERT_EQ(pthread_create(&p, NULL, pthread_joiner, NULL), 0);
	/* Blocking this uthread's vcore in pthread_join is fine here. */
	ASSERT_EQ(pthread_join(p, &ret), 0);
	ASSERT_PTR_EQ(ret, (void *)99);
}

static void *create_from_pthread(void *arg)
{
	struct pc_thread *t;
	void *ret = NULL;

	(void)arg;
	ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, (void *)5), 0);
	ASSERT_EQ(pc_thread_join(t, &ret), 0);
	return ret;
}

TEST(create_from_plain_pthread)
{
	pthread_t p;
	void *ret = NULL;

	test_enter(2);
	ASSERT_EQ(pthread_create(&p, NULL, create_from_pthread, NULL), 0);
	ASSERT_EQ(pthread_join(p, &ret), 0);
	ASSERT_PTR_EQ(ret, (void *)5);
}

static atomic_int waker_flag;
static struct pc_thread *to_wake;

static void *late_waker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		pc_thread_yield();
	atomic_store(&waker_flag, 1);
	ASSERT_EQ(pc_thread_unpark(to_wake), 0);
	return NULL;
}

/*
 * Regression: an exiting thread once woke its joiner through the park
 * token; when the joiner had not parked yet, the token stayed and made a
 * later pc_thread_park() return without any unpark.
 */
TEST(join_leaves_no_wakeup_token)
{
	test_enter(2);
	to_wake = pc_thread_self();
	for (int i = 0; i < 2000; i++) {
		struct pc_thread *t, *w;

		ASSERT_EQ(pc_thread_create(&t, NULL, ret_arg, NULL), 0);
		ASSERT_EQ(pc_thread_join(t, NULL), 0);
		atomic_store(&waker_flag, 0);
		ASSERT_EQ(pc_thread_create(&w, NULL, late_waker, NULL), 0);
		ASSERT_EQ(pc_thread_park(), 0);
		ASSERT_EQ(atomic_load(&waker_flag), 1);
		ASSERT_EQ(pc_thread_join(w, NULL), 0);
	}
}
