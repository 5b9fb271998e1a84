/*
 * barrier.c - the barrier: the last of count arrivals lets the round's
 * waiters go, all at once (docs/design/sync.md).
 */
#include "internal.h"

#include <stddef.h>

/* struct pc_barrier, as the runtime sees it. */
struct pc__barrier {
	struct pc__spinlock lock;
	unsigned int count;
	unsigned int arrived; /* this round; under the spinlock */
	unsigned int pad;
	struct pc__waitq q;
};

_Static_assert(sizeof(struct pc__barrier) == sizeof(struct pc_barrier) &&
		       offsetof(struct pc__barrier, q) ==
			       offsetof(struct pc_barrier, _head),
	       "struct pc_barrier and struct pc__barrier differ");

static struct pc__barrier *B(struct pc_barrier *b)
{
	return (struct pc__barrier *)b;
}

int pc_barrier_init(struct pc_barrier *b, unsigned int count)
{
	if (!b || !count)
		return -EINVAL;
	*b = (struct pc_barrier)PC_BARRIER_INIT(count);
	return 0;
}

int pc_barrier_destroy(struct pc_barrier *pb)
{
	struct pc__barrier *b = B(pb);
	bool busy;

	if (!b)
		return -EINVAL;
	pc__spin_lock(&b->lock);
	busy = b->arrived != 0;
	pc__spin_unlock(&b->lock);
	return busy ? -EBUSY : 0;
}

/* A cancelled waiter left: it no longer counts as arrived. */
static struct pc__waiter *waiter_left(void *prim)
{
	((struct pc__barrier *)prim)->arrived--;
	return NULL;
}

/*
 * The round's waiters leave the queue under the spinlock, before the next
 * round can start: an early arrival of the next round queues behind no
 * one of this round. They are woken after, one by one, without a
 * hand-off hint: the 2LS spreads them over the vcores.
 */
int pc_barrier_wait(struct pc_barrier *pb)
{
	struct pc__barrier *b = B(pb);
	struct pc__waiter w, *round;
	void *self;

	if (!b || !b->count)
		return -EINVAL;
	self = pc__sync_self();
	if (!self)
		return -EPERM;
	pc__waiter_init(&w, self);
	pc__spin_lock(&b->lock);
	if (++b->arrived < b->count)
		return pc__waiter_wait(&b->lock, &b->q, &w, UINT64_MAX,
				       waiter_left, b);
	b->arrived = 0;
	round = pc__waitq_take_all(&b->q);
	pc__spin_unlock(&b->lock);
	pc__waiter_wake_all(round);
	return PC_BARRIER_SERIAL;
}
