/*
 * sem.c - the counting semaphore: units handed to the head waiter
 * (docs/design/sync.md).
 *
 * state: count << 1 | WAITERS. While anyone waits the count is 0 and
 * WAITERS is set, so neither fast path (a CAS each, when WAITERS is
 * clear) can take a unit past a waiter or count one that a waiter needs.
 * WAITERS changes, and the queue, only under the spinlock.
 */
#include "internal.h"

#include <stddef.h>

#define S_WAITERS 1ul
#define S_UNIT 2ul

/* struct pc_sem, as the runtime sees it. */
struct pc__sem {
	atomic_ulong state;
	struct pc__spinlock lock;
	unsigned int pad;
	struct pc__waitq q;
};

_Static_assert(sizeof(struct pc__sem) == sizeof(struct pc_sem) &&
		       offsetof(struct pc__sem, q) ==
			       offsetof(struct pc_sem, _head),
	       "struct pc_sem and struct pc__sem differ");

static struct pc__sem *S(struct pc_sem *s)
{
	return (struct pc__sem *)s;
}

int pc_sem_init(struct pc_sem *s, long count)
{
	if (!s || count < 0 || (unsigned long)count > PC_SEM_MAX)
		return -EINVAL;
	*s = (struct pc_sem)PC_SEM_INIT(count);
	return 0;
}

int pc_sem_destroy(struct pc_sem *s)
{
	if (!s)
		return -EINVAL;
	return atomic_load(&S(s)->state) & S_WAITERS ? -EBUSY : 0;
}

/* Takes a unit if one is free and nobody waits. */
static bool take_unit(struct pc__sem *s)
{
	unsigned long v = atomic_load_explicit(&s->state, memory_order_relaxed);

	while (!(v & S_WAITERS) && v >= S_UNIT)
		if (atomic_compare_exchange_weak_explicit(
			    &s->state, &v, v - S_UNIT, memory_order_acquire,
			    memory_order_relaxed))
			return true;
	return false;
}

/*
 * Under the spinlock: takes a unit a post made meanwhile, or marks the
 * semaphore as waited on. WAITERS is set only by a CAS from a count of
 * 0: a fast post racing with it fails its CAS and sees WAITERS, so no
 * unit is ever counted while someone waits for it.
 */
static bool take_or_flag(struct pc__sem *s)
{
	unsigned long v = atomic_load(&s->state);

	for (;;) {
		if (v & S_WAITERS)
			return false; /* count 0; others queued already */
		if (v >= S_UNIT) {
			if (atomic_compare_exchange_weak(&s->state, &v,
							 v - S_UNIT))
				return true;
		} else if (atomic_compare_exchange_weak(&s->state, &v,
							S_WAITERS)) {
			return false;
		}
	}
}

int pc_sem_trywait(struct pc_sem *s)
{
	if (!s)
		return -EINVAL;
	return take_unit(S(s)) ? 0 : -EAGAIN;
}

/* A waiter that timed out or was cancelled left: the last clears WAITERS. */
static struct pc__waiter *waiter_left(void *prim)
{
	struct pc__sem *s = prim;

	if (!s->q.head)
		atomic_fetch_and(&s->state, ~S_WAITERS); /* count is 0 */
	return NULL;
}

/* Wait at most until @deadline (UINT64_MAX: for ever). */
static int wait_until(struct pc__sem *s, uint64_t deadline)
{
	struct pc__waiter w;
	void *self;

	self = pc__sync_self();
	if (!self)
		return -EPERM; /* vcore context: may not wait */
	if (take_unit(s))
		return 0;
	pc__waiter_init(&w, self);
	pc__spin_lock(&s->lock);
	if (take_or_flag(s)) {
		pc__spin_unlock(&s->lock);
		return 0;
	}
	/* Returns holding its unit, or timed out or cancelled. */
	return pc__waiter_wait(&s->lock, &s->q, &w, deadline, waiter_left, s);
}

int pc_sem_wait(struct pc_sem *s)
{
	if (!s)
		return -EINVAL;
	return wait_until(S(s), UINT64_MAX);
}

int pc_sem_timedwait(struct pc_sem *s, const struct timespec *deadline)
{
	uint64_t ns;

	if (!s || !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return wait_until(S(s), ns);
}

/* Gives a unit to the head waiter; false if WAITERS was clear. */
static bool post_to_waiter(struct pc__sem *s)
{
	struct pc__waiter *w = NULL;

	pc__spin_lock(&s->lock);
	if (atomic_load(&s->state) & S_WAITERS) {
		w = pc__waitq_pop(&s->q);
		if (!s->q.head)
			atomic_fetch_and(&s->state, ~S_WAITERS);
	}
	pc__spin_unlock(&s->lock);
	if (w)
		pc__waiter_grant(w);
	return w != NULL;
}

int pc_sem_post(struct pc_sem *ps)
{
	struct pc__sem *s = S(ps);
	unsigned long v;

	if (!s)
		return -EINVAL;
	for (;;) {
		v = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (v & S_WAITERS) {
			if (post_to_waiter(s))
				return 0;
			continue; /* the last waiter left meanwhile */
		}
		if (v >> 1 >= PC_SEM_MAX)
			return -EOVERFLOW;
		/* Release pairs with take_unit()'s acquire. */
		if (atomic_compare_exchange_weak_explicit(
			    &s->state, &v, v + S_UNIT, memory_order_release,
			    memory_order_relaxed))
			return 0;
	}
}

long pc_sem_value(struct pc_sem *s)
{
	if (!s)
		return -EINVAL;
	return (long)(atomic_load(&S(s)->state) >> 1);
}
