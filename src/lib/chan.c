/*
 * chan.c - channels: a buffer, FIFO queues of waiting senders and
 * receivers, and select over several channels (docs/design/sync.md).
 *
 * One engine serves every call: a send or a receive is a select of one
 * case. A select that must wait puts a node on the queue of each of its
 * cases' channels, all under those channels' spinlocks (taken in address
 * order), and blocks. Whoever can complete one of its cases first claims
 * the select: a CAS of its state from WAITING to that case's index. The
 * claimer then moves the message, takes the node off its queue, and wakes
 * the select once its own locks are dropped; the select takes its other
 * nodes off their queues. A node whose select was claimed elsewhere, or
 * gave up, is stale: the next look at its queue drops it.
 */
#include "internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CH_CLOSED 0x100u
#define CH_KIND 0xffu

/* The select's state while nobody has claimed it, and once it gave up. */
#define SEL_WAITING (-1)
#define SEL_GONE (-2)

/* What try_case_locked() returns besides done (1) and not ready (0). */
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
	struct pc__waiter w;
	struct sel *wake_next; /* claimed: woken once the locks are dropped */
};

/* Selects claimed under the locks, woken after them. */
struct wake {
	struct sel *head;
	int n;
	bool closing; /* by a close: woken, not handed anything */
};

static struct pc__chan *CH(struct pc_chan *c)
{
	return (struct pc__chan *)c;
}

static unsigned int kind_of(struct pc__chan *ch)
{
	return atomic_load_explicit(&ch->kind, memory_order_relaxed) & CH_KIND;
}

static bool closed_locked(struct pc__chan *ch)
{
	return atomic_load_explicit(&ch->kind, memory_order_relaxed) &
	       CH_CLOSED;
}

/* ---- queues of nodes ---- */

static void q_push(struct nodeq *q, struct node *n)
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

static void q_remove(struct nodeq *q, struct node *n)
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

/* Claims @n's select for @n's case; false if it is taken or gone. */
static bool claim(struct node *n)
{
	int expect = SEL_WAITING;

	return atomic_compare_exchange_strong(&n->sel->state, &expect,
					      n->index);
}

/* Takes nodes off @q until one can be claimed; returns it, or NULL. */
static struct node *claim_first(struct nodeq *q)
{
	struct node *n;

	while ((n = q->head)) {
		q_remove(q, n);
		if (claim(n))
			return n;
	}
	return NULL;
}

/* @n's case is done with @result; its select is woken after the locks. */
static void finish(struct node *n, int result, struct wake *wk)
{
	n->op->result = result;
	n->sel->wake_next = wk->head;
	wk->head = n->sel;
	wk->n++;
}

/*
 * One claimed select is handed what it waited for (a hand-off, so the
 * 2LS may run it next where the caller is); several, after a close, are
 * only woken.
 */
static void wake_all(struct wake *wk)
{
	struct sel *s = wk->head;

	while (s) {
		struct sel *next = s->wake_next; /* before: then s may go */

		if (wk->n == 1 && !wk->closing)
			pc__waiter_grant(&s->w);
		else
			pc__waiter_wake(&s->w);
		s = next;
	}
}

/* ---- the buffer ---- */

static void buf_put(struct pc__chan *ch, void *msg)
{
	ch->buf[(ch->head + ch->len) % ch->cap] = msg;
	ch->len++;
}

static void *buf_take(struct pc__chan *ch)
{
	void *msg = ch->buf[ch->head];

	ch->head = (ch->head + 1) % ch->cap;
	ch->len--;
	return msg;
}

/*
 * An unbounded channel is full: a bigger buffer is made with no lock held
 * (malloc may make a system call) and put in under the spinlock, unless
 * someone else grew it meanwhile. Returns 0 or -ENOMEM.
 */
static int grow(struct pc__chan *ch, unsigned long seen_cap)
{
	unsigned long cap = seen_cap ? seen_cap * 2 : 16;
	void **fresh, **old = NULL;

	if (cap > (unsigned long)-1 / sizeof(void *) / 2 ||
	    !(fresh = malloc(cap * sizeof(void *))))
		return -ENOMEM;
	pc__spin_lock(&ch->lock);
	if (ch->cap == seen_cap) {
		for (unsigned long i = 0; i < ch->len; i++)
			fresh[i] = ch->buf[(ch->head + i) % ch->cap];
		old = ch->buf;
		ch->buf = fresh;
		ch->cap = cap;
		ch->head = 0;
		fresh = NULL;
	}
	pc__spin_unlock(&ch->lock);
	free(fresh);
	free(old);
	return 0;
}

/* ---- one case, under its channel's lock ---- */

static int try_recv_locked(struct pc__chan *ch, struct pc_chan_op *op,
			   struct wake *wk)
{
	struct node *s;

	if (ch->len) {
		op->msg = buf_take(ch);
		/* Room now: the first waiting sender's message takes it. */
		if ((s = claim_first(&ch->senders))) {
			buf_put(ch, s->op->msg);
			finish(s, 0, wk);
		}
	} else if ((s = claim_first(&ch->senders))) {
		op->msg = s->op->msg; /* unbuffered: straight across */
		finish(s, 0, wk);
	} else if (closed_locked(ch)) {
		op->msg = NULL;
		op->result = -EPIPE;
		return 1;
	} else {
		return 0;
	}
	op->result = 0;
	return 1;
}

static int try_send_locked(struct pc__chan *ch, struct pc_chan_op *op,
			   struct wake *wk)
{
	struct node *r;

	if (closed_locked(ch)) {
		op->result = -EPIPE;
		return 1;
	}
	if ((r = claim_first(&ch->receivers))) {
		r->op->msg = op->msg; /* the buffer is empty: straight across */
		finish(r, 0, wk);
	} else if (kind_of(ch) == PC_CHAN_UNBUFFERED) {
		return 0;
	} else if (ch->len == ch->cap) {
		return kind_of(ch) == PC_CHAN_BOUNDED ? 0 : NEED_ROOM;
	} else {
		buf_put(ch, op->msg);
	}
	op->result = 0;
	return 1;
}

static int try_case_locked(struct pc_chan_op *op, struct wake *wk)
{
	struct pc__chan *ch = CH(op->chan);

	return op->dir == PC_CHAN_SEND ? try_send_locked(ch, op, wk) :
					 try_recv_locked(ch, op, wk);
}

/* ---- select ---- */

/* The distinct channels of a select, in address order: its lock order. */
struct chans {
	struct pc__chan *ch[PC_CHAN_SELECT_MAX];
	int n;
};

static void chans_collect(struct chans *cs, struct pc_chan_op *ops, int n)
{
	cs->n = 0;
	for (int i = 0; i < n; i++) {
		struct pc__chan *ch = CH(ops[i].chan);
		int at = cs->n;

		if (!ch)
			continue;
		while (at > 0 && (uintptr_t)cs->ch[at - 1] > (uintptr_t)ch)
			at--;
		if (at > 0 && cs->ch[at - 1] == ch)
			continue;
		memmove(&cs->ch[at + 1], &cs->ch[at],
			(size_t)(cs->n - at) * sizeof(cs->ch[0]));
		cs->ch[at] = ch;
		cs->n++;
	}
}

static void chans_lock(struct chans *cs)
{
	for (int i = 0; i < cs->n; i++)
		pc__spin_lock(&cs->ch[i]->lock);
}

static void chans_unlock(struct chans *cs)
{
	for (int i = cs->n - 1; i >= 0; i--)
		pc__spin_unlock(&cs->ch[i]->lock);
}

static bool chan_ok(struct pc__chan *ch)
{
	switch (kind_of(ch)) {
	case PC_CHAN_UNBUFFERED:
	case PC_CHAN_UNBOUNDED:
		return true;
	case PC_CHAN_BOUNDED:
		return ch->buf && ch->cap;
	default:
		return false;
	}
}

/* 0, or -EINVAL; *@any: some case has a channel. */
static int check_ops(struct pc_chan_op *ops, int n, bool *any)
{
	*any = false;
	if (!ops || n < 1 || n > PC_CHAN_SELECT_MAX)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (ops[i].dir != PC_CHAN_SEND && ops[i].dir != PC_CHAN_RECV)
			return -EINVAL;
		if (!ops[i].chan)
			continue;
		if (!chan_ok(CH(ops[i].chan)))
			return -EINVAL;
		*any = true;
	}
	return 0;
}

/* Where a select with several ready cases starts looking: a spread. */
static int first_look(int n)
{
	static atomic_uint seq;

	if (n == 1)
		return 0;
	return (int)((atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed) *
		      2654435761u) >>
		     16) %
	       n;
}

/*
 * Under every lock: does the first case that can proceed (looking from a
 * random one). Returns its index, -1 if none can, or NEED_ROOM - 1 - i
 * for an unbounded channel of case i that must grow first from the
 * capacity *@cap.
 */
static int scan_locked(struct pc_chan_op *ops, int n, struct wake *wk,
		       unsigned long *cap)
{
	int start = first_look(n);

	for (int k = 0; k < n; k++) {
		int i = (start + k) % n, r;

		if (!ops[i].chan)
			continue;
		r = try_case_locked(&ops[i], wk);
		if (r == 1)
			return i;
		if (r == NEED_ROOM) {
			*cap = CH(ops[i].chan)->cap;
			return NEED_ROOM - 1 - i;
		}
	}
	return -1;
}

static void enqueue_locked(struct pc_chan_op *ops, int n, struct node *nodes,
			   struct sel *s)
{
	for (int i = 0; i < n; i++) {
		struct pc__chan *ch = CH(ops[i].chan);

		if (!ch)
			continue;
		nodes[i] = (struct node){ .sel = s, .op = &ops[i], .index = i };
		q_push(ops[i].dir == PC_CHAN_SEND ? &ch->senders :
						    &ch->receivers,
		       &nodes[i]);
	}
}

/* Takes the select's nodes still queued off their queues. */
static void dequeue(struct pc_chan_op *ops, int n, struct node *nodes,
		    struct chans *cs)
{
	chans_lock(cs);
	for (int i = 0; i < n; i++) {
		struct pc__chan *ch = CH(ops[i].chan);

		if (ch && nodes[i].queued)
			q_remove(ops[i].dir == PC_CHAN_SEND ? &ch->senders :
							      &ch->receivers,
				 &nodes[i]);
	}
	chans_unlock(cs);
}

/* Blocks until claimed or @deadline; returns the case or -ETIMEDOUT. */
static int wait_claimed(struct sel *s, uint64_t deadline)
{
	int expect = SEL_WAITING;

	if (!pc__waiter_block_until(&s->w, deadline, false))
		return atomic_load(&s->state);
	if (atomic_compare_exchange_strong(&s->state, &expect, SEL_GONE))
		return -ETIMEDOUT;
	pc__waiter_settle(&s->w); /* claimed as the deadline passed */
	return expect;
}

/*
 * The engine. @deadline: 0 never waits (-EAGAIN), UINT64_MAX waits for
 * ever. Returns the index of the case done, or -errno.
 */
static int select_until(struct pc_chan_op *ops, int n, uint64_t deadline)
{
	struct node nodes[PC_CHAN_SELECT_MAX];
	struct chans cs;
	struct wake wk = { NULL, 0, false };
	unsigned long cap;
	struct sel s;
	void *self;
	int r;

	chans_collect(&cs, ops, n);
	for (;;) {
		chans_lock(&cs);
		r = scan_locked(ops, n, &wk, &cap);
		if (r > NEED_ROOM - 1)
			break;
		chans_unlock(&cs); /* nothing claimed: no case was ready */
		r = NEED_ROOM - 1 - r;
		ops[r].result = grow(CH(ops[r].chan), cap);
		if (ops[r].result)
			return r; /* -ENOMEM: that case failed */
	}
	if (r >= 0 || !deadline) {
		chans_unlock(&cs);
		wake_all(&wk);
		return r >= 0 ? r : -EAGAIN;
	}
	self = pc__sync_self();
	if (!self) {
		chans_unlock(&cs);
		return -EPERM; /* vcore context must not wait */
	}
	atomic_init(&s.state, SEL_WAITING);
	pc__waiter_init(&s.w, self);
	enqueue_locked(ops, n, nodes, &s);
	chans_unlock(&cs);
	r = wait_claimed(&s, deadline);
	/* A claimer took its node off; the others may still be queued. */
	if (n > 1 || r < 0)
		dequeue(ops, n, nodes, &cs);
	return r;
}

int pc_chan_select(struct pc_chan_op *ops, int n,
		   const struct timespec *deadline)
{
	uint64_t ns = UINT64_MAX;
	bool any;
	int err = check_ops(ops, n, &any);

	if (err)
		return err;
	if (deadline && !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	if (!any && ns == UINT64_MAX)
		return -EINVAL; /* nothing could ever happen */
	if (!any) {
		if (!pc__sync_self())
			return -EPERM; /* vcore context must not wait */
		err = pc_thread_sleep_until(deadline);
		return err ? err : -ETIMEDOUT;
	}
	return select_until(ops, n, ns ? ns : 1);
}

int pc_chan_tryselect(struct pc_chan_op *ops, int n)
{
	bool any;
	int err = check_ops(ops, n, &any);

	if (err)
		return err;
	return any ? select_until(ops, n, 0) : -EAGAIN;
}

/* ---- one case ---- */

/* A send or receive as a select of one case; @deadline as select_until(). */
static int one_case(struct pc_chan *c, unsigned int dir, void **msg,
		    uint64_t deadline)
{
	struct pc_chan_op op = { .chan = c, .dir = dir };
	int r;

	if (!c || !msg || !chan_ok(CH(c)))
		return -EINVAL;
	if (dir == PC_CHAN_SEND)
		op.msg = *msg;
	r = select_until(&op, 1, deadline);
	if (r < 0)
		return r;
	if (dir == PC_CHAN_RECV && !op.result)
		*msg = op.msg;
	return op.result;
}

int pc_chan_send(struct pc_chan *c, void *msg)
{
	return one_case(c, PC_CHAN_SEND, &msg, UINT64_MAX);
}

int pc_chan_recv(struct pc_chan *c, void **msg)
{
	return one_case(c, PC_CHAN_RECV, msg, UINT64_MAX);
}

int pc_chan_trysend(struct pc_chan *c, void *msg)
{
	return one_case(c, PC_CHAN_SEND, &msg, 0);
}

int pc_chan_tryrecv(struct pc_chan *c, void **msg)
{
	return one_case(c, PC_CHAN_RECV, msg, 0);
}

static int timed_case(struct pc_chan *c, unsigned int dir, void **msg,
		      const struct timespec *deadline)
{
	uint64_t ns;

	if (!pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return one_case(c, dir, msg, ns ? ns : 1);
}

int pc_chan_timedsend(struct pc_chan *c, void *msg,
		      const struct timespec *deadline)
{
	return timed_case(c, PC_CHAN_SEND, &msg, deadline);
}

int pc_chan_timedrecv(struct pc_chan *c, void **msg,
		      const struct timespec *deadline)
{
	return timed_case(c, PC_CHAN_RECV, msg, deadline);
}

/* ---- the channel ---- */

int pc_chan_init(struct pc_chan *c, unsigned int kind, void **buf,
		 unsigned long cap)
{
	if (!c)
		return -EINVAL;
	switch (kind) {
	case PC_CHAN_BOUNDED:
		if (!buf || !cap)
			return -EINVAL;
		*c = (struct pc_chan)PC_CHAN_BOUNDED_INIT(buf, cap);
		return 0;
	case PC_CHAN_UNBUFFERED:
	case PC_CHAN_UNBOUNDED:
		if (buf || cap)
			return -EINVAL;
		*c = (struct pc_chan)PC_CHAN_UNBUFFERED_INIT;
		c->_kind = kind;
		return 0;
	default:
		return -EINVAL;
	}
}

int pc_chan_destroy(struct pc_chan *c)
{
	struct pc__chan *ch = CH(c);
	void **unbounded = NULL;
	bool busy;

	if (!ch)
		return -EINVAL;
	pc__spin_lock(&ch->lock);
	busy = ch->senders.head || ch->receivers.head;
	if (!busy && kind_of(ch) == PC_CHAN_UNBOUNDED) {
		unbounded = ch->buf;
		ch->buf = NULL;
		ch->cap = ch->head = ch->len = 0;
	}
	pc__spin_unlock(&ch->lock);
	free(unbounded);
	return busy ? -EBUSY : 0;
}

/* Every waiter on @q returns -EPIPE (a closing channel). */
static void fail_all_locked(struct nodeq *q, struct wake *wk)
{
	struct node *n;

	while ((n = claim_first(q))) {
		if (n->op->dir == PC_CHAN_RECV)
			n->op->msg = NULL;
		finish(n, -EPIPE, wk);
	}
}

int pc_chan_close(struct pc_chan *c)
{
	struct pc__chan *ch = CH(c);
	struct wake wk = { NULL, 0, true };

	if (!ch)
		return -EINVAL;
	pc__spin_lock(&ch->lock);
	if (closed_locked(ch)) {
		pc__spin_unlock(&ch->lock);
		return -EPIPE;
	}
	atomic_fetch_or_explicit(&ch->kind, CH_CLOSED, memory_order_relaxed);
	fail_all_locked(&ch->senders, &wk);
	fail_all_locked(&ch->receivers, &wk);
	pc__spin_unlock(&ch->lock);
	wake_all(&wk);
	return 0;
}

long pc_chan_len(struct pc_chan *c)
{
	struct pc__chan *ch = CH(c);
	long len;

	if (!ch)
		return -EINVAL;
	pc__spin_lock(&ch->lock);
	len = (long)ch->len;
	pc__spin_unlock(&ch->lock);
	return len;
}
