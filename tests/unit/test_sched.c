/*
 * test_sched.c - the 2LS interface: installing one, and the behavior every
 * 2LS must give (runs under the default 2LS and examples/fifo_sched.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "test.h"

static int fake_init(int n)
{
	(void)n;
	return 0;
}

static struct pc_thread *fake_pick(int v)
{
	(void)v;
	return NULL;
}

static void fake_runnable(struct pc_thread *t)
{
	(void)t;
}

TEST(incomplete_tables_are_refused)
{
	struct pc_sched_ops ops = { .name = "x",
				    .init = fake_init,
				    .pick_next = fake_pick,
				    .thread_runnable = fake_runnable };

	ASSERT_EQ(pc_sched_set(NULL), -EINVAL);
	ops.pick_next = NULL;
	ASSERT_EQ(pc_sched_set(&ops), -EINVAL);
	ops.pick_next = fake_pick;
	ops.init = NULL;
	ASSERT_EQ(pc_sched_set(&ops), -EINVAL);
	ops.init = fake_init;
	ops.thread_runnable = NULL;
	ASSERT_EQ(pc_sched_set(&ops), -EINVAL);
	ASSERT_EQ(strcmp(pc_sched_default()->name, "default"), 0);
}

static int failing_init(int n)
{
	(void)n;
	return -ENOSYS;
}

TEST(init_failure_is_returned_and_changes_nothing)
{
	struct pc_sched_ops ops = { .name = "failing",
				    .init = failing_init,
				    .pick_next = fake_pick,
				    .thread_runnable = fake_runnable };

	ASSERT_EQ(pc_sched_set(&ops), 0);
	ASSERT_EQ(pc_vcore_request(2), -ENOSYS);
	ASSERT_TRUE(pc_thread_self() == NULL);
	ASSERT_EQ(pc_vcore_count(), 0);
	/* Still single-core: another 2LS may be installed and work. */
	ASSERT_EQ(pc_sched_set(pc_sched_default()), 0);
	ASSERT_EQ(pc_vcore_request(1), 1);
}

static atomic_int running;

static void *wait_for_all(void *arg)
{
	int n = (int)(intptr_t)arg;

	/* No yield: this completes only if n vcores run us at once. */
	atomic_fetch_add(&running, 1);
	while (atomic_load(&running) < n)
		;
	return NULL;
}

/*
 * No runnable uthread waits while a vcore is idle: n uthreads that never
 * yield can only all run at once if every idle vcore is woken for them.
 */
TEST(idle_vcores_are_woken_for_runnable_uthreads)
{
	struct pc_thread *t[8];

	test_enter(8);
	for (int round = 0; round < 20; round++) {
		atomic_store(&running, 0);
		for (int i = 0; i < 7; i++)
			ASSERT_EQ(pc_thread_create(&t[i], NULL, wait_for_all,
						   (void *)8),
				  0);
		wait_for_all((void *)8); /* main is the eighth */
		for (int i = 0; i < 7; i++)
			ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
		pc_thread_sleep(1000 * 1000); /* let the vcores park again */
	}
}

static atomic_int before_vc = -1, after_vc = -1;
static struct pc_thread *parker;

static void *park_and_report(void *arg)
{
	(void)arg;
	atomic_store(&before_vc, pc_vcore_id());
	pc_thread_park();
	atomic_store(&after_vc, pc_vcore_id());
	return NULL;
}

/*
 * The default 2LS resumes a uthread where it last ran if that vcore idles.
 * A round counts when the parker parked on the vcore main is not on; main
 * then stays busy, so only the parker's own vcore can take it.
 */
TEST(default_resumes_where_it_last_ran)
{
	const char *s = getenv("PC_TEST_SCHED");
	int counted = 0;

	if (s && strcmp(s, "fifo") == 0)
		SKIP("affinity is a property of the default 2LS only");
	test_enter(2);
	for (int round = 0; round < 200 && counted < 10; round++) {
		atomic_store(&before_vc, -1);
		atomic_store(&after_vc, -1);
		ASSERT_EQ(pc_thread_create(&parker, NULL, park_and_report,
					   NULL),
			  0);
		/* Busy, not yielding: the other vcore steals the parker. */
		for (int spin = 0; spin < 1000000 &&
				   atomic_load(&before_vc) < 0;
		     spin++)
			;
		while (atomic_load(&before_vc) < 0)
			pc_thread_yield();
		pc_thread_sleep(1000 * 1000); /* it has parked by now */
		if (atomic_load(&before_vc) != pc_vcore_id()) {
			counted++;
			ASSERT_EQ(pc_thread_unpark(parker), 0);
			while (atomic_load(&after_vc) < 0) /* stay busy */
				;
			ASSERT_EQ(atomic_load(&after_vc),
				  atomic_load(&before_vc));
		} else {
			ASSERT_EQ(pc_thread_unpark(parker), 0);
		}
		ASSERT_EQ(pc_thread_join(parker, NULL), 0);
	}
	if (counted == 0)
		SKIP("the parker never parked on the other vcore");
}

static void *report_vcore(void *arg)
{
	*(int *)arg = pc_vcore_id();
	return NULL;
}

/* The helpers a 2LS uses, including their answers to bad ids. */
TEST(helpers_for_a_2ls)
{
	struct pc_thread *t;
	int ran_on = -1;

	ASSERT_EQ(pc_sched_vcore_online(0), 0); /* nothing granted yet */
	test_enter(2);
	ASSERT_EQ(pc_sched_vcore_online(0), 1);
	ASSERT_EQ(pc_sched_vcore_online(-1), 0);
	ASSERT_EQ(pc_sched_vcore_online(PC_VCORE_MAX), 0);
	ASSERT_EQ(pc_sched_wake_vcore(-1), 0);
	ASSERT_EQ(pc_sched_wake_vcore(PC_VCORE_MAX), 0);
	ASSERT_EQ(pc_sched_wake_vcore(7), 0); /* never granted */
	pc_sched_wake();                      /* harmless at any time */
	ASSERT_EQ(pc_thread_create(&t, NULL, report_vcore, &ran_on), 0);
	/* -1 until it first runs; another vcore may already have run it. */
	ASSERT_GE(pc_thread_last_vcore(t), -1);
	ASSERT_LT(pc_thread_last_vcore(t), 2);
	ASSERT_EQ(((uintptr_t)pc_thread_sched_data(t)) % sizeof(void *), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_TRUE(ran_on == 0 || ran_on == 1);
	ASSERT_EQ(pc_thread_last_vcore(pc_thread_self()), pc_vcore_id());
}

/*
 * Hand-offs (sched.h: thread_handoff). A uthread woken owning a mutex
 * waits in its giver's vcore's slot; the tests below hang, and time out,
 * if it can be stranded there.
 */
static struct pc_mutex handed = PC_MUTEX_INIT;
static atomic_int about_to_lock, got_it;

static void *lock_and_report(void *arg)
{
	(void)arg;
	atomic_store(&about_to_lock, 1);
	ASSERT_EQ(pc_mutex_lock(&handed), 0);
	atomic_store(&got_it, 1);
	ASSERT_EQ(pc_mutex_unlock(&handed), 0);
	return NULL;
}

/* Main holds the mutex; a new uthread is about to queue for it. */
static struct pc_thread *start_taker(void)
{
	struct pc_thread *t;

	atomic_store(&about_to_lock, 0);
	atomic_store(&got_it, 0);
	ASSERT_EQ(pc_mutex_lock(&handed), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, lock_and_report, NULL), 0);
	while (!atomic_load(&about_to_lock))
		pc_thread_yield();
	return t;
}

/* Hands the mutex to @t and busy-waits, never picking, until it ran. */
static void hand_over_spinning(struct pc_thread *t)
{
	ASSERT_EQ(pc_mutex_unlock(&handed), 0);
	while (!atomic_load(&got_it))
		; /* busy: main's vcore never picks */
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/*
 * The giver never blocks: the new owner runs only if an idle vcore takes
 * it from the slot. Some rounds leave the idle vcore time to park, so
 * that the hand-off has to wake it, or races its park.
 */
TEST(a_uthread_handed_a_mutex_runs_while_its_giver_spins)
{
	struct pc_thread *t;

	/* No ticks: they would preempt the giver and rescue the owner. */
	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(2);
	for (int round = 0; round < 300; round++) {
		t = start_taker();
		/* Queued behind main by now, or about to be: both are fine. */
		pc_thread_sleep(round % 3 == 0 ? 200 * 1000 : 2000);
		hand_over_spinning(t);
	}
}

/*
 * The same, right after a burst of hand-offs on the giver's vcore: the
 * idle vcore parks during the burst, and may become the default 2LS's
 * watcher, which hand-offs do not wake (docs/design/vcore-idle.md, "The
 * watcher"). The giver then waits 0-600 us, busy, and hands off: to a
 * watcher that sleeps or spins, or that resigns about then (it does
 * after four parks without a hand-off).
 */
static struct pc_sem burst_go = PC_SEM_INIT(0), burst_back = PC_SEM_INIT(0);
static atomic_int burst_stop;

static void *burst_partner(void *arg)
{
	(void)arg;
	for (;;) {
		ASSERT_EQ(pc_sem_wait(&burst_go), 0);
		if (atomic_load(&burst_stop))
			return NULL;
		ASSERT_EQ(pc_sem_post(&burst_back), 0);
	}
}

/* No ticks, @vcores vcores, and a partner for bursts of hand-offs. */
static struct pc_thread *burst_start(int vcores)
{
	struct pc_thread *partner;

	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(vcores);
	ASSERT_EQ(pc_thread_create(&partner, NULL, burst_partner, NULL), 0);
	return partner;
}

/* Hands units back and forth with the partner for @ns. */
static void burst_for(uint64_t ns)
{
	uint64_t until = test_now_ns() + ns;

	while (test_now_ns() < until) {
		ASSERT_EQ(pc_sem_post(&burst_go), 0);
		ASSERT_EQ(pc_sem_wait(&burst_back), 0);
	}
}

static void burst_stop_partner(struct pc_thread *partner)
{
	atomic_store(&burst_stop, 1);
	ASSERT_EQ(pc_sem_post(&burst_go), 0);
	ASSERT_EQ(pc_thread_join(partner, NULL), 0);
}

static void busy_for(uint64_t ns)
{
	uint64_t until = test_now_ns() + ns;

	while (test_now_ns() < until)
		; /* busy: this vcore never picks */
}

static void hand_off_after_bursts(int vcores, uint32_t rnd)
{
	struct pc_thread *partner = burst_start(vcores), *t;

	for (int round = 0; round < 400; round++) {
		t = start_taker();
		burst_for(30000 + test_xorshift(&rnd) % 570000);
		busy_for(test_xorshift(&rnd) % 600000);
		hand_over_spinning(t);
	}
	burst_stop_partner(partner);
}

TEST(a_uthread_handed_a_mutex_after_a_burst_of_hand_offs_runs)
{
	hand_off_after_bursts(2, 777);
}

/* Two idle vcores (on 2 CPUs, oversubscribed): both may claim the watch. */
TEST(a_uthread_handed_a_mutex_after_a_burst_runs_with_two_idle_vcores)
{
	hand_off_after_bursts(3, 4242);
}

/*
 * Two hand-offs in a row after a burst: the second takes the slot and
 * moves the first (start_taker()'s) to the giver's queue, and then runs,
 * busy, until the first has run. Only the idle vcore can run the first,
 * and the giver waits 150-650 us first, when a watcher resigns for want
 * of hand-offs (a second reader's interleaving stranded it so, in 2 runs
 * of 6).
 */
static struct pc_mutex second_m = PC_MUTEX_INIT;
static atomic_int second_waits;

static void *second_owner(void *arg)
{
	(void)arg;
	atomic_store(&second_waits, 1);
	ASSERT_EQ(pc_mutex_lock(&second_m), 0);
	ASSERT_EQ(pc_mutex_unlock(&second_m), 0);
	while (!atomic_load(&got_it))
		; /* busy: its vcore never picks */
	return NULL;
}

TEST(a_uthread_moved_from_the_slot_to_the_queue_runs)
{
	struct pc_thread *partner = burst_start(2), *a, *b;
	uint32_t rnd = 99;

	for (int round = 0; round < 1000; round++) {
		atomic_store(&second_waits, 0);
		a = start_taker();
		ASSERT_EQ(pc_mutex_lock(&second_m), 0);
		ASSERT_EQ(pc_thread_create(&b, NULL, second_owner, NULL), 0);
		while (!atomic_load(&second_waits))
			pc_thread_yield();
		burst_for(400000);
		/* Ends the slot's run: else the queue's head may go first. */
		pc_thread_yield();
		busy_for(150000 + test_xorshift(&rnd) % 500000);
		ASSERT_EQ(pc_mutex_unlock(&handed), 0);
		ASSERT_EQ(pc_mutex_unlock(&second_m), 0);
		ASSERT_EQ(pc_thread_join(a, NULL), 0);
		ASSERT_EQ(pc_thread_join(b, NULL), 0);
	}
	burst_stop_partner(partner);
}

/*
 * Two uthreads passing semaphore units back and forth on one vcore fill
 * its slot at every switch; a third, queued, must still run.
 */
static struct pc_sem ping = PC_SEM_INIT(1), pong = PC_SEM_INIT(0);
static atomic_int stop_pair;
static atomic_long exchanges;

static void *pass(void *arg)
{
	struct pc_sem *mine = arg ? &ping : &pong;
	struct pc_sem *other = arg ? &pong : &ping;

	for (;;) {
		ASSERT_EQ(pc_sem_wait(mine), 0);
		atomic_fetch_add(&exchanges, 1);
		ASSERT_EQ(pc_sem_post(other), 0);
		if (atomic_load(&stop_pair))
			return NULL;
	}
}

static void *stop_the_pair(void *arg)
{
	(void)arg;
	atomic_store(&stop_pair, 1);
	return NULL;
}

TEST(a_pair_passing_units_back_and_forth_lets_queued_uthreads_run)
{
	struct pc_thread *a, *b, *c;

	test_enter(1);
	ASSERT_EQ(pc_thread_create(&a, NULL, pass, (void *)1), 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, pass, NULL), 0);
	ASSERT_EQ(pc_thread_create(&c, NULL, stop_the_pair, NULL), 0);
	ASSERT_EQ(pc_thread_join(c, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	ASSERT_GT(atomic_load(&exchanges), 0);
}

/*
 * A vcore that gives its core back with a uthread in its slot: the
 * uthread is not lost (vcore_leaving hands it on; failing that, the
 * other vcore would steal it from the slot).
 */
TEST(a_vcore_leaving_with_a_handed_uthread_hands_it_on)
{
	struct pc_thread *t;

	test_enter(2);
	for (int round = 0; round < 100; round++) {
		ASSERT_EQ(pc_vcore_request(2), 2);
		t = start_taker();
		pc_thread_sleep(2000);
		ASSERT_EQ(pc_mutex_unlock(&handed), 0);
		/* Refused only on the last vcore or during a preemption. */
		(void)pc_vcore_yield(0);
		ASSERT_EQ(pc_thread_join(t, NULL), 0);
		ASSERT_EQ(atomic_load(&got_it), 1);
	}
}

/*
 * The same promise with a copy of the default table (a second reader
 * stranded the new owner so): the giver unlocks at a random moment 5-45
 * us after the taker blocked, around the end of the other vcore's spin,
 * and never picks. A stranded owner hangs the case.
 */
static struct pc_sched_ops copied;

TEST(a_copy_of_the_default_table_keeps_the_promise)
{
	struct pc_thread *t;
	uint32_t rnd = 12345;

	copied = *pc_sched_default();
	copied.name = "copied default";
	ASSERT_EQ(pc_sched_set(&copied), 0);
	/* No ticks: they would preempt the giver, and rescue the owner. */
	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	ASSERT_EQ(pc_vcore_limit_set(2), 0);
	ASSERT_EQ(pc_vcore_request(2), 2);
	for (int round = 0; round < 300; round++) {
		t = start_taker();
		busy_for(5000 + test_xorshift(&rnd) % 40000);
		hand_over_spinning(t);
	}
}

/*
 * A copy of the default table with a pick_next of its own sees every
 * yield: the fast yield is the default's swap, and only for a table
 * whose picker is the default's (a second reader's wrapper counted
 * 82,000 picks for 5.2 million yields).
 */
static struct pc_sched_ops wrapped;
static atomic_long wrapped_picks, wrapped_yields;
static atomic_int wrapped_stop;

static struct pc_thread *counting_pick(int vcoreid)
{
	atomic_fetch_add_explicit(&wrapped_picks, 1, memory_order_relaxed);
	return pc_sched_default()->pick_next(vcoreid);
}

static void *yield_until_stopped(void *unused)
{
	(void)unused;
	while (!atomic_load(&wrapped_stop)) {
		pc_thread_yield();
		atomic_fetch_add_explicit(&wrapped_yields, 1,
					  memory_order_relaxed);
	}
	return NULL;
}

TEST(a_copy_of_the_default_table_with_its_own_picker_sees_every_yield)
{
	struct pc_thread *t[4];

	wrapped = *pc_sched_default();
	wrapped.pick_next = counting_pick;
	ASSERT_EQ(pc_sched_set(&wrapped), 0);
	/* Not test_enter(): under PC_TEST_SCHED it installs its own 2LS. */
	ASSERT_EQ(pc_vcore_limit_set(1), 0);
	ASSERT_EQ(pc_vcore_request(1), 1);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, yield_until_stopped,
					   NULL),
			  0);
	while (atomic_load(&wrapped_yields) < 100000)
		pc_thread_yield();
	atomic_store(&wrapped_stop, 1);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	/* Every yield is followed by a pick, on the one vcore. */
	ASSERT_GE(atomic_load(&wrapped_picks), atomic_load(&wrapped_yields));
}
