/*
 * chan.c - channels: a buffer, FIFO queues of waiting senders and
 * receivers, and the single-case calls; select.c waits on several
 * (docs/design/sync.md).
 *
 * One engine serves every call: a send or a receive is a select of one
 * case. A select that must wait puts a node on the queue of each of its
 * cases' channels, all under those channels' spinlocks (taken in address
 * order), and blocks. Whoever can complete one of its cases first claims
 * the select: a CAS of its state from WAITING to that case's index (a
 * store for a select of one case: see claim()). The claimer then moves
 * the message, takes the node off its queue, and wakes the select once
 * its own locks are dropped; the select takes its other nodes off their
 * queues. A node whose select was claimed elsewhere, or gave up, is
 * stale: the next look at its queue drops it.
 */
#include "chan.h"

#include <stddef.h>
#include <stdlib.h>

/* ---- claiming waiters ---- */

/*
 * Claims @n's select for @n's case, @n just taken off its queue under
 * its channel's lock; false if the select is taken or gone. A select of
 * one case gives up under that lock too, and only while its node is
 * queued: a node taken off the queue is claimed by its taker alone.
 */
static bool claim(struct node *n)
{
	int expect = SEL_WAITING;

	if (n->sel->single) {
		atomic_store_explicit(&n->sel->state, n->index,
				      memory_order_relaxed);
		return true;
	}
	return atomic_compare_exchange_strong(&n->sel->state, &expect,
					      n->index);
}

struct node *pc__chan_claim_first(struct nodeq *q)
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
void pc__chan_wake_all(struct wake *wk)
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
int pc__chan_grow(struct pc__chan *ch, unsigned long seen_cap)
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
		if ((s = pc__chan_claim_first(&ch->senders))) {
			buf_put(ch, s->op->msg);
			finish(s, 0, wk);
		}
	} else if ((s = pc__chan_claim_first(&ch->senders))) {
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
	if ((r = pc__chan_claim_first(&ch->receivers))) {
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

int pc__chan_try_case_locked(struct pc_chan_op *op, struct wake *wk)
{
	struct pc__chan *ch = CH(op->chan);

	return op->dir == PC_CHAN_SEND ? try_send_locked(ch, op, wk) :
					 try_recv_locked(ch, op, wk);
}

bool pc__chan_ok(struct pc__chan *ch)
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

/* ---- sends and receives ---- */

/* A send or receive as a select of one case; @deadline as the engine's. */
static int one_case(struct pc_chan *c, unsigned int dir, void **msg,
		    uint64_t deadline)
{
	struct pc_chan_op op = { .chan = c, .dir = dir };
	int r;

	if (!c || !msg || !pc__chan_ok(CH(c)))
		return -EINVAL;
	if (dir == PC_CHAN_SEND)
		op.msg = *msg;
	r = pc__chan_select_until(&op, 1, deadline);
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

	while ((n = pc__chan_claim_first(q))) {
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
	pc__chan_wake_all(&wk);
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
