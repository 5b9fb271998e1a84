/*
 * chan.h - channels' internals, shared by chan.c (the channel and its
 * single-case calls) and select.c (the engine that waits on several).
 * The protocol: chan.c's file comment, docs/design/sync.md.
 */
#ifndef PARCORE_CHAN_H
#define PARCORE_CHAN_H

#include "internal.h"

#include <stddef.h>

#define CH_CLOSED 0x100u
#define CH_KIND 0xffu

/* The select's state while nobody has claimed it, and once it gave up. */
#define SEL_WAITING (-1)
#define SEL_GONE (-2)

/* pc__chan_try_case_locked(): besides done (1) and not now (0). */
#define NEED_ROOM (-1)

struct sel;

/* One case of a waiting select, on its channel's queue. */
struct node {
	struct node *next, *prev;
	struct sel *sel;
	struct pc_chan_op *op;
	int index;
	bool queued; /* under its channel's spinlock */
};

struct nodeq {
	struct node *head, *tail;
};

/* struct pc_chan, as the runtime sees it. */
struct pc__chan {
	struct pc__spinlock lock;
	/*
	 * PC_CHAN_* | CH_CLOSED. Atomic: calls check the kind without the
	 * spinlock while a close sets CH_CLOSED under it (TSan).
	 */
	atomic_uint kind;
	void **buf;
	unsigned long cap, head, len;
	struct nodeq senders, receivers;
};

_Static_assert(sizeof(struct pc__chan) == sizeof(struct pc_chan) &&
		       offsetof(struct pc__chan, senders) ==
			       offsetof(struct pc_chan, _shead) &&
		       offsetof(struct pc__chan, receivers) ==
			       offsetof(struct pc_chan, _rhead),
	       "struct pc_chan and struct pc__chan differ");

struct sel {
	atomic_int state; /* SEL_WAITING, SEL_GONE, or the claimed case */
	/*
	 * One case: its claimers and its give-up all hold its channel's
	 * lock, so the state is set without a CAS (select.c).
	 */
	bool single;
	struct pc__waiter w;
	struct sel *wake_next; /* claimed: woken once the locks are dropped */
};

/* Selects claimed under the locks, woken after them. */
struct wake {
	struct sel *head;
	int n;
	bool closing; /* by a close: woken, not handed anything */
};

static inline struct pc__chan *CH(struct pc_chan *c)
{
	return (struct pc__chan *)c;
}

static inline unsigned int kind_of(struct pc__chan *ch)
{
	return atomic_load_explicit(&ch->kind, memory_order_relaxed) & CH_KIND;
}

static inline bool closed_locked(struct pc__chan *ch)
{
	return atomic_load_explicit(&ch->kind, memory_order_relaxed) &
	       CH_CLOSED;
}

/* ---- queues of nodes ---- */

static inline void q_push(struct nodeq *q, struct node *n)
{
	n->next = NULL;
	n->prev = q->tail;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	n->queued = true;
}

static inline void q_remove(struct nodeq *q, struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->queued = false;
}

/* Takes nodes off @q until one can be claimed; returns it, or NULL. */
struct node *pc__chan_claim_first(struct nodeq *q);
/* Wakes the selects claimed in @wk (a hand-off if there is one). */
void pc__chan_wake_all(struct wake *wk);
/* A usable channel: a known kind, and a bounded one has its buffer. */
bool pc__chan_ok(struct pc__chan *ch);
/*
 * Under @op's channel's lock: does @op's case if it can proceed. Returns
 * 1 (done: @op->result says how), 0 (not now), or NEED_ROOM (an
 * unbounded channel that must grow first: pc__chan_grow()).
 */
int pc__chan_try_case_locked(struct pc_chan_op *op, struct wake *wk);
/* Grows unbounded @ch from @seen_cap, no lock held; 0 or -ENOMEM. */
int pc__chan_grow(struct pc__chan *ch, unsigned long seen_cap);
/*
 * The engine of every call (select.c). @deadline: 0 never waits
 * (-EAGAIN), UINT64_MAX waits for ever. Returns the index of the case
 * done, or -errno.
 */
int pc__chan_select_until(struct pc_chan_op *ops, int n, uint64_t deadline);

#endif
