/*
 * evq.c - application event queues (parcore/evq.h): a ring (ring.c) and an
 * overflow bitmap, consumed by waiting uthreads and by a handler that runs
 * in vcore context. The protocols and their races: docs/design/evq.md.
 *
 * Waiting. seq counts posts and is the waiters' futex word
 * (pc__wait_while()):
 *
 *   poster                          waiter
 *   put the event in the ring       s := seq
 *   RMW seq + 1   (seq_cst)         take: got one? done
 *   read nr_waiters (seq_cst)       link itself; RMW nr_waiters + 1
 *   > 0: unlink the first waiter    seq still s? block while seq == s
 *        and claim it (wake)        unlink itself if still linked; retry
 *
 * The poster's RMW on seq and read of nr_waiters, against the waiter's
 * RMW on nr_waiters and read of seq (inside pc__wait_while(), after it
 * is published as blocked), are Dekker's pattern: the waiter sees the new
 * seq and does not block, or the poster sees it linked and wakes it. A
 * waiter woken for an event that another consumer took goes round again.
 * A post wakes one waiter; a waiter that leaves with an event it was not
 * woken for leaves the next post's wake-up to the next waiter.
 *
 * Handling. indir says a PC_EV_EVQ_READY is on its way to the handler's
 * vcore: a poster sends one only if it sets indir from 0, and the vcore
 * clears indir (an RMW) before it drains. A post that lands after the
 * drain's last take finds indir cleared and sends another; one that lands
 * before is taken by the drain.
 *
 * Destruction and handler changes. The event names the queue by table
 * slot and generation, never by pointer (the mailbox is in memory others
 * can write). The vcore marks the slot busy, then checks the queue is
 * still there and reads the handler before each event; destroy empties
 * the slot, and a handler change stores the new handler, then each waits
 * until the slot is not busy (Dekker again). So the queue is freed only
 * when no vcore can be running its handler, and once a handler change
 * returns, the old handler is not called again (a waiter relying on that
 * lost an event to it in test_evq, under TSan).
 */
#include "internal.h"
#include "ring.h"

#include <stdlib.h>
#include <string.h>

struct waiter {
	struct pc_thread *t;
	struct waiter *next;
	bool linked; /* in the queue's list; under wlock */
};

struct pc_evq {
	/* Consumers' line. */
	_Alignas(PC_CACHELINE) _Atomic uint32_t head;
	atomic_uint_fast64_t taken;
	/* Producers' line. */
	_Alignas(PC_CACHELINE) _Atomic uint32_t tail;
	atomic_uintptr_t seq; /* posts: the waiters' futex word */
	atomic_int nr_waiters; /* linked; changed under wlock */
	atomic_int nr_inside;  /* uthreads inside pc_evq_wait() */
	atomic_int nr_posting; /* threads inside pc_evq_post() */
	atomic_int nr_parking; /* vcores yet to re-read seq (pc__wait_while) */
	atomic_int indir; /* a PC_EV_EVQ_READY is on its way */
	atomic_uint_fast64_t posted, overflowed;
	/* Rarely written. */
	_Alignas(PC_CACHELINE) _Atomic uint64_t bits[PC_EV_WORDS];
	struct pc__spinlock wlock; /* the waiter list */
	struct waiter *first, *last;
	struct pc__handler handler;
	struct pc__spinlock hlock; /* handler writers */
	/* Handler calls in progress, by the parity of epoch they began in. */
	atomic_uint epoch;
	atomic_int calls[2];
	atomic_int setting; /* a handler change is under way */
	atomic_int vcoreid;
	atomic_uint flags;
	uint32_t nslots;
	int id;	      /* its table slot */
	uint32_t gen; /* the slot's generation when it was made */
	struct pc__mslot slot[];
};

/* The queue whose handler this vcore is running, if any. */
static __thread struct pc_evq *draining;

/* The table that PC_EV_EVQ_READY names queues by. */
static struct {
	_Atomic(struct pc_evq *) q;
	atomic_uint gen;
	atomic_int busy; /* vcores inside its handler */
} table[PC_EVQ_MAX];

/* ---- make and free ---- */

static bool capacity_ok(unsigned int n)
{
	/* One slot cannot tell "published for t" from "free for t + 1". */
	return n >= 2 && n <= PC_EVQ_MAX_CAPACITY && !(n & (n - 1));
}

/* Puts @q in a free table slot; false if there is none. */
static bool table_insert(struct pc_evq *q)
{
	for (int i = 0; i < PC_EVQ_MAX; i++) {
		struct pc_evq *expect = NULL;

		if (atomic_load_explicit(&table[i].q, memory_order_relaxed))
			continue;
		q->id = i;
		q->gen = atomic_load(&table[i].gen);
		if (atomic_compare_exchange_strong(&table[i].q, &expect, q))
			return true;
	}
	return false;
}

int pc_evq_create(struct pc_evq **out, unsigned int capacity)
{
	struct pc_evq *q;
	size_t size;

	if (capacity == 0)
		capacity = PC_EVQ_DEFAULT_CAPACITY;
	if (!out || !capacity_ok(capacity))
		return -EINVAL;
	size = sizeof(*q) + capacity * sizeof(q->slot[0]);
	q = aligned_alloc(PC_CACHELINE, (size + PC_CACHELINE - 1) &
					    ~(size_t)(PC_CACHELINE - 1));
	if (!q)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	q->nslots = capacity;
	atomic_init(&q->vcoreid, 0);
	pc__ring_init(q->slot, capacity);
	if (!table_insert(q)) {
		free(q);
		return -ENOSPC;
	}
	*out = q;
	return 0;
}

/*
 * From vcore context (a handler), waits are not made: two handlers each
 * waiting for the other's vcore would wait for ever.
 */
static bool in_vcore_context(void)
{
	return pc__vcore_self() && !pc__thread_current();
}

static void pause_briefly(void)
{
	if (pc__thread_current())
		pc_thread_yield();
	else
		pc__cpu_relax();
}

int pc_evq_destroy(struct pc_evq *q)
{
	if (!q)
		return -EINVAL;
	/*
	 * Woken waiters not yet out of pc_evq_wait() still touch @q; from
	 * a handler, a drain elsewhere might be waiting for this one.
	 */
	if (atomic_load(&q->nr_inside) || draining == q ||
	    (in_vcore_context() && atomic_load(&table[q->id].busy)))
		return -EBUSY;
	pc__handler_set(&q->handler, &q->hlock, NULL, NULL);
	atomic_fetch_add(&table[q->id].gen, 1);
	/* Pairs with the busy mark in pc__evq_ready(): see the top. */
	atomic_store(&table[q->id].q, NULL);
	/*
	 * Drains end, posts under way finish, and a vcore that parked a
	 * waiter now gone reads seq one last time: nobody starts another
	 * (TSan saw that read after the free).
	 */
	while (atomic_load(&table[q->id].busy) ||
	       atomic_load(&q->nr_posting) || atomic_load(&q->nr_parking))
		pause_briefly();
	free(q);
	return 0;
}

/* ---- posting ---- */

/*
 * Wakes the first waiter that is blocked, and unlinks only that one. A
 * linked waiter that has not blocked yet stays linked: it may have read
 * seq after this post and then found the event gone (another consumer
 * took it), and would block with nobody left to wake it (a second reader's
 * review reproduced that lost wake-up, 4 runs in 70). Any thread.
 */
static void wake_one(struct pc_evq *q)
{
	struct waiter **p, *prev = NULL;
	struct pc_thread *t = NULL;

	pc__spin_lock(&q->wlock);
	for (p = &q->first; *p; prev = *p, p = &(*p)->next) {
		struct waiter *w = *p;

		if (!pc__wait_claim(w->t))
			continue;
		t = w->t; /* @w is on its stack: gone once it runs */
		*p = w->next;
		if (q->last == w)
			q->last = prev;
		w->linked = false;
		atomic_fetch_sub(&q->nr_waiters, 1);
		break;
	}
	pc__spin_unlock(&q->wlock);
	if (t)
		pc__sched_runnable(pc__handle(t));
}

/* Tells the handler's vcore, unless a PC_EV_EVQ_READY is on its way. */
static void tell_handler(struct pc_evq *q)
{
	struct pc_event ev = {.type = PC_EV_EVQ_READY};
	unsigned int flags =
	    atomic_load_explicit(&q->flags, memory_order_relaxed);

	if (!atomic_load(&q->handler.fn) || atomic_exchange(&q->indir, 1))
		return;
	ev.arg[0] = (uint64_t)q->id | (uint64_t)q->gen << 32;
	if (pc_event_send(
		atomic_load_explicit(&q->vcoreid, memory_order_relaxed), &ev,
		flags) != 0)
		atomic_store(&q->indir, 0); /* the next post tries again */
}

static void overflow(struct pc_evq *q, unsigned int type)
{
	pc__evbits_set(q->bits, type);
	atomic_fetch_add_explicit(&q->overflowed, 1, memory_order_relaxed);
}

/* Tells a waiter, or the handler's vcore, that an event is there. */
static void announce(struct pc_evq *q)
{
	/* Pairs with the waiter's RMW on nr_waiters: see the top. */
	atomic_fetch_add(&q->seq, 1);
	if (atomic_load(&q->nr_waiters))
		wake_one(q);
	tell_handler(q);
}

int pc_evq_post(struct pc_evq *q, const struct pc_event *ev)
{
	struct pc_event e;

	if (!q || !ev || ev->type >= PC_EV_MAX)
		return -EINVAL;
	e = *ev;
	e.flags = 0;
	e.src_vcore = (int16_t)pc_vcore_id();
	/*
	 * Counted, for destroy: a waiter may take this event and destroy
	 * the queue while we still announce it. A nopreempt section: a
	 * handler on this vcore that destroys the queue must not wait for
	 * the uthread it interrupted.
	 */
	pc__nopreempt_enter();
	atomic_fetch_add(&q->nr_posting, 1);
	if (pc__ring_put(q->slot, q->nslots, &q->tail, &e))
		atomic_fetch_add_explicit(&q->posted, 1, memory_order_relaxed);
	else
		overflow(q, e.type);
	announce(q);
	atomic_fetch_sub(&q->nr_posting, 1);
	pc__nopreempt_exit();
	return 0;
}

/* ---- consuming ---- */

/* One overflow bit taken as an event; false if none is set. */
static bool take_bit(struct pc_evq *q, struct pc_event *out)
{
	for (unsigned int w = 0; w < PC_EV_WORDS; w++) {
		uint64_t bits =
		    atomic_load_explicit(&q->bits[w], memory_order_relaxed);

		while (bits) {
			uint64_t b = bits & -bits;

			bits = atomic_fetch_and(&q->bits[w], ~b);
			if (bits & b) {
				*out = pc__evbits_event(
				    w * 64 + (unsigned int)__builtin_ctzll(b));
				return true;
			}
		}
	}
	return false;
}

/* The oldest event, or an overflow bit once the ring is empty. */
static bool take(struct pc_evq *q, struct pc_event *out)
{
	if (!pc__ring_take(q->slot, q->nslots, &q->head, out) &&
	    !take_bit(q, out))
		return false;
	atomic_fetch_add_explicit(&q->taken, 1, memory_order_relaxed);
	return true;
}

int pc_evq_get(struct pc_evq *q, struct pc_event *out)
{
	if (!q || !out)
		return -EINVAL;
	return take(q, out) ? 0 : -EAGAIN;
}

static void link_waiter(struct pc_evq *q, struct waiter *w)
{
	pc__spin_lock(&q->wlock);
	w->next = NULL;
	w->linked = true;
	if (q->last)
		q->last->next = w;
	else
		q->first = w;
	q->last = w;
	/* Pairs with the poster's RMW on seq: see the top. */
	atomic_fetch_add(&q->nr_waiters, 1);
	pc__spin_unlock(&q->wlock);
}

static void unlink_waiter(struct pc_evq *q, struct waiter *w)
{
	struct waiter **p;

	pc__spin_lock(&q->wlock);
	if (w->linked) {
		struct waiter *prev = NULL;

		for (p = &q->first; *p != w; p = &(*p)->next)
			prev = *p;
		*p = w->next;
		if (q->last == w)
			q->last = prev;
		w->linked = false;
		atomic_fetch_sub(&q->nr_waiters, 1);
	}
	pc__spin_unlock(&q->wlock);
}

/* The ring holds a ticket not yet taken (perhaps not yet published). */
static bool maybe_more(struct pc_evq *q)
{
	return atomic_load(&q->tail) != atomic_load(&q->head);
}

int pc_evq_wait(struct pc_evq *q, struct pc_event *out)
{
	struct pc_thread *self = pc__thread_current();

	if (!q || !out)
		return -EINVAL;
	if (!self)
		return -EPERM;
	atomic_fetch_add(&q->nr_inside, 1);
	for (;;) {
		uintptr_t s = atomic_load(&q->seq);
		struct waiter w = { .t = self };

		if (take(q, out))
			break;
		link_waiter(q, &w);
		atomic_fetch_add(&q->nr_parking, 1);
		pc__wait_while(self, &q->seq, s, &q->nr_parking);
		unlink_waiter(q, &w);
	}
	/*
	 * Pass the baton: a waiter woken while the slot at the head was
	 * still being filled found the ring empty and slept again, having
	 * used up the wake-up of an event behind it.
	 */
	if (atomic_load(&q->nr_waiters) && maybe_more(q))
		wake_one(q);
	atomic_fetch_sub(&q->nr_inside, 1);
	return 0;
}

/* ---- handling ---- */

/*
 * Stores the new handler, then waits until the calls that began before
 * are over: an epoch flip, as SRCU does. Calls that begin after the flip
 * count in the other parity, so a steady stream of events does not hold
 * the caller up (a second reader saw 4.7 s with a plain "no drain
 * running" wait). Setters hold q->setting from the store to the end of
 * the wait: two interleaved flips reused a parity and let one setter
 * return while a call it had to wait for ran on (a second review).
 */
static void set_and_wait(struct pc_evq *q, pc_event_handler fn, void *arg)
{
	unsigned int old;

	while (atomic_exchange(&q->setting, 1))
		pause_briefly();
	pc__handler_set(&q->handler, &q->hlock, fn, arg);
	old = atomic_fetch_add(&q->epoch, 1);
	while (atomic_load(&q->calls[old & 1]))
		pause_briefly();
	atomic_store(&q->setting, 0);
}

int pc_evq_handler_set(struct pc_evq *q, pc_event_handler fn, void *arg,
		       int vcoreid, unsigned int flags)
{
	if (!q || vcoreid < 0 || vcoreid >= PC_VCORE_MAX ||
	    (flags & ~(PC_EVF_NOTIFY | PC_EVF_FALLBACK)))
		return -EINVAL;
	atomic_store(&q->vcoreid, vcoreid);
	atomic_store(&q->flags, flags);
	/*
	 * From a handler, no waiting (see above) and no flip: a flip that
	 * no one waits for could come between a setter's store and its
	 * flip, and that setter would then wait on the wrong parity.
	 */
	if (in_vcore_context())
		pc__handler_set(&q->handler, &q->hlock, fn, arg);
	else
		set_and_wait(q, fn, arg);
	return 0;
}

/*
 * Takes one event and calls the handler on it; false if there is no
 * handler or no event. The call is counted before the handler is read,
 * and the event taken only once there is one: a change that stored the
 * new handler and then flipped the epoch either waits for this call, or
 * this call reads the new handler (Dekker, seq_cst both sides), and no
 * event is taken that nobody then handles.
 */
static bool handle_one(struct pc_evq *q)
{
	struct pc_event ev;
	pc_event_handler fn;
	unsigned int e;
	void *arg;
	bool ok;

	for (;;) {
		e = atomic_load(&q->epoch);
		atomic_fetch_add(&q->calls[e & 1], 1);
		if (atomic_load(&q->epoch) == e)
			break;
		atomic_fetch_sub(&q->calls[e & 1], 1);
	}
	fn = pc__handler_get(&q->handler, &arg);
	ok = fn && take(q, &ev);
	if (ok)
		fn(&ev, arg);
	atomic_fetch_sub(&q->calls[e & 1], 1);
	return ok;
}

/* Runs @q's handler on everything in it. Vcore context. */
static void drain(struct pc_evq *q)
{
	/* Before the takes: a later post sends a new PC_EV_EVQ_READY. */
	atomic_exchange(&q->indir, 0);
	while (handle_one(q))
		;
}

static void ready_one(int id, uint32_t gen)
{
	struct pc_evq *q;

	atomic_fetch_add(&table[id].busy, 1);
	q = atomic_load(&table[id].q);
	if (q && q->gen == gen) {
		draining = q;
		drain(q);
		draining = NULL;
	}
	atomic_fetch_sub(&table[id].busy, 1);
}

/*
 * pc__evq_ready() - see internal.h. From the overflow bitmap the event
 * names no queue: every queue with a handler is drained.
 */
void pc__evq_ready(const struct pc_event *ev)
{
	uint64_t id = ev->arg[0] & 0xffffffffu;

	if (!(ev->flags & PC_EVENT_F_OVERFLOW)) {
		if (id < PC_EVQ_MAX)
			ready_one((int)id, (uint32_t)(ev->arg[0] >> 32));
		return;
	}
	for (int i = 0; i < PC_EVQ_MAX; i++)
		if (atomic_load_explicit(&table[i].q, memory_order_relaxed))
			ready_one(i, atomic_load(&table[i].gen));
}

int pc_evq_stats(struct pc_evq *q, struct pc_evq_stats *out)
{
	if (!q || !out)
		return -EINVAL;
	out->posted = atomic_load(&q->posted);
	out->overflowed = atomic_load(&q->overflowed);
	out->taken = atomic_load(&q->taken);
	out->waiters = (uint64_t)atomic_load(&q->nr_waiters);
	return 0;
}
