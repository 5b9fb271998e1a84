/*
 * once.c - run a function once; later callers wait until it has returned
 * (docs/design/sync.md).
 *
 * state: NEVER -> RUNNING (the first caller, under the spinlock) -> DONE
 * (after the function returned; a release store, so that a caller that
 * sees DONE with an acquire load sees what the function wrote).
 */
#include "internal.h"

#include <stddef.h>

#define O_NEVER 0u
#define O_RUNNING 1u
#define O_DONE 2u

/* struct pc_once, as the runtime sees it. */
struct pc__once {
	atomic_uint state;
	struct pc__spinlock lock;
	void *owner; /* who runs the function; under the spinlock */
	struct pc__waitq q;
};

_Static_assert(sizeof(struct pc__once) == sizeof(struct pc_once) &&
		       offsetof(struct pc__once, q) ==
			       offsetof(struct pc_once, _head),
	       "struct pc_once and struct pc__once differ");

int pc_once(struct pc_once *po, void (*fn)(void *arg), void *arg)
{
	struct pc__once *o = (struct pc__once *)po;
	struct pc__waiter w, *waited;
	void *self;

	if (!o || !fn)
		return -EINVAL;
	if (atomic_load_explicit(&o->state, memory_order_acquire) == O_DONE)
		return 0;
	self = pc__sync_self();
	if (!self)
		return -EPERM; /* vcore context must not wait or run it */
	pc__spin_lock(&o->lock);
	switch (atomic_load_explicit(&o->state, memory_order_relaxed)) {
	case O_DONE:
		pc__spin_unlock(&o->lock);
		return 0;
	case O_RUNNING:
		if (o->owner == self) {
			pc__spin_unlock(&o->lock);
			return -EDEADLK;
		}
		pc__waiter_init(&w, self);
		return pc__waiter_wait(&o->lock, &o->q, &w, UINT64_MAX, NULL,
				       NULL);
	}
	atomic_store_explicit(&o->state, O_RUNNING, memory_order_relaxed);
	o->owner = self;
	pc__spin_unlock(&o->lock);
	fn(arg);
	pc__spin_lock(&o->lock);
	atomic_store_explicit(&o->state, O_DONE, memory_order_release);
	waited = pc__waitq_take_all(&o->q);
	pc__spin_unlock(&o->lock);
	pc__waiter_wake_all(waited);
	return 0;
}
