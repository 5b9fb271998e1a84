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
	return t;
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
void pc__timer_move(struct pc__vcore *from, struct pc__vcore *to)
{
	struct pc_thread *root;

	pc__spin_lock(&from->timer_lock);
	root = from->timer_root;
	from->timer_root = NULL;
	publish_next_locked(from);
	pc__spin_unlock(&from->timer_lock);
	if (!root)
		return;
	pc__spin_lock(&to->timer_lock);
	to->timer_root = heap_meld(to->timer_root, root);
	publish_next_locked(to);
	pc__spin_unlock(&to->timer_lock);
	pc_sched_wake_vcore(to->id);
}
