/*
 * parcore/sync.h - synchronization that blocks the uthread, never the
 * vcore, and hands ownership to the head of a FIFO queue.
 *
 * Primitives: mutex, condition variable, counting semaphore,
 * reader-writer lock, barrier, once, wait group, channel.
 *
 * Every primitive keeps its waiters in arrival order. Releasing a
 * contended mutex or write lock, or posting a semaphore with waiters,
 * makes the head waiter the owner before it runs: it returns from its wait already
 * holding what it waited for, and nobody barges past it. A condition
 * variable's signal moves the waiter onto the mutex's queue instead of
 * waking it to compete for the lock. Design: docs/design/sync.md.
 *
 * Who may call:
 *  - a uthread: waiting parks the uthread; its vcore runs others;
 *  - a plain thread of the process (a pthread, or main before multi-core
 *    mode): waiting blocks that thread (a futex), and it queues in the
 *    same FIFO as the uthreads;
 *  - vcore context (an event handler): it must not block, so the calls
 *    that may wait return -EPERM there; the try calls, unlocks, post,
 *    signal, broadcast, pc_wg_add() and pc_wg_done() work;
 *  - not a signal handler of the program's own: none of these calls is
 *    async-signal-safe.
 *
 * Timed waits take an absolute CLOCK_MONOTONIC deadline. A waiter whose
 * deadline passes as ownership reaches it keeps what it was given and
 * succeeds: ownership is never lost and never held twice.
 *
 * Cancellation (pc_sync_cancel()): every call here that may wait returns
 * -ECANCELED when a uthread's wait is cancelled, having taken nothing,
 * with the same rule: a waiter that ownership reached first keeps it.
 *
 * The structures are public only so that they can be initialized
 * statically; their fields are private.
 */
#ifndef PARCORE_SYNC_H
#define PARCORE_SYNC_H

#include <parcore/common.h>
#include <time.h>

PC_BEGIN_DECLS

/*
 * pc_sync_cancel() - cancel uthread @t's wait on a primitive of this
 * header: the wait it is in now, or else its next one. That wait returns
 * -ECANCELED, having taken nothing (pc_cond_wait() returns holding its
 * mutex, as on a time-out). A waiter that ownership reached first keeps
 * it and succeeds, and the cancellation stays pending for its next wait.
 * One cancellation is pending at most: a second before the first is
 * consumed changes nothing. Only waits in this header are cancelled, not
 * pc_thread_join(), sleeps or parks; plain threads' waits cannot be.
 * Works from any thread. Returns 0, or -EINVAL if @t is NULL or stale.
 */
struct pc_thread;
PC_EXPORT int pc_sync_cancel(struct pc_thread *t);

/* ---- mutex ---- */

/* Kinds. */
#define PC_MUTEX_NORMAL 0u
/* Reports relocking by the owner (-EDEADLK) and unlock by another (-EPERM). */
#define PC_MUTEX_ERRORCHECK 1u

struct pc_mutex {
	unsigned int _state;
	unsigned int _kind;
	int _lock;
	unsigned int _removing;
	void *_owner;
	void *_head, *_tail;
	void *_heir;
	unsigned int _popping;
	unsigned short _bias, _bias_bar;
	unsigned int _streak;
};
#define PC_MUTEX_INIT                                                     \
	{ 0, PC_MUTEX_NORMAL, 0, 0, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }
#define PC_MUTEX_ERRORCHECK_INIT                                          \
	{ 0, PC_MUTEX_ERRORCHECK, 0, 0, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }

/*
 * pc_mutex_init() - make @m an unlocked mutex of @kind (PC_MUTEX_NORMAL
 * or PC_MUTEX_ERRORCHECK); the same as its static initializer.
 * Returns 0, or -EINVAL for a NULL @m or an unknown @kind.
 */
PC_EXPORT int pc_mutex_init(struct pc_mutex *m, unsigned int kind);

/*
 * pc_mutex_destroy() - check that @m may go: unlocked, nobody waiting.
 * The memory is the caller's. Returns 0; -EBUSY if @m is locked or has
 * waiters (nothing changes); -EINVAL for NULL.
 */
PC_EXPORT int pc_mutex_destroy(struct pc_mutex *m);

/*
 * pc_mutex_lock() - take @m, waiting in FIFO order behind earlier
 * waiters. A waiter is woken only as the owner.
 * Returns 0; -EDEADLK if the caller holds an error-checking @m already;
 * -EPERM from vcore context; -EINVAL for NULL.
 */
PC_EXPORT int pc_mutex_lock(struct pc_mutex *m);

/*
 * pc_mutex_timedlock() - pc_mutex_lock() that gives up at @deadline
 * (CLOCK_MONOTONIC), leaving the queue without disturbing its order.
 * Returns 0; -ETIMEDOUT; -EINVAL for NULL or a malformed @deadline; and
 * as pc_mutex_lock().
 */
PC_EXPORT int pc_mutex_timedlock(struct pc_mutex *m,
				 const struct timespec *deadline);

/*
 * pc_mutex_trylock() - take @m only if it is free and nobody waits.
 * Returns 0; -EBUSY if it is held (or handed to a waiter); -EDEADLK if
 * the caller holds an error-checking @m; -EINVAL for NULL.
 */
PC_EXPORT int pc_mutex_trylock(struct pc_mutex *m);

/*
 * pc_mutex_unlock() - release @m: to the first waiter, which becomes the
 * owner, or free if nobody waits. A normal mutex may be released by a
 * thread other than the one that took it, once per acquisition: a
 * release of a free mutex is -EPERM, but two releases of one acquisition
 * at the same time are undefined, as for pthread_mutex_unlock().
 * Returns 0; -EPERM if @m is not locked, or (error-checking) is held by
 * another; -EINVAL for NULL.
 */
PC_EXPORT int pc_mutex_unlock(struct pc_mutex *m);

/* ---- condition variable ---- */

struct pc_cond {
	int _lock;
	unsigned int _pad;
	void *_mutex;
	void *_head, *_tail;
};
#define PC_COND_INIT { 0, 0, NULL, NULL, NULL }

/* pc_cond_init() - the same as PC_COND_INIT. Returns 0 or -EINVAL. */
PC_EXPORT int pc_cond_init(struct pc_cond *c);

/*
 * pc_cond_destroy() - check that nobody waits on @c.
 * Returns 0; -EBUSY with waiters; -EINVAL for NULL.
 */
PC_EXPORT int pc_cond_destroy(struct pc_cond *c);

/*
 * pc_cond_wait() - release @m, which the caller holds, and wait for a
 * signal; return holding @m again. Waiters are signaled in FIFO order,
 * and a signaled waiter queues for @m in that order (or gets it at once
 * if it is free). No spurious wake-ups: 0 means this waiter was
 * signaled. All waiters of @c must use the same mutex.
 * Returns 0; -EPERM if @m is not locked (or, error-checking, not held by
 * the caller) or from vcore context; -EINVAL for NULL, or if other
 * waiters of @c use another mutex.
 */
PC_EXPORT int pc_cond_wait(struct pc_cond *c, struct pc_mutex *m);

/*
 * pc_cond_timedwait() - pc_cond_wait() that stops waiting for a signal
 * at @deadline (CLOCK_MONOTONIC). Either way it returns holding @m: a
 * waiter signaled as its deadline passed returns 0.
 * Returns 0 (signaled); -ETIMEDOUT; -EINVAL for a malformed @deadline;
 * and as pc_cond_wait().
 */
PC_EXPORT int pc_cond_timedwait(struct pc_cond *c, struct pc_mutex *m,
				const struct timespec *deadline);

/*
 * pc_cond_signal() - move the first waiter of @c onto its mutex's queue.
 * Returns 0 (also with no waiter), or -EINVAL for NULL.
 */
PC_EXPORT int pc_cond_signal(struct pc_cond *c);

/*
 * pc_cond_broadcast() - move every waiter, in order, onto the mutex's
 * queue. Returns 0, or -EINVAL for NULL.
 */
PC_EXPORT int pc_cond_broadcast(struct pc_cond *c);

/* ---- counting semaphore ---- */

/* Largest count a semaphore holds. */
#define PC_SEM_MAX 0x7fffffffu

struct pc_sem {
	unsigned long _state;
	int _lock;
	unsigned int _pad;
	void *_head, *_tail;
};
/* @n: the initial count, 0..PC_SEM_MAX. */
#define PC_SEM_INIT(n) { (unsigned long)(n) << 1, 0, 0, NULL, NULL }

/*
 * pc_sem_init() - make @s a semaphore holding @count units.
 * Returns 0, or -EINVAL for NULL or @count outside 0..PC_SEM_MAX.
 */
PC_EXPORT int pc_sem_init(struct pc_sem *s, long count);

/*
 * pc_sem_destroy() - check that nobody waits on @s.
 * Returns 0; -EBUSY with waiters; -EINVAL for NULL.
 */
PC_EXPORT int pc_sem_destroy(struct pc_sem *s);

/*
 * pc_sem_wait() - take one unit, waiting in FIFO order if there is none
 * or others wait already; a waiter is woken holding its unit.
 * Returns 0; -EPERM from vcore context; -EINVAL for NULL.
 */
PC_EXPORT int pc_sem_wait(struct pc_sem *s);

/*
 * pc_sem_timedwait() - pc_sem_wait() that gives up at @deadline
 * (CLOCK_MONOTONIC). Returns 0; -ETIMEDOUT; -EINVAL for NULL or a
 * malformed @deadline; -EPERM from vcore context.
 */
PC_EXPORT int pc_sem_timedwait(struct pc_sem *s,
			       const struct timespec *deadline);

/*
 * pc_sem_trywait() - take a unit only if one is free and nobody waits.
 * Returns 0; -EAGAIN otherwise; -EINVAL for NULL.
 */
PC_EXPORT int pc_sem_trywait(struct pc_sem *s);

/*
 * pc_sem_post() - give one unit: to the first waiter, or to the count.
 * Returns 0; -EOVERFLOW if the count is at PC_SEM_MAX (nothing changes);
 * -EINVAL for NULL.
 */
PC_EXPORT int pc_sem_post(struct pc_sem *s);

/*
 * pc_sem_value() - the units free now (0 while anyone waits), or
 * -EINVAL for NULL. A snapshot.
 */
PC_EXPORT long pc_sem_value(struct pc_sem *s);

/* ---- reader-writer lock ---- */

struct pc_rwlock {
	unsigned int _state;
	int _lock;
	void *_owner;
	void *_rhead, *_rtail;
	void *_whead, *_wtail;
};
#define PC_RWLOCK_INIT { 0, 0, NULL, NULL, NULL, NULL, NULL }

/*
 * The reader-writer lock is phase-fair: readers and writers take turns.
 * A reader that arrives while a writer holds the lock or waits for it
 * queues; when a writer unlocks, every reader queued then enters at once,
 * and the next writer waits for them to leave. Writers are served in
 * FIFO order, and a writer is woken as the owner. So neither side
 * starves. A reader that already holds the lock and asks again while a
 * writer waits deadlocks (it queues behind that writer): read locks do
 * not nest.
 */

/* pc_rwlock_init() - the same as PC_RWLOCK_INIT. Returns 0 or -EINVAL. */
PC_EXPORT int pc_rwlock_init(struct pc_rwlock *rw);

/*
 * pc_rwlock_destroy() - check that @rw may go: unlocked, nobody waiting.
 * Returns 0; -EBUSY (nothing changes); -EINVAL for NULL.
 */
PC_EXPORT int pc_rwlock_destroy(struct pc_rwlock *rw);

/*
 * pc_rwlock_rdlock() - take @rw for reading, with other readers.
 * Returns 0; -EDEADLK if the caller holds it for writing; -EAGAIN if
 * PC_RWLOCK_READERS_MAX readers hold it; -EPERM from vcore context;
 * -EINVAL for NULL.
 */
PC_EXPORT int pc_rwlock_rdlock(struct pc_rwlock *rw);

/* Most readers at once. */
#define PC_RWLOCK_READERS_MAX 0x3fffffffu

/*
 * pc_rwlock_wrlock() - take @rw for writing, alone.
 * Returns 0; -EDEADLK if the caller holds it for writing; -EPERM from
 * vcore context; -EINVAL for NULL.
 */
PC_EXPORT int pc_rwlock_wrlock(struct pc_rwlock *rw);

/*
 * pc_rwlock_timedrdlock(), pc_rwlock_timedwrlock() - the same, giving up
 * at @deadline (CLOCK_MONOTONIC): -ETIMEDOUT; -EINVAL for a malformed
 * @deadline. A waiter whose deadline passes as the lock reaches it keeps
 * the lock and returns 0.
 */
PC_EXPORT int pc_rwlock_timedrdlock(struct pc_rwlock *rw,
				    const struct timespec *deadline);
PC_EXPORT int pc_rwlock_timedwrlock(struct pc_rwlock *rw,
				    const struct timespec *deadline);

/*
 * pc_rwlock_tryrdlock(), pc_rwlock_trywrlock() - take @rw only if that
 * needs no wait. Return 0; -EBUSY; -EDEADLK if the caller holds it for
 * writing; -EAGAIN (read) at PC_RWLOCK_READERS_MAX; -EINVAL for NULL.
 * Work in vcore context.
 */
PC_EXPORT int pc_rwlock_tryrdlock(struct pc_rwlock *rw);
PC_EXPORT int pc_rwlock_trywrlock(struct pc_rwlock *rw);

/*
 * pc_rwlock_unlock() - release the caller's hold: the write lock if the
 * caller holds it, else one read lock. A writer's unlock lets in every
 * queued reader, or else hands the lock to the first queued writer; the
 * last reader's hands it to the first queued writer.
 * Returns 0; -EPERM if @rw is not held, or is held for writing by
 * another (a read hold by another cannot be told from the caller's: read
 * locks are counted, not owned); -EINVAL for NULL.
 */
PC_EXPORT int pc_rwlock_unlock(struct pc_rwlock *rw);

/* ---- barrier ---- */

struct pc_barrier {
	int _lock;
	unsigned int _count;
	unsigned int _arrived;
	unsigned int _pad;
	void *_head, *_tail;
};
/* @n: the threads that meet at it, at least 1. */
#define PC_BARRIER_INIT(n) { 0, (n), 0, 0, NULL, NULL }

/* What pc_barrier_wait() returns to one waiter of each round. */
#define PC_BARRIER_SERIAL 1

/*
 * pc_barrier_init() - make @b a barrier for @count threads.
 * Returns 0; -EINVAL for NULL or a @count of 0.
 */
PC_EXPORT int pc_barrier_init(struct pc_barrier *b, unsigned int count);

/*
 * pc_barrier_destroy() - check that nobody waits at @b.
 * Returns 0; -EBUSY; -EINVAL for NULL.
 */
PC_EXPORT int pc_barrier_destroy(struct pc_barrier *b);

/*
 * pc_barrier_wait() - wait until @count threads (its initializer's)
 * have called it; then all return, and the barrier is ready for the next
 * round. The last to arrive returns PC_BARRIER_SERIAL at once, the
 * others 0.
 * Returns PC_BARRIER_SERIAL or 0; -EPERM from vcore context; -EINVAL
 * for NULL or a barrier of count 0.
 */
PC_EXPORT int pc_barrier_wait(struct pc_barrier *b);

/* ---- once ---- */

struct pc_once {
	unsigned int _state;
	int _lock;
	void *_owner;
	void *_head, *_tail;
};
#define PC_ONCE_INIT { 0, 0, NULL, NULL, NULL }

/*
 * pc_once() - run @fn(@arg) the first time @o is passed; every caller
 * returns after it has returned (later ones wait for it). @fn must
 * return: if it exits its thread, the others wait for ever.
 * Returns 0; -EDEADLK if @fn calls pc_once() on @o itself; -EPERM from
 * vcore context unless @fn has already run; -EINVAL for NULL.
 */
PC_EXPORT int pc_once(struct pc_once *o, void (*fn)(void *arg), void *arg);

/* ---- wait group ---- */

struct pc_wg {
	long _count;
	int _lock;
	unsigned int _pad;
	void *_head, *_tail;
};
#define PC_WG_INIT { 0, 0, 0, NULL, NULL }

/*
 * A wait group counts outstanding work (Go's sync.WaitGroup): add before
 * starting it, done when it finishes, and wait until the count is 0.
 */

/* pc_wg_init() - the same as PC_WG_INIT. Returns 0 or -EINVAL. */
PC_EXPORT int pc_wg_init(struct pc_wg *wg);

/*
 * pc_wg_destroy() - check that nobody waits on @wg.
 * Returns 0; -EBUSY; -EINVAL for NULL.
 */
PC_EXPORT int pc_wg_destroy(struct pc_wg *wg);

/*
 * pc_wg_add() - add @n (which may be negative) to the count; at 0 every
 * waiter returns. Works in any context.
 * Returns 0; -EINVAL for NULL or if the count would drop below 0;
 * -EOVERFLOW if it would pass LONG_MAX (nothing changes on error).
 */
PC_EXPORT int pc_wg_add(struct pc_wg *wg, long n);

/* pc_wg_done() - pc_wg_add(@wg, -1). */
PC_EXPORT int pc_wg_done(struct pc_wg *wg);

/*
 * pc_wg_wait() - wait until the count is 0 (return at once if it is).
 * Returns 0; -EPERM from vcore context while the count is not 0;
 * -EINVAL for NULL.
 */
PC_EXPORT int pc_wg_wait(struct pc_wg *wg);

/*
 * pc_wg_timedwait() - pc_wg_wait() that gives up at @deadline
 * (CLOCK_MONOTONIC). Returns 0; -ETIMEDOUT; -EINVAL for a malformed
 * @deadline; and as pc_wg_wait().
 */
PC_EXPORT int pc_wg_timedwait(struct pc_wg *wg,
			      const struct timespec *deadline);

/* pc_wg_count() - the count now (a snapshot), or -EINVAL for NULL. */
PC_EXPORT long pc_wg_count(struct pc_wg *wg);

/* ---- channel ---- */

/*
 * A channel carries pointer-sized messages (a pointer, or an integer cast
 * through intptr_t) between threads, in FIFO order. Kinds:
 *  - PC_CHAN_UNBUFFERED: a send waits for a receiver and hands the
 *    message to it directly (Go's unbuffered channel);
 *  - PC_CHAN_BOUNDED: up to cap messages wait in the caller's buffer of
 *    cap slots; a send waits while it is full;
 *  - PC_CHAN_UNBOUNDED: a send never waits; the buffer grows (malloc).
 * Senders and receivers that wait queue in FIFO order, and a waiter is
 * woken with its message already delivered or taken. pc_chan_select()
 * waits on several channels at once.
 *
 * Closing: later sends fail with -EPIPE, waiting senders too (their
 * messages are not sent); receivers take what is buffered, then get
 * -EPIPE.
 */
#define PC_CHAN_UNBUFFERED 0u
#define PC_CHAN_BOUNDED 1u
#define PC_CHAN_UNBOUNDED 2u

struct pc_chan {
	int _lock;
	unsigned int _kind;
	void **_buf;
	unsigned long _cap, _head, _len;
	void *_shead, *_stail, *_rhead, *_rtail;
};
#define PC_CHAN_UNBUFFERED_INIT                                           \
	{ 0, PC_CHAN_UNBUFFERED, NULL, 0, 0, 0, NULL, NULL, NULL, NULL }
#define PC_CHAN_UNBOUNDED_INIT                                            \
	{ 0, PC_CHAN_UNBOUNDED, NULL, 0, 0, 0, NULL, NULL, NULL, NULL }
/* @buf: an array of @cap (at least 1) void * that outlives the channel. */
#define PC_CHAN_BOUNDED_INIT(buf, cap)                                    \
	{ 0, PC_CHAN_BOUNDED, (buf), (cap), 0, 0, NULL, NULL, NULL, NULL }

/*
 * pc_chan_init() - make @c an open, empty channel of @kind; a bounded one
 * keeps its messages in @buf, @cap slots (the caller's memory, which must
 * outlive the channel). The same as the static initializers.
 * Returns 0; -EINVAL for NULL @c, an unknown @kind, a bounded channel
 * without a buffer or with @cap 0, or a buffer or capacity given to
 * another kind.
 */
PC_EXPORT int pc_chan_init(struct pc_chan *c, unsigned int kind, void **buf,
			   unsigned long cap);

/*
 * pc_chan_destroy() - check that nobody waits on @c and free what an
 * unbounded channel allocated; messages still buffered are dropped.
 * Returns 0; -EBUSY with waiters (nothing changes); -EINVAL for NULL.
 */
PC_EXPORT int pc_chan_destroy(struct pc_chan *c);

/*
 * pc_chan_send() - send @msg: to the first waiting receiver, else into the
 * buffer, else wait in FIFO order for room (bounded) or for a receiver
 * (unbuffered).
 * Returns 0; -EPIPE if @c is closed, or is closed while the caller waits
 * (@msg was not sent); -ENOMEM if an unbounded channel cannot grow;
 * -EPERM from vcore context if it would wait; -EINVAL for NULL or a
 * malformed channel (a bounded one of capacity 0).
 */
PC_EXPORT int pc_chan_send(struct pc_chan *c, void *msg);

/*
 * pc_chan_recv() - receive the oldest message into *@msg, waiting in
 * FIFO order while there is none.
 * Returns 0; -EPIPE once @c is closed and empty; -EPERM from vcore
 * context if it would wait; -EINVAL for NULL arguments or a malformed
 * channel.
 */
PC_EXPORT int pc_chan_recv(struct pc_chan *c, void **msg);

/*
 * pc_chan_timedsend(), pc_chan_timedrecv() - the same, giving up at
 * @deadline (CLOCK_MONOTONIC) with -ETIMEDOUT, having sent or received
 * nothing; -EINVAL for a malformed @deadline.
 */
PC_EXPORT int pc_chan_timedsend(struct pc_chan *c, void *msg,
				const struct timespec *deadline);
PC_EXPORT int pc_chan_timedrecv(struct pc_chan *c, void **msg,
				const struct timespec *deadline);

/*
 * pc_chan_trysend(), pc_chan_tryrecv() - the same, never waiting:
 * -EAGAIN if they would. Work in vcore context.
 */
PC_EXPORT int pc_chan_trysend(struct pc_chan *c, void *msg);
PC_EXPORT int pc_chan_tryrecv(struct pc_chan *c, void **msg);

/*
 * pc_chan_close() - close @c (see above); every waiter returns.
 * Returns 0; -EPIPE if it was closed already; -EINVAL for NULL.
 */
PC_EXPORT int pc_chan_close(struct pc_chan *c);

/* pc_chan_len() - messages buffered now (a snapshot), or -EINVAL. */
PC_EXPORT long pc_chan_len(struct pc_chan *c);

/* One case of pc_chan_select(). */
struct pc_chan_op {
	struct pc_chan *chan; /* NULL: a case that never happens */
	unsigned int dir;     /* PC_CHAN_SEND or PC_CHAN_RECV */
	int result;           /* out: 0, or -EPIPE (closed), -ENOMEM */
	void *msg;            /* send: the message; receive: out, the message */
};
#define PC_CHAN_SEND 0u
#define PC_CHAN_RECV 1u
/* Most cases in one select. */
#define PC_CHAN_SELECT_MAX 64

/*
 * pc_chan_select() - wait until one of the @n cases in @ops can proceed,
 * do it, and return its index; exactly one case happens. A send or
 * receive on a closed channel can always proceed (its result is then
 * -EPIPE). When several can, one is picked at random, so none starves.
 * A channel may appear in several cases.
 * @deadline: CLOCK_MONOTONIC; NULL waits for ever.
 * Returns the index; -ETIMEDOUT (nothing happened); -EPERM from vcore
 * context if it would wait; -EINVAL for NULL @ops, @n outside
 * 1..PC_CHAN_SELECT_MAX, an unknown dir, a malformed channel or
 * @deadline, or no channel in any case and no @deadline.
 */
PC_EXPORT int pc_chan_select(struct pc_chan_op *ops, int n,
			     const struct timespec *deadline);

/*
 * pc_chan_tryselect() - pc_chan_select() that never waits: -EAGAIN if no
 * case can proceed now. Works in vcore context.
 */
PC_EXPORT int pc_chan_tryselect(struct pc_chan_op *ops, int n);

PC_END_DECLS

#endif /* PARCORE_SYNC_H */
