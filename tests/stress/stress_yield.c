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
 *  - each uthread carries values in registers and on its stack across
 *    every yield, and checks them against a recomputation after it;
 *  - each keeps a rounding mode of its own (the FP control state a
 *    switch carries: MXCSR and the x87 control word, or FPCR);
 *  - no uthread runs on two vcores at once (a flag taken by exchange);
 *  - every uthread finishes and is joined, with its yield count.
 * Once alone, once with the provisioner taking cores away and giving
 * them back. $PC_STRESS_SECONDS sets how long they yield (default 2).
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "provision.h"
#include "rt.h"
#include "test.h"

#define VCORES 8
#define YIELDERS 64
/* One iteration in this many sleeps a moment: vcores go idle and steal. */
#define SLEEP_EVERY 4096

static atomic_int stop;
static atomic_int running[YIELDERS];
static atomic_long corrupted, doubled, moves;

/*
 * Quotients whose last bit depends on the rounding mode, in the unit
 * that does double arithmetic (SSE here: MXCSR; fegetround() reads only
 * the x87 control word): the three tell all four modes apart.
 */
static void quotients(double q[3])
{
	volatile double one = 1.0, two = 2.0, three = 3.0;

	q[0] = one / three;
	q[1] = two / three;
	q[2] = -one / three;
}

static bool rounds_as(const double q[3])
{
	double now[3];

	quotients(now);
	return now[0] == q[0] && now[1] == q[1] && now[2] == q[2];
}

/* Yielder @id's rounding mode. */
static int mode_of(int id)
{
	static const int modes[] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD,
				     FE_TOWARDZERO };

	return modes[id % 4];
}

/* The value a yielder's state must have after @i steps from @seed. */
static uint64_t step(uint64_t h, uint64_t i)
{
	return (h ^ (h >> 31)) * 0x9e3779b97f4a7c15u + i;
}

/* Marks yielder @id running; counts a second vcore running it. */
static void enter(int id)
{
	if (atomic_exchange(&running[id], 1))
		atomic_fetch_add(&doubled, 1);
}

static void *yielder(void *arg)
{
	int id = (int)(intptr_t)arg, vc = pc_vcore_id();
	uint64_t h = (uint64_t)id + 1, shadow = h, i = 0;
	volatile uint64_t on_stack[8];
	double q[3];

	for (int k = 0; k < 8; k++)
		on_stack[k] = h + (uint64_t)k;
	fesetround(mode_of(id));
	quotients(q);
	enter(id);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		h = step(h, i);
		atomic_store(&running[id], 0);
		if (i % SLEEP_EVERY == (uint64_t)id % SLEEP_EVERY)
			pc_thread_sleep(20000);
		else
			pc_thread_yield();
		enter(id);
		shadow = step(shadow, i);
		if (h != shadow || on_stack[i % 8] != (uint64_t)id + 1 + i % 8 ||
		    fegetround() != mode_of(id) || !rounds_as(q))
			atomic_fetch_add(&corrupted, 1);
		if (pc_vcore_id() != vc) {
			vc = pc_vcore_id();
			atomic_fetch_add(&moves, 1);
		}
		i++;
	}
	atomic_store(&running[id], 0);
	return (void *)(uintptr_t)i;
}

/* Runs the yielders for $PC_STRESS_SECONDS, with the provisioner if asked. */
static void run_yielders(bool provision)
{
	const char *env = getenv("PC_STRESS_SECONDS");
	unsigned long seconds = env ? strtoul(env, NULL, 10) : 2;
	struct pc_thread *t[YIELDERS];
	uint64_t yields = 0;

	test_enter(VCORES);
	for (int i = 0; i < YIELDERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, yielder,
					   (void *)(intptr_t)i),
			  0);
	if (provision) {
		test_provisioner_start(VCORES, seconds * 1000000000ull);
		ASSERT_GT(test_provisioner_join(), 0);
	} else {
		ASSERT_EQ(pc_thread_sleep(seconds * 1000000000ull), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < YIELDERS; i++) {
		void *n;

		ASSERT_EQ(pc_thread_join(t[i], &n), 0);
		yields += (uint64_t)(uintptr_t)n;
	}
	ASSERT_EQ(atomic_load(&corrupted), 0);
	ASSERT_EQ(atomic_load(&doubled), 0);
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
