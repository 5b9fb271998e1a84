/*
 * test_tick.c - ticks, PAUSE points and preemption (parcore/preempt.h):
 * a uthread that never pauses does not starve the others; a pausing loop
 * yields at its tick; a disabled section is not preempted; a vcore with
 * nothing queued gets no ticks, and ticks off cost no CPU; a 2LS's
 * quantum, pause requests and preemptions (parcore/sched.h); no EINTR
 * for a uthread blocked in poll(); libc under short ticks stays whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "test.h"

#define QUANTUM (1000u * 1000u) /* 1 ms: quick tests */

static atomic_int done, b_ran;

static void *set_done(void *arg);
static void *sleep_then_set_done(void *arg);

TEST(bad_input_is_refused)
{
	ASSERT_EQ(pc_preempt_quantum_set(1000), -EINVAL);
	ASSERT_EQ(pc_preempt_quantum(), PC_QUANTUM_DEFAULT_NS);
	ASSERT_EQ(pc_preempt_quantum_set(0), 0); /* off */
	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	ASSERT_EQ(pc_preempt_quantum(), QUANTUM);
	ASSERT_EQ(pc_preempt_stats(-1, NULL), -EINVAL);
	ASSERT_EQ(pc_preempt_enable(), 0); /* outside a uthread: nothing */
	pc_pause();                        /* nothing either */
}

static uint64_t cpu_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * With ticks off, a busy vcore costs the ticker nothing: the process's
 * CPU time grows with the spinning uthread's thread alone. The ticker
 * once went round without sleeping then, and the process used twice
 * the CPU of its only busy thread.
 */
TEST(ticks_off_cost_no_cpu)
{
	struct pc_thread *b;
	uint64_t proc0, thr0, proc, thr;

	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(1);
	ASSERT_EQ(pc_thread_create(&b, NULL, set_done, NULL), 0);
	proc0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	thr0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	do
		thr = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - thr0;
	while (thr < 200u * 1000u * 1000u);
	proc = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - proc0;
	printf("  %.1f ms of CPU for the process, %.1f for the spinner\n",
	       proc / 1e6, thr / 1e6);
	ASSERT_LT(proc - thr, thr / 2);
	pc_thread_yield();
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

/* A 2LS's quantum applies unless the process set its own. */
TEST(a_2ls_quantum_applies_unless_the_process_sets_one)
{
	static struct pc_sched_ops ops;

	ops = *pc_sched_default();
	ops.quantum_ns = PC_QUANTUM_MIN_NS - 1;
	ASSERT_EQ(pc_sched_set(&ops), -EINVAL);
	ASSERT_EQ(pc_preempt_quantum(), PC_QUANTUM_DEFAULT_NS);
	ops.quantum_ns = 2 * QUANTUM;
	ASSERT_EQ(pc_sched_set(&ops), 0);
	ASSERT_EQ(pc_preempt_quantum(), 2 * QUANTUM);
	/* Another 2LS that asks for none: the default again. */
	ASSERT_EQ(pc_sched_set(pc_sched_default()), 0);
	ASSERT_EQ(pc_preempt_quantum(), PC_QUANTUM_DEFAULT_NS);
	ASSERT_EQ(pc_sched_set(&ops), 0);
	ASSERT_EQ(pc_preempt_quantum_set(3 * QUANTUM), 0);
	ASSERT_EQ(pc_preempt_quantum(), 3 * QUANTUM);
	ASSERT_EQ(pc_sched_set(&ops), 0); /* set after: the process's stays */
	ASSERT_EQ(pc_preempt_quantum(), 3 * QUANTUM);
}

/* A call-free loop: only a preemption can take its vcore from it. */
static void *spin_until_done(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&done, memory_order_relaxed))
		;
	return NULL;
}

static void *set_done(void *arg)
{
	(void)arg;
	atomic_store(&done, 1);
	return NULL;
}

/*
 * One vcore: a uthread spins without a PAUSE point until the second sets
 * its flag. Without preemption the second never runs, and the case hangs.
 */
static void spinner_and_setter(void)
{
	struct pc_thread *a, *b;
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_thread_create(&a, NULL, spin_until_done, NULL), 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, set_done, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_GE(st.preemptions, 1);
	ASSERT_GE(st.signals, 1);
}

TEST(a_uthread_that_never_pauses_does_not_starve_the_others)
{
	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	spinner_and_setter();
}

/*
 * A 2LS that preempts its own vcore whenever a uthread becomes runnable,
 * and then reaches a PAUSE point.
 */
static struct pc_sched_ops preempting_ops;

static void runnable_then_preempt_own(struct pc_thread *t)
{
	pc_sched_default()->thread_runnable(t);
	if (pc_vcore_id() >= 0)
		ASSERT_EQ(pc_sched_preempt(pc_vcore_id()), 0);
	pc_pause();
}

/*
 * pc_sched_preempt() of the caller's own vcore, and a PAUSE point, from
 * inside a 2LS callback, within the runtime: each once yielded there,
 * which wrapped the vcore's nopreempt count, so every later notification
 * was deferred and the creator, spinning on, was never preempted for the
 * uthread it created (after a second reader's reproducer): the case
 * hangs.
 */
static void *create_setter_then_spin(void *arg)
{
	struct pc_thread *b;

	/* A setter that sleeps first: it needs the vcore again later. */
	ASSERT_EQ(pc_thread_create(&b, NULL, sleep_then_set_done, NULL), 0);
	spin_until_done(arg);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	return NULL;
}

TEST(a_2ls_preempting_its_own_vcore_from_a_callback_breaks_nothing)
{
	struct pc_thread *a;

	preempting_ops = *pc_sched_default();
	preempting_ops.thread_runnable = runnable_then_preempt_own;
	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	ASSERT_EQ(pc_sched_set(&preempting_ops), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	ASSERT_EQ(pc_thread_create(&a, NULL, create_setter_then_spin, NULL),
		  0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
}

static void *sleep_then_set_done(void *arg)
{
	(void)arg;
	pc_thread_sleep(2 * 1000 * 1000);
	atomic_store(&done, 1);
	return NULL;
}

/*
 * One vcore: a sleeper comes due while a uthread spins without PAUSE
 * points. Only that vcore's loop runs its sleepers: without a tick for a
 * due sleeper, the spinner would hold it for ever.
 */
TEST(a_due_sleeper_is_not_held_by_a_spinner)
{
	struct pc_thread *a, *b;

	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	ASSERT_EQ(pc_thread_create(&b, NULL, sleep_then_set_done, NULL), 0);
	pc_thread_yield(); /* b sleeps */
	ASSERT_EQ(pc_thread_create(&a, NULL, spin_until_done, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

/* A PAUSE point in the loop: it yields at the tick, in every build. */
static void *pause_until_done(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&done, memory_order_relaxed))
		pc_pause();
	return NULL;
}

TEST(a_pausing_loop_yields_when_its_tick_comes)
{
	struct pc_thread *a, *b;
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	ASSERT_EQ(pc_thread_create(&a, NULL, pause_until_done, NULL), 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, set_done, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_GE(st.ticks, 1);
}

static atomic_int pauser_started;

static void *note_start_then_pause(void *arg)
{
	atomic_store(&pauser_started, 1);
	return pause_until_done(arg);
}

/* A plain pthread, as a 2LS's own thread might be: asks vcore 0. */
static void *request_pause(void *arg)
{
	(void)arg;
	while (!atomic_load(&pauser_started))
		usleep(100);
	ASSERT_EQ(pc_sched_pause(0), 0);
	return NULL;
}

/*
 * With ticks off, only the 2LS's request can make the pausing loop
 * yield to the uthread behind it: without it the case hangs.
 */
TEST(a_2ls_request_makes_a_pausing_loop_yield)
{
	struct pc_thread *a, *b;
	pthread_t p;

	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(1);
	ASSERT_EQ(pc_sched_pause(-1), -EINVAL);
	ASSERT_EQ(pc_sched_pause(PC_VCORE_MAX), -EINVAL);
	ASSERT_EQ(pc_sched_pause(1), -ENXIO);
	ASSERT_EQ(pthread_create(&p, NULL, request_pause, NULL), 0);
	ASSERT_EQ(pc_thread_create(&a, NULL, note_start_then_pause, NULL), 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, set_done, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pthread_join(p, NULL), 0);
}

/* A plain pthread again: preempts vcore 0 until the spinner is out. */
static void *request_preemption(void *arg)
{
	(void)arg;
	while (!atomic_load(&done)) {
		ASSERT_EQ(pc_sched_preempt(0), 0);
		usleep(1000);
	}
	return NULL;
}

/*
 * With ticks off, a uthread that spins without PAUSE points gives its
 * vcore to the one behind it only when the 2LS preempts it: without the
 * preemption the case hangs. Requests are repeated, since one may come
 * before the spinner runs or find it outside a safe point.
 */
TEST(a_2ls_preemption_switches_out_a_spinner)
{
	struct pc_thread *a, *b;
	struct pc_preempt_stats st;
	pthread_t p;

	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(1);
	ASSERT_EQ(pc_sched_preempt(-1), -EINVAL);
	ASSERT_EQ(pc_sched_preempt(1), -ENXIO);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	ASSERT_EQ(pc_thread_create(&a, NULL, spin_until_done, NULL), 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, set_done, NULL), 0);
	ASSERT_EQ(pthread_create(&p, NULL, request_preemption, NULL), 0);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
	ASSERT_EQ(pc_thread_join(a, NULL), 0);
	ASSERT_EQ(pthread_join(p, NULL), 0);
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_GE(st.preemptions, 1);
	ASSERT_EQ(st.ticks, 0);
}

/* The loop helper visits every index once, chunk by chunk. */
TEST(the_pausing_loop_helper_visits_every_index_once)
{
	static unsigned char seen[10007];
	size_t total = 0;

	PC_PAUSE_FOR(i, 3, sizeof(seen), 64)
		seen[i]++;
	for (size_t i = 0; i < sizeof(seen); i++) {
		ASSERT_EQ(seen[i], i >= 3);
		total += seen[i];
	}
	ASSERT_EQ(total, sizeof(seen) - 3);
	PC_PAUSE_FOR(i, 5, 5, 64)
		ASSERT_TRUE(!"an empty range runs nothing");
}

static void *count_run(void *arg)
{
	(void)arg;
	atomic_fetch_add(&b_ran, 1);
	return NULL;
}

/*
 * A disabled section on one vcore: the ticker tries, is refused twice
 * (counted), and the waiting uthread does not run until the section ends,
 * which yields to it at once.
 */
TEST(a_disabled_section_is_not_preempted_and_yields_at_its_end)
{
	struct pc_thread *b;
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	ASSERT_EQ(pc_thread_create(&b, NULL, count_run, NULL), 0);
	pc_preempt_disable();
	pc_preempt_disable(); /* nested */
	do
		ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	while (st.deferred < 2);
	ASSERT_EQ(atomic_load(&b_ran), 0);
	ASSERT_EQ(pc_preempt_enable(), 0);
	ASSERT_EQ(atomic_load(&b_ran), 0); /* still inside the outer one */
	ASSERT_EQ(pc_preempt_enable(), 0);
	ASSERT_EQ(atomic_load(&b_ran), 1); /* the end yielded to it */
	ASSERT_EQ(pc_preempt_enable(), -EINVAL);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

/*
 * A uthread blocked in poll() holds its vcore while another waits for
 * it: the ticks find that its thread used almost no CPU and send no
 * signal, which would make poll(), never restarted, fail with EINTR.
 * Each wait spans many quanta: without the check, every run failed.
 */
TEST(a_uthread_blocked_in_a_system_call_gets_no_eintr)
{
	struct pc_thread *b;
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	ASSERT_EQ(pc_thread_create(&b, NULL, count_run, NULL), 0);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(poll(NULL, 0, 20 * QUANTUM / 1000000), 0);
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	printf("  %llu ticks, %llu signals, %llu deferred\n",
	       (unsigned long long)st.ticks, (unsigned long long)st.signals,
	       (unsigned long long)st.deferred);
	ASSERT_GT(st.deferred, 0);
	pc_thread_yield();
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

/*
 * A vcore whose only uthread runs gets no tick, however long it runs;
 * once another waits for it, it does.
 */
TEST(a_vcore_with_nothing_queued_gets_no_ticks)
{
	struct pc_thread *b;
	struct pc_preempt_stats st;
	uint64_t end;

	ASSERT_EQ(pc_preempt_quantum_set(QUANTUM), 0);
	test_enter(1);
	end = test_now_ns() + 20 * QUANTUM;
	while (test_now_ns() < end)
		pc_pause();
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_EQ(st.ticks, 0);
	ASSERT_EQ(st.signals, 0);
	ASSERT_EQ(pc_thread_create(&b, NULL, count_run, NULL), 0);
	while (!atomic_load(&b_ran))
		pc_pause();
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_GE(st.ticks, 1);
	ASSERT_EQ(pc_thread_join(b, NULL), 0);
}

/* ---- libc under short ticks ---- */

#define LIBC_THREADS 8
#define LIBC_ROUNDS 3000

static FILE *devnull;
static atomic_int corrupt;

/*
 * malloc, fill, format, check, free, print: preempted often, moved between
 * vcores, never inside libc (safepoint.c), so no lock of libc's is held
 * across a switch and nothing is torn.
 */
static void *use_libc(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;

	for (int r = 0; r < LIBC_ROUNDS; r++) {
		size_t n = test_xorshift(&seed) % 2000 + 1;
		unsigned char *p = malloc(n), c = (unsigned char)r;
		char line[64];

		ASSERT_TRUE(p != NULL);
		memset(p, c, n);
		snprintf(line, sizeof(line), "%d %zu", r, n);
		for (volatile int spin = 0; spin < 200; spin++)
			;
		for (size_t i = 0; i < n; i++)
			if (p[i] != c)
				atomic_store(&corrupt, 1);
		if (strtol(line, NULL, 10) != r)
			atomic_store(&corrupt, 1);
		free(p);
		if (r % 64 == 0)
			fprintf(devnull, "%s\n", line);
	}
	return NULL;
}

TEST(malloc_free_and_printf_under_short_ticks_stay_whole)
{
	struct pc_thread *t[LIBC_THREADS];
	struct pc_preempt_stats st;
	uint64_t preempted = 0;

	devnull = fopen("/dev/null", "w");
	ASSERT_TRUE(devnull != NULL);
	ASSERT_EQ(pc_preempt_quantum_set(100 * 1000), 0);
	test_enter(2);
	for (uintptr_t i = 0; i < LIBC_THREADS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, use_libc,
					   (void *)(i + 1)),
			  0);
	for (int i = 0; i < LIBC_THREADS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&corrupt), 0);
	for (int v = 0; v < 2; v++) {
		ASSERT_EQ(pc_preempt_stats(v, &st), 0);
		preempted += st.preemptions;
	}
	printf("  %llu preemptions\n", (unsigned long long)preempted);
	fclose(devnull);
}
