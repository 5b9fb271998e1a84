/*
 * parcore/vcore.h - vcores: the cores a process has been granted.
 *
 * A vcore is a Linux thread of the process pinned to one CPU. The process
 * says how many it wants (amt_wanted); the arbiter grants up to that many.
 * Vcore ids are dense, 0..pc_vcore_max()-1, and an id freed by a vcore that
 * went away is the first one reused.
 *
 * In embedded mode (the default: no parcored daemon) the arbiter lives in
 * the process and grants up to the number of CPUs in the process's affinity
 * mask, or up to the limit set with pc_vcore_limit_set(), which may exceed
 * the CPUs (oversubscription: several vcores then share a CPU).
 *
 * A granted vcore with nothing to run spins briefly and then parks on a
 * futex; it is woken when work arrives for it.
 */
#ifndef PARCORE_VCORE_H
#define PARCORE_VCORE_H

#include <parcore/common.h>

PC_BEGIN_DECLS

/* Most vcores a process can have, whatever the limit says. */
#define PC_VCORE_MAX 256

/*
 * pc_vcore_request() - set the number of vcores the process wants.
 * The first request of 1 or more enters multi-core mode: the runtime
 * starts, and the calling context becomes a uthread (pc_thread_self() is
 * then non-NULL) that vcore 0 resumes; the call returns in that uthread,
 * for good. From main() that is all there is to it. From another pthread,
 * its thread function must end with pc_thread_exit(), never return:
 * returning would run glibc's thread exit on whichever Linux thread the
 * uthread runs on by then.
 * Later requests raise or lower amt_wanted; extra vcores start, surplus
 * vcores give their cores back when they next reach their scheduler, and
 * their queued and sleeping uthreads move to the remaining vcores. A
 * uthread suspended in pc_thread_switch() stays bound to its vcore id: it
 * can be switched to or unparked again once that id is granted again.
 * Grants never exceed the request or the pool; the call does not wait for
 * the grant. Works from any thread and any uthread.
 * @n == 0 returns the process to single-core mode: the calling uthread's
 * vcore stays, the others leave at their next pass through their
 * scheduler and hand it their uthreads, so that every uthread then runs
 * on the caller's vcore, and the caller keeps its vcore id (seed 003
 * 2.4.2). That vcore is never preempted, yields nothing and is never
 * given back; the default 2LS's estimate leaves the request alone. A
 * later request of 1 or more returns to multi-core mode, the caller's
 * vcore among those granted. (A process that wants no vcore at all
 * while it has nothing to do wants WAITING instead: see
 * pc_vcore_yield() and pc_sched_default_autoscale().)
 * Returns the number of vcores granted when the call made its grants
 * (>= 1; surplus vcores leave after it returns), 0 for @n == 0;
 * -EINVAL if @n is negative or above PC_VCORE_MAX;
 * -EPERM for @n == 0 in multi-core mode from outside a uthread (it has
 * no vcore to keep; before multi-core mode @n == 0 changes nothing);
 * -EAGAIN for @n == 0 while a preemption of the caller's vcore is
 * pending (answer it with pc_vcore_yield(1) first);
 * -EPROTO if the arbiter refused the request because the process's
 * shared page was corrupted (it reports what it found on stderr and keeps
 * the last good request);
 * -ENOMEM if the pages shared with the arbiter could not be made;
 * -EAGAIN if a Linux thread for a vcore could not be created (the vcores
 * that did start are kept).
 */
PC_EXPORT int pc_vcore_request(int n);

/*
 * pc_vcore_yield() - give the calling uthread's vcore back to the arbiter
 * (seed 003 4.4.4). The calling uthread is queued and goes on running on
 * another vcore; the call returns there.
 *  - Plain (@being_nice == 0): lowers amt_wanted by one and the vcore
 *    leaves. Refused with -EAGAIN while a preemption of this vcore is
 *    pending (the yield lost the race: answer the preemption with a nice
 *    yield instead), and with -EBUSY on the vcore of single-core mode.
 *    On the last vcore it lowers amt_wanted and returns 0 on the same
 *    vcore: the caller has nowhere else to go. When that vcore next has
 *    nothing to run and amt_wanted is 0, it gives its core back too and
 *    the process is WAITING: no vcore, no CPU, until something wakes it
 *    (a uthread made runnable from a pthread, an event posted, a sleeper
 *    due, a request); then that vcore comes back and runs it.
 *  - Nice (@being_nice != 0): answers a pending preemption of this vcore
 *    (PC_EV_PREEMPT_PENDING): the vcore leaves now, before its deadline,
 *    and amt_wanted stays. Ignored, with -EAGAIN, when none is pending.
 * A refused yield changes nothing and returns on the same vcore.
 * Returns 0 after the vcore left (or, on the last vcore, lowered the
 * request), -EAGAIN or -EBUSY as above, -EPERM outside a uthread.
 */
PC_EXPORT int pc_vcore_yield(int being_nice);

/*
 * pc_vcore_preempt() - take one core from the process, as the arbiter
 * does when another process needs it (in embedded mode this is also the
 * test and provisioning hook). The pool available to the process shrinks
 * by one until pc_vcore_restore(). Vcore @vcoreid is warned at once
 * (PC_EV_PREEMPT_PENDING with the deadline in arg[0], with a
 * notification) and gives its core back at its next pass through its
 * scheduler with no uthread of its own to resume: at once if it idles,
 * else when its uthread yields, blocks or exits, or by a nice yield.
 * From the deadline, @warning_ns from now, it is notified again every
 * millisecond until it is done, and a uthread that a notification finds
 * running outside libc and parcore is moved to another vcore then and
 * there (x86-64, not in ASan builds; in a program linked with -static,
 * libc cannot be told from the program's code, and its uthreads move only
 * at their calls into parcore). A uthread inside pc_vcore_defer_begin() gets one extension
 * of PC_PREEMPT_EXTENSION_NS first. Its queued uthreads move to the
 * vcores that stay; the others are told with PC_EV_VCORE_PREEMPTED
 * (arg[0]: the vcore). Works from any thread in multi-core mode.
 * Returns 0; -EINVAL for a bad @vcoreid; -ENXIO if it is not online;
 * -EALREADY if a preemption of it is pending; -EBUSY if it is the last
 * vcore not being preempted; -EPERM before multi-core mode.
 */
PC_EXPORT int pc_vcore_preempt(int vcoreid, uint64_t warning_ns);

/* How much longer a deferring vcore may keep its core past a deadline. */
#define PC_PREEMPT_EXTENSION_NS (1000u * 1000u)

/*
 * pc_vcore_defer_begin() - start a short critical section during which
 * the calling uthread's vcore asks not to be preempted: a lock holder
 * that must not be moved or stopped halfway. If a preemption reaches its
 * deadline meanwhile, the arbiter grants one extension of
 * PC_PREEMPT_EXTENSION_NS (counted; never a second for the same
 * preemption), and then forces it as usual: the deferral is bounded.
 * Sections nest. The section must not block, yield or switch: the
 * deferral belongs to the vcore, and another uthread would inherit it.
 * Returns 0, or -EPERM outside a uthread.
 */
PC_EXPORT int pc_vcore_defer_begin(void);

/*
 * pc_vcore_defer_end() - end the innermost section. Ending the outermost
 * one answers a preemption that is pending on the vcore at once: the
 * calling uthread yields, and the vcore gives its core back.
 * Returns 0; -EINVAL without a section open on this vcore; -EPERM
 * outside a uthread.
 */
PC_EXPORT int pc_vcore_defer_end(void);

/*
 * pc_vcore_restore() - give back one core taken by pc_vcore_preempt();
 * the arbiter grants up to the request again.
 * Returns the number of vcores granted, -ENOENT if no core is taken,
 * -EPERM before multi-core mode, -EAGAIN as pc_vcore_request().
 */
PC_EXPORT int pc_vcore_restore(void);

/*
 * pc_vcore_limit_set() - set the embedded arbiter's pool: how many vcores
 * may be granted at most. The default is the CPU count of the affinity
 * mask at start-up (or $PARCORE_VCORES if set, read once). A limit above
 * the CPU count oversubscribes the CPUs. Lowering it below the vcores
 * granted works like lowering the request: the surplus vcores give their
 * cores back at their next pass through the scheduler. Raising it does
 * not grant more by itself; the next pc_vcore_request() does.
 * Returns 0, or -EINVAL if @n < 1 or @n > PC_VCORE_MAX.
 */
PC_EXPORT int pc_vcore_limit_set(int n);

/*
 * pc_vcore_limit() - the current pool size (see pc_vcore_limit_set()).
 */
PC_EXPORT int pc_vcore_limit(void);

/*
 * pc_vcore_id() - the id of the vcore the caller runs on, or -1 outside
 * multi-core mode or on a thread that is not a vcore. A uthread may move
 * between vcores at any switch, so the answer may be stale once the caller
 * yields, sleeps or blocks.
 */
PC_EXPORT int pc_vcore_id(void);

/*
 * pc_vcore_count() - how many vcores are granted right now.
 */
PC_EXPORT int pc_vcore_count(void);

/*
 * pc_vcore_wanted() - the process's current amt_wanted.
 */
PC_EXPORT int pc_vcore_wanted(void);

/*
 * pc_vcore_cpu() - the CPU vcore @vcoreid is pinned to, or -EINVAL if
 * @vcoreid is not granted.
 */
PC_EXPORT int pc_vcore_cpu(int vcoreid);

PC_END_DECLS

#endif /* PARCORE_VCORE_H */
