/*
 * rwlock.c - the phase-fair reader-writer lock (docs/design/sync.md).
 *
 * state: readers << 2 | WAITERS | WRITER. The fast paths are one CAS each
 * and apply only while WAITERS is clear: a reader enters while no writer
 * holds the lock or waits for it, a writer takes a free lock, and the
 * unlocks leave. Whoever must wait sets WAITERS (by CAS, racing the fast
 * paths) under the spinlock and queues: readers on rq, writers on wq.
 * While WAITERS is set, only holders of the spinlock change the state,
 * and every unlock takes it and lets in whoever is next (admit_locked()).
 *
 * Phases: a writer's unlock lets in every queued reader (they all queued
 * behind that writer, or behind one waiting); the last reader's unlock
 * hands the lock to the first queued writer. Readers that arrive while a
 * writer waits queue behind it, so writers do not starve; a writer
 * admits all the readers that queued during its turn, so readers do not.
 */
#include "internal.h"

#include <stddef.h>

#define RW_WRITER 1u
#define RW_WAITERS 2u
#define RW_READER 4u

/* struct pc_rwlock, as the runtime sees it. */
struct pc__rwlock {
	atomic_uint state;
	struct pc__spinlock lock;
	_Atomic(void *) owner; /* the writer's tag */
	struct pc__waitq rq, wq;
};

_Static_assert(sizeof(struct pc__rwlock) == sizeof(struct pc_rwlock) &&
		       offsetof(struct pc__rwlock, owner) ==
			       offsetof(struct pc_rwlock, _owner) &&
		       offsetof(struct pc__rwlock, rq) ==
			       offsetof(struct pc_rwlock, _rhead) &&
		       offsetof(struct pc__rwlock, wq) ==
			       offsetof(struct pc_rwlock, _whead),
	       "struct pc_rwlock and struct pc__rwlock differ");
_Static_assert(PC_RWLOCK_READERS_MAX == (~0u >> 2), "readers field");

static struct pc__rwlock *RW(struct pc_rwlock *rw)
{
	return (struct pc__rwlock *)rw;
}

int pc_rwlock_init(struct pc_rwlock *rw)
{
	if (!rw)
		return -EINVAL;
	*rw = (struct pc_rwlock)PC_RWLOCK_INIT;
	return 0;
}

int pc_rwlock_destroy(struct pc_rwlock *rw)
{
	if (!rw)
		return -EINVAL;
	return atomic_load(&RW(rw)->state) ? -EBUSY : 0;
}

static bool written_by(struct pc__rwlock *rw, void *self)
{
	return (atomic_load_explicit(&rw->state, memory_order_relaxed) &
		RW_WRITER) &&
	       atomic_load_explicit(&rw->owner, memory_order_relaxed) == self;
}

/* The fast read: 0, -EBUSY (a writer holds or waits), -EAGAIN (full). */
static int try_read(struct pc__rwlock *rw)
{
	unsigned int v = atomic_load_explicit(&rw->state, memory_order_relaxed);

	for (;;) {
		if (v & (RW_WRITER | RW_WAITERS))
			return -EBUSY;
		if (v >> 2 == PC_RWLOCK_READERS_MAX)
			return -EAGAIN;
		/* Acquire pairs with the release of the last writer's unlock. */
		if (atomic_compare_exchange_weak_explicit(
			    &rw->state, &v, v + RW_READER,
			    memory_order_acquire, memory_order_relaxed))
			return 0;
	}
}

static bool try_write(struct pc__rwlock *rw, void *self)
{
	unsigned int v = 0;

	if (atomic_load_explicit(&rw->state, memory_order_relaxed) ||
	    !atomic_compare_exchange_strong_explicit(&rw->state, &v, RW_WRITER,
						     memory_order_acquire,
						     memory_order_relaxed))
		return false;
	atomic_store_explicit(&rw->owner, self, memory_order_relaxed);
	return true;
}

/*
 * Under the spinlock, WAITERS set: lets in whoever the state allows (see
 * the file comment), recomputes WAITERS, and returns the waiters let in
 * (a chain of readers, or one writer, now the owner), to be woken once
 * the spinlock is dropped. A plain store suffices: while WAITERS is set
 * nobody else writes the state. *@writer: whether a writer was let in.
 */
static struct pc__waiter *admit_locked(struct pc__rwlock *rw,
				       bool readers_first, bool *writer)
{
	unsigned int v = atomic_load_explicit(&rw->state, memory_order_relaxed);
	struct pc__waiter *in = NULL;

	PC_ASSERT(v & RW_WAITERS);
	*writer = false;
	if (!(v & RW_WRITER)) {
		if (rw->rq.head && (readers_first || !rw->wq.head)) {
			in = pc__waitq_take_all(&rw->rq);
			for (struct pc__waiter *w = in; w; w = w->next)
				v += RW_READER;
		} else if (rw->wq.head && !(v >> 2)) {
			in = pc__waitq_pop(&rw->wq);
			in->next = NULL;
			atomic_store_explicit(&rw->owner, in->tag,
					      memory_order_relaxed);
			v |= RW_WRITER;
			*writer = true;
		}
	}
	if (!rw->rq.head && !rw->wq.head)
		v &= ~RW_WAITERS;
	/* Release: what the unlocker wrote, for those let in past WAITERS. */
	atomic_store_explicit(&rw->state, v, memory_order_release);
	return in;
}

/* A timed-out waiter left: those it held back may go (pc__waiter_wait()). */
static struct pc__waiter *waiter_left(void *prim)
{
	bool writer;

	return admit_locked(prim, false, &writer);
}

/*
 * Under the spinlock: enters at once if the state allows (@write: a free
 * lock; else: no writer holding or waiting), else sets WAITERS. Returns
 * 0 (entered), 1 (must queue), or -EAGAIN (readers full).
 */
static int enter_or_flag(struct pc__rwlock *rw, bool write, void *self)
{
	unsigned int v = atomic_load(&rw->state);

	for (;;) {
		if (write ? v == 0 : !(v & (RW_WRITER | RW_WAITERS))) {
			if (!write && v >> 2 == PC_RWLOCK_READERS_MAX)
				return -EAGAIN;
			if (atomic_compare_exchange_weak(
				    &rw->state, &v,
				    write ? RW_WRITER : v + RW_READER))
				break;
		} else if ((v & RW_WAITERS) ||
			   atomic_compare_exchange_weak(&rw->state, &v,
							v | RW_WAITERS)) {
			return 1;
		}
	}
	if (write)
		atomic_store_explicit(&rw->owner, self, memory_order_relaxed);
	return 0;
}

/* Takes @rw, waiting at most until @deadline (UINT64_MAX: for ever). */
static int lock_until(struct pc_rwlock *prw, bool write, uint64_t deadline)
{
	struct pc__rwlock *rw = RW(prw);
	struct pc__waiter w;
	void *self;
	int err;

	self = pc__sync_self();
	if (!self)
		return -EPERM; /* vcore context must not block */
	if (written_by(rw, self))
		return -EDEADLK;
	err = write ? (try_write(rw, self) ? 0 : -EBUSY) : try_read(rw);
	if (err != -EBUSY)
		return err;
	pc__waiter_init(&w, self);
	pc__spin_lock(&rw->lock);
	err = enter_or_flag(rw, write, self);
	if (err <= 0) {
		pc__spin_unlock(&rw->lock);
		return err;
	}
	/* Returns admitted (a writer: as the owner), or timed out. */
	return pc__waiter_wait(&rw->lock, write ? &rw->wq : &rw->rq, &w,
			       deadline, waiter_left, rw);
}

int pc_rwlock_rdlock(struct pc_rwlock *rw)
{
	if (!rw)
		return -EINVAL;
	return lock_until(rw, false, UINT64_MAX);
}

int pc_rwlock_wrlock(struct pc_rwlock *rw)
{
	if (!rw)
		return -EINVAL;
	return lock_until(rw, true, UINT64_MAX);
}

static int timed(struct pc_rwlock *rw, bool write,
		 const struct timespec *deadline)
{
	uint64_t ns;

	if (!rw || !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return lock_until(rw, write, ns);
}

int pc_rwlock_timedrdlock(struct pc_rwlock *rw,
			  const struct timespec *deadline)
{
	return timed(rw, false, deadline);
}

int pc_rwlock_timedwrlock(struct pc_rwlock *rw,
			  const struct timespec *deadline)
{
	return timed(rw, true, deadline);
}

int pc_rwlock_tryrdlock(struct pc_rwlock *prw)
{
	struct pc__rwlock *rw = RW(prw);

	if (!rw)
		return -EINVAL;
	if (written_by(rw, pc__sync_owner()))
		return -EDEADLK;
	return try_read(rw);
}

int pc_rwlock_trywrlock(struct pc_rwlock *prw)
{
	struct pc__rwlock *rw = RW(prw);
	void *self;

	if (!rw)
		return -EINVAL;
	self = pc__sync_owner();
	if (written_by(rw, self))
		return -EDEADLK;
	return try_write(rw, self) ? 0 : -EBUSY;
}

/*
 * An unlock that found WAITERS drops its hold under the spinlock and lets
 * in whoever is next.
 *
 * Race: the last waiter timed out and left, clearing WAITERS, between the
 * unlocker's look and its spinlock (a mutation test caught admit_locked()
 * then running without WAITERS, its plain store racing the fast paths).
 * Then nobody is left to let in, and the hold goes as on the fast path,
 * by an RMW, since fast paths may be changing the state meanwhile.
 */
static void unlock_slow(struct pc__rwlock *rw, bool write)
{
	struct pc__waiter *in;
	bool writer;

	pc__spin_lock(&rw->lock);
	if (!(atomic_load(&rw->state) & RW_WAITERS)) {
		if (write)
			atomic_fetch_and_explicit(&rw->state, ~RW_WRITER,
						  memory_order_release);
		else
			atomic_fetch_sub_explicit(&rw->state, RW_READER,
						  memory_order_release);
		pc__spin_unlock(&rw->lock);
		return;
	}
	if (write)
		atomic_fetch_and_explicit(&rw->state, ~RW_WRITER,
					  memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&rw->state, RW_READER,
					  memory_order_relaxed);
	in = admit_locked(rw, write, &writer);
	pc__spin_unlock(&rw->lock);
	if (writer)
		pc__waiter_grant(in); /* one owner: a hand-off */
	else
		pc__waiter_wake_all(in);
}

/* Releases a read hold: 0, or -EPERM if there is none. */
static int read_unlock(struct pc__rwlock *rw)
{
	unsigned int v = atomic_load_explicit(&rw->state, memory_order_relaxed);

	for (;;) {
		if (!(v >> 2))
			return -EPERM;
		if (v & RW_WAITERS) {
			unlock_slow(rw, false);
			return 0;
		}
		/* Release pairs with the next writer's acquire. */
		if (atomic_compare_exchange_weak_explicit(
			    &rw->state, &v, v - RW_READER,
			    memory_order_release, memory_order_relaxed))
			return 0;
	}
}

int pc_rwlock_unlock(struct pc_rwlock *prw)
{
	struct pc__rwlock *rw = RW(prw);
	unsigned int v = RW_WRITER;

	if (!rw)
		return -EINVAL;
	if (!(atomic_load_explicit(&rw->state, memory_order_relaxed) &
	      RW_WRITER))
		return read_unlock(rw);
	if (!written_by(rw, pc__sync_owner()))
		return -EPERM;
	/* No owner from here (as in mutex.c: no false -EDEADLK). */
	atomic_store_explicit(&rw->owner, NULL, memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&rw->state, &v, 0,
						     memory_order_release,
						     memory_order_relaxed))
		unlock_slow(rw, true);
	return 0;
}
