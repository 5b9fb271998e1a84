/*
 * mutex.c - the mutex: FIFO queue, ownership handed to the head waiter
 * (docs/design/sync.md).
 *
 * state: 0 free, LOCKED, or CONTENDED (locked, waiters queued). The
 * queue and every move to or from CONTENDED are under the spinlock; the
 * uncontended lock and unlock are one CAS each. While anyone is queued
 * the state never drops to free, so a newcomer's CAS cannot barge.
 *
 * heir: a waiter that a condition variable's signal by the owner made
 * the next owner without the spinlock (pc__mutex_move()): logically the
 * queue's head, ahead of everything queued. Only the owner sets it, and
 * only its unlock, under the spinlock, takes it.
 *
 * The plain pop: with two waiters or more, an unlock pops the head
 * without the spinlock (hand_off_plain(); docs/design/sync.md, "The
 * plain pop"). Only an owner pops; a push touches only the tail; who
 * takes a waiter out of the queue, or looks whether one is still in it,
 * stops pops first (pops_stop()), then takes the spinlock
 * (pc__mutex_queue_lock()).
 *
 * The bias: once one vcore's uthreads have queued on a mutex many times
 * in a row, they take its queue without the spinlock's compare-and-swap,
 * with a store to their vcore's word and a compiler barrier
 * (queue_enter()); whoever takes the spinlock from elsewhere revokes the
 * bias first, with a membarrier() (docs/design/sync.md, "The biased
 * queue").
 */
#include "internal.h"

#include <stddef.h>

#define M_FREE 0u
#define M_LOCKED 1u
#define M_CONTENDED 2u

/* struct pc_mutex, as the runtime sees it. */
struct pc__mutex {
	atomic_uint state;
	unsigned int kind;
	struct pc__spinlock lock;
	atomic_uint removing; /* stops at work (pops_stop()) */
	_Atomic(void *) owner;
	struct pc__waitq q;
	_Atomic(struct pc__waiter *) heir;
	atomic_uint popping; /* an unlock pops without the spinlock */
	atomic_ushort bias;  /* 0, or the id + 1 of the vcore biased */
	/* Under the spinlock: */
	unsigned short bias_bar; /* doublings of BIAS_STREAK_MIN (revokes) */
	unsigned int streak; /* (vcore id + 1) << 16 | its pushes in a row */
};

_Static_assert(sizeof(struct pc__mutex) == sizeof(struct pc_mutex),
	       "struct pc_mutex and struct pc__mutex differ");
_Static_assert(offsetof(struct pc__mutex, state) ==
		       offsetof(struct pc_mutex, _state) &&
	       offsetof(struct pc__mutex, kind) ==
		       offsetof(struct pc_mutex, _kind) &&
	       offsetof(struct pc__mutex, lock) ==
		       offsetof(struct pc_mutex, _lock) &&
	       offsetof(struct pc__mutex, owner) ==
		       offsetof(struct pc_mutex, _owner) &&
	       offsetof(struct pc__mutex, q) == offsetof(struct pc_mutex, _head) &&
	       offsetof(struct pc__mutex, heir) ==
		       offsetof(struct pc_mutex, _heir) &&
	       offsetof(struct pc__mutex, popping) ==
		       offsetof(struct pc_mutex, _popping) &&
	       offsetof(struct pc__mutex, removing) ==
		       offsetof(struct pc_mutex, _removing) &&
	       offsetof(struct pc__mutex, bias) ==
		       offsetof(struct pc_mutex, _bias) &&
	       offsetof(struct pc__mutex, bias_bar) ==
		       offsetof(struct pc_mutex, _bias_bar) &&
	       offsetof(struct pc__mutex, streak) ==
		       offsetof(struct pc_mutex, _streak),
	       "struct pc_mutex and struct pc__mutex differ");

/*
 * Pushes in a row from one vcore's uthreads before the mutex is biased
 * to it, doubled at each revocation up to BIAS_BAR_MAX times: a
 * revocation costs a membarrier() (11-14 us while another CPU runs one
 * of the process's threads), and a mutex shared across vcores must not
 * pay it often.
 */
#define BIAS_STREAK_MIN 16u
#define BIAS_BAR_MAX 11u

static struct pc__mutex *M(struct pc_mutex *m)
{
	return (struct pc__mutex *)m;
}

struct pc__waitq *pc__mutex_queue(struct pc_mutex *m)
{
	return &M(m)->q;
}

int pc_mutex_init(struct pc_mutex *m, unsigned int kind)
{
	if (!m || kind > PC_MUTEX_ERRORCHECK)
		return -EINVAL;
	*m = (struct pc_mutex)PC_MUTEX_INIT;
	m->_kind = kind;
	return 0;
}

int pc_mutex_destroy(struct pc_mutex *m)
{
	if (!m)
		return -EINVAL;
	return atomic_load(&M(m)->state) == M_FREE ? 0 : -EBUSY;
}

/*
 * A load before the CAS: on a held mutex a failed CAS is a locked
 * instruction for nothing, one of about a dozen on the path of a
 * contended acquisition (docs/design/sync.md, "What strict FIFO costs").
 */
static bool take_free(struct pc__mutex *m, void *self)
{
	unsigned int expect = M_FREE;

	if (atomic_load_explicit(&m->state, memory_order_relaxed) != M_FREE)
		return false;
	/* Acquire pairs with the release of the unlock that freed it. */
	if (!atomic_compare_exchange_strong_explicit(&m->state, &expect,
						     M_LOCKED,
						     memory_order_acquire,
						     memory_order_relaxed))
		return false;
	atomic_store_explicit(&m->owner, self, memory_order_relaxed);
	return true;
}

static bool held_by(struct pc__mutex *m, void *self)
{
	return atomic_load_explicit(&m->state, memory_order_relaxed) !=
		       M_FREE &&
	       atomic_load_explicit(&m->owner, memory_order_relaxed) == self;
}

/*
 * Under the spinlock: takes @m for @self if it is free, else marks it
 * CONTENDED and returns false. LOCKED -> CONTENDED is a CAS: the owner's
 * unlock (LOCKED -> FREE, without the spinlock) may come first, and a
 * plain store would then mark a free mutex contended, and nobody would
 * ever hand it on (test_sync's counting case hung so). Unless @caller is
 * the owner, which is not unlocking: a condition variable's signal from
 * the mutex's holder moves its waiter so, with a store (one locked
 * instruction fewer per signal). Once CONTENDED, only a holder of the
 * spinlock changes it.
 */
static PC_INLINE_HOT bool take_or_mark_locked(struct pc__mutex *m,
					      void *self, void *caller)
{
	unsigned int v = atomic_load(&m->state);

	for (;;) {
		if (v == M_FREE) {
			if (take_free(m, self))
				return true;
			v = atomic_load(&m->state);
		} else if (v == M_CONTENDED) {
			return false;
		} else if (atomic_load_explicit(&m->owner,
					       memory_order_relaxed) == caller) {
			atomic_store_explicit(&m->state, M_CONTENDED,
					      memory_order_relaxed);
			return false;
		} else if (atomic_compare_exchange_weak(&m->state, &v,
							M_CONTENDED)) {
			return false;
		}
	}
}

/*
 * The bias's slow side, by a holder of the spinlock that is not on the
 * bias vcore @b - 1: the store, the fence, then the look, as
 * pops_stop()'s (either the bias vcore's queue_enter() sees the bias gone
 * and takes the spinlock, or this sees it holding the queue and waits
 * for it to leave). The look is at that vcore's own word, which no other
 * thread writes: a stale fast side elsewhere, one that read an older
 * bias before it lost its CPU, backs off by clearing its own word, not
 * the holder's (a second reader's case: with one word per mutex, such a
 * back-off cleared a new bias vcore's flag, and a revoker went on while
 * that vcore held the queue). Out of line: it is rare by design.
 */
static __attribute__((noinline)) void bias_revoke(struct pc__mutex *m,
						  unsigned int b)
{
	struct pc__vcore *vc = pc__vcore_get((int)b - 1);

	atomic_store_explicit(&m->bias, 0, memory_order_relaxed);
	if (m->bias_bar < BIAS_BAR_MAX)
		m->bias_bar++;
	m->streak = 0;
	pc__asym_fence();
	/* The holder may share this CPU (oversubscription): let it run. */
	for (unsigned int i = 1;
	     vc && atomic_load_explicit(&vc->bias_hold, memory_order_acquire) ==
			   (void *)m;
	     i++)
		pc__spin_pause(i);
}

/* How the bias names vcore @vc: its id + 1; 0 for a plain thread. */
static unsigned int bias_id(const struct pc__vcore *vc)
{
	return vc ? (unsigned int)vc->id + 1 : 0;
}

/*
 * Takes @m's queue in a nopreempt section. On the bias vcore: its word
 * names @m, then the look whether the bias still stands, the fast side
 * of the fence with bias_revoke(); returns that vcore, whose word the
 * release clears. Two holders on that vcore never overlap, since each
 * holds its section (a plain store suffices), and one there never
 * overlaps one elsewhere, who revokes first. Else the spinlock, revoking
 * another vcore's bias, and NULL. The section comes first: the vcore
 * read must stay the one the holder runs on.
 */
static PC_INLINE_HOT struct pc__vcore *queue_enter(struct pc__mutex *m)
{
	struct pc__vcore *vc;
	unsigned int me, b;

	pc__nopreempt_enter();
	vc = pc__vcore_self();
	me = bias_id(vc);
	b = atomic_load_explicit(&m->bias, memory_order_relaxed);
	if (b && b == me) {
		atomic_store_explicit(&vc->bias_hold, m, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst); /* the fast side */
		if (atomic_load_explicit(&m->bias, memory_order_relaxed) == b)
			return vc;
		atomic_store_explicit(&vc->bias_hold, NULL,
				      memory_order_release);
	}
	pc__spin_lock_masked(&m->lock);
	b = atomic_load_explicit(&m->bias, memory_order_relaxed);
	if (PC_UNLIKELY(b && b != me))
		bias_revoke(m, b);
	return NULL;
}

/*
 * Leaves @m's queue, taken as queue_enter() said (@held: the vcore that
 * held it by the bias, or NULL); the section stays, for the caller to end
 * (or to block in: take_or_queue()).
 */
static PC_INLINE_HOT void queue_release(struct pc__mutex *m,
					struct pc__vcore *held)
{
	if (held)
		atomic_store_explicit(&held->bias_hold, NULL,
				      memory_order_release);
	else
		pc__spin_unlock_masked(&m->lock);
}

static PC_INLINE_HOT void queue_exit(struct pc__mutex *m,
				     struct pc__vcore *held)
{
	queue_release(m, held);
	pc__nopreempt_exit();
}

/* Biases @m to vcore @me - 1, under the spinlock. */
static void bias_set(struct pc__mutex *m, unsigned int me)
{
	m->streak = 0;
	atomic_store_explicit(&m->bias, (unsigned short)me,
			      memory_order_relaxed);
}

/*
 * A push under the spinlock, in its nopreempt section, by the caller's
 * vcore (a plain thread ends a streak): counts the streak, and biases @m
 * to that vcore once the streak reaches the bar. Only with membarrier(),
 * which the revocation needs.
 */
static void bias_count(struct pc__mutex *m)
{
	unsigned int s = m->streak, me = bias_id(pc__vcore_self());

	if (!me || !pc__asym_fence_ok())
		m->streak = 0;
	else if (s >> 16 != me)
		m->streak = me << 16 | 1;
	else if ((s & 0xffff) + 1 < BIAS_STREAK_MIN << m->bias_bar)
		m->streak = s + 1;
	else
		bias_set(m, me);
}

/*
 * Gives @m to @w if it is free, else queues @w for it; @caller is who
 * calls, as an owner. Returns true if @w got it: the caller then grants
 * @w, unless it is @w's own uthread (@own), which instead publishes its
 * block as it queues, for a wait until @deadline, the queue's nopreempt
 * section left raised for the wait (pc__waiter_commit_in()).
 * Under the spinlock: an unlock that finds CONTENDED takes the spinlock
 * and finds @w queued.
 */
static PC_INLINE_HOT bool take_or_queue(struct pc__mutex *m,
					struct pc__waiter *w, void *caller,
					bool own, uint64_t deadline,
					bool *first)
{
	struct pc__vcore *held;
	bool got, committed = false;

	held = queue_enter(m);
	got = take_or_mark_locked(m, w->tag, caller);
	/* Atomic: a plain pop may be storing the head. */
	*first = !got && !__atomic_load_n(&m->q.head, __ATOMIC_RELAXED);
	if (!got) {
		pc__waitq_push(&m->q, w);
		if (own)
			committed = pc__waiter_commit_in(w, deadline);
		if (!held)
			bias_count(m);
	}
	queue_release(m, held);
	if (!committed)
		pc__nopreempt_exit();
	return got;
}

/*
 * pc__mutex_move() - see internal.h. The heir is decided without the
 * spinlock, from two loads: the owner is @caller, and nobody is queued
 * (LOCKED, not CONTENDED) and no heir set. A locker that marks the mutex
 * CONTENDED and queues after the loads queues behind the heir: the move
 * took place at the loads, with the queue empty. @w's `in` names the
 * queue, as for a waiter in it: a condition variable's waiter that
 * times out looks there (cond.c's give_up()), and then waits for the
 * unlock's grant as a queued one does. Saves the spinlock's locked
 * instruction per signal: 15 ns of a 125 ns cond ping-pong round trip
 * (docs/design/sync.md).
 */
bool pc__mutex_move(struct pc_mutex *pm, struct pc__waiter *w, void *caller)
{
	struct pc__mutex *m = M(pm);
	bool first;

	if (atomic_load_explicit(&m->owner, memory_order_relaxed) == caller &&
	    atomic_load_explicit(&m->state, memory_order_relaxed) ==
		    M_LOCKED &&
	    !atomic_load_explicit(&m->heir, memory_order_relaxed)) {
		atomic_store_explicit(&w->in, &m->q, memory_order_relaxed);
		atomic_store_explicit(&m->heir, w, memory_order_relaxed);
		return false;
	}
	return take_or_queue(m, w, caller, false, UINT64_MAX, &first);
}

/*
 * The stop of pc__mutex_queue_lock(), the slow side of the asymmetric
 * fence with hand_off_plain(): the count, the fence, then the
 * look. Either the popper sees the count and takes the spinlock's path,
 * or this sees it popping and waits until its pop is done. Before the
 * spinlock, not under it: a membarrier() here costs 11-14 us while
 * another CPU runs one of the process's threads, and lockers would spin
 * behind it. The count goes first, by an RMW (a full barrier), and only
 * then the look whether membarrier() is registered: a plain thread may
 * pop while it is being registered, and a popper that finds it
 * registered after this found it not sees the count.
 */
static void pops_stop(struct pc__mutex *m)
{
	atomic_fetch_add(&m->removing, 1);
	if (!pc__asym_fence_ok())
		return;
	pc__asym_fence();
	/* The popper may share this CPU (oversubscription): let it run. */
	for (unsigned int i = 1;
	     atomic_load_explicit(&m->popping, memory_order_acquire); i++)
		pc__spin_pause(i);
}

/* pc__mutex_queue_lock() and pc__mutex_queue_unlock() - see internal.h. */
struct pc__vcore *pc__mutex_queue_lock(struct pc_mutex *pm)
{
	pops_stop(M(pm));
	return queue_enter(M(pm));
}

void pc__mutex_queue_unlock(struct pc_mutex *pm, struct pc__vcore *held)
{
	queue_exit(M(pm), held);
	atomic_fetch_sub_explicit(&M(pm)->removing, 1, memory_order_release);
}

/*
 * A timed-out waiter leaves the queue, unless a hand-off took it out
 * first: then it is the owner, and waits for the grant to land.
 */
static int give_up(struct pc__mutex *m, struct pc__waiter *w)
{
	struct pc__vcore *held;
	bool left;

	held = pc__mutex_queue_lock((struct pc_mutex *)m);
	left = pc__waitq_remove(&m->q, w);
	if (left && !m->q.head) /* the owner's, no waiters */
		atomic_store_explicit(&m->state, M_LOCKED,
				      memory_order_relaxed);
	pc__mutex_queue_unlock((struct pc_mutex *)m, held);
	if (left)
		return pc__wait_failed(w);
	pc__waiter_settle(w);
	return 0;
}

/*
 * Lock, waiting at most until @deadline (UINT64_MAX: for ever), and
 * unless cancelled if @cancellable.
 */
static int lock_until(struct pc_mutex *pm, uint64_t deadline,
		      bool cancellable)
{
	struct pc__mutex *m = M(pm);
	struct pc__waiter w;
	void *self;
	bool first;
	int err;

	self = pc__sync_self();
	if (!self)
		return -EPERM; /* vcore context must not block */
	if (PC_LIKELY(take_free(m, self)))
		return 0;
	if (m->kind == PC_MUTEX_ERRORCHECK && held_by(m, self))
		return -EDEADLK;
	pc__waiter_init(&w, self);
	w.cancellable = cancellable;
	if (take_or_queue(m, &w, self, true, deadline, &first))
		return 0;
	/* Returns as the owner, or timed out. */
	if (w.committed && deadline == UINT64_MAX)
		err = pc__waiter_wait_committed(&w);
	else
		err = pc__waiter_block_until(&w, deadline, first);
	return err ? give_up(m, &w) : 0;
}

int pc_mutex_lock(struct pc_mutex *pm)
{
	if (!pm)
		return -EINVAL;
	return lock_until(pm, UINT64_MAX, true);
}

void pc__mutex_lock_uncancellable(struct pc_mutex *pm)
{
	int err = lock_until(pm, UINT64_MAX, false);

	PC_ASSERT(err == 0);
}

int pc_mutex_timedlock(struct pc_mutex *pm, const struct timespec *deadline)
{
	uint64_t ns;

	if (!pm || !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return lock_until(pm, ns, true);
}

int pc_mutex_trylock(struct pc_mutex *pm)
{
	struct pc__mutex *m = M(pm);
	void *self;

	if (!m)
		return -EINVAL;
	self = pc__sync_owner();
	if (take_free(m, self))
		return 0;
	if (m->kind == PC_MUTEX_ERRORCHECK && held_by(m, self))
		return -EDEADLK;
	return -EBUSY;
}

/*
 * The contended unlock: the heir, or else the queue's head, becomes the
 * owner, under the spinlock; it is told and woken after
 * (pc__waiter_grant() may make a system call). The heir leaves the
 * state as it is: LOCKED if nobody is queued, CONTENDED if someone is.
 * Out of line: inlined into pc_mutex_unlock(), its registers made the
 * plain pop's path save and restore six (0.6 ns; sync.md).
 */
static __attribute__((noinline)) void hand_off(struct pc__mutex *m)
{
	struct pc__waiter *w;
	struct pc__vcore *held;

	held = queue_enter(m);
	w = atomic_load_explicit(&m->heir, memory_order_relaxed);
	if (w) {
		atomic_store_explicit(&m->heir, NULL, memory_order_relaxed);
		atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
		atomic_store_explicit(&m->owner, w->tag, memory_order_relaxed);
	} else if ((w = pc__waitq_pop(&m->q))) {
		atomic_store_explicit(&m->owner, w->tag, memory_order_relaxed);
		if (!m->q.head)
			atomic_store_explicit(&m->state, M_LOCKED,
					      memory_order_relaxed);
	} else {
		/* Its last waiter timed out while this unlock waited. */
		atomic_store_explicit(&m->state, M_FREE, memory_order_release);
	}
	queue_exit(m, held);
	if (w)
		pc__waiter_grant(w);
}

/*
 * The contended unlock's pop without the spinlock, when the head has a
 * waiter behind it: a push then touches only that one's tail end, so
 * the pop and the push share no word, and the queue does not empty. The
 * popping flag and a remover's stop are the two sides of an asymmetric
 * fence (pops_stop()): a stop at work sends this to the
 * spinlock's path. In a nopreempt section, which a remover's wait relies
 * on, and which the grant shares (with, for a plain thread's waiter, a
 * futex wake: a system call in the section). The spinlock's
 * compare-and-swap here was the one locked instruction after the
 * critical section, and waited for it to finish: 7 ns of an
 * acquisition's 38 (sync.md). True if it handed @m on; false, with
 * nothing changed, if hand_off() must.
 */
static bool hand_off_plain(struct pc__mutex *m)
{
	struct pc__waiter *w = NULL, *next = NULL;

	if (!pc__asym_fence_ok())
		return false;
	pc__nopreempt_enter();
	atomic_store_explicit(&m->popping, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the fence's fast side */
	if (!atomic_load_explicit(&m->removing, memory_order_acquire))
		w = __atomic_load_n(&m->q.head, __ATOMIC_ACQUIRE);
	/* Acquire: the push that linked it published its fields. */
	if (w)
		next = __atomic_load_n(&w->next, __ATOMIC_ACQUIRE);
	if (next) {
		__atomic_store_n(&m->q.head, next, __ATOMIC_RELAXED);
		next->prev = NULL;
		atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
		atomic_store_explicit(&m->owner, w->tag, memory_order_relaxed);
	}
	atomic_store_explicit(&m->popping, 0, memory_order_release);
	if (next)
		pc__waiter_grant_in(w, true);
	pc__nopreempt_exit();
	return next;
}

int pc_mutex_unlock(struct pc_mutex *pm)
{
	struct pc__mutex *m = M(pm);
	unsigned int expect = M_LOCKED;
	void *self;

	if (!m)
		return -EINVAL;
	if (m->kind == PC_MUTEX_ERRORCHECK) {
		self = pc__sync_owner();
		if (!held_by(m, self))
			return -EPERM;
	}
	/*
	 * No owner from here: between the next locker's CAS and its store
	 * of itself, held_by() must not see this one (a stale owner gave a
	 * false -EDEADLK to a second reader's pthreads, 6,000 in 3 million).
	 */
	atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
	/*
	 * Only the spinlock's holder leaves CONTENDED: seen here, it stays
	 * until hand_off() takes the spinlock, and the CAS would fail.
	 * Release pairs with the acquire of the next take_free().
	 */
	expect = atomic_load_explicit(&m->state, memory_order_relaxed);
	if (expect == M_LOCKED &&
	    !atomic_load_explicit(&m->heir, memory_order_relaxed) &&
	    atomic_compare_exchange_strong_explicit(&m->state, &expect, M_FREE,
						    memory_order_release,
						    memory_order_relaxed))
		return 0;
	if (expect == M_FREE)
		return -EPERM;
	if (expect == M_CONTENDED &&
	    !atomic_load_explicit(&m->heir, memory_order_relaxed) &&
	    hand_off_plain(m))
		return 0;
	hand_off(m);
	return 0;
}
