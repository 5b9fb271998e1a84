/*
 * stress_yield.c - uthreads that do nothing but compute and yield, 64 of
 * them on 8 vcores over however many CPUs there are (2 here:
 * oversubscribed). The target is the fast yield (docs/design/
 * context-switch.md): a yielder is queued before its switch has saved
 * it, and a vcore that steals it, or takes it as its own queue's head,
 * must wait for the save. Linux time-slices the vcore threads, so now
 * and then it stops one inside that window, and the vcores' periodic
 * steals and the sleepers' idle vcores take from every queue. Invariants
 * that only a lost, doubled or half-saved uthread could break:
 *  - each uthread's state stays whole across every yield (whole.h:
 *    registers, stack, rounding mode, never on two vcores at once);
 *  - every uthread finishes and is joined, with its yield count.
 * Once alone, once with the provisioner taking cores away and giving
 * them back. $PC_STRESS_SECONDS sets how long they yield (default 2).
 */
#include <parcore/parcore.h>
#include <stdatomic.h>

#include "provision.h"
#include "rt.h"
#include "test.h"
#include "whole.h"

#define VCORES 8
#define YIELDERS 64
/* One iteration in this many sleeps a moment: vcores go idle and steal. */
#define SLEEP_EVERY 4096

static atomic_int stop;
static atomic_int running[YIELDERS];
static atomic_long moves;

static void *yielder(void *arg)
{
	int id = (int)(intptr_t)arg, vc = pc_vcore_id();
	volatile uint64_t on_stack[8];
	struct whole w;
	uint64_t h = whole_begin(&w, id, on_stack, &running[id]);

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		h = whole_step(h, w.i);
		whole_leave(&w);
		if (w.i % SLEEP_EVERY == (uint64_t)id % SLEEP_EVERY)
			pc_thread_sleep(20000);
		else
			pc_thread_yield();
		whole_back(&w, h);
		if (pc_vcore_id() != vc) {
			vc = pc_vcore_id();
			atomic_fetch_add(&moves, 1);
		}
	}
	whole_end(&w);
	return (void *)(uintptr_t)w.i;
}

/* Runs the yielders for $PC_STRESS_SECONDS, with the provisioner if asked. */
static void run_yielders(bool provision)
{
	struct pc_thread *t[YIELDERS];
	uint64_t yields = 0;

	test_enter(VCORES);
	for (int i = 0; i < YIELDERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, yielder,
					   (void *)(intptr_t)i),
			  0);
	test_stress_run(VCORES, test_stress_ns(2), provision);
	atomic_store(&stop, 1);
	for (int i = 0; i < YIELDERS; i++) {
		void *n;

		ASSERT_EQ(pc_thread_join(t[i], &n), 0);
		yields += (uint64_t)(uintptr_t)n;
	}
	ASSERT_EQ(atomic_load(&whole_corrupted), 0);
	ASSERT_EQ(atomic_load(&whole_doubled), 0);
	/* The uthreads did move between vcores: the race was in reach. */
	ASSERT_GT(atomic_load(&moves), 0);
	ASSERT_GT(yields, YIELDERS);
}

TEST(yields_on_8_vcores_keep_every_uthread_whole)
{
	run_yielders(false);
}

/*
 * A vcore that goes offline hands its queue to the others, where a
 * yielder queued but not yet saved can become a fast yield's next at
 * once (step 5 of the protocol).
 */
TEST(yields_while_cores_come_and_go_keep_every_uthread_whole)
{
	run_yielders(true);
}
