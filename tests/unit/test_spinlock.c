/*
 * test_spinlock.c - the runtime's spinlock under oversubscription: a
 * waiter whose vcore shares the holder's CPU knows the holder is not
 * running and gives it the CPU (src/lib/spinlock.c). The holder here
 * keeps the lock until that has happened, so a waiter that only spun
 * would leave the case hanging; and a waiter on another CPU, which
 * spins, must not have written the lock word.
 */
#define _GNU_SOURCE
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "../../src/lib/internal.h"
#include "rt.h"
#include "test.h"

#define EV_HOLD PC_EV_APP_FIRST
#define EV_WAIT (PC_EV_APP_FIRST + 1)
#define EV_WAIT_FAR (PC_EV_APP_FIRST + 2)

static struct pc__spinlock lock = PC_SPINLOCK_INIT;
static atomic_int held, trying, trying_far, done;
static int holder_tag;
static uint64_t handoffs_before;

static uint64_t handoffs(void)
{
	return atomic_load(&pc__rt.nr_spin_handoffs);
}

/* Vcore context of the holder's vcore. */
static void hold(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	pc__spin_lock(&lock);
	holder_tag = pc__spin_tag();
	atomic_store(&held, 1);
	while (!atomic_load(&trying) || !atomic_load(&trying_far) ||
	       handoffs() == handoffs_before)
		pc__cpu_relax();
	/* Waiters never write the word: it still names this holder. */
	ASSERT_EQ(atomic_load(&lock.locked), holder_tag);
	pc__spin_unlock(&lock);
	atomic_fetch_add(&done, 1);
}

/* Vcore context of a vcore on another CPU: it spins, and writes nothing. */
static void wait_far(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	while (!atomic_load(&held))
		pc__cpu_relax();
	atomic_store(&trying_far, 1);
	pc__spin_lock(&lock);
	pc__spin_unlock(&lock);
	atomic_fetch_add(&done, 1);
}

/* Vcore context of a vcore on the holder's CPU. */
static void wait_for_it(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	while (!atomic_load(&held))
		sched_yield(); /* the holder shares this CPU */
	atomic_store(&trying, 1);
	pc__spin_lock(&lock);
	pc__spin_unlock(&lock);
	atomic_fetch_add(&done, 1);
}

static int waiter_vcore;

/*
 * From a pthread: main's vcore may be either, and a handler that
 * interrupted main before it sent the other event would wait for ever.
 */
static void *send_both(void *arg)
{
	struct pc_event hold_ev = { .type = EV_HOLD };
	struct pc_event wait_ev = { .type = EV_WAIT };
	struct pc_event far_ev = { .type = EV_WAIT_FAR };

	(void)arg;
	ASSERT_EQ(pc_event_send(0, &hold_ev, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_event_send(waiter_vcore, &wait_ev, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_event_send(1, &far_ev, PC_EVF_NOTIFY), 0);
	return NULL;
}

TEST(a_waiter_on_the_holders_cpu_gives_it_the_cpu)
{
	cpu_set_t set;
	pthread_t p;
	int ncpus, b;

	ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	ncpus = CPU_COUNT(&set);
	if (ncpus < 2 || ncpus + 1 > PC_VCORE_MAX)
		SKIP("needs 2 to PC_VCORE_MAX - 1 CPUs");
	/* One vcore more than CPUs: the last shares vcore 0's CPU. */
	test_enter(ncpus + 1);
	b = ncpus;
	ASSERT_EQ(pc_vcore_cpu(b), pc_vcore_cpu(0));
	handoffs_before = handoffs();
	ASSERT_EQ(pc_event_handler_set(EV_HOLD, hold, NULL), 0);
	ASSERT_EQ(pc_event_handler_set(EV_WAIT, wait_for_it, NULL), 0);
	ASSERT_EQ(pc_event_handler_set(EV_WAIT_FAR, wait_far, NULL), 0);
	waiter_vcore = b;
	ASSERT_EQ(pthread_create(&p, NULL, send_both, NULL), 0);
	while (atomic_load(&done) < 3)
		pc_thread_sleep(1000 * 1000);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	ASSERT_GT(handoffs(), handoffs_before);
}

static void *bump_locked(void *arg)
{
	long *count = arg;

	for (int i = 0; i < 20000; i++) {
		pc__spin_lock(&lock);
		(*count)++;
		pc__spin_unlock(&lock);
		if (i % 64 == 0)
			pc_thread_yield();
	}
	return NULL;
}

/* Mutual exclusion still holds with 8 vcores on the CPUs there are. */
TEST(sixteen_uthreads_on_eight_vcores_count_exactly)
{
	struct pc_thread *t[16];
	static long count;

	test_enter(8);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, bump_locked, &count), 0);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(count, 16 * 20000);
}
