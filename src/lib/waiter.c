/*
 * waiter.c - the FIFO of waiters under every blocking primitive, and the
 * hand-off that makes the head the owner before it runs (seed 002's
 * queues with owners). The protocol and its races: docs/design/sync.md.
 */
#include "internal.h"

#include "../common/sys.h"

/* A plain thread's owner tag: an address of its own, odd. */
static __thread char thread_anchor;

void *pc__sync_thread_tag(void)
{
	return (void *)((uintptr_t)&thread_anchor | 1);
}

void *pc__sync_owner(void)
{
	void *self = pc__sync_self();

	return self ? self : (void *)((uintptr_t)pc__vcore_self() | 1);
}

struct pc__waiter *pc__waitq_pop(struct pc__waitq *q)
{
	struct pc__waiter *w = q->head;

	if (w) {
		q->head = w->next;
		if (q->head)
			q->head->prev = NULL;
		else
			q->tail = NULL;
		atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
	}
	return w;
}

/*
 * In constant time: a walk from the head, under the primitive's lock,
 * made every time-out cost the whole queue, and with 2000 waiters the
 * walks outlasted the deadlines (a second reader saw the provisioner
 * stress slow to a convoy: 40 times fewer locks a second, and a hang).
 */
bool pc__waitq_remove(struct pc__waitq *q, struct pc__waiter *w)
{
	if (atomic_load_explicit(&w->in, memory_order_relaxed) != q)
		return false;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
	return true;
}

/*
 * How long the first waiter spins before it blocks. 0: not at all.
 * 1 us once halved the cost of an acquisition between two contenders on
 * two vcores (1080 -> 490 ns); since the hand-off slot it makes them six
 * times slower (docs/design/sync.md).
 */
#ifndef PC_SYNC_SPIN_NS
#define PC_SYNC_SPIN_NS 0u
#endif

/* Spins up to PC_SYNC_SPIN_NS for the grant; true if it came. */
static bool spin_for_grant(struct pc__waiter *w)
{
	uint64_t start = 0;

	for (unsigned int i = 0;; i++) {
		if (atomic_load_explicit(w->granted, memory_order_acquire) &
		    PC_W_GRANTED)
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

/*
 * A uthread's block, in vcore context once it is saved: BLOCKED goes
 * into the word by a CAS from "no outcome", so the outcome's setter, an
 * RMW on the same word, comes before it (and the CAS fails: the uthread
 * runs on) or after it (and sees BLOCKED: it makes the uthread run).
 * Exactly one of the two runs it, with no second word to claim.
 *
 * A cancellable block then looks for a request: the canceller writes
 * its request, then reads the word (pc_sync_cancel()), so one of the two
 * sees the other. Finding one, the block marks itself cancelled, and
 * runs on if it did (mark_cancelled()).
 */
struct block_req {
	atomic_uintptr_t *word;
	uintptr_t waiting;
	bool cancellable;
};

/*
 * Under @t's cancel_lock: marks @t's wait, blocked as @blocked with no
 * outcome yet, timed out and cancelled if a request is pending, and
 * consumes the request. True if it did: the caller makes @t run. The
 * request goes with the mark, under the lock, so one request ends one
 * wait: a canceller delayed between its request and its look at the
 * word once found the request consumed by the wait it started in, and
 * then marked the next one, an untimed wait that returned -ETIMEDOUT (a
 * second reader's review).
 */
static bool mark_cancelled(struct pc_thread *t, uintptr_t blocked)
{
	if (!atomic_load_explicit(&t->cancel_req, memory_order_relaxed) ||
	    !pc__word_mark(t, &blocked,
			   blocked | PC_W_TIMEDOUT | PC_W_CANCELLED))
		return false;
	atomic_store_explicit(&t->cancel_req, 0, memory_order_relaxed);
	return true;
}

/*
 * A blocker's look for a cancellation requested before its block showed:
 * true if it found one and marked its wait, @blocked, cancelled itself.
 * If the mark fails, an outcome came first and @t may already run
 * elsewhere, even exit and be reused: the lock is never reset, and
 * nothing is written.
 */
static bool cancel_pending(struct pc_thread *t, uintptr_t blocked)
{
	bool marked;

	if (!atomic_load(&t->cancel_req))
		return false;
	pc__spin_lock_masked(&t->cancel_lock);
	marked = mark_cancelled(t, blocked);
	pc__spin_unlock_masked(&t->cancel_lock);
	return marked;
}

static bool block_publish(struct pc_thread *t, const struct block_req *r)
{
	uintptr_t v = r->waiting;
	uintptr_t blocked = pc__waiter_blocked_word(v, r->cancellable);

	if (!atomic_compare_exchange_strong(r->word, &v, blocked))
		return false;
	return !r->cancellable || !cancel_pending(t, blocked);
}

static void block_cb(struct pc_thread *t, void *arg)
{
	/*
	 * Copied first: once @t is published blocked, a waker may run it
	 * elsewhere and its stack, which holds *arg, move on.
	 */
	struct block_req r = *(struct block_req *)arg;

	if (!block_publish(t, &r))
		pc__thread_run(t);
	pc__vcore_loop(pc__vcore_self());
}

/*
 * A fast block (docs/design/sync.md), in a nopreempt section of depth 1
 * and ready (pc__vcore_block_ready()): the uthread publishes its block
 * itself and switches straight to the 2LS's hand-off slot's uthread.
 * Published before its context is saved, it may be woken and taken by
 * another vcore at once: its cleared stack pointer makes the taker wait
 * for the save, as for a fast yield. The section keeps a notification
 * from saving it in between. A grant that came first fails the publish:
 * it runs on.
 */
static int block_fast(struct pc__vcore *vc, struct pc_thread *t,
		      const struct block_req *r)
{
	t->err = *vc->errno_loc; /* before a taker can restore it */
	t->ctx.sp = NULL;
	if (!block_publish(t, r)) {
		pc__nopreempt_exit();
		return 0;
	}
	return pc__vcore_block_leave(vc, t, PC_BLOCK_PICK);
}

/* Blocks uthread @w->t until its wait has an outcome. */
static int block_once(struct pc__waiter *w, bool cancellable)
{
	struct block_req r = { w->granted, w->waiting, cancellable };
	struct pc__vcore *vc = pc__vcore_self();

	if (PC_FAST_BLOCK && !vc->irq.nopreempt) {
		vc->irq.nopreempt = 1;
		atomic_signal_fence(memory_order_seq_cst);
		if (pc__vcore_block_ready(vc))
			return block_fast(vc, w->t, &r);
		pc__nopreempt_exit();
	}
	return pc__thread_leave(w->t, block_cb, &r);
}

/* Arms @t's timer for the wait it is starting, on this vcore's queue. */
static void arm_timer(struct pc_thread *t, uint64_t deadline)
{
	t->deadline = deadline;
	t->timed = true;
	t->timer_gen = t->wait_gen;
	pc__timer_add(pc__vcore_self(), t);
}

/* pc__waiter_cancel_mark() - see internal.h. */
bool pc__waiter_cancel_mark(struct pc__waiter *w)
{
	return cancel_pending(w->t, pc__waiter_blocked_word(w->waiting,
							    w->cancellable));
}

/*
 * A committed wait with a deadline: the untimed one's, with a timer
 * around the leave (pc__waiter_wait_committed()). The deadline was still
 * ahead at the commit: if it has passed since, the timer fires at once.
 */
static int wait_committed(struct pc__waiter *w, uint64_t deadline)
{
	struct pc_thread *t = w->t;

	if (deadline == UINT64_MAX)
		return pc__waiter_wait_committed(w);
	if (pc__waiter_cancel_self(w)) {
		pc__nopreempt_exit();
	} else {
		arm_timer(t, deadline);
		pc__waiter_leave_committed(t);
		pc__timer_cancel(t);
	}
	return pc__waiter_committed_outcome(w);
}

/*
 * pc__waiter_block() - see internal.h. A uthread blocks with
 * block_once(); a plain thread waits on a futex (the word's low half:
 * both targets are little-endian).
 */
void pc__waiter_block(struct pc__waiter *w, bool spin)
{
	uintptr_t v;

	if (w->committed) {
		PC_ASSERT(!w->cancellable); /* as its word says */
		wait_committed(w, UINT64_MAX);
		return;
	}
	if (spin && PC_SYNC_SPIN_NS && spin_for_grant(w))
		return;
	while (!((v = atomic_load(w->granted)) & PC_W_GRANTED)) {
		if (w->t)
			block_once(w, false);
		else
			pc__futex_wait((uint32_t *)w->granted, (uint32_t)v,
				       NULL);
	}
}

/* Marks @w timed out itself (the deadline passed); false if granted. */
static bool time_out(struct pc__waiter *w)
{
	uintptr_t v = w->waiting;

	return atomic_compare_exchange_strong(w->granted, &v,
					      v | PC_W_TIMEDOUT) ||
	       (v & PC_W_TIMEDOUT);
}

/*
 * pc__waiter_block_until() - see internal.h. A uthread arms a timer on
 * its vcore's sleep queue (timer.c), which marks the word timed out at
 * the deadline and makes the uthread run if it blocked, a waker like any
 * other; the timer is taken out again whatever ended the wait, before
 * the TCB can wait again. A cancellation marks the word the same way.
 */
int pc__waiter_block_until(struct pc__waiter *w, uint64_t deadline,
			   bool spin)
{
	struct pc_thread *t = w->t;
	bool armed = false, cancellable = t && w->cancellable;
	uintptr_t v;

	if (w->committed)
		return wait_committed(w, deadline);
	if (spin && PC_SYNC_SPIN_NS && spin_for_grant(w))
		return 0;
	for (;;) {
		v = atomic_load(w->granted);
		if (v & (PC_W_GRANTED | PC_W_TIMEDOUT))
			break;
		if (deadline != UINT64_MAX &&
		    (w->expired || pc__now_ns() >= deadline)) {
			if (time_out(w))
				break;
			continue; /* granted meanwhile */
		}
		if (!t) {
			struct timespec ts = pc__ns_to_ts(deadline);

			pc__futex_wait((uint32_t *)w->granted, (uint32_t)v,
				       deadline == UINT64_MAX ? NULL : &ts);
			continue;
		}
		if (!armed && deadline != UINT64_MAX) {
			arm_timer(t, deadline);
			armed = true;
		}
		block_once(w, cancellable);
	}
	if (armed)
		pc__timer_cancel(t);
	return (atomic_load(w->granted) & PC_W_GRANTED) ? 0 : -ETIMEDOUT;
}

int pc__wait_failed(struct pc__waiter *w)
{
	return atomic_load(w->granted) & PC_W_CANCELLED ? -ECANCELED :
							  -ETIMEDOUT;
}

/* pc__waiter_keep_cancel() - see internal.h. */
void pc__waiter_keep_cancel(struct pc__waiter *w)
{
	if (w->t && (atomic_load(w->granted) & PC_W_CANCELLED))
		atomic_store(&w->t->cancel_req, 1);
}

/*
 * pc_sync_cancel() - see parcore/sync.h. The request first, then the
 * word (the Dekker pair of block_publish(), and of
 * pc__waiter_cancel_self() for a committed wait): blocked in a
 * cancellable wait with no outcome yet, the uthread is marked cancelled
 * and made to run. A wait that ended meanwhile changed the word, and the
 * CAS fails; one not blocked yet sees the request as it blocks.
 */
int pc_sync_cancel(struct pc_thread *h)
{
	const uintptr_t want = PC_W_BLOCKED | PC_W_CANCELLABLE;
	struct pc_thread *t = pc__thread_from_handle(h);
	uintptr_t v;
	bool marked;

	if (!t)
		return -EINVAL;
	pc__spin_lock(&t->cancel_lock);
	/* An exchange: qemu-user does not order an aarch64 STLR before a
	 * later LDAR (see uthread.c's wait_cb()). */
	atomic_exchange(&t->cancel_req, 1);
	v = atomic_load(&t->granted);
	if ((v & PC_W_BITS) != want && pc__asym_fence_ok()) {
		/*
		 * The slow side of pc__waiter_cancel_self()'s fence: a
		 * wait committed just now may not show yet. One that shows
		 * needs none.
		 */
		pc__asym_fence();
		v = atomic_load(&t->granted);
	}
	marked = (v & PC_W_BITS) == want && mark_cancelled(t, v);
	pc__spin_unlock(&t->cancel_lock);
	if (marked)
		pc__sched_runnable(h);
	return 0;
}

/*
 * pc__waiter_settle() - see internal.h. The grant that took @w from the
 * queue sets GRANTED after the primitive's lock is dropped; until then
 * @w's word (a plain thread's is on its stack) must stay.
 */
void pc__waiter_settle(struct pc__waiter *w)
{
	/* The giver may share this CPU (oversubscription): let it run. */
	for (unsigned int i = 1; !(atomic_load(w->granted) & PC_W_GRANTED);
	     i++)
		pc__spin_pause(i);
	pc__waiter_keep_cancel(w);
}

/*
 * A grant to a uthread that has blocked, without an RMW (docs/design/
 * sync.md, "The plain grant"): the waiter's block is published, so the
 * word's only other writers are the markers, a timer and a cancellation,
 * which pay for both with the asymmetric fence, as a slot's stealer
 * does. The granter raises `granting` and then looks at `marking`; a
 * marker raises `marking`, fences, and waits while `granting` is up: a
 * plain store never overlaps a marker's CAS. True if it granted; false,
 * with nothing changed, if the word or a marker sends it to the RMW.
 * Its window is in the caller's nopreempt section, which a marker's wait
 * relies on.
 */
static bool grant_plain(struct pc_thread *t, atomic_uintptr_t *word)
{
	uintptr_t v;
	bool granted = false;

	atomic_store_explicit(&t->granting, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the fence's fast side */
	if (!atomic_load_explicit(&t->marking, memory_order_relaxed)) {
		/*
		 * Acquire, as the RMW was: what the waiter wrote before its
		 * block (its errno, its cleared stack pointer) is seen by
		 * whoever runs it from here (TSan found the edge missing).
		 */
		v = atomic_load_explicit(word, memory_order_acquire);
		if ((v & (PC_W_BLOCKED | PC_W_GRANTED | PC_W_TIMEDOUT)) ==
		    PC_W_BLOCKED) {
			atomic_store_explicit(word, v | PC_W_GRANTED,
					      memory_order_release);
			granted = true;
		}
	}
	atomic_store_explicit(&t->granting, 0, memory_order_release);
	return granted;
}

/* pc__word_mark() - see internal.h. */
bool pc__word_mark(struct pc_thread *t, uintptr_t *v, uintptr_t to)
{
	bool marked;

	/*
	 * Not blocked: no plain grant can start before the block's CAS,
	 * which changes the word and fails this one.
	 */
	if (!(*v & PC_W_BLOCKED) || !pc__asym_fence_ok())
		return atomic_compare_exchange_strong(&t->granted, v, to);
	atomic_fetch_add(&t->marking, 1);
	pc__asym_fence();
	for (unsigned int i = 1;
	     atomic_load_explicit(&t->granting, memory_order_acquire); i++)
		pc__spin_pause(i);
	marked = atomic_compare_exchange_strong(&t->granted, v, to);
	atomic_fetch_sub_explicit(&t->marking, 1, memory_order_release);
	return marked;
}

/*
 * A granted uthread that had blocked goes to the 2LS: with @handoff and
 * a uthread caller, to its hand-off (sched.h: thread_handoff), else as
 * runnable. In the caller's nopreempt section, as 2LS calls from
 * uthread context are.
 */
static void grant_run(struct pc_thread *t, bool handoff)
{
	void (*run)(struct pc_thread *) = pc__rt.ops->thread_handoff;

	if (!handoff || !run || !pc__thread_current())
		run = pc__rt.ops->thread_runnable;
	run(pc__handle(t));
}

/*
 * A plain thread's waiter is woken by a futex. Out of line: inlined, the
 * system call's registers made every grant to a uthread save and
 * restore three.
 */
static __attribute__((noinline)) void wake_thread(atomic_uintptr_t *word)
{
	pc__futex_wake((uint32_t *)word, 1);
}

/*
 * pc__waiter_grant_in() - see internal.h. Who waits is read before the
 * grant is published: from then on the waiter may return and its stack,
 * which holds @w, be reused. A uthread's word is in its TCB, and one RMW
 * both sets the outcome and tells whether the uthread had blocked
 * (block_publish()): if it had, it is still stopped, and this grant
 * makes it run; if not, it sees GRANTED itself. Found blocked already,
 * it is granted with a plain store instead (grant_plain()). A futex wake
 * on a reused stack address wakes nobody, or someone who rechecks. A
 * waiter that timed out is not woken: it is awake, or its timer woke it,
 * and it settles under the primitive's lock. One nopreempt section, the
 * caller's, holds the plain grant's window and the 2LS's call: a section
 * each cost a contended mutex's hand-off 1.0 ns of 34 (sync.md).
 */
void pc__waiter_grant_in(struct pc__waiter *w, bool handoff)
{
	struct pc_thread *t = w->t;
	atomic_uintptr_t *word = w->granted;
	uintptr_t old;

	if (t && pc__asym_fence_ok() && grant_plain(t, word))
		old = PC_W_BLOCKED;
	else
		old = atomic_fetch_or(word, PC_W_GRANTED);
	if (old & PC_W_TIMEDOUT)
		return;
	if (!t)
		wake_thread(word);
	else if (old & PC_W_BLOCKED)
		grant_run(t, handoff);
	/* else not stopped yet: its block_publish() fails */
}

void pc__waiter_grant(struct pc__waiter *w)
{
	pc__nopreempt_enter();
	pc__waiter_grant_in(w, true);
	pc__nopreempt_exit();
}

void pc__waiter_wake(struct pc__waiter *w)
{
	pc__nopreempt_enter();
	pc__waiter_grant_in(w, false);
	pc__nopreempt_exit();
}

struct pc__waiter *pc__waitq_take_all(struct pc__waitq *q)
{
	struct pc__waiter *chain = q->head;

	for (struct pc__waiter *w = chain; w; w = w->next)
		atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
	q->head = q->tail = NULL;
	return chain;
}

/* Each waiter's next is read before its grant: then it may be gone. */
void pc__waiter_wake_all(struct pc__waiter *chain)
{
	while (chain) {
		struct pc__waiter *w = chain;

		chain = w->next;
		pc__waiter_wake(w);
	}
}

/* pc__waiter_wait() - see internal.h. */
int pc__waiter_wait(struct pc__spinlock *lock, struct pc__waitq *q,
		    struct pc__waiter *w, uint64_t deadline,
		    struct pc__waiter *(*left)(void *prim), void *prim)
{
	struct pc__waiter *let_through = NULL;
	bool first = !q->head, gone;

	pc__waitq_push(q, w);
	pc__waiter_commit(w, deadline);
	pc__spin_unlock(lock);
	if (!pc__waiter_block_until(w, deadline, first))
		return 0;
	pc__spin_lock(lock);
	gone = pc__waitq_remove(q, w);
	if (gone && left)
		let_through = left(prim);
	pc__spin_unlock(lock);
	pc__waiter_wake_all(let_through);
	if (gone)
		return pc__wait_failed(w);
	pc__waiter_settle(w);
	return 0;
}

bool pc__deadline_ns(const struct timespec *ts, uint64_t *ns)
{
	if (!ts || ts->tv_sec < 0 || ts->tv_nsec < 0 ||
	    ts->tv_nsec >= 1000000000L)
		return false;
	if ((uint64_t)ts->tv_sec > (UINT64_MAX - 999999999u) / 1000000000u)
		*ns = UINT64_MAX;
	else
		*ns = (uint64_t)ts->tv_sec * 1000000000u +
		      (uint64_t)ts->tv_nsec;
	return true;
}
