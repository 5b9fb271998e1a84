/*
 * test_state.c - the process's states (docs/design/process-states.md):
 * single-core mode again with pc_vcore_request(0), on the caller's vcore;
 * WAITING after the last vcore leaves, and each wake-up that brings it
 * back: a uthread made runnable from a pthread, an event, a sleeper due,
 * a request; and wake-ups racing with the leave, thousands of times.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "rt.h"
#include "test.h"

static uint32_t state(void)
{
	return atomic_load(&pc__sh.arb->state);
}

/* From a pthread: until the process is WAITING. */
static void wait_for_waiting(void)
{
	while (state() != PC_PROC_WAITING)
		sched_yield();
}

/* WAITING, and nothing can wake it but the caller: it must stay so. */
static void assert_waiting(void)
{
	wait_for_waiting();
	ASSERT_EQ(pc_vcore_count(), 0);
	ASSERT_EQ(pc__sh.arb->nr_granted, 0);
	ASSERT_EQ(state(), PC_PROC_WAITING);
}

/* Runs @fn in a uthread on a vcore other than 0; joins it. */
static void run_off_vcore0(pc_thread_fn fn)
{
	struct pc_thread *t;

	ASSERT_EQ(pc_thread_create(&t, NULL, fn, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

static void *nothing(void *arg)
{
	return arg;
}

/*
 * Until the caller runs elsewhere: a yield alone wakes no other vcore,
 * but each new uthread does, and the woken vcore steals one of the two.
 */
static void leave_vcore0(void)
{
	while (pc_vcore_id() == 0) {
		struct pc_thread_attr attr = { .flags = PC_THREAD_DETACHED };

		ASSERT_EQ(pc_thread_create(NULL, &attr, nothing, NULL), 0);
		pc_thread_yield();
	}
}

TEST(a_request_of_zero_before_multicore_mode_changes_nothing)
{
	ASSERT_EQ(pc_vcore_request(0), 0);
	ASSERT_EQ(pc_vcore_count(), 0);
	ASSERT_TRUE(pc_thread_self() == NULL);
}

/* ---- single-core mode ---- */

static atomic_int single_caller = -1; /* the vcore that asked for 0 */
static atomic_int nr_after;          /* uthreads that ran on after it */
static atomic_int nr_elsewhere;      /* ... and ran on another vcore */

/* Runs on until single-core mode has settled, then checks where. */
static void *worker(void *arg)
{
	(void)arg;
	while (atomic_load(&single_caller) < 0 || pc_vcore_count() > 1)
		pc_thread_yield();
	for (int i = 0; i < 100; i++) {
		if (pc_vcore_id() != atomic_load(&single_caller))
			atomic_fetch_add(&nr_elsewhere, 1);
		pc_thread_yield();
	}
	atomic_fetch_add(&nr_after, 1);
	return NULL;
}

/* Asks for 0 from a vcore other than 0, while workers run everywhere. */
static void *asker(void *arg)
{
	int me;

	(void)arg;
	leave_vcore0();
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_request(0), 0);
	ASSERT_EQ(pc_vcore_id(), me);
	atomic_store(&single_caller, me);
	ASSERT_EQ(state(), PC_PROC_RUNNING_S);
	ASSERT_EQ(pc_vcore_wanted(), 0);
	while (pc_vcore_count() > 1)
		pc_thread_yield();
	/* Its vcore is the last, and stays. */
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_TRUE(pc_sched_vcore_online(me));
	ASSERT_EQ(pc_vcore_yield(0), -EBUSY);
	ASSERT_EQ(pc_vcore_yield(1), -EAGAIN);
	ASSERT_EQ(pc_vcore_preempt(me, 0), -EBUSY);
	ASSERT_EQ(pc_vcore_id(), me);
	return NULL;
}

TEST(a_request_of_zero_keeps_the_callers_vcore_and_runs_everyone_there)
{
	struct pc_thread *t[20];

	test_enter(4);
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, worker, NULL), 0);
	run_off_vcore0(asker);
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&nr_after), 20);
	ASSERT_EQ(atomic_load(&nr_elsewhere), 0);
	ASSERT_EQ(pc_vcore_id(), atomic_load(&single_caller));
	/* Back to multi-core mode, that vcore among those granted. */
	ASSERT_EQ(pc_vcore_request(3), 3);
	ASSERT_EQ(state(), PC_PROC_RUNNING_M);
	ASSERT_TRUE(pc_sched_vcore_online(atomic_load(&single_caller)));
}

static void *request_zero(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_vcore_request(0);
}

TEST(a_request_of_zero_from_a_pthread_in_multicore_mode_is_refused)
{
	pthread_t p;
	void *rc;

	test_enter(2);
	ASSERT_EQ(pthread_create(&p, NULL, request_zero, NULL), 0);
	ASSERT_EQ(pthread_join(p, &rc), 0);
	ASSERT_EQ((int)(intptr_t)rc, -EPERM);
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(state(), PC_PROC_RUNNING_M);
}

static atomic_int spin_on = -1, spin_stop;

/* Holds its vcore, never yielding, until told to stop. */
static void *spinner(void *arg)
{
	(void)arg;
	atomic_store(&spin_on, pc_vcore_id());
	while (!atomic_load(&spin_stop))
		pc__cpu_relax();
	return NULL;
}

/* Starts a spinner on a vcore other than the caller's. */
static struct pc_thread *spin_elsewhere(void)
{
	struct pc_thread *t;

	ASSERT_EQ(pc_thread_create(&t, NULL, spinner, NULL), 0);
	while (atomic_load(&spin_on) < 0)
		pc_thread_yield();
	ASSERT_NE(atomic_load(&spin_on), pc_vcore_id());
	return t;
}

TEST(the_single_vcore_is_never_preempted_even_before_the_others_leave)
{
	struct pc_thread *t;
	int me;

	test_enter(2);
	t = spin_elsewhere();
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_request(0), 0);
	/* The spinner's vcore has not left: two online, yet -EBUSY. */
	ASSERT_EQ(pc_vcore_count(), 2);
	ASSERT_EQ(pc_vcore_preempt(me, 0), -EBUSY);
	atomic_store(&spin_stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	/* The join may resume us where the spinner ended, until it leaves. */
	while (pc_vcore_count() > 1)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_id(), me);
}

TEST(a_request_of_zero_loses_to_a_pending_preemption_of_its_vcore)
{
	int me;

	test_enter(2);
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_preempt(me, 100 * 1000 * 1000 * 1000ull), 0);
	ASSERT_EQ(pc_vcore_request(0), -EAGAIN);
	ASSERT_EQ(state(), PC_PROC_RUNNING_M);
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(pc_vcore_yield(1), 0);
	ASSERT_EQ(pc_vcore_restore(), 2);
}

static struct pc_thread *main_t;
static int single_k;

/* Until vcore @single_k has parked, the spinner still holding another. */
static void *unpark_when_k_parks(void *arg)
{
	struct pc__vcore *k = pc__vcore_get(single_k);

	(void)arg;
	while (atomic_load(&k->idle) != PC_VC_PARKED)
		sched_yield();
	ASSERT_EQ(pc_vcore_count(), 2);
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
	return NULL;
}

TEST(the_single_vcore_parks_while_another_has_yet_to_leave)
{
	struct pc_thread *t;
	pthread_t p;

	test_enter(2);
	t = spin_elsewhere();
	single_k = pc_vcore_id();
	main_t = pc_thread_self();
	ASSERT_EQ(pc_vcore_request(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, unpark_when_k_parks, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	atomic_store(&spin_stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

static void *unpark_when_single(void *arg)
{
	(void)arg;
	while (pc_vcore_count() > 1)
		sched_yield();
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
	return NULL;
}

/* Parked vcores leave one after another; the parked single one does not
 * stop the chain. */
TEST(an_idle_process_settles_in_single_core_mode)
{
	pthread_t p;

	test_enter(8);
	pc_thread_sleep(50 * 1000 * 1000); /* the others park */
	main_t = pc_thread_self();
	ASSERT_EQ(pc_vcore_request(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, unpark_when_single, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	ASSERT_EQ(pc_vcore_count(), 1);
}

/* ---- WAITING ---- */

static atomic_int waited; /* WAITING seen by the pthread */

static void *unpark_when_waiting(void *arg)
{
	(void)arg;
	assert_waiting();
	atomic_fetch_add(&waited, 1);
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
	return NULL;
}

TEST(the_last_vcores_plain_yield_leads_to_waiting_and_an_unpark_ends_it)
{
	pthread_t p;
	int me;

	test_enter(1);
	me = pc_vcore_id();
	main_t = pc_thread_self();
	ASSERT_EQ(pc_vcore_yield(0), 0);
	/* Nowhere else to go: the caller runs on; the request is down. */
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(pc_vcore_wanted(), 0);
	ASSERT_EQ(pc_vcore_count(), 1);
	ASSERT_EQ(pthread_create(&p, NULL, unpark_when_waiting, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	/* Back, on the vcore that waited. */
	ASSERT_EQ(atomic_load(&waited), 1);
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(state(), PC_PROC_RUNNING_M);
	ASSERT_EQ(pthread_join(p, NULL), 0);
}

static atomic_int handled;

static void on_user(const struct pc_event *ev, void *arg)
{
	(void)arg;
	atomic_fetch_add(&handled, 1);
	ASSERT_EQ(ev->arg[0], 42);
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
}

static void *post_when_waiting(void *arg)
{
	struct pc_event ev = { .type = PC_EV_USER, .arg = { 42 } };

	(void)arg;
	assert_waiting();
	/* To vcore 5, never granted: the fallback is the waiting vcore. */
	ASSERT_EQ(pc_event_send(5, &ev, PC_EVF_FALLBACK | PC_EVF_NOTIFY), 0);
	return NULL;
}

TEST(an_event_posted_while_waiting_wakes_the_process)
{
	pthread_t p;

	test_enter(1);
	main_t = pc_thread_self();
	ASSERT_EQ(pc_event_handler_set(PC_EV_USER, on_user, NULL), 0);
	ASSERT_EQ(pc_vcore_yield(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, post_when_waiting, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	ASSERT_EQ(atomic_load(&handled), 1);
	ASSERT_EQ(pthread_join(p, NULL), 0);
}

static struct pc_evq *evq;

static void on_evq(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_fetch_add(&handled, 1);
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
}

static void *post_evq_when_waiting(void *arg)
{
	struct pc_event ev = { .type = PC_EV_USER };

	(void)arg;
	assert_waiting();
	ASSERT_EQ(pc_evq_post(evq, &ev), 0);
	return NULL;
}

/* Told without a fallback: the waiting vcore takes it as if online. */
TEST(an_event_queue_post_to_the_waiting_vcores_handler_wakes_it)
{
	pthread_t p;

	test_enter(1);
	main_t = pc_thread_self();
	ASSERT_EQ(pc_evq_create(&evq, 0), 0);
	ASSERT_EQ(pc_evq_handler_set(evq, on_evq, NULL, pc_vcore_id(),
				     PC_EVF_NOTIFY),
		  0);
	ASSERT_EQ(pc_vcore_yield(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, post_evq_when_waiting, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	ASSERT_EQ(atomic_load(&handled), 1);
	ASSERT_EQ(pthread_join(p, NULL), 0);
}

static void on_alarm(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_fetch_add(&handled, 1);
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
}

TEST(an_alarm_routed_to_the_waiting_vcore_without_fallback_wakes_it)
{
	struct timespec now;

	test_enter(1);
	main_t = pc_thread_self();
	ASSERT_EQ(pc_event_handler_set(PC_EV_ALARM, on_alarm, NULL), 0);
	ASSERT_EQ(pc_event_route_set(PC_EV_ALARM, pc_vcore_id(),
				     PC_EVF_NOTIFY),
		  0);
	ASSERT_EQ(pc_vcore_yield(0), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ASSERT_GE(pc_alarm_set((uint64_t)now.tv_sec * 1000000000ull +
				       (uint64_t)now.tv_nsec + 20 * 1000 * 1000,
			       1),
		  0);
	ASSERT_EQ(pc_thread_park(), 0);
	ASSERT_EQ(atomic_load(&handled), 1);
}

static void *watch_for_waiting(void *arg)
{
	(void)arg;
	wait_for_waiting();
	atomic_store(&waited, 1);
	return NULL;
}

TEST(a_sleeper_due_wakes_the_process)
{
	pthread_t p;
	int me;

	test_enter(1);
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_yield(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, watch_for_waiting, NULL), 0);
	/* Each sleep leaves the process WAITING; its end brings it back. */
	while (!atomic_load(&waited))
		ASSERT_EQ(pc_thread_sleep(2 * 1000 * 1000), 0);
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(pc_vcore_count(), 1);
	ASSERT_EQ(pthread_join(p, NULL), 0);
}

static atomic_int request_rc;

static void *request_when_waiting(void *arg)
{
	(void)arg;
	assert_waiting();
	atomic_store(&request_rc, pc_vcore_request(1));
	ASSERT_EQ(pc_thread_unpark(main_t), 0);
	return NULL;
}

/* On vcore k != 0: single-core mode there, then one vcore, then none. */
static void *wait_on_k(void *arg)
{
	pthread_t p;
	int k;

	(void)arg;
	leave_vcore0();
	k = pc_vcore_id();
	ASSERT_EQ(pc_vcore_request(0), 0);
	while (pc_vcore_count() > 1)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_request(1), 1);
	ASSERT_EQ(pc_vcore_yield(0), 0);
	main_t = pc_thread_self();
	ASSERT_EQ(pthread_create(&p, NULL, request_when_waiting, NULL), 0);
	ASSERT_EQ(pc_thread_park(), 0);
	/* Vcore k came back, not the lowest free id: it held the sleepers. */
	ASSERT_EQ(atomic_load(&request_rc), 1);
	ASSERT_TRUE(pc_sched_vcore_online(k));
	ASSERT_EQ(pc_sched_vcore_online(0), 0);
	ASSERT_EQ(pc_vcore_id(), k);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	return NULL;
}

TEST(a_request_while_waiting_brings_back_the_waiting_vcore_first)
{
	test_enter(4);
	run_off_vcore0(wait_on_k);
}

/*
 * Wake-ups racing with the leave: a pthread makes uthreads at random
 * moments while the process keeps going WAITING and coming back. A lost
 * wake-up leaves a uthread that never runs (the case times out).
 */
#define RACE_UTHREADS 5000

static atomic_int ran;

static void *bump(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

static void *create_at_random(void *arg)
{
	uint32_t r = 12345;

	(void)arg;
	for (int i = 0; i < RACE_UTHREADS; i++) {
		struct pc_thread_attr attr = { .flags = PC_THREAD_DETACHED };
		struct pc_thread *t;

		r = r * 1103515245u + 12345u;
		for (uint32_t n = (r >> 16) % 20000; n; n--)
			pc__cpu_relax();
		if (i % 2)
			wait_for_waiting();
		ASSERT_EQ(pc_thread_create(&t, &attr, bump, NULL), 0);
	}
	return NULL;
}

TEST(wake_ups_racing_with_the_leave_are_never_lost)
{
	pthread_t p;

	test_enter(1);
	test_dump_on_hang();
	ASSERT_EQ(pc_vcore_yield(0), 0);
	ASSERT_EQ(pthread_create(&p, NULL, create_at_random, NULL), 0);
	while (atomic_load(&ran) < RACE_UTHREADS)
		pc_thread_sleep(1000 * 1000);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	ASSERT_EQ(atomic_load(&ran), RACE_UTHREADS);
}

