/*
 * parcore/preempt.h - PAUSE points, ticks, and preemption of uthreads
 * that do not pause (docs/design/ticks.md).
 *
 * Uthreads are cooperative: one runs until it yields, blocks or exits.
 * So that one that computes for long does not starve the others queued
 * for its vcore, each vcore with uthreads waiting gets a tick every
 * quantum. A tick first sets the vcore's pause flag, which pc_pause()
 * checks for nearly nothing; a uthread that has not paused by the next
 * tick is interrupted by a notification and switched out, if it stands at
 * a safe point (outside libc, the dynamic loader and parcore) and holds
 * no pc_preempt_disable(); otherwise the next tick tries again. A vcore
 * with a single runnable uthread, or none, gets no ticks.
 */
#ifndef PARCORE_PREEMPT_H
#define PARCORE_PREEMPT_H

#include <parcore/common.h>
#include <stdint.h>

PC_BEGIN_DECLS

/*
 * The calling vcore's pause flag; private to pc_pause(), which reads it.
 * Per Linux thread: a uthread reads its current vcore's.
 */
PC_EXPORT extern __thread int pc_pause_pending;

/* pc_pause() slow path: clear the flag and yield. */
PC_EXPORT void pc_pause_slow(void);

/*
 * pc_pause() - a PAUSE point: yield if the vcore's tick says it is time
 * to switch, else nothing: one load and a predictable branch. Called
 * every iteration it stops a compiler from vectorizing the loop (see
 * PC_PAUSE_FOR()). Any context; outside a uthread the flag is never
 * set, and in a 2LS callback it is left for the next PAUSE point.
 */
static inline void pc_pause(void)
{
	if (__builtin_expect(__atomic_load_n(&pc_pause_pending,
					     __ATOMIC_RELAXED),
			     0))
		pc_pause_slow();
}

/*
 * PC_PAUSE_FOR(i, start, end, chunk) - for (size_t i = start; i < end;
 * i++) with a PAUSE point every @chunk iterations (a constant such as
 * 8192): the body runs in a plain counted inner loop, which the compiler
 * vectorizes as it would without PAUSE points. Each chunk costs the
 * check (one load) and the inner loop's set-up and closing (a vector
 * reduction, a scalar tail): some tens of cycles. Measured here (bench
 * pause_sum, pause_chain): with chunks of 8192, a vectorized sum and a
 * scalar chain ran within this machine's noise (about 2%) of the loops
 * without checks; a vectorized sum in chunks of 4096 cost 1-4%. Choose a
 * chunk of some microseconds of work. @start and @end are evaluated
 * once. `break` leaves only the current chunk: leave with return or
 * goto.
 *
 *   PC_PAUSE_FOR(i, 0, n, 8192)
 *           sum += a[i];
 */
#define PC_PAUSE_FOR(i, start, end, chunk)                                \
	for (size_t pc__c = (start), pc__e = (end), pc__n = pc__c;        \
	     pc__c < pc__e; pc__c = pc__n, pc_pause())                    \
		for (size_t i = pc__c,                                    \
			    pc__lim = (pc__n = pc__e - pc__c < (chunk) ?  \
						       pc__e :             \
						       pc__c + (chunk));   \
		     i < pc__lim; i++)

/*
 * pc_preempt_disable(), pc_preempt_enable() - a section in which the
 * calling uthread is not preempted by a tick (it may still yield, block
 * or be moved at its calls into parcore). Sections nest; each costs a
 * few nanoseconds. Ending the outermost one with a preemption pending
 * yields at once. Outside a uthread they do nothing.
 * pc_preempt_enable() returns 0, or -EINVAL without a section open.
 */
PC_EXPORT void pc_preempt_disable(void);
PC_EXPORT int pc_preempt_enable(void);

/* The default quantum, and the shortest one accepted. */
#define PC_QUANTUM_DEFAULT_NS (10u * 1000u * 1000u)
#define PC_QUANTUM_MIN_NS (100u * 1000u)

/*
 * pc_preempt_quantum_set() - the process's quantum: how long a uthread
 * runs before its vcore's pause flag is set, when others wait for the
 * vcore; a uthread that has not paused a quantum later is preempted.
 * 0 turns ticks off: uthreads are purely cooperative. It wins over the
 * quantum a 2LS asks for (quantum_ns in struct pc_sched_ops), whether
 * called before pc_sched_set() or after. Any thread, any time.
 * Returns 0, or -EINVAL below PC_QUANTUM_MIN_NS (ticks would cost more
 * than the work) other than 0.
 */
PC_EXPORT int pc_preempt_quantum_set(uint64_t ns);

/* pc_preempt_quantum() - the quantum now (0: ticks off). */
PC_EXPORT uint64_t pc_preempt_quantum(void);

/*
 * pc_preempt_supported() - 1 if a uthread that never pauses is preempted
 * in this build and run, 0 if only PAUSE points switch (ASan and TSan
 * builds, runs under Valgrind, and aarch64 for now: docs/design/ticks.md).
 * Meaningful once in multi-core mode.
 */
PC_EXPORT int pc_preempt_supported(void);

/* A vcore's tick counters (pc_preempt_stats()). */
struct pc_preempt_stats {
	uint64_t ticks;       /* pause flags set */
	uint64_t signals;     /* interrupts: ticks past their grace,
			       * pc_sched_preempt() */
	uint64_t preemptions; /* uthreads switched out by a tick */
	uint64_t deferred;    /* ticks that found no safe point, or the
			       * thread asleep in a system call */
	uint64_t restarts;    /* interrupts that rolled a region back */
	uint64_t areas;       /* vector save areas given to uthreads */
};

/*
 * pc_preempt_stats() - vcore @vcoreid's counters into @out (a snapshot).
 * Returns 0, or -EINVAL for a bad @vcoreid or NULL @out.
 */
PC_EXPORT int pc_preempt_stats(int vcoreid, struct pc_preempt_stats *out);

/*
 * Restartable regions (seed 000's roll-back recovery): a short sequence
 * on per-vcore data that an interrupt restarts from its beginning rather
 * than saving it mid-way, so it needs no lock and no atomic instruction:
 * it reads pc_rr_vcore, works on that vcore's data in registers, and
 * ends with one store (the commit). Interrupted before the commit has
 * retired, it starts again (possibly on another vcore, reading the new
 * pc_rr_vcore); after, it is done.
 *
 * A region is machine code between two labels, [start, end), with end
 * just past the commit; restart is usually start. Inside it:
 *  - inputs are registers the region only reads (restarting sees them
 *    as they were), and memory it only reads before the commit;
 *  - exactly one store, the commit, as the last instruction;
 *  - no calls, system calls, or other stores; no loop that waits for
 *    another thread.
 * Only code that a tick may interrupt (the program's own text, not libc's
 * or parcore's) needs a region; elsewhere nothing is ever interrupted.
 * Where preemption is off (pc_preempt_supported() 0), a region is never
 * interrupted either, and runs as written.
 */

/*
 * The calling thread's vcore id, for restartable regions: read it in the
 * region; -1 on a thread that is no vcore.
 */
PC_EXPORT extern __thread int pc_rr_vcore;

/*
 * pc_rr_register() - make [@start, @end) a restartable region that
 * restarts at @restart. Registering the same region again does nothing.
 * Any thread, any time; notifications see it at once.
 * Returns 0; -EINVAL unless @start < @end and @restart is inside;
 * -EEXIST if it overlaps another region; -ENOSPC past 256 regions.
 */
PC_EXPORT int pc_rr_register(const void *start, const void *end,
			     const void *restart);

PC_END_DECLS

#endif /* PARCORE_PREEMPT_H */
