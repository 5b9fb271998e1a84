/*
 * timer.c - per-vcore sleep queues.
 *
 * A sleeping uthread sits in the sleep queue of the vcore it slept on: a
 * pairing heap ordered by deadline, linked through the TCB, so adding a
 * sleeper allocates nothing (vcore context must not). The queue's earliest
 * deadline is published in vc->next_deadline so that idle vcores can see
 * when any vcore's sleeper is due, park no longer than that, and wake it
 * themselves if its own vcore is busy (see pc__vcore_loop()).
 *
 * A sleeper is made runnable only once CLOCK_MONOTONIC has reached its
 * deadline: it never wakes early.
 *
 * A timed sync wait (waiter.c) sits in the same queue, but something
 * else may wake it first (a grant): it takes itself out afterwards
 * (pc__timer_cancel()), so every TCB knows which queue holds it
 * (timer_vc, in_heap: changed under that queue's lock, and timer_vc
 * under both when a leaving vcore's queue moves). When its deadline
 * comes, the queue marks its wait timed out under the lock, where the
 * TCB cannot be in a later wait yet, and makes it run if it had
 * blocked; the wait's number in the word keeps a late mark off a later
 * wait.
 */
#include "internal.h"

/* Merges two heaps; either may be NULL. */
static struct pc_thread *heap_meld(struct pc_thread *a, struct pc_thread *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (b->deadline < a->deadline) {
		struct pc_thread *tmp = a;

		a = b;
		b = tmp;
	}
	/* b becomes a's first child. */
	b->heap_prev = a;
	b->heap_next = a->heap_child;
	if (a->heap_child)
		a->heap_child->heap_prev = b;
	a->heap_child = b;
	a->heap_next = NULL;
	a->heap_prev = NULL;
	return a;
}

/* Two-pass pairing of the children of a removed root. */
static struct pc_thread *heap_merge_children(struct pc_thread *first)
{
	struct pc_thread *pairs = NULL, *result = NULL;

	/* Pass 1: meld children two by two, left to right, into a list. */
	while (first) {
		struct pc_thread *a = first, *b = a->heap_next, *m;

		first = b ? b->heap_next : NULL;
		a->heap_next = a->heap_prev = NULL;
		if (b)
			b->heap_next = b->heap_prev = NULL;
		m = heap_meld(a, b);
		m->heap_next = pairs;
		pairs = m;
	}
	/* Pass 2: meld the pairs right to left (the list is reversed). */
	while (pairs) {
		struct pc_thread *next = pairs->heap_next;

		pairs->heap_next = NULL;
		result = heap_meld(result, pairs);
		pairs = next;
	}
	return result;
}

static void publish_next_locked(struct pc__vcore *vc)
{
	atomic_store_explicit(&vc->next_deadline,
			      vc->timer_root ? vc->timer_root->deadline
					     : UINT64_MAX,
			      memory_order_release);
}

/*
 * pc__timer_add() - queue sleeping uthread @t (deadline set) on @vc.
 * Vcore context of @vc, or any context holding no timer lock.
 */
void pc__timer_add(struct pc__vcore *vc, struct pc_thread *t)
{
	bool earliest;

	t->heap_child = t->heap_next = t->heap_prev = NULL;
	pc__spin_lock(&vc->timer_lock);
	atomic_store_explicit(&t->timer_vc, vc, memory_order_relaxed);
	t->in_heap = true;
	vc->timer_root = heap_meld(vc->timer_root, t);
	earliest = vc->timer_root == t;
	publish_next_locked(vc);
	pc__spin_unlock(&vc->timer_lock);
	/*
	 * Race: a parked vcore computed its timeout before this deadline
	 * existed, and @vc may stay busy past it. Waking one parked vcore
	 * makes it recompute. Only a new earliest deadline can need it.
	 */
	if (earliest)
		pc_sched_wake();
}

/* Detaches and returns the earliest sleeper if it is due by @now. */
static struct pc_thread *pop_due_locked(struct pc__vcore *vc, uint64_t now)
{
	struct pc_thread *t = vc->timer_root;

	if (!t || t->deadline > now)
		return NULL;
	vc->timer_root = heap_merge_children(t->heap_child);
	t->heap_child = NULL;
	t->in_heap = false;
	return t;
}

/*
 * Whether popped @t is to be made runnable: a sleeper is; a timed wait
 * only if this marks it timed out (it is the wait the timer was set for,
 * with no outcome yet) and it has blocked (if not, it sees the mark
 * itself: waiter.c's block_publish()). Under the lock: @t cannot have
 * left this wait.
 */
static bool due_wakes_locked(struct pc_thread *t)
{
	uintptr_t gen = (uintptr_t)t->timer_gen << PC_W_SHIFT, v;

	if (!t->timed)
		return true;
	v = atomic_load(&t->granted);
	do {
		if ((v & ~(uintptr_t)PC_W_BITS) != gen ||
		    (v & (PC_W_GRANTED | PC_W_TIMEDOUT)))
			return false;
	} while (!pc__word_mark(t, &v, v | PC_W_TIMEDOUT));
	return v & PC_W_BLOCKED;
}

/*
 * pc__timer_run() - make every sleeper of @vc due by @now runnable. Any
 * vcore may run another's queue (an idle vcore helping a busy one); the
 * lock is only tried, since whoever holds it is doing the same work.
 */
void pc__timer_run(struct pc__vcore *vc, uint64_t now)
{
	struct pc_thread *due = NULL, *t;

	if (atomic_load_explicit(&vc->next_deadline, memory_order_acquire) >
	    now)
		return;
	if (!pc__spin_trylock(&vc->timer_lock))
		return;
	while ((t = pop_due_locked(vc, now))) {
		if (!due_wakes_locked(t))
			continue;
		t->heap_next = due;
		due = t;
	}
	publish_next_locked(vc);
	pc__spin_unlock(&vc->timer_lock);
	/* Outside the lock: thread_runnable may wake vcores. */
	while (due) {
		t = due;
		due = t->heap_next;
		t->heap_next = NULL;
		pc__rt.ops->thread_runnable(pc__handle(t));
	}
}

/*
 * pc__timer_move() - move all of @from's sleepers to @to (a vcore that is
 * giving its core back hands its sleepers to one that stays).
 */
/* The parent of @n, or NULL for the root. */
static struct pc_thread *heap_parent(struct pc_thread *n)
{
	struct pc_thread *p = n->heap_prev;

	while (p && p->heap_child != n) {
		n = p;
		p = n->heap_prev;
	}
	return p;
}

/* Every node of the heap under @root now belongs to @vc's queue. */
static void heap_set_vcore(struct pc_thread *root, struct pc__vcore *vc)
{
	struct pc_thread *n = root;

	while (n) {
		atomic_store_explicit(&n->timer_vc, vc, memory_order_relaxed);
		if (n->heap_child) {
			n = n->heap_child;
			continue;
		}
		while (n && !n->heap_next)
			n = heap_parent(n);
		if (n)
			n = n->heap_next;
	}
}

/*
 * Both locks at once (the only place that takes two: moves are
 * serialized by grant_lock, so they cannot cross), so that a cancel
 * finds each sleeper under the lock its timer_vc names.
 */
void pc__timer_move(struct pc__vcore *from, struct pc__vcore *to)
{
	struct pc_thread *root;

	pc__spin_lock(&from->timer_lock);
	root = from->timer_root;
	if (root) {
		pc__spin_lock(&to->timer_lock);
		from->timer_root = NULL;
		publish_next_locked(from);
		heap_set_vcore(root, to);
		to->timer_root = heap_meld(to->timer_root, root);
		publish_next_locked(to);
		pc__spin_unlock(&to->timer_lock);
	}
	pc__spin_unlock(&from->timer_lock);
	if (root)
		pc_sched_wake_vcore(to->id);
}

/* Unlinks @t, somewhere in @vc's heap. */
static void heap_remove_locked(struct pc__vcore *vc, struct pc_thread *t)
{
	struct pc_thread *sub = heap_merge_children(t->heap_child);

	if (vc->timer_root == t) {
		vc->timer_root = sub;
	} else {
		struct pc_thread *prev = t->heap_prev;

		if (prev->heap_child == t)
			prev->heap_child = t->heap_next;
		else
			prev->heap_next = t->heap_next;
		if (t->heap_next)
			t->heap_next->heap_prev = prev;
		vc->timer_root = heap_meld(vc->timer_root, sub);
	}
	t->heap_child = t->heap_next = t->heap_prev = NULL;
	t->in_heap = false;
}

/* pc__timer_cancel() - see internal.h. @t is the caller, or not running. */
void pc__timer_cancel(struct pc_thread *t)
{
	for (;;) {
		struct pc__vcore *vc = atomic_load(&t->timer_vc);

		if (!vc)
			return;
		pc__spin_lock(&vc->timer_lock);
		if (atomic_load_explicit(&t->timer_vc, memory_order_relaxed) ==
		    vc) {
			if (t->in_heap) {
				heap_remove_locked(vc, t);
				publish_next_locked(vc);
			}
			pc__spin_unlock(&vc->timer_lock);
			return;
		}
		pc__spin_unlock(&vc->timer_lock); /* moved meanwhile */
	}
}
