/*
 * cond.c - the condition variable: a signal moves the first waiter onto
 * its mutex's queue, or makes it the owner if the mutex is free, so a
 * waiter is woken only holding the mutex (docs/design/sync.md).
 */
#include "internal.h"

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

/* Queues @w on @c for @m; -EINVAL if @c's waiters use another mutex. */
static int enqueue(struct pc__cond *c, struct pc_mutex *m,
		   struct pc__waiter *w)
{
	int err = 0;

	pc__spin_lock(&c->lock);
	if (c->q.head && c->mutex != m) {
		err = -EINVAL;
	} else {
		c->mutex = m;
		pc__waitq_push(&c->q, w);
	}
	pc__spin_unlock(&c->lock);
	return err;
}

/*
 * A signal may come between the enqueue and the unlock: it moves @w onto
 * @m's queue, and this unlock grants @m to @w itself (it is the head, or
 * behind earlier waiters). Either way @w is granted exactly once.
 */
int pc_cond_wait(struct pc_cond *pc, struct pc_mutex *m)
{
	struct pc__cond *c = C(pc);
	struct pc__waiter w;
	void *self;
	int err;

	if (!c || !m)
		return -EINVAL;
	self = pc__sync_self();
	if (!self)
		return -EPERM;
	if (!__atomic_load_n(&m->_state, __ATOMIC_RELAXED) ||
	    (m->_kind == PC_MUTEX_ERRORCHECK &&
	     __atomic_load_n(&m->_owner, __ATOMIC_RELAXED) != self))
		return -EPERM;
	pc__waiter_init(&w, self);
	err = enqueue(c, m, &w);
	if (err)
		return err;
	err = pc_mutex_unlock(m);
	PC_ASSERT(err == 0); /* held: checked above */
	pc__waiter_block(&w, false); /* returns owning @m */
	return 0;
}

/* Moves @w onto its mutex's queue; grants it if the mutex was free. */
static void move(struct pc_mutex *m, struct pc__waiter *w)
{
	bool first;

	if (pc__mutex_take_or_queue(m, w, &first))
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
		move(m, w);
	return 0;
}

int pc_cond_broadcast(struct pc_cond *pc)
{
	struct pc__cond *c = C(pc);
	struct pc__waiter *w, *next;
	struct pc_mutex *m;

	if (!c)
		return -EINVAL;
	pc__spin_lock(&c->lock);
	w = c->q.head;
	c->q.head = c->q.tail = NULL;
	m = c->mutex;
	pc__spin_unlock(&c->lock);
	/*
	 * In order. The next pointer is read before the move: once moved, a
	 * waiter may be granted, run, and reuse its stack.
	 */
	for (; w; w = next) {
		next = w->next;
		move(m, w);
	}
	return 0;
}
