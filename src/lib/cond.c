/*
 * cond.c - the condition variable: a signal moves the first waiter onto
 * its mutex's queue, or makes it the owner if the mutex is free, so a
 * waiter is woken only holding the mutex (docs/design/sync.md).
 */
#include "internal.h"

#include <sched.h>

#include <stddef.h>

/* struct pc_cond, as the runtime sees it. */
struct pc__cond {
	struct pc__spinlock lock;
	unsigned int pad;
	struct pc_mutex *mutex; /* of the waiters queued now */
	struct pc__waitq q;
};

_Static_assert(sizeof(struct pc__cond) == sizeof(struct pc_cond) &&
		       offsetof(struct pc__cond, q) ==
			       offsetof(struct pc_cond, _head),
	       "struct pc_cond and struct pc__cond differ");

static struct pc__cond *C(struct pc_cond *c)
{
	return (struct pc__cond *)c;
}

int pc_cond_init(struct pc_cond *c)
{
	if (!c)
		return -EINVAL;
	*c = (struct pc_cond)PC_COND_INIT;
	return 0;
}

int pc_cond_destroy(struct pc_cond *pc)
{
	struct pc__cond *c = C(pc);
	bool busy;

	if (!c)
		return -EINVAL;
	pc__spin_lock(&c->lock);
	busy = c->q.head != NULL;
	pc__spin_unlock(&c->lock);
	return busy ? -EBUSY : 0;
}

/*
 * Queues @w, which waits until @deadline, on @c for @m; -EINVAL if @c's
 * waiters use another mutex.
 */
static int enqueue(struct pc__cond *c, struct pc_mutex *m,
		   struct pc__waiter *w, uint64_t deadline)
{
	int err = 0;

	pc__spin_lock(&c->lock);
	if (c->q.head && c->mutex != m) {
		err = -EINVAL;
	} else {
		c->mutex = m;
		pc__waitq_push(&c->q, w);
		pc__waiter_commit(w, deadline);
	}
	pc__spin_unlock(&c->lock);
	return err;
}

/*
 * The deadline passed. Not yet signaled: leave @c's queue and take @m
 * again. Signaled: @w is on its way to @m (a signal moves it under @m's
 * lock, after dropping @c's): once it is queued there, clear the time-out
 * so that the hand-off wakes it, and wait as any locker; if the hand-off
 * already took it, the grant is landing.
 */
static int give_up(struct pc__cond *c, struct pc_mutex *m,
		   struct pc__waiter *w)
{
	bool left;

	pc__spin_lock(&c->lock);
	left = pc__waitq_remove(&c->q, w);
	pc__spin_unlock(&c->lock);
	if (left) {
		int err = pc__wait_failed(w); /* read before the relock */

		pc__mutex_lock_uncancellable(m);
		return err;
	}
	pc__waiter_keep_cancel(w); /* signaled first: it returns 0 */
	for (;;) {
		struct pc__vcore *held;
		bool queued, granted;

		/* A plain pop must not take @w while it is set up again. */
		held = pc__mutex_queue_lock(m);
		queued = atomic_load_explicit(&w->in, memory_order_relaxed) ==
			 pc__mutex_queue(m);
		if (queued) {
			/*
			 * A new number: a cancellation that read the old
			 * one must not mark this wait, which no one could
			 * then wake (the hand-off skips a waiter marked).
			 */
			if (w->t)
				pc__waiter_renumber(w);
			/* Uncancellable, as pc__waiter_block() waits. */
			w->cancellable = false;
			w->committed = false;
			if (!pc__waiter_commit(w, UINT64_MAX))
				atomic_store(w->granted, w->waiting);
		}
		granted = atomic_load(w->granted) & PC_W_GRANTED;
		pc__mutex_queue_unlock(m, held);
		if (queued) {
			pc__waiter_block(w, false);
			return 0;
		}
		if (granted)
			return 0;
		/* The signal is between the two locks: a moment. */
		if (w->t)
			pc_thread_yield();
		else
			sched_yield();
	}
}

/*
 * A signal may come between the enqueue and the unlock: it moves @w onto
 * @m's queue, and this unlock grants @m to @w itself (it is the head, or
 * behind earlier waiters). Either way @w is granted exactly once.
 */
static int wait_until(struct pc_cond *pc, struct pc_mutex *m,
		      uint64_t deadline)
{
	struct pc__cond *c = C(pc);
	struct pc__waiter w;
	void *self;
	int err;

	self = pc__sync_self();
	if (!self)
		return -EPERM;
	if (!__atomic_load_n(&m->_state, __ATOMIC_RELAXED) ||
	    (m->_kind == PC_MUTEX_ERRORCHECK &&
	     __atomic_load_n(&m->_owner, __ATOMIC_RELAXED) != self))
		return -EPERM;
	pc__waiter_init(&w, self);
	err = enqueue(c, m, &w, deadline);
	if (err)
		return err;
	err = pc_mutex_unlock(m);
	PC_ASSERT(err == 0); /* held: checked above */
	/* Returns owning @m, or timed out. */
	if (pc__waiter_block_until(&w, deadline, false))
		return give_up(c, m, &w);
	return 0;
}

int pc_cond_wait(struct pc_cond *c, struct pc_mutex *m)
{
	if (!c || !m)
		return -EINVAL;
	return wait_until(c, m, UINT64_MAX);
}

int pc_cond_timedwait(struct pc_cond *c, struct pc_mutex *m,
		      const struct timespec *deadline)
{
	uint64_t ns;

	if (!c || !m || !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return wait_until(c, m, ns);
}

/*
 * Moves @w onto its mutex's queue; grants it if the mutex was free.
 * @caller: the signaler, as an owner (it usually holds @m).
 */
static void move(struct pc_mutex *m, struct pc__waiter *w, void *caller)
{
	if (pc__mutex_move(m, w, caller))
		pc__waiter_grant(w);
}

int pc_cond_signal(struct pc_cond *pc)
{
	struct pc__cond *c = C(pc);
	struct pc__waiter *w;
	struct pc_mutex *m;

	if (!c)
		return -EINVAL;
	pc__spin_lock(&c->lock);
	w = pc__waitq_pop(&c->q);
	m = c->mutex;
	pc__spin_unlock(&c->lock);
	if (w)
		move(m, w, pc__sync_owner());
	return 0;
}

int pc_cond_broadcast(struct pc_cond *pc)
{
	struct pc__cond *c = C(pc);
	struct pc__waiter *w, *next;
	struct pc_mutex *m;
	void *caller;

	if (!c)
		return -EINVAL;
	pc__spin_lock(&c->lock);
	w = c->q.head;
	/* Out of @c's queue, as a waiter that times out will look. */
	for (struct pc__waiter *i = w; i; i = i->next)
		atomic_store_explicit(&i->in, NULL, memory_order_relaxed);
	c->q.head = c->q.tail = NULL;
	m = c->mutex;
	pc__spin_unlock(&c->lock);
	/*
	 * In order. The next pointer is read before the move: once moved, a
	 * waiter may be granted, run, and reuse its stack.
	 */
	caller = pc__sync_owner();
	for (; w; w = next) {
		next = w->next;
		move(m, w, caller);
	}
	return 0;
}
