/*
 * parcore/sched.h - the second-level scheduler (2LS) interface.
 *
 * The runtime owns vcores, contexts and stacks; the 2LS owns the decision
 * of which runnable uthread runs where. A program can replace the default
 * 2LS (per-vcore run queues with work stealing) by passing its own table
 * to pc_sched_set() before it enters multi-core mode.
 *
 * Contexts. Every operation except init runs on a vcore, in one of two
 * contexts, as its comment says:
 *  - vcore context: on the vcore's transition stack, no uthread current.
 *    It must not block or yield; it may spin briefly.
 *  - caller context: whatever thread called into the runtime (a uthread,
 *    vcore context, or a plain pthread of the process).
 * Operations run concurrently on different vcores: the 2LS does its own
 * locking.
 *
 * The runtime guarantees:
 *  - a uthread is handed to thread_runnable() only when it is not running
 *    and its context is completely saved, so any vcore may run it at once;
 *  - each uthread is in at most one of: running, handed to the 2LS and not
 *    yet returned by pick_next(), or blocked.
 * The 2LS guarantees:
 *  - every uthread given to it is returned by pick_next() exactly once;
 *  - a runnable uthread does not wait forever while a vcore is idle: after
 *    queuing work, it calls pc_sched_wake() (or pc_sched_wake_vcore()).
 */
#ifndef PARCORE_SCHED_H
#define PARCORE_SCHED_H

#include <parcore/common.h>
#include <parcore/thread.h>

PC_BEGIN_DECLS

/* Bytes of per-uthread storage reserved for the 2LS (pc_thread_sched_data). */
#define PC_SCHED_DATA_SIZE 32

struct pc_sched_ops {
	/* Shown in diagnostics. */
	const char *name;

	/*
	 * Called once, from the thread entering multi-core mode, before any
	 * vcore starts. @max_vcores bounds every vcoreid passed later.
	 * Return 0, or -errno to refuse (pc_vcore_request() returns it).
	 */
	int (*init)(int max_vcores);

	/*
	 * The next uthread for vcore @vcoreid to run, or NULL if there is
	 * none (the vcore then spins, calling again, and later parks).
	 * Vcore context.
	 */
	struct pc_thread *(*pick_next)(int vcoreid);

	/*
	 * @t became runnable: newly created, woken, or resumed after sleep.
	 * Caller context (may be a plain pthread: pc_vcore_id() is -1).
	 */
	void (*thread_runnable)(struct pc_thread *t);

	/*
	 * @t yielded and is still runnable. Vcore context of the vcore it
	 * left. May be NULL: thread_runnable() is then used.
	 */
	void (*thread_paused)(struct pc_thread *t);

	/*
	 * Vcore @vcoreid is giving its core back: every uthread queued for
	 * it must become reachable from the other vcores before this
	 * returns. When it is the last vcore (the process goes WAITING),
	 * there are none: they must stay reachable by pick_next() of
	 * @vcoreid, which it calls once more before it sleeps. Runs under
	 * the arbiter's lock: no grant or leave happens meanwhile.
	 * Vcore context of @vcoreid. May be NULL if the 2LS has no
	 * per-vcore queues.
	 */
	void (*vcore_leaving)(int vcoreid);

	/*
	 * @t was woken owning what the calling uthread has just released (a
	 * mutex, a semaphore unit; see parcore/sync.h). The caller often
	 * blocks next, on the same thing, and @t then runs best on the
	 * caller's vcore, next, without a cross-core wake-up: the default
	 * 2LS keeps @t in a slot of the caller's vcore that idle vcores
	 * steal only once that vcore has gone a whole look of theirs
	 * without switching. Uthread context, on the vcore the caller
	 * runs on; hand-offs from plain pthreads and from vcore context go
	 * to thread_runnable(). May be NULL: thread_runnable() is then
	 * used.
	 */
	void (*thread_handoff)(struct pc_thread *t);

	/*
	 * How many runnable uthreads wait for vcore @vcoreid now (for a 2LS
	 * with one shared queue, how many wait for any vcore): a busy vcore
	 * gets ticks only while this is not 0 (parcore/preempt.h). Called
	 * from the ticker thread, concurrently with everything else: a racy
	 * snapshot is fine. May be NULL: no vcore is ever ticked.
	 */
	unsigned int (*queued)(int vcoreid);

	/*
	 * The quantum this 2LS wants (parcore/preempt.h), in nanoseconds,
	 * at least 100 us; 0 leaves the process's (PC_QUANTUM_DEFAULT_NS).
	 * A quantum the process sets with pc_preempt_quantum_set() wins,
	 * whether set before pc_sched_set() or after. For no ticks at all,
	 * leave queued() NULL.
	 */
	uint64_t quantum_ns;
};

/*
 * pc_sched_set() - install @ops as the process's 2LS. The table must stay
 * valid for the life of the process.
 * Returns 0; -EINVAL if @ops or one of init, pick_next, thread_runnable is
 * NULL, or quantum_ns is below 100 us but not 0; -EBUSY once the process
 * is in multi-core mode.
 */
PC_EXPORT int pc_sched_set(const struct pc_sched_ops *ops);

/*
 * pc_sched_default() - the default 2LS's table.
 */
PC_EXPORT const struct pc_sched_ops *pc_sched_default(void);

/*
 * pc_sched_default_autoscale() - let the default 2LS manage the request
 * (amt_wanted) between @min and @max vcores: it asks for more when
 * runnable uthreads keep waiting while no vcore is idle (a burst gets
 * the cores it can use at once), and for one fewer after each 10 ms in
 * which some vcore was idle whenever one looked, so a process that turns
 * idle gives its cores back (with hysteresis: 0.2 ms of backlog to grow,
 * 10 ms of spare cores to shrink by one). With @min 0 it gives back the
 * last one too: the process is then WAITING, with no vcore and no CPU,
 * until work is queued for it, an event is posted to it or a sleeper is
 * due (see pc_vcore_yield()). While it is on, parked vcores wake every
 * 5 ms to look (not the vcore a WAITING process sleeps on). Grants stay
 * within the pool (pc_vcore_limit_set()) as for any request; a
 * pc_vcore_request() meanwhile stands until the estimate next changes
 * it. In single-core mode (pc_vcore_request(0)) it changes nothing.
 * @max 0 turns it off (the default).
 * Works from any thread, before or in multi-core mode.
 * Returns 0; -EINVAL unless 0 <= @min <= @max <= PC_VCORE_MAX (or @max
 * is 0); -EOPNOTSUPP if another 2LS is installed.
 */
PC_EXPORT int pc_sched_default_autoscale(int min, int max);

/*
 * pc_thread_sched_data() - @t's PC_SCHED_DATA_SIZE bytes of 2LS storage,
 * pointer-aligned, zero when @t is created. Only the 2LS touches them.
 */
PC_EXPORT void *pc_thread_sched_data(struct pc_thread *t);

/*
 * pc_thread_last_vcore() - the vcore @t last ran on, or -1 if it never ran.
 */
PC_EXPORT int pc_thread_last_vcore(const struct pc_thread *t);

/*
 * pc_sched_wake() - make sure a vcore looks for work: if no vcore is
 * spinning for work and one is parked, wake one. Any context.
 */
PC_EXPORT void pc_sched_wake(void);

/*
 * pc_sched_wake_vcore() - wake vcore @vcoreid if it is parked; returns 1
 * if it was idle (spinning or parked), 0 if it is busy or not granted.
 * Any context.
 */
PC_EXPORT int pc_sched_wake_vcore(int vcoreid);

/*
 * pc_sched_vcore_online() - 1 if vcore @vcoreid is granted, else 0.
 */
PC_EXPORT int pc_sched_vcore_online(int vcoreid);

/*
 * pc_sched_pause() - ask the uthread running on vcore @vcoreid to yield
 * at its next PAUSE point (pc_pause(), PC_PAUSE_FOR(); parcore/preempt.h),
 * as its tick would: for a 2LS that made runnable a uthread that should
 * run before the current one, a higher priority for example. One store;
 * the request lapses when the vcore switches to another uthread. A
 * uthread that never pauses is interrupted at the ticks that follow, if
 * queued() says the vcore has work. Any context.
 * Returns 0, -EINVAL for a bad @vcoreid, -ENXIO if it is not online.
 */
PC_EXPORT int pc_sched_pause(int vcoreid);

/*
 * pc_sched_preempt() - switch out the uthread running on vcore @vcoreid
 * now, as a tick would one that ran past its grace: it is interrupted
 * (a notification, tens of microseconds away here) and, if it stands at
 * a safe point (parcore/preempt.h) outside pc_preempt_disable(), handed
 * to the 2LS as if it had yielded (thread_paused()); else it goes on,
 * with its pause flag set as by pc_sched_pause(), and the next tick
 * tries again. For a 2LS whose urgent uthread cannot wait for a PAUSE
 * point. The request lapses if the vcore switches to another uthread
 * first. For the caller's own vcore, and where pc_preempt_supported()
 * is 0, it is pc_sched_pause(): the flag alone. The interrupt can make
 * a system call that the kernel never restarts fail with EINTR
 * (docs/design/ticks.md lists them). Any context.
 * Returns 0, -EINVAL for a bad @vcoreid, -ENXIO if it is not online.
 */
PC_EXPORT int pc_sched_preempt(int vcoreid);

PC_END_DECLS

#endif /* PARCORE_SCHED_H */
