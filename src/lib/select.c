/*
 * select.c - the engine of every channel call: wait until one of several
 * cases can proceed, and do exactly that one (docs/design/sync.md).
 *
 * The select's channels are locked in address order (each once) while it
 * looks for a case that can proceed; if none can, it queues a node per
 * case and blocks. A claimer (chan.c) wins it by a CAS on its state; a
 * select whose deadline passes tries the same CAS to give up, and if it
 * loses, the claim stands: it waits for the claimer's grant to land. A
 * select of one case does both under its channel's lock (give_up()).
 */
#include "chan.h"

#include <string.h>

/* The distinct channels of a select, in address order: its lock order. */
struct chans {
	struct pc__chan *ch[PC_CHAN_SELECT_MAX];
	int n;
};

static void chans_collect(struct chans *cs, struct pc_chan_op *ops, int n)
{
	cs->n = 0;
	if (n == 1) { /* a send or a receive: a third of its cost was here */
		cs->ch[0] = CH(ops[0].chan);
		cs->n = cs->ch[0] != NULL;
		return;
	}
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
		if (!pc__chan_ok(CH(ops[i].chan)))
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
		int i = n == 1 ? 0 : (start + k) % n, r; /* no division */

		if (!ops[i].chan)
			continue;
		r = pc__chan_try_case_locked(&ops[i], wk);
		if (r == 1)
			return i;
		if (r == NEED_ROOM) {
			*cap = CH(ops[i].chan)->cap;
			return NEED_ROOM - 1 - i;
		}
	}
	return -1;
}

/* The queue a node of case @op waits in. */
static struct nodeq *queue_of(struct pc_chan_op *op)
{
	struct pc__chan *ch = CH(op->chan);

	return op->dir == PC_CHAN_SEND ? &ch->senders : &ch->receivers;
}

static void enqueue_locked(struct pc_chan_op *ops, int n, struct node *nodes,
			   struct sel *s)
{
	for (int i = 0; i < n; i++) {
		if (!ops[i].chan)
			continue;
		nodes[i] = (struct node){ .sel = s, .op = &ops[i], .index = i };
		q_push(queue_of(&ops[i]), &nodes[i]);
	}
}

/* Takes the select's nodes still queued off their queues. */
static void dequeue(struct pc_chan_op *ops, int n, struct node *nodes,
		    struct chans *cs)
{
	chans_lock(cs);
	for (int i = 0; i < n; i++)
		if (ops[i].chan && nodes[i].queued)
			q_remove(queue_of(&ops[i]), &nodes[i]);
	chans_unlock(cs);
}

/*
 * A select's give-up, its wait over without a grant: false if a claimer
 * took it first. A select of one case looks under its channel's lock,
 * where its claimers took its node off the queue (chan.c's claim()):
 * still queued, nobody claimed it, and it leaves the queue.
 */
static bool give_up(struct sel *s, struct node *node)
{
	int expect = SEL_WAITING;
	struct pc__chan *ch;
	bool queued;

	if (!s->single)
		return atomic_compare_exchange_strong(&s->state, &expect,
						      SEL_GONE);
	ch = CH(node->op->chan);
	pc__spin_lock(&ch->lock);
	queued = node->queued;
	if (queued)
		q_remove(queue_of(node->op), node);
	pc__spin_unlock(&ch->lock);
	return queued;
}

/*
 * Blocks until claimed, @deadline or a cancellation; returns the case,
 * -ETIMEDOUT or -ECANCELED. @nodes: the select's first node.
 */
static int wait_claimed(struct sel *s, struct node *nodes, uint64_t deadline)
{
	if (!pc__waiter_block_until(&s->w, deadline, false))
		return atomic_load(&s->state);
	if (give_up(s, nodes))
		return pc__wait_failed(&s->w); /* timed out or cancelled */
	pc__waiter_settle(&s->w); /* claimed as the deadline passed */
	return atomic_load(&s->state);
}

/* pc__chan_select_until() - see chan.h. */
int pc__chan_select_until(struct pc_chan_op *ops, int n, uint64_t deadline)
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
		ops[r].result = pc__chan_grow(CH(ops[r].chan), cap);
		if (ops[r].result)
			return r; /* -ENOMEM: that case failed */
	}
	if (r >= 0 || !deadline) {
		chans_unlock(&cs);
		pc__chan_wake_all(&wk);
		return r >= 0 ? r : -EAGAIN;
	}
	self = pc__sync_self();
	if (!self) {
		chans_unlock(&cs);
		return -EPERM; /* vcore context must not wait */
	}
	atomic_init(&s.state, SEL_WAITING);
	s.single = n == 1;
	pc__waiter_init(&s.w, self);
	enqueue_locked(ops, n, nodes, &s);
	pc__waiter_commit(&s.w, deadline);
	chans_unlock(&cs);
	r = wait_claimed(&s, nodes, deadline);
	/* A claimer took its node off; the others may still be queued. */
	if (!s.single)
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
	return pc__chan_select_until(ops, n, ns ? ns : 1);
}

int pc_chan_tryselect(struct pc_chan_op *ops, int n)
{
	bool any;
	int err = check_ops(ops, n, &any);

	if (err)
		return err;
	return any ? pc__chan_select_until(ops, n, 0) : -EAGAIN;
}

