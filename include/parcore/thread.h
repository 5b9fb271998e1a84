/*
 * parcore/thread.h - uthreads: user-level threads that run on vcores.
 *
 * A uthread is a thread of control with its own stack that parcore's
 * second-level scheduler (2LS, see sched.h) runs on the process's vcores
 * (vcore.h). Switching between uthreads is a function call: no system call,
 * no signal, no kernel involvement.
 *
 * Thread-local state:
 *  - errno belongs to the uthread. Its value is saved when the uthread
 *    leaves a vcore and restored on the vcore that resumes it, so every
 *    uthread sees its own errno, also after it moved. parcore calls never
 *    change it. One limit, shared with every M:N runtime on glibc: glibc
 *    declares __errno_location() const, so within one function a compiler
 *    may reuse errno's *address* computed before a parcore call that
 *    switches (yield, sleep, join, park, ...); after a move that address
 *    is the old vcore's. Read errno right after the call that set it, or
 *    in a function that makes no such call in between.
 *  - `__thread` / `_Thread_local` variables belong to the *vcore* (the Linux
 *    thread underneath), not to the uthread: a uthread that yields may come
 *    back on another vcore and see that vcore's copy. Use the uthread-local
 *    keys below (pc_key_*) for data that must follow the uthread.
 *  - The floating-point modes (fesetround(), the exception traps of
 *    feenableexcept(); MXCSR's and the x87 control word's control bits,
 *    FPCR on aarch64) belong to the uthread and follow it across
 *    switches. A new uthread starts with the ABI's: round to nearest,
 *    every trap masked. The exception flags (fetestexcept()) belong to
 *    the vcore: a switch leaves them as they are, so a flag raised by one
 *    uthread is seen by the next that runs there. Clear them, compute and
 *    test them without a parcore call between that may switch.
 *
 * Multi-core mode: uthreads exist once the process has asked for cores with
 * pc_vcore_request(). The context that makes that first request (usually
 * main()) becomes a uthread itself, resumed by vcore 0; from then on main()
 * can create, join, yield and sleep like any other uthread.
 */
#ifndef PARCORE_THREAD_H
#define PARCORE_THREAD_H

#include <parcore/common.h>
#include <time.h>

PC_BEGIN_DECLS

struct pc_thread;

/* Attribute flags. */
#define PC_THREAD_DETACHED 0x1u /* nobody joins it; resources freed at exit */

/* Smallest and default usable stack, in bytes (a guard page is added). */
#define PC_THREAD_STACK_MIN (16u * 1024u)
#define PC_THREAD_STACK_DEFAULT (256u * 1024u)

/* Longest name kept (longer names are truncated), including the NUL. */
#define PC_THREAD_NAME_MAX 32

/*
 * Creation attributes. Zero-initialize (PC_THREAD_ATTR_INIT) and set what
 * you need; a field left 0 takes its default.
 *  stack_size  usable stack bytes, rounded up to pages; 0 means
 *              PC_THREAD_STACK_DEFAULT; below PC_THREAD_STACK_MIN is
 *              -EINVAL. Stack memory is reserved, not committed: pages
 *              become resident only when touched.
 *  name        copied; shown in stack-overflow reports and debuggers.
 *  flags       PC_THREAD_DETACHED or 0; any other bit is -EINVAL.
 */
struct pc_thread_attr {
	size_t stack_size;
	const char *name;
	unsigned int flags;
};
#define PC_THREAD_ATTR_INIT { 0, NULL, 0 }

typedef void *(*pc_thread_fn)(void *arg);

/*
 * pc_thread_create() - create a runnable uthread that runs fn(arg).
 * @out:  receives the thread (may be NULL for a detached thread).
 * @attr: attributes, or NULL for the defaults.
 * The new uthread is handed to the 2LS and may start on any vcore before
 * this call returns.
 * Outside a uthread: works from any thread once the process is in
 * multi-core mode; before that returns -EPERM.
 * Returns 0, -EINVAL (bad attribute, NULL fn, NULL out without DETACHED),
 * -ENOMEM, or -EPERM (process not in multi-core mode).
 */
PC_EXPORT int pc_thread_create(struct pc_thread **out,
			       const struct pc_thread_attr *attr,
			       pc_thread_fn fn, void *arg);

/*
 * pc_thread_join() - wait for @t to finish and release it.
 * @retval: receives the value @t returned or passed to pc_thread_exit()
 *          (may be NULL).
 * From a uthread the caller is parked and its vcore runs others; from any
 * other thread the calling Linux thread blocks.
 * Returns 0; -EINVAL if @t is NULL, detached, or already joined (or being
 * joined); -EDEADLK if @t is the caller.
 */
PC_EXPORT int pc_thread_join(struct pc_thread *t, void **retval);

/*
 * pc_thread_detach() - let @t free itself when it finishes.
 * Works from any thread. Returns 0, or -EINVAL if @t is NULL, already
 * detached, or already joined.
 */
PC_EXPORT int pc_thread_detach(struct pc_thread *t);

/*
 * pc_thread_exit() - end the calling uthread with @retval.
 * Runs the destructors of its uthread-local keys, then never returns.
 * Called by main()'s uthread it ends only that uthread: the process keeps
 * running until exit() is called or every vcore goes idle forever; use
 * exit() to end the process.
 * Outside a uthread returns -EPERM.
 */
PC_EXPORT int pc_thread_exit(void *retval);

/*
 * pc_thread_yield() - let other runnable uthreads run.
 * The caller stays runnable and the 2LS decides when it runs again.
 * Outside a uthread calls sched_yield(). Returns 0.
 */
PC_EXPORT int pc_thread_yield(void);

/*
 * pc_thread_self() - the calling uthread, or NULL outside a uthread.
 */
PC_EXPORT struct pc_thread *pc_thread_self(void);

/*
 * pc_thread_name() - @t's name ("" if none), or NULL if @t is NULL.
 * The string lives as long as @t.
 */
PC_EXPORT const char *pc_thread_name(const struct pc_thread *t);

/*
 * pc_thread_sleep_until() - sleep until CLOCK_MONOTONIC reaches @deadline.
 * Never wakes before it. From a uthread only the uthread sleeps; from any
 * other thread the Linux thread sleeps (clock_nanosleep, restarted on EINTR).
 * Returns 0, or -EINVAL if @deadline is NULL or tv_nsec is out of range.
 */
PC_EXPORT int pc_thread_sleep_until(const struct timespec *deadline);

/*
 * pc_thread_sleep() - sleep for at least @ns nanoseconds (see above).
 */
PC_EXPORT int pc_thread_sleep(uint64_t ns);

/*
 * pc_thread_park() - block the calling uthread until pc_thread_unpark().
 * A wake-up that came before the park is not lost: the park returns at
 * once (one pending wake-up is remembered, like a binary semaphore).
 * Outside a uthread returns -EPERM.
 */
PC_EXPORT int pc_thread_park(void);

/*
 * pc_thread_unpark() - wake @t: a parked uthread becomes runnable; one
 * that is running or runnable gets a wake-up token that its next
 * pc_thread_park() consumes. A uthread suspended in pc_thread_switch()
 * (a coroutine of its vcore) becomes runnable if the caller runs on that
 * vcore; from anywhere else that is -EXDEV and nothing changes.
 * Works from any thread. Returns 0, -EINVAL (@t NULL or stale), -EXDEV.
 */
PC_EXPORT int pc_thread_unpark(struct pc_thread *t);

/*
 * pc_thread_switch() - hand this vcore directly to @to, with no scheduler
 * involved: the building block for coroutines, generators and language
 * runtimes that pick their successor themselves.
 * @to must be suspended in pc_thread_switch() on the caller's vcore, or
 * parked in pc_thread_park() (on any vcore). The caller is suspended as a
 * coroutine of this vcore: it resumes when a uthread on this vcore
 * switches to it or unparks it. Between coroutines of one vcore a switch
 * is a register switch plus a few plain stores: no atomic operation.
 * Returns 0 after the caller was resumed; -EINVAL if @to is NULL, the
 * caller, stale, or not suspended as required (then nothing changed);
 * -EPERM outside a uthread.
 */
PC_EXPORT int pc_thread_switch(struct pc_thread *to);

/*
 * Uthread-local keys: like pthread keys, but the values follow the
 * uthread across vcores. At most PC_KEYS_MAX keys exist at once.
 */
#define PC_KEYS_MAX 128
typedef unsigned int pc_key_t;
typedef void (*pc_key_dtor_fn)(void *value);

/*
 * pc_key_create() - allocate a key; every uthread's value starts NULL.
 * @dtor: run at uthread exit on each non-NULL value (may be NULL).
 * Works from any thread. Returns 0, -EINVAL (NULL key) or -EAGAIN (all
 * PC_KEYS_MAX keys in use).
 */
PC_EXPORT int pc_key_create(pc_key_t *key, pc_key_dtor_fn dtor);

/*
 * pc_key_delete() - free @key; destructors are not run (as pthreads).
 * Returns 0, or -EINVAL if @key is not a live key.
 */
PC_EXPORT int pc_key_delete(pc_key_t key);

/*
 * pc_key_set() - set the calling uthread's value for @key.
 * Returns 0, -EINVAL (dead key), -ENOMEM, or -EPERM outside a uthread.
 */
PC_EXPORT int pc_key_set(pc_key_t key, const void *value);

/*
 * pc_key_get() - the calling uthread's value for @key; NULL if unset, if
 * @key is not live, or outside a uthread.
 */
PC_EXPORT void *pc_key_get(pc_key_t key);

PC_END_DECLS

#endif /* PARCORE_THREAD_H */
