/*
 * test_preempt.c - cores going back: plain and nice yields and their
 * races (seed 003 4.4.4), preemption warnings, deadlines, and the
 * counters of sent and completed preemptions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "rt.h"
#include "test.h"

#define SEC 1000000000ull

/* Builds where a notification stops a uthread where it stands. */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define INTERRUPTS 1
#else
#define INTERRUPTS 0
#endif

static void *spin_then_yield(void *arg);

/*
 * Whether a uthread spinning in this program's code is moved off a vcore
 * past its deadline: where notifications interrupt (its code is then a
 * safe point, as the next case checks). After test_enter().
 */
/* ASan builds never move a uthread at an arbitrary instruction. */
#if PC_ASAN
#define MOVES_IN_THIS_BUILD 0
#else
#define MOVES_IN_THIS_BUILD 1
#endif

static bool moves_spinners(void)
{
	return INTERRUPTS && pc__safepoint_at((uintptr_t)spin_then_yield);
}

static int find_libc(struct dl_phdr_info *info, size_t size, void *found)
{
	const char *base = info->dlpi_name ? strrchr(info->dlpi_name, '/') : 0;

	(void)size;
	if (base && !strncmp(base + 1, "libc.so", 7))
		*(bool *)found = true;
	return 0;
}

static uint64_t sent(int id)
{
	return atomic_load(&pc__sh.arb->vc[id].nr_preempts_sent);
}

static uint64_t done(int id)
{
	return atomic_load(&pc__sh.arb->vc[id].nr_preempts_done);
}

static int preempted(int id)
{
	return !!(atomic_load(&pc__sh.arb->vc[id].flags) & PC_VCA_PREEMPTED);
}

TEST(bad_calls_change_nothing)
{
	ASSERT_EQ(pc_vcore_yield(0), -EPERM);
	ASSERT_EQ(pc_vcore_preempt(0, 0), -EPERM);
	ASSERT_EQ(pc_vcore_restore(), -EPERM);
	ASSERT_EQ(pc_vcore_defer_begin(), -EPERM);
	ASSERT_EQ(pc_vcore_defer_end(), -EPERM);
	test_enter(2);
	ASSERT_EQ(pc_vcore_defer_end(), -EINVAL);
	ASSERT_EQ(pc_vcore_defer_begin(), 0);
	ASSERT_EQ(pc_vcore_defer_end(), 0);
	ASSERT_EQ(pc_vcore_defer_end(), -EINVAL);
	ASSERT_EQ(pc_vcore_preempt(-1, 0), -EINVAL);
	ASSERT_EQ(pc_vcore_preempt(PC_VCORE_MAX, 0), -EINVAL);
	ASSERT_EQ(pc_vcore_preempt(5, 0), -ENXIO);
	ASSERT_EQ(pc_vcore_restore(), -ENOENT);
	ASSERT_EQ(pc_vcore_count(), 2);
}

TEST(a_nice_yield_with_nothing_pending_is_ignored)
{
	int me;

	test_enter(2);
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_yield(1), -EAGAIN);
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(pc_vcore_count(), 2);
	ASSERT_EQ(pc_vcore_wanted(), 2);
}

TEST(a_plain_yield_gives_the_core_back)
{
	int me;

	test_enter(3);
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_yield(0), 0);
	/* We run on, elsewhere; the core is gone and wanted no more. */
	ASSERT_NE(pc_vcore_id(), me);
	ASSERT_EQ(pc_sched_vcore_online(me), 0);
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(pc_vcore_count(), 2);
	/* Asking again brings it back. */
	ASSERT_EQ(pc_vcore_request(3), 3);
}

TEST(the_last_vcores_plain_yield_lowers_the_request_and_returns)
{
	int me;

	test_enter(1);
	me = pc_vcore_id();
	ASSERT_EQ(pc_vcore_yield(0), 0);
	/* Nowhere else to go: it goes WAITING when it idles (test_state). */
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(pc_vcore_wanted(), 0);
	ASSERT_EQ(pc_vcore_yield(0), 0); /* never below 0 */
	ASSERT_EQ(pc_vcore_wanted(), 0);
}

TEST(a_yield_that_loses_to_a_preemption_fails_then_a_nice_one_answers)
{
	int me;

	test_enter(2);
	me = pc_vcore_id();
	/* A long warning: only our yields can complete it. */
	ASSERT_EQ(pc_vcore_preempt(me, 100 * SEC), 0);
	ASSERT_EQ(pc_vcore_preempt(me, 100 * SEC), -EALREADY);
	ASSERT_EQ(sent(me), 1);
	ASSERT_EQ(pc_vcore_yield(0), -EAGAIN);
	ASSERT_EQ(pc_vcore_id(), me);
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(pc_vcore_yield(1), 0);
	ASSERT_NE(pc_vcore_id(), me);
	ASSERT_EQ(done(me), 1);
	ASSERT_EQ(preempted(me), 1);
	ASSERT_EQ(pc_sched_vcore_online(me), 0);
	/* The request stays: the core comes back when it is restored. */
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(pc_vcore_count(), 1);
	/* Never the last one. */
	ASSERT_EQ(pc_vcore_preempt(pc_vcore_id(), 0), -EBUSY);
	ASSERT_EQ(pc_vcore_restore(), 2);
	ASSERT_EQ(preempted(me), 0);
}

static atomic_int stop, where = -1;

/*
 * Starts @fn, which stores the vcore it runs on in `where`, and returns
 * that vcore once it is known: one other than the caller's if @elsewhere.
 */
static int start_victim(struct pc_thread **t, pc_thread_fn fn, bool elsewhere)
{
	int victim;

	ASSERT_EQ(pc_thread_create(t, NULL, fn, NULL), 0);
	while ((victim = atomic_load(&where)) < 0 ||
	       (elsewhere && victim == pc_vcore_id()))
		pc_thread_yield();
	return victim;
}

static void *yielder(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		atomic_store(&where, pc_vcore_id());
		pc_thread_yield();
	}
	return NULL;
}

static atomic_int warned_with;

static void on_warning(const struct pc_event *ev, void *arg)
{
	(void)arg;
	atomic_store(&warned_with, ev->arg[0] != 0);
}

TEST(a_warned_vcore_leaves_when_its_uthread_yields)
{
	struct pc_thread *t;
	int victim;

	test_enter(3);
	ASSERT_EQ(pc_event_handler_set(PC_EV_PREEMPT_PENDING, on_warning,
				       NULL),
		  0);
	victim = start_victim(&t, yielder, true);
	ASSERT_EQ(pc_vcore_preempt(victim, 100 * SEC), 0);
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&warned_with), 1);
	ASSERT_EQ(pc_vcore_count(), 2);
	ASSERT_EQ(pc_sched_vcore_online(victim), 0);
	/* The yielder was not lost: it runs on. */
	atomic_store(&where, -1);
	while (atomic_load(&where) < 0)
		pc_thread_yield();
	ASSERT_NE(atomic_load(&where), victim);
	atomic_store(&stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_vcore_restore(), 3);
}

static void *pause_until_stopped(void *arg)
{
	(void)arg;
	atomic_store(&where, pc_vcore_id());
	while (!atomic_load(&stop))
		pc_pause();
	return NULL;
}

/*
 * A warned vcore's uthread yields at its next PAUSE point, long before
 * the deadline: with ticks off and nothing else queued there, the
 * warning's pause flag is all that can end the loop; without it the
 * case hangs for 100 s.
 */
TEST(a_warning_makes_a_pausing_uthread_yield)
{
	struct pc_thread *t;
	int victim;

	ASSERT_EQ(pc_preempt_quantum_set(0), 0);
	test_enter(3);
	victim = start_victim(&t, pause_until_stopped, true);
	ASSERT_EQ(pc_vcore_preempt(victim, 100 * SEC), 0);
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_sched_vcore_online(victim), 0);
	atomic_store(&stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_vcore_restore(), 3);
}

static void *spin_then_yield(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	atomic_store(&where, pc_vcore_id());
	while (!atomic_load(&stop))
		x = x + 1;
	pc_thread_yield();
	return NULL;
}

TEST(past_the_deadline_the_arbiter_keeps_notifying)
{
	struct pc_thread *t;
	int victim;

	test_enter(2);
	if (moves_spinners())
		SKIP("here the uthread is moved at the deadline (next case)");
	victim = start_victim(&t, spin_then_yield, false);
	ASSERT_EQ(pc_vcore_preempt(victim, 1000), 0);
	/* The spinner never yields: the arbiter notifies again and again. */
	while (atomic_load(&pc__sh.arb->vc[victim].nr_forces) < 5)
		pc_thread_yield();
	ASSERT_EQ(done(victim), 0);
	/* Once it reaches the scheduler, the core goes. */
	atomic_store(&stop, 1);
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(sent(victim), 1);
	ASSERT_EQ(pc_vcore_restore(), 2);
}

static void *spin_and_note(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		atomic_store(&where, pc_vcore_id());
	return NULL;
}

static atomic_int recovered_for = -1;

static void on_preempted(const struct pc_event *ev, void *arg)
{
	(void)arg;
	atomic_store(&recovered_for, (int)ev->arg[0]);
}

/*
 * parcore's code and libc's are never safe points; the program's own code
 * is, even with parcore linked into it (parcore-text.ld), unless libc is
 * linked in too (a -static program: safepoint.c cannot tell its code from
 * libc's then).
 */
TEST(safe_points_are_the_programs_code_not_parcores_or_libcs)
{
	bool libc_shared = false;

	test_enter(1);
	dl_iterate_phdr(find_libc, &libc_shared);
	ASSERT_EQ(pc__safepoint_at((uintptr_t)pc_thread_yield), false);
	ASSERT_EQ(pc__safepoint_at((uintptr_t)pc__vcore_loop), false);
	ASSERT_EQ(pc__safepoint_at((uintptr_t)getpid), false);
	ASSERT_EQ(pc__safepoint_at((uintptr_t)spin_then_yield),
		  libc_shared && MOVES_IN_THIS_BUILD);
	ASSERT_EQ(pc__safepoint_at((uintptr_t)test_now_ns),
		  libc_shared && MOVES_IN_THIS_BUILD);
}

TEST(past_the_deadline_a_spinning_uthread_moves_to_another_vcore)
{
	struct pc_thread *t;
	int victim;

	/* Three: one for the spinner after the move, one for us. */
	test_enter(3);
	if (!moves_spinners())
		SKIP("uthreads move at arbitrary instructions only on x86-64 "
		     "without TSan or ASan");
	ASSERT_EQ(pc_event_handler_set(PC_EV_VCORE_PREEMPTED, on_preempted,
				       NULL),
		  0);
	victim = start_victim(&t, spin_and_note, true);
	ASSERT_EQ(pc_vcore_preempt(victim, 1000), 0);
	/* It never yields; at a safe point it is stranded and stolen. */
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_count(), 2);
	/*
	 * It runs on, on a vcore that is still granted (an iteration under
	 * way when it moved may still note the old vcore once).
	 */
	while (atomic_load(&where) == victim)
		pc_thread_yield();
	ASSERT_EQ(pc_sched_vcore_online(victim), 0);
	ASSERT_EQ(atomic_load(&recovered_for), victim);
	ASSERT_EQ(atomic_load(&pc__rt.vcores[victim]->stranded), NULL);
	atomic_store(&stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_vcore_restore(), 3);
}

static uint64_t extensions(int id)
{
	return atomic_load(&pc__sh.arb->vc[id].nr_extensions);
}

/*
 * In a nested critical section, spins until its vcore's deadline has been
 * extended (or, past the extension, until it has been moved), then ends
 * the section.
 */
static void *in_section(void *arg)
{
	int me;

	(void)arg;
	ASSERT_EQ(pc_vcore_defer_begin(), 0);
	ASSERT_EQ(pc_vcore_defer_begin(), 0);
	me = pc_vcore_id();
	atomic_store(&where, me);
	while (!extensions(me) && !done(me))
		;
	ASSERT_EQ(pc_vcore_defer_end(), 0);
	ASSERT_EQ(pc_vcore_defer_end(), 0);
	ASSERT_EQ(pc_vcore_defer_end(), -EINVAL);
	return NULL;
}

TEST(a_critical_section_gets_one_extension_and_then_the_core_goes)
{
	struct pc_thread *t;
	int victim;

	test_enter(2);
	victim = start_victim(&t, in_section, false);
	ASSERT_EQ(pc_vcore_preempt(victim, 0), 0);
	/* Ending the section (or the bound) answers the preemption. */
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(extensions(victim), 1);
	ASSERT_EQ(pc__sh.proc->vcpd[victim].defer, 0);
	ASSERT_EQ(pc_vcore_restore(), 2);
}

/* Opens a section and keeps it open until told to stop. */
static void *section_forever(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_vcore_defer_begin(), 0);
	atomic_store(&where, pc_vcore_id());
	while (!atomic_load(&stop))
		;
	ASSERT_EQ(pc_vcore_defer_end(), 0);
	return NULL;
}

TEST(a_section_that_never_ends_does_not_keep_the_core)
{
	struct pc_thread *t;
	int victim;

	test_enter(3);
	if (!moves_spinners())
		SKIP("uthreads move at arbitrary instructions only on x86-64 "
		     "without TSan or ASan");
	victim = start_victim(&t, section_forever, true);
	ASSERT_EQ(pc_vcore_preempt(victim, 1000), 0);
	/* One extension, then forced: stranded and stolen mid-section. */
	while (done(victim) != 1)
		pc_thread_yield();
	ASSERT_EQ(extensions(victim), 1);
	ASSERT_GE(atomic_load(&pc__sh.arb->vc[victim].nr_forces), 1);
	ASSERT_EQ(pc__sh.proc->vcpd[victim].defer, 0);
	atomic_store(&stop, 1);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_vcore_restore(), 3);
}
