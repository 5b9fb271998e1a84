/*
 * sched_default.c - the default 2LS: per-vcore FIFO run queues with work
 * stealing, and a preference for the vcore a uthread last ran on.
 *
 * Placement. A uthread that becomes runnable goes to the queue of the
 * vcore it last ran on (its cache is warm there) and that vcore is woken if
 * idle; otherwise an idle vcore is woken to steal it. A new uthread goes
 * to the creating vcore's queue. So a runnable uthread never waits while
 * a vcore is idle: every push is followed by a wake-up of an idle vcore,
 * and an idle vcore steals from every queue before it parks.
 *
 * Yield. thread_paused() only stashes the uthread in its vcore's `yielded`
 * slot (nobody else touches it); the pick_next() that follows on the same
 * vcore swaps it for the queue's head under one lock acquisition. When
 * the queue is empty it steals first and runs the yielder again only if
 * there is nothing to steal: a vcore whose uthread never yields cannot
 * run its own queue, and a yield elsewhere is its chance. A yield that is
 * only that swap is made from uthread context, without the loop
 * (pc__sched_default_yield(); the fast yield of context-switch.md).
 * Picks run in vcore context, masked, and take the queue locks without
 * a nopreempt section.
 *
 * Hand-off. A uthread woken owning a mutex or semaphore unit that the
 * calling uthread released goes to that vcore's `next` slot and runs as
 * soon as the caller blocks (def_thread_handoff(), steal_next(),
 * docs/design/sync.md).
 *
 * Stealing takes half of the victim's queue (at most STEAL_MAX), oldest
 * first, so a burst created on one vcore spreads in a few steals. A vcore
 * steals when its queue is empty, and also every STEAL_EVERY picks: a
 * vcore held by a uthread that never yields cannot run its own queue.
 *
 * Being part of the library, it reaches TCBs and the vcore through the
 * internal inline accessors rather than the exported calls of sched.h
 * (examples/fifo_sched.c shows the public route); on a yield, the calls
 * cost a measurable share of the round trip.
 */
#include "internal.h"

#include <stdlib.h>

#include "../common/sys.h"

#define STEAL_MAX 32
/* Picks between two steal attempts made with work in the own queue. */
#define STEAL_EVERY 64
/* Picks from `next` in a row before the queue's head goes first. */
#define NEXT_RUN_MAX 32
/* How long a `next` must wait, its vcore not picking, to be stolen. */
#define NEXT_STEAL_NS 3000u
/*
 * How long an idle vcore leaves the others' `next` alone after a look
 * that stole nothing. Each look makes the owner's next pick a cache miss:
 * looking every 2 us or so cost a contended mutex's hand-offs on the
 * other vcore a fifth of their throughput.
 */
#define NEXT_LOOK_NS 25000u
/* An idle vcore's passes between two clock reads for the above. */
#define NEXT_LOOK_EVERY 32
/* How long the watcher parks at most (below). */
#define WATCH_NS NEXT_LOOK_NS
/*
 * Hand-offs elsewhere between two parks that make a vcore's park count
 * towards the watch (about one a microsecond): fewer cost less in RMWs
 * than a watcher's wake-ups would.
 */
#define WATCH_MIN_HANDOFFS 64u
/* Such parks in a row, with a slot full, before a vcore claims. */
#define WATCH_CLAIM_PARKS 2
/* Parks in a row with fewer after which the watcher resigns. */
#define WATCH_QUIET_PARKS 4

struct rq {
	struct pc__spinlock lock;
	struct pc_thread *head, *tail; /* handles, linked via sched data */
	atomic_int len;
	/*
	 * The owner writes these at every pick: on a line that stealers
	 * read only now and then (steal_next()). Read with `len` at each of
	 * an idle vcore's passes, they made every pick here a cache miss
	 * (about 100 ns on this VM).
	 */
	_Alignas(PC_CACHELINE) _Atomic(struct pc_thread *) next;
	atomic_int taking;   /* the owner takes `next` (slot_take()) */
	atomic_int stealing; /* a stealer claims it (slot_steal()) */
	atomic_uint picks;         /* written by the owner vcore only */
	atomic_uint handoffs;      /* written by the owner vcore only */
	struct pc_thread *yielded; /* owner vcore only */
	uint32_t rand;             /* owner vcore only */
	uint32_t next_run;         /* owner: picks from `next` in a row */
	/* Owner: the victim's `next` at its last look, for steal_next(). */
	struct pc_thread *seen;
	uint64_t seen_at;
	unsigned int seen_picks;
	int seen_vcore;      /* -1: none watched */
	uint64_t look_at;    /* no look at the others' `next` before this */
	unsigned int steal_next_calls;
	/* Owner: the sum of handoffs at its last park, for watch_on(). */
	unsigned int watch_sum;
	unsigned int watch_parks; /* of this idleness, counting towards it */
	unsigned int watch_quiet; /* the watcher's, in a row, that did not */
} __attribute__((aligned(PC_CACHELINE)));

struct node {
	struct pc_thread *next;
};

static struct rq *rqs;
static atomic_int nr_seen; /* highest vcoreid seen, plus one */

/*
 * The watcher's vcore id plus one, or 0: an idle vcore that parks with a
 * time-out and looks at the hand-off slots at each wake-up, so that a
 * hand-off need not wake anybody (docs/design/vcore-idle.md, "The
 * watcher"). On a line of its own: every hand-off reads it.
 */
static struct {
	_Alignas(PC_CACHELINE) atomic_int vcore;
} watcher;

static struct node *node_of(struct pc_thread *t)
{
	return (struct node *)pc__unhandle_raw(t)->sched_data;
}

static int self_id(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	return vc ? vc->id : -1;
}

/* Appends the chain @head..@tail of @n uthreads to @rq. */
static void append_locked(struct rq *rq, struct pc_thread *head,
			  struct pc_thread *tail, int n)
{
	node_of(tail)->next = NULL;
	if (rq->tail)
		node_of(rq->tail)->next = head;
	else
		rq->head = head;
	rq->tail = tail;
	atomic_store_explicit(&rq->len,
			      atomic_load_explicit(&rq->len,
						   memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void push_locked(struct rq *rq, struct pc_thread *t)
{
	append_locked(rq, t, t, 1);
}

static struct pc_thread *pop_locked(struct rq *rq)
{
	struct pc_thread *t = rq->head;

	if (!t)
		return NULL;
	rq->head = node_of(t)->next;
	if (!rq->head)
		rq->tail = NULL;
	atomic_store_explicit(&rq->len,
			      atomic_load_explicit(&rq->len,
						   memory_order_relaxed) - 1,
			      memory_order_relaxed);
	return t;
}

/*
 * A yield's turn: @y goes to the tail and the head comes off, @rq's
 * length unchanged; @y itself if @rq is empty.
 */
static struct pc_thread *swap_locked(struct rq *rq, struct pc_thread *y)
{
	struct pc_thread *t = rq->head;

	if (!t)
		return y;
	node_of(y)->next = NULL;
	rq->head = node_of(t)->next;
	if (rq->head)
		node_of(rq->tail)->next = y;
	else
		rq->head = y;
	rq->tail = y;
	return t;
}

/* Empties @rq; returns its uthreads as a list linked through the nodes. */
static struct pc_thread *take_all(struct rq *rq)
{
	struct pc_thread *list;

	pc__spin_lock(&rq->lock);
	list = rq->head;
	rq->head = rq->tail = NULL;
	atomic_store(&rq->len, 0);
	pc__spin_unlock(&rq->lock);
	return list;
}

static void push(int vcoreid, struct pc_thread *t)
{
	struct rq *rq = &rqs[vcoreid];

	pc__spin_lock(&rq->lock);
	push_locked(rq, t);
	pc__spin_unlock(&rq->lock);
}

static inline void note_vcore(int vcoreid)
{
	int seen = atomic_load_explicit(&nr_seen, memory_order_relaxed);

	while (PC_UNLIKELY(vcoreid >= seen) &&
	       !atomic_compare_exchange_weak(&nr_seen, &seen, vcoreid + 1))
		;
}

static int def_init(int max_vcores)
{
	rqs = aligned_alloc(PC_CACHELINE, sizeof(*rqs) * (size_t)max_vcores);
	if (!rqs)
		return -ENOMEM;
	for (int i = 0; i < max_vcores; i++) {
		rqs[i] = (struct rq){ .lock = PC_SPINLOCK_INIT,
				      .rand = (uint32_t)i * 2654435761u + 1,
				      .seen_vcore = -1 };
	}
	pc__sched_default_refresh();
	return 0;
}

/* The lowest online vcore id, or 0 if none is (then 0 is coming up). */
static int first_online(void)
{
	int n = atomic_load(&nr_seen);

	for (int v = 0; v < n; v++)
		if (pc_sched_vcore_online(v))
			return v;
	return 0;
}

/*
 * Race: a push checked that vcore @v was online, then @v went offline and
 * its leave drained its queue before the push landed. The leave marks the
 * vcore offline before it drains, under the queue lock, so a pusher that
 * rechecks after its push sees offline whenever its push missed the drain.
 * Moves whatever sits in @v's queue to an online vcore.
 */
static void rescue_offline(int v)
{
	while (!pc_sched_vcore_online(v)) {
		struct rq *rq = &rqs[v];
		struct pc_thread *list, *t;
		int to = first_online();

		if (to == v)
			return; /* @v is back online, or none is: stealers scan it */
		list = take_all(rq);
		if (!list)
			return;
		while ((t = list)) {
			list = node_of(t)->next;
			push(to, t);
		}
		v = to; /* it may have gone offline meanwhile, too */
	}
}

static void def_thread_runnable(struct pc_thread *t)
{
	int self = self_id(), target;
	int last = atomic_load_explicit(&pc__unhandle_raw(t)->last_vcore,
					memory_order_relaxed);

	if (last >= 0 && last != self && pc_sched_vcore_online(last))
		target = last;
	else if (self >= 0)
		target = self;
	else
		target = last >= 0 ? last : first_online();
	note_vcore(target);
	push(target, t);
	if (target != self)
		rescue_offline(target);
	if (target == self || !pc_sched_wake_vcore(target))
		pc_sched_wake();
}

/*
 * A wake-up for a uthread this vcore queued or handed off. Alone, there
 * is no idle vcore to wake (its RMW is a tenth of a ping-pong's round
 * trip); a vcore granted meanwhile spins first, and looks at the queues
 * and slots itself.
 */
static void wake_others(void)
{
	if (atomic_load_explicit(&pc__rt.nr_vcores, memory_order_relaxed) > 1)
		pc_sched_wake();
}

/*
 * The hand-off slot: @t was woken owning what the calling uthread
 * released, and goes to that vcore's `next`. The caller usually blocks
 * on the same mutex next, and its vcore then switches to @t at once; a
 * push to @t's own vcore cost a cross-core wake-up per acquisition, and
 * the lock waited through each (docs/design/sync.md). An occupant the
 * slot already had joins the queue. The wake-up is for a caller that
 * does not block soon: an idle vcore then steals the slot (steal_next()).
 */
static void def_thread_handoff(struct pc_thread *t)
{
	int self = self_id();
	struct rq *rq = &rqs[self];
	struct pc_thread *old;

	note_vcore(self);
	/*
	 * Stealers only empty a full slot, so an empty one stays empty
	 * until this store: no exchange needed then.
	 */
	atomic_store_explicit(&rq->handoffs,
			      atomic_load_explicit(&rq->handoffs,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	old = atomic_load_explicit(&rq->next, memory_order_relaxed);
	if (!old)
		atomic_store_explicit(&rq->next, t, memory_order_release);
	else if ((old = atomic_exchange(&rq->next, t)))
		push(self, old);
	/*
	 * Race: the load of the watcher may pass the store of the slot (x86
	 * reorders them), and read a watcher that is resigning and does not
	 * see the slot. Its resignation fences after it (watch_resign()),
	 * so this reads 0 or the slot is seen; the compiler barrier keeps
	 * the load after the store in the code (the fence's fast side).
	 *
	 * Race: an occupant moved to the queue. A resigning watcher looks
	 * at the slots only, and a second reader stranded the occupant so:
	 * the queue's push wakes as any push does.
	 */
	atomic_signal_fence(memory_order_seq_cst);
	if (old || !atomic_load_explicit(&watcher.vcore, memory_order_relaxed))
		wake_others();
}

static void def_thread_paused(struct pc_thread *t)
{
	struct rq *rq = &rqs[pc__vcore_self()->id];

	PC_ASSERT(!rq->yielded);
	rq->yielded = t;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Takes up to half of @victim's queue; returns the first, queues the rest. */
static struct pc_thread *steal_from(struct rq *victim, struct rq *mine)
{
	struct pc_thread *batch[STEAL_MAX], *first;
	int n = 0, want;

	/*
	 * A blocking lock, not a trylock: a vcore's last look before it
	 * parks must not skip a queue whose lock another stealer holds, or
	 * both could miss the work (vcore.c's wake protocol).
	 */
	pc__spin_lock_masked(&victim->lock);
	want = (atomic_load_explicit(&victim->len, memory_order_relaxed) + 1) /
	       2;
	while (n < want && n < STEAL_MAX) {
		struct pc_thread *t = pop_locked(victim);

		if (!t)
			break;
		batch[n++] = t;
	}
	pc__spin_unlock_masked(&victim->lock);
	if (n == 0)
		return NULL;
	first = batch[0];
	if (n > 1) {
		pc__spin_lock_masked(&mine->lock);
		for (int i = 1; i < n; i++)
			push_locked(mine, batch[i]);
		pc__spin_unlock_masked(&mine->lock);
	}
	return first;
}

/*
 * The owner's take of its slot, and a stealer's (steal_next()). Both
 * once took it by an RMW, which at a block's hand-off costs 6 ns of a
 * 60 ns channel hand-off (docs/design/sync.md, "The slot's take"). The
 * owner takes it at every hand-off, a stealer after microseconds of the
 * owner not picking: so the owner takes it with plain accesses, and a
 * stealer pays for both with the asymmetric fence. The owner raises
 * `taking` and then looks at `stealing`; a stealer raises `stealing`,
 * fences, and then looks at `taking`: one of the two sees the other's
 * flag (pc__asym_fence()).
 *
 * Races:
 *  - the owner takes while a stealer steals: the stealer sees `taking`
 *    and gives up, or the owner sees `stealing` and takes by an
 *    exchange, which the stealer's CAS is atomic with;
 *  - the stealer sees `taking` lowered: the owner's plain take is over,
 *    and visible with it (release, acquire), so the CAS sees the slot
 *    emptied, or filled again by a later hand-off, which may be stolen;
 *  - two stealers: one claim at a time (an exchange on `stealing`);
 *  - the owner's hand-off fills the slot meanwhile: it stores into an
 *    empty slot, which no stealer writes, and exchanges a full one;
 *  - no membarrier (aarch64): the owner always takes by exchange.
 */
static PC_INLINE_HOT struct pc_thread *slot_take(struct rq *rq)
{
	struct pc_thread *t;

	if (!pc__asym_fence_ok())
		return atomic_exchange(&rq->next, NULL);
	atomic_store_explicit(&rq->taking, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the fence's fast side */
	if (atomic_load_explicit(&rq->stealing, memory_order_relaxed)) {
		t = atomic_exchange(&rq->next, NULL);
	} else {
		t = atomic_load_explicit(&rq->next, memory_order_relaxed);
		atomic_store_explicit(&rq->next, NULL, memory_order_relaxed);
	}
	atomic_store_explicit(&rq->taking, 0, memory_order_release);
	return t;
}

/* Steals @t, seen in @rq's slot; NULL if it is gone or being taken. */
static struct pc_thread *slot_steal(struct rq *rq, struct pc_thread *t)
{
	bool stolen = false;

	if (atomic_exchange(&rq->stealing, 1))
		return NULL;
	if (pc__asym_fence_ok())
		pc__asym_fence();
	if (!atomic_load_explicit(&rq->taking, memory_order_acquire))
		stolen = atomic_compare_exchange_strong(&rq->next, &t, NULL);
	atomic_store_explicit(&rq->stealing, 0, memory_order_release);
	return stolen ? t : NULL;
}

/* One look at another vcore's `next` (its occupant and its vcore's picks). */
static struct pc_thread *look_next(struct rq *rq, unsigned int *picks)
{
	/* Acquire: @picks is no older than the occupant (weak memory). */
	struct pc_thread *t = atomic_load_explicit(&rq->next,
						   memory_order_acquire);

	*picks = atomic_load_explicit(&rq->picks, memory_order_relaxed);
	return t;
}

/* steal_next()'s first look: watches the first full `next` it finds. */
static void watch_next(struct rq *mine, int vcoreid, uint64_t now)
{
	int n = atomic_load_explicit(&nr_seen, memory_order_relaxed);

	for (int v = 0; v < n; v++) {
		unsigned int picks;
		struct pc_thread *t;

		if (v == vcoreid || !(t = look_next(&rqs[v], &picks)))
			continue;
		mine->seen_vcore = v;
		mine->seen = t;
		mine->seen_picks = picks;
		mine->seen_at = now;
		return;
	}
	mine->look_at = now + NEXT_LOOK_NS;
}

/* steal_next()'s second look: steals the watched `next` if unchanged. */
static struct pc_thread *steal_seen(struct rq *mine, uint64_t now)
{
	struct rq *rq = &rqs[mine->seen_vcore];
	unsigned int picks;
	struct pc_thread *t = look_next(rq, &picks);

	mine->seen_vcore = -1;
	if (t && t == mine->seen && picks == mine->seen_picks &&
	    (t = slot_steal(rq, t)))
		return t;
	mine->look_at = now + NEXT_LOOK_NS;
	return NULL;
}

/*
 * Takes another vcore's `next`, but only once that vcore has not picked
 * for NEXT_STEAL_NS since this one first saw the slot so: the uthread
 * that filled it usually blocks within a critical section's time and its
 * vcore runs the slot at once, warm and without a wake-up (Go's stealers
 * leave runnext alone for about 3 us too). One candidate at a time, seen
 * twice: at a first look, and again NEXT_STEAL_NS later. A look that
 * steals nothing is followed by none for NEXT_LOOK_NS, so a slot that
 * nobody runs waits NEXT_LOOK_NS + NEXT_STEAL_NS at most for a spinning
 * vcore. A vcore that parks meanwhile comes back when its next look is
 * due (pc__sched_default_recheck_ns()).
 */
static __attribute__((noinline)) struct pc_thread *steal_next(int vcoreid)
{
	struct rq *mine = &rqs[vcoreid];
	uint64_t now;

	if (++mine->steal_next_calls % NEXT_LOOK_EVERY)
		return NULL;
	now = pc__now_ns();
	if (mine->seen_vcore >= 0) {
		if (now - mine->seen_at < NEXT_STEAL_NS)
			return NULL;
		return steal_seen(mine, now);
	}
	if (now < mine->look_at)
		return NULL;
	watch_next(mine, vcoreid, now);
	return NULL;
}

/* How long until steal_next() on @mine looks again; 1 at least. */
static uint64_t next_look_in(const struct rq *mine)
{
	uint64_t now = pc__now_ns();
	uint64_t due = mine->seen_vcore >= 0 ? mine->seen_at + NEXT_STEAL_NS
					     : mine->look_at;

	return due > now ? due - now : 1;
}

/* Whether a vcore other than @vcoreid holds a uthread in its `next`. */
static bool next_full_elsewhere(int vcoreid)
{
	int n = atomic_load_explicit(&nr_seen, memory_order_relaxed);

	for (int v = 0; v < n; v++)
		if (v != vcoreid &&
		    atomic_load_explicit(&rqs[v].next, memory_order_relaxed))
			return true;
	return false;
}

/* The hand-offs made on vcores other than @vcoreid, summed. */
static unsigned int handoffs_elsewhere(int vcoreid)
{
	int n = atomic_load_explicit(&nr_seen, memory_order_relaxed);
	unsigned int sum = 0;

	for (int v = 0; v < n; v++)
		if (v != vcoreid)
			sum += atomic_load_explicit(&rqs[v].handoffs,
						    memory_order_relaxed);
	return sum;
}

/*
 * The watcher steps down: the slow side of the asymmetric fence with
 * def_thread_handoff()'s load of the watcher. A hand-off that read this
 * vcore as the watcher has its slot visible to looks after this; one
 * that reads 0 makes pc_sched_wake()'s RMW.
 */
static void watch_resign(void)
{
	atomic_store(&watcher.vcore, 0);
	pc__asym_fence();
}

/*
 * Whether parking vcore @vcoreid watches through its park. A park counts
 * towards the watch if other vcores made WATCH_MIN_HANDOFFS hand-offs
 * since its last park and one of them holds a uthread in its slot now.
 * It claims at WATCH_CLAIM_PARKS such parks in a row within one
 * idleness: a vcore often woken for work would pay a resignation's
 * fence each time. The watcher resigns after WATCH_QUIET_PARKS parks in
 * a row with fewer hand-offs than that, a full slot or not. No claim
 * without membarrier(): the hand-off's load would then need a fence of
 * its own.
 */
static bool watch_on(struct rq *mine, int vcoreid, bool full)
{
	unsigned int sum = handoffs_elsewhere(vcoreid);
	bool handing = sum - mine->watch_sum >= WATCH_MIN_HANDOFFS;
	int none = 0;

	mine->watch_sum = sum;
	if (atomic_load_explicit(&watcher.vcore, memory_order_relaxed) ==
	    vcoreid + 1) {
		if (handing)
			mine->watch_quiet = 0;
		else if (++mine->watch_quiet >= WATCH_QUIET_PARKS) {
			mine->watch_parks = 0; /* a claim starts over */
			watch_resign();
			return false;
		}
		return true;
	}
	mine->watch_quiet = 0;
	mine->watch_parks = handing && full ? mine->watch_parks + 1 : 0;
	return mine->watch_parks >= WATCH_CLAIM_PARKS && pc__asym_fence_ok() &&
	       atomic_compare_exchange_strong(&watcher.vcore, &none,
					      vcoreid + 1);
}

/*
 * pc__sched_default_recheck_ns() - see internal.h.
 *
 * Race: a vcore parks while a uthread that does not block soon fills a
 * slot. The hand-off's pc_sched_wake() and the park are vcore.c's Dekker
 * pair: either the waker sees the vcore parked and wakes it, or this
 * read, after the park's RMW, sees the slot full, and the park ends
 * when steal_next() looks next. Taking the slot here instead moved the
 * uthreads of a contended mutex to the parking vcore at every park: 30%
 * slower. A hand-off that saw a watcher wakes nobody: the watcher's park
 * ends within WATCH_NS, and a resignation fences before its look here.
 */
uint64_t pc__sched_default_recheck_ns(int vcoreid)
{
	struct rq *mine;
	bool watching;

	/*
	 * Its hand-off, not its table: a program may install a copy of the
	 * table (a second reader stranded a uthread so, 278 rounds in 2000).
	 */
	if (!rqs || pc__rt.ops->thread_handoff != def_thread_handoff)
		return 0;
	mine = &rqs[vcoreid];
	watching = watch_on(mine, vcoreid, next_full_elsewhere(vcoreid));
	/* Again: after a resignation's fence, a slot filled meanwhile shows. */
	if (next_full_elsewhere(vcoreid))
		return next_look_in(mine);
	return watching ? WATCH_NS : 0;
}

/*
 * pc__sched_default_idle_ends() - see internal.h. A hand-off that read
 * this vcore as the watcher left its slot for it: after the fence, a
 * full slot is seen here, and a parked vcore woken for it. The wake's
 * RMW and a concurrent park are vcore.c's Dekker pair, and the fence
 * comes before it.
 */
void pc__sched_default_idle_ends(int vcoreid)
{
	if (!rqs)
		return;
	rqs[vcoreid].watch_parks = 0;
	if (atomic_load_explicit(&watcher.vcore, memory_order_relaxed) !=
	    vcoreid + 1)
		return;
	watch_resign();
	if (next_full_elsewhere(vcoreid))
		pc_sched_wake();
}

/*
 * take_next()'s swap, once its slot's uthreads have run NEXT_RUN_MAX in a
 * row: the queue's head goes first and @t, the occupant taken, to the
 * tail. Out of line: inlined, its registers made every hand-off's take
 * save and restore six (14 instructions, 0.5 ns; sync.md).
 */
static __attribute__((noinline)) struct pc_thread *
next_run_over(struct rq *rq, struct pc_thread *t)
{
	rq->next_run = 0;
	pc__spin_lock_masked(&rq->lock);
	t = swap_locked(rq, t);
	pc__spin_unlock_masked(&rq->lock);
	wake_others();
	return t;
}

/*
 * The hand-off slot's occupant, or NULL. After NEXT_RUN_MAX in a row the
 * queue's head goes first and the occupant to the tail: two uthreads
 * handing a mutex back and forth would otherwise keep the queue waiting
 * for as long as they run.
 *
 * Race: the occupant's hand-off saw a watcher, which is resigning and
 * looks at the slots only (a second reader's interleaving). Moved to the
 * queue, it is woken for as any push is, as in def_thread_handoff().
 */
static PC_INLINE_HOT struct pc_thread *take_next(struct rq *rq)
{
	struct pc_thread *t;

	if (!atomic_load_explicit(&rq->next, memory_order_relaxed) ||
	    !(t = slot_take(rq))) {
		rq->next_run = 0;
		return NULL;
	}
	if (++rq->next_run <= NEXT_RUN_MAX ||
	    !atomic_load_explicit(&rq->len, memory_order_relaxed))
		return t;
	return next_run_over(rq, t);
}

/* Out of line: a pick that does not steal keeps a small frame. */
static __attribute__((noinline)) struct pc_thread *steal(int vcoreid)
{
	struct rq *mine = &rqs[vcoreid];
	int n = atomic_load_explicit(&nr_seen, memory_order_relaxed);
	int start;

	if (n <= 1)
		return NULL;
	start = (int)(next_rand(&mine->rand) % (uint32_t)n);
	for (int i = 0; i < n; i++) {
		int v = (start + i) % n;
		struct pc_thread *t;

		if (v == vcoreid ||
		    !atomic_load_explicit(&rqs[v].len, memory_order_relaxed))
			continue;
		t = steal_from(&rqs[v], mine);
		if (t)
			return t;
	}
	return NULL;
}

/* Queues @y (yielded) behind what this vcore has; returns @t. */
static struct pc_thread *requeue_yielded(struct rq *rq, struct pc_thread *y,
					 struct pc_thread *t)
{
	rq->yielded = NULL;
	if (y) {
		pc__spin_lock_masked(&rq->lock);
		push_locked(rq, y);
		pc__spin_unlock_masked(&rq->lock);
	}
	return t;
}

static struct pc_thread *pick(int vcoreid)
{
	struct rq *rq = &rqs[vcoreid];
	struct pc_thread *y = rq->yielded, *t;
	unsigned int picks =
		atomic_load_explicit(&rq->picks, memory_order_relaxed) + 1;

	note_vcore(vcoreid);
	atomic_store_explicit(&rq->picks, picks, memory_order_relaxed);
	/*
	 * Now and then steal first, even with work here: a vcore whose
	 * uthread never yields cannot run its own queue, and vcores that
	 * always have work of their own would otherwise never look at it.
	 */
	if (PC_UNLIKELY(picks % STEAL_EVERY == 0)) {
		t = steal(vcoreid);
		if (t)
			return requeue_yielded(rq, y, t);
	}
	t = take_next(rq);
	if (t)
		return requeue_yielded(rq, y, t);
	if (y) {
		rq->yielded = NULL;
		if (!atomic_load_explicit(&rq->len, memory_order_relaxed)) {
			/*
			 * Nothing queued here: uthreads queued on a vcore
			 * whose uthread never yields go first, else they
			 * would wait for as long as it runs.
			 */
			t = steal(vcoreid);
			return t ? requeue_yielded(rq, y, t) : y;
		}
		pc__spin_lock_masked(&rq->lock);
		t = swap_locked(rq, y);
		pc__spin_unlock_masked(&rq->lock);
		return t;
	}
	if (atomic_load_explicit(&rq->len, memory_order_relaxed)) {
		pc__spin_lock_masked(&rq->lock);
		t = pop_locked(rq);
		pc__spin_unlock_masked(&rq->lock);
		if (t)
			return t;
	}
	t = steal(vcoreid);
	return t ? t : steal_next(vcoreid);
}

static struct pc_thread *def_pick_next(int vcoreid)
{
	struct pc_thread *t = pick(vcoreid);

	if (PC_UNLIKELY(atomic_load_explicit(&pc__autoscale_on,
					     memory_order_relaxed)))
		pc__autoscale_pick(t != NULL,
				   atomic_load_explicit(&rqs[vcoreid].len,
							memory_order_relaxed));
	return t;
}

/*
 * Whether a pick may be made outside the loop (a fast yield or block):
 * the default 2LS is set up and picks itself, not a copy of its table
 * with its own pick_next, which must see every pick (a second reader's
 * wrapper counted 82,000 picks for 5.2 million yields), and no estimate
 * is fed from the picks. Kept in one flag, set again whenever one of the
 * three changes (pc__sched_default_refresh()): their loads were eight
 * instructions of every fast block and yield.
 */
static atomic_bool own_picks;

static bool picks_own(void)
{
	return atomic_load_explicit(&own_picks, memory_order_relaxed);
}

/* pc__sched_default_refresh() - see internal.h. */
void pc__sched_default_refresh(void)
{
	atomic_store(&own_picks,
		     rqs && pc__rt.ops && pc__rt.ops->pick_next == def_pick_next &&
			     !atomic_load(&pc__autoscale_on));
}

/*
 * pc__sched_default_yield() - see internal.h. What pick() would do for
 * @y's yield, when that is only a swap with the queue's head: nothing in
 * `next`, no steal due, no estimate to feed. Else NULL, with nothing
 * changed, and the caller leaves for the loop. Its pick count moves as
 * a pick's would (steal_next() watches it).
 */
struct pc_thread *pc__sched_default_yield(int vcoreid, struct pc_thread *y)
{
	struct rq *rq;
	struct pc_thread *t, *h = pc__handle(y);
	unsigned int picks;

	if (!picks_own() || pc__rt.ops->thread_paused != def_thread_paused)
		return NULL;
	rq = &rqs[vcoreid];
	picks = atomic_load_explicit(&rq->picks, memory_order_relaxed) + 1;
	if (picks % STEAL_EVERY == 0 ||
	    atomic_load_explicit(&rq->next, memory_order_relaxed) ||
	    !atomic_load_explicit(&rq->len, memory_order_relaxed))
		return NULL;
	/*
	 * One try, in the caller's section: a stealer holds it now and
	 * then, and the loop will wait for it. Without the wait's loop here
	 * the function keeps a smaller frame.
	 */
	if (!pc__spin_trylock_masked(&rq->lock))
		return NULL;
	t = swap_locked(rq, h);
	pc__spin_unlock_masked(&rq->lock);
	if (t == h)
		return NULL; /* stolen empty meanwhile: the loop steals too */
	atomic_store_explicit(&rq->picks, picks, memory_order_relaxed);
	rq->next_run = 0;
	return pc__unhandle_raw(t);
}

/*
 * pc__sched_default_next_ready() - see internal.h. What pick() checks
 * before its take_next(), with nothing yielded (a block, not a yield):
 * picks_own(), as for a fast yield, and no steal due.
 */
bool pc__sched_default_next_ready(int vcoreid)
{
	struct rq *rq;

	if (!picks_own())
		return false;
	rq = &rqs[vcoreid];
	return (atomic_load_explicit(&rq->picks, memory_order_relaxed) + 1) %
			       STEAL_EVERY &&
	       atomic_load_explicit(&rq->next, memory_order_relaxed);
}

/*
 * pc__sched_default_take_next() - see internal.h. pick()'s take_next(),
 * counted as a pick (steal_next() watches the count); NULL if a stealer
 * emptied the slot since pc__sched_default_next_ready().
 */
static PC_INLINE_HOT struct pc_thread *take_counted(int vcoreid)
{
	struct rq *rq = &rqs[vcoreid];
	struct pc_thread *t = take_next(rq);

	if (!t)
		return NULL;
	atomic_store_explicit(
	    &rq->picks, atomic_load_explicit(&rq->picks, memory_order_relaxed) + 1,
	    memory_order_relaxed);
	return pc__unhandle_raw(t);
}

struct pc_thread *pc__sched_default_take_next(int vcoreid)
{
	return take_counted(vcoreid);
}

/* pc__sched_default_take_ready() - see internal.h. */
struct pc_thread *pc__sched_default_take_ready(int vcoreid)
{
	if (!pc__sched_default_next_ready(vcoreid))
		return NULL;
	return take_counted(vcoreid);
}

/* Appends the chain @head..@tail of @n uthreads to vcore @v's queue. */
static void push_chain(int v, struct pc_thread *head, struct pc_thread *tail,
		       int n)
{
	struct rq *rq = &rqs[v];

	pc__spin_lock(&rq->lock);
	append_locked(rq, head, tail, n);
	pc__spin_unlock(&rq->lock);
}

/*
 * Moves everything queued on @vcoreid to the vcores that stay online,
 * dealt round-robin into one chain per heir and pushed a chain at a time:
 * this runs under the arbiter's grant_lock (so the online set is stable),
 * and a lock per uthread made a leave with thousands queued take
 * milliseconds that every grant and preemption waited for.
 */
static void def_vcore_leaving(int vcoreid)
{
	struct rq *rq = &rqs[vcoreid];
	struct pc_thread *list, *t;
	struct pc_thread *head[PC_VCORE_MAX], *tail[PC_VCORE_MAX];
	int heir[PC_VCORE_MAX], count[PC_VCORE_MAX], nh = 0, i = 0;

	list = take_all(rq);
	t = atomic_exchange(&rq->next, NULL);
	if (t) {
		node_of(t)->next = list;
		list = t;
	}
	if (rq->yielded) {
		t = rq->yielded;
		rq->yielded = NULL;
		node_of(t)->next = list;
		list = t;
	}
	if (!list)
		return;
	/* Every id, not just those seen in pick_next(). */
	for (int v = 0; v < PC_VCORE_MAX; v++)
		if (v != vcoreid && pc_sched_vcore_online(v))
			heir[nh++] = v;
	if (nh == 0)
		heir[nh++] = first_online(); /* none: vcore 0 */
	for (int h = 0; h < nh; h++) {
		head[h] = NULL;
		count[h] = 0;
	}
	while ((t = list)) {
		list = node_of(t)->next;
		if (head[i])
			node_of(tail[i])->next = t;
		else
			head[i] = t;
		tail[i] = t;
		count[i]++;
		i = (i + 1) % nh;
	}
	/*
	 * No wake-up here: the leaving vcore wakes one once grant_lock is
	 * released (pc__vcore_wait_offline()). Woken under the lock, a vcore
	 * sharing the CPU ran at once while the holder kept the lock until
	 * its next time slice: 1-7 ms for the next grant or preemption.
	 */
	for (int h = 0; h < nh; h++)
		if (head[h])
			push_chain(heir[h], head[h], tail[h], count[h]);
}

/* For the ticks: what waits in @vcoreid's queue and slot. */
static unsigned int def_queued(int vcoreid)
{
	struct rq *rq = &rqs[vcoreid];

	return (unsigned int)atomic_load_explicit(&rq->len,
						  memory_order_relaxed) +
	       (atomic_load_explicit(&rq->next, memory_order_relaxed) != NULL);
}

static const struct pc_sched_ops default_ops = {
	.name = "default",
	.init = def_init,
	.pick_next = def_pick_next,
	.thread_runnable = def_thread_runnable,
	.thread_paused = def_thread_paused,
	.vcore_leaving = def_vcore_leaving,
	.thread_handoff = def_thread_handoff,
	.queued = def_queued,
};

const struct pc_sched_ops *pc_sched_default(void)
{
	return &default_ops;
}
