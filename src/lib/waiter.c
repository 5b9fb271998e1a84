/*
 * waiter.c - the FIFO of waiters under every blocking primitive, and the
 * hand-off that makes the head the owner before it runs (seed 002's
 * queues with owners). The protocol and its races: docs/design/sync.md.
 */
#include "internal.h"

#include "../common/sys.h"

/* A plain thread's owner tag: an address of its own, odd. */
static __thread char thread_anchor;

void *pc__sync_self(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	if (vc)
		return vc->current; /* NULL in vcore context */
	return (void *)((uintptr_t)&thread_anchor | 1);
}

/*
 * A uthread waits on a word in its TCB, not on its stack: the vcore that
 * blocked it reads the word once more after publishing it blocked
 * (pc__wait_while()), and by then a grant may have run it elsewhere and
 * its stack frame be gone (TSan saw that read race the next frame's
 * writes). The TCB outlives the wait; a read of it after the uthread
 * moved on finds 0 or 1, and at worst claims a later wait spuriously.
 */
void pc__waiter_init(struct pc__waiter *w, void *self)
{
	w->next = NULL;
	w->tag = self;
	w->t = ((uintptr_t)self & 1) ? NULL : self;
	w->granted = w->t ? &w->t->granted : &w->own_word;
	atomic_store(w->granted, 0);
}

void pc__waitq_push(struct pc__waitq *q, struct pc__waiter *w)
{
	w->next = NULL;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

struct pc__waiter *pc__waitq_pop(struct pc__waitq *q)
{
	struct pc__waiter *w = q->head;

	if (w) {
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
	}
	return w;
}

/*
 * pc__waiter_block() - see internal.h. A uthread waits on @w's word with
 * pc__wait_while(), whose Dekker pair with the claim in
 * pc__waiter_grant() loses no wake-up; a plain thread on a futex (the
 * word's low half: both targets are little-endian).
 */
#ifndef PC_SYNC_SPIN_NS
#define PC_SYNC_SPIN_NS 1000u
#endif

/* Spins up to PC_SYNC_SPIN_NS for the grant; true if it came. */
static bool spin_for_grant(struct pc__waiter *w)
{
	uint64_t start = 0;

	for (unsigned int i = 0;; i++) {
		if (atomic_load_explicit(w->granted, memory_order_acquire))
			return true;
		if (i % 16 == 0) {
			uint64_t now = pc__now_ns();

			if (!start)
				start = now;
			else if (now - start > PC_SYNC_SPIN_NS)
				return false;
		}
		pc__cpu_relax();
	}
}

void pc__waiter_block(struct pc__waiter *w, bool spin)
{
	if (spin && spin_for_grant(w))
		return;
	while (!atomic_load(w->granted)) {
		if (w->t)
			pc__wait_while(w->t, w->granted, 0, NULL);
		else
			pc__futex_wait((uint32_t *)w->granted, 0, NULL);
	}
}

/*
 * pc__waiter_grant() - see internal.h. Who waits is read before the
 * grant is published: from then on the waiter may return and its stack,
 * which holds @w, be reused. The claim touches only the TCB; a TCB that
 * moved on to another wait meanwhile takes it as a spurious wake-up,
 * which every wait tolerates. A futex wake on a reused stack address
 * wakes nobody, or someone who rechecks.
 */
void pc__waiter_grant(struct pc__waiter *w)
{
	struct pc_thread *t = w->t;
	atomic_uintptr_t *word = w->granted;

	/* An RMW: the waker's half of pc__wait_while()'s pair. */
	atomic_exchange(word, 1);
	if (!t)
		pc__futex_wake((uint32_t *)word, 1);
	else if (pc__wait_claim(t))
		pc__rt.ops->thread_runnable(pc__handle(t));
}
