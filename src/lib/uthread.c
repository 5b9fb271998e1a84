/*
 * uthread.c - the uthread API: create, exit, join, detach, yield, sleep,
 * park, unpark and direct switch. The protocols are in
 * docs/design/uthread-lifecycle.md; the races each step handles are named
 * where the step is.
 */
#include "internal.h"

#include <limits.h>
#include <sched.h>
#include <string.h>

#include "../common/sys.h"

/* Largest stack a uthread may ask for: 1 GiB. */
#define PC_THREAD_STACK_LIMIT ((size_t)1 << 30)

/*
 * pc_thread.join when a plain pthread waits in pc_thread_join(), and when
 * the thread exited with a joiner already waiting. Any other value above
 * PC_JOIN_EXITED_JOINED is the waiting uthread's TCB.
 */
#define PC_JOIN_PTHREAD ((uintptr_t)4)
#define PC_JOIN_EXITED_JOINED ((uintptr_t)5)

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the join futex is the low half of pc_thread.join");


static const struct pc_sched_ops *ops(void)
{
	return pc__rt.ops;
}

struct pc_thread *pc__thread_from_handle(const struct pc_thread *h)
{
	struct pc_thread *t = pc__unhandle_raw(h);

	/*
	 * A stale handle fails here. Left open: two concurrent joins of one
	 * thread where the loser reads the generation before the winner
	 * frees the TCB and a new create reuses it before the loser's CAS;
	 * the loser then joins the new thread. Joining twice is a bug in the
	 * caller; this only narrows how it shows.
	 */
	if (!t || atomic_load_explicit(&t->gen, memory_order_relaxed) !=
			  (uint16_t)((uintptr_t)h >> PC_HANDLE_SHIFT))
		return NULL;
	return t;
}

static void thread_free(struct pc_thread *t)
{
	pc__keys_free(t);
	if (!t->is_main)
		pc__tcb_free(t);
}

/* ---- create ---- */

static int attr_check(const struct pc_thread_attr *a, struct pc_thread **out)
{
	if (a->flags & ~PC_THREAD_DETACHED)
		return -EINVAL;
	if (a->stack_size &&
	    (a->stack_size < PC_THREAD_STACK_MIN ||
	     a->stack_size > PC_THREAD_STACK_LIMIT))
		return -EINVAL;
	if (!out && !(a->flags & PC_THREAD_DETACHED))
		return -EINVAL;
	return 0;
}

int pc_thread_create(struct pc_thread **out, const struct pc_thread_attr *attr,
		     pc_thread_fn fn, void *arg)
{
	static const struct pc_thread_attr defaults = PC_THREAD_ATTR_INIT;
	const struct pc_thread_attr *a = attr ? attr : &defaults;
	struct pc_thread *t;
	int err;

	if (!fn)
		return -EINVAL;
	err = attr_check(a, out);
	if (err)
		return err;
	if (atomic_load_explicit(&pc__rt.mode, memory_order_acquire) !=
	    PC_MODE_M)
		return -EPERM;
	/* The per-vcore stack cache and the 2LS: no notification inside. */
	pc__nopreempt_enter();
	t = pc__tcb_alloc(a->stack_size);
	if (!t) {
		pc__nopreempt_exit();
		return -ENOMEM;
	}
	t->fn = fn;
	t->arg = arg;
	if (a->name)
		strncpy(t->name, a->name, sizeof(t->name) - 1);
	atomic_init(&t->join, (a->flags & PC_THREAD_DETACHED) ?
				      PC_JOIN_DETACHED : PC_JOIN_NONE);
	pc__thread_ctx_init(t);
	/* Before it is runnable: a detached thread may be gone right after. */
	if (out)
		*out = pc__handle(t);
	ops()->thread_runnable(pc__handle(t));
	pc__nopreempt_exit();
	return 0;
}

/* ---- exit and join ---- */

/*
 * Vcore context, @t's stack abandoned. Hands @t to whoever reclaims it:
 * nobody yet (zombie), itself (detached), or a waiting joiner.
 */
static void exit_cb(struct pc_thread *t, void *unused)
{
	uintptr_t old = atomic_load_explicit(&t->join, memory_order_acquire);
	struct pc__vcore *vc = pc__vcore_self();

	(void)unused;
	for (;;) {
		uintptr_t new;

		if (old == PC_JOIN_DETACHED)
			new = PC_JOIN_DONE;
		else if (old == PC_JOIN_NONE)
			new = PC_JOIN_EXITED;
		else
			new = PC_JOIN_EXITED_JOINED;
		/*
		 * Release: the retval and everything @t wrote are visible to
		 * the joiner's acquire. Races with a concurrent join or
		 * detach changing NONE; the loop re-decides.
		 */
		if (atomic_compare_exchange_weak_explicit(
			    &t->join, &old, new, memory_order_acq_rel,
			    memory_order_acquire))
			break;
	}
	if (old == PC_JOIN_DETACHED) {
		thread_free(t);
	} else if (old == PC_JOIN_PTHREAD) {
		/*
		 * The waiter may already have seen EXITED_JOINED and freed
		 * @t; the TCB stays mapped, so a late wake is harmless.
		 */
		pc__futex_wake((uint32_t *)&t->join, INT_MAX);
	} else if (old != PC_JOIN_NONE) {
		/*
		 * @old is the joiner's TCB. If it is blocked in join, run it
		 * here at once: fork-join hands the vcore straight back. If it
		 * saw EXITED_JOINED without blocking, it may be gone and its
		 * TCB reused; claiming a reused TCB blocked in another wait
		 * only makes that wait recheck its condition.
		 */
		struct pc_thread *joiner = (struct pc_thread *)old;

		if (pc__wait_claim(joiner))
			pc__thread_run(joiner);
	}
	pc__vcore_loop(vc);
}

int pc_thread_exit(void *retval)
{
	struct pc_thread *t = pc__thread_current();

	if (!t)
		return -EPERM;
	t->retval = retval;
	pc__keys_run_dtors(t);
	pc__thread_leave_forever(t, exit_cb);
}

/* ---- internal waits ---- */

/*
 * Waits inside the runtime use their own word, t->wait, never the user's
 * park token, so that a wake-up meant for a join is never left behind as
 * a token that makes a later pc_thread_park() return early.
 *
 *   waiter (wait_cb, vcore context)    waker
 *   wait := BLOCKED  (exchange)        change *word  (seq_cst RMW)
 *   *word still == val?  (seq_cst)     CAS wait BLOCKED -> NONE
 *   no: CAS wait BLOCKED -> NONE       yes: make it run
 *       and run itself if that won
 *
 * Either the waiter sees the change, or the waker sees it blocked; if both
 * do, the CAS picks one of them to run it. Waits always recheck their
 * condition in a loop, so a spurious claim is harmless.
 */
struct wait_req {
	atomic_uintptr_t *word;
	uintptr_t val;
	atomic_int *hold;
};

/* pc__wait_claim() - see internal.h. */
bool pc__wait_claim(struct pc_thread *t)
{
	unsigned int expect = PC_WAIT_BLOCKED;

	return atomic_compare_exchange_strong(&t->wait, &expect,
					      PC_WAIT_NONE);
}

static void wait_cb(struct pc_thread *t, void *arg)
{
	struct wait_req *req = arg;
	/*
	 * Copied before t is published as blocked: from then on a waker may
	 * resume t, whose stack holds *req.
	 */
	atomic_uintptr_t *word = req->word;
	uintptr_t val = req->val;
	atomic_int *hold = req->hold;
	bool changed;

	/*
	 * An exchange, not a store: the read below must not be ordered
	 * before it. Sequentially consistent store then load would do on
	 * the hardware, but qemu-user on an x86 host does not order an
	 * aarch64 STLR before a later LDAR, and test_sync lost a mutex
	 * hand-off there (blocked, with the grant in its word).
	 */
	atomic_exchange(&t->wait, PC_WAIT_BLOCKED);
	/*
	 * From here a waker may run t, which may free *word's memory once
	 * it returns: @hold, if given, keeps it until this read is done.
	 */
	changed = atomic_load(word) != val;
	if (hold)
		atomic_fetch_sub(hold, 1);
	if (changed && pc__wait_claim(t))
		pc__thread_run(t);
	pc__vcore_loop(pc__vcore_self());
}

/* pc__wait_while() - see internal.h. */
void pc__wait_while(struct pc_thread *self, atomic_uintptr_t *word,
		    uintptr_t val, atomic_int *hold)
{
	struct wait_req req = { word, val, hold };

	pc__thread_leave(self, wait_cb, &req);
}

/* Waits, as a uthread or as a plain thread, until @t has exited. */
static void join_wait(struct pc_thread *t, struct pc_thread *self)
{
	for (;;) {
		uintptr_t v = atomic_load_explicit(&t->join,
						   memory_order_acquire);

		if (v == PC_JOIN_EXITED_JOINED)
			return;
		if (self)
			pc__wait_while(self, &t->join, v, NULL);
		else
			pc__futex_wait((uint32_t *)&t->join, (uint32_t)v,
				       NULL);
	}
}

int pc_thread_join(struct pc_thread *h, void **retval)
{
	struct pc_thread *t = pc__thread_from_handle(h);
	struct pc_thread *self = pc__thread_current();
	uintptr_t old, me;

	if (!t)
		return -EINVAL;
	if (t == self)
		return -EDEADLK;
	me = self ? (uintptr_t)self : PC_JOIN_PTHREAD;
	old = atomic_load_explicit(&t->join, memory_order_acquire);
	for (;;) {
		uintptr_t new;

		if (old == PC_JOIN_EXITED)
			new = PC_JOIN_DONE; /* reap it now */
		else if (old == PC_JOIN_NONE)
			new = me;           /* wait for it */
		else
			return -EINVAL; /* detached, joined or being joined */
		if (atomic_compare_exchange_weak_explicit(
			    &t->join, &old, new, memory_order_acq_rel,
			    memory_order_acquire))
			break;
	}
	if (old == PC_JOIN_NONE) {
		join_wait(t, self);
		atomic_store_explicit(&t->join, PC_JOIN_DONE,
				      memory_order_relaxed);
	}
	if (retval)
		*retval = t->retval;
	thread_free(t);
	return 0;
}

int pc_thread_detach(struct pc_thread *h)
{
	struct pc_thread *t = pc__thread_from_handle(h);
	uintptr_t old;

	if (!t)
		return -EINVAL;
	old = atomic_load_explicit(&t->join, memory_order_acquire);
	for (;;) {
		uintptr_t new;

		if (old == PC_JOIN_NONE)
			new = PC_JOIN_DETACHED;
		else if (old == PC_JOIN_EXITED)
			new = PC_JOIN_DONE; /* it finished: free it now */
		else
			return -EINVAL;
		if (atomic_compare_exchange_weak_explicit(
			    &t->join, &old, new, memory_order_acq_rel,
			    memory_order_acquire))
			break;
	}
	if (old == PC_JOIN_EXITED)
		thread_free(t);
	return 0;
}

/* ---- yield and sleep ---- */

static void yield_cb(struct pc_thread *t, void *unused)
{
	const struct pc_sched_ops *o = ops();

	(void)unused;
	if (o->thread_paused)
		o->thread_paused(pc__handle(t));
	else
		o->thread_runnable(pc__handle(t));
	pc__vcore_loop(pc__vcore_self());
}

/*
 * Straight to the next uthread when the loop would only swap this one
 * for it (pc__vcore_yield_target()); through vcore context otherwise.
 * Not from inside a nopreempt section (a 2LS callback's yield), whose
 * end the switch would take for its own.
 */
int pc_thread_yield(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = vc ? vc->current : NULL, *to;

	if (!t) {
		sched_yield();
		return 0;
	}
	if (PC_FAST_YIELD && !vc->irq.nopreempt) {
		vc->irq.nopreempt = 1;
		atomic_signal_fence(memory_order_seq_cst);
		t->err = *vc->errno_loc; /* before @t is queued */
		to = pc__vcore_yield_target(vc, t);
		if (to)
			return pc__thread_switch_raised(vc, t, to);
		pc__nopreempt_exit();
	}
	return pc__thread_leave(t, yield_cb, NULL);
}

static void sleep_cb(struct pc_thread *t, void *unused)
{
	struct pc__vcore *vc = pc__vcore_self();

	(void)unused;
	t->timed = false;
	pc__timer_add(vc, t);
	pc__vcore_loop(vc);
}

static int sleep_until_ns(uint64_t deadline)
{
	struct pc_thread *t = pc__thread_current();

	if (!t) {
		struct timespec ts = pc__ns_to_ts(deadline);

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
		return 0;
	}
	if (deadline <= pc__now_ns())
		return pc_thread_yield();
	t->deadline = deadline;
	return pc__thread_leave(t, sleep_cb, NULL);
}

int pc_thread_sleep_until(const struct timespec *deadline)
{
	if (!deadline || deadline->tv_sec < 0 || deadline->tv_nsec < 0 ||
	    deadline->tv_nsec >= 1000000000L)
		return -EINVAL;
	return sleep_until_ns((uint64_t)deadline->tv_sec * 1000000000u +
			      (uint64_t)deadline->tv_nsec);
}

int pc_thread_sleep(uint64_t ns)
{
	uint64_t now = pc__now_ns();

	return sleep_until_ns(ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
}

/* ---- park, unpark, switch ---- */

/*
 * Two ways to be suspended without being runnable (docs/design/
 * uthread-lifecycle.md):
 *
 *  parked      pc_thread_park(). State in t->park, changed by atomic
 *              read-modify-writes from any thread: unpark and switch claim
 *              a parked uthread with a CAS, so exactly one of them runs it.
 *  coroutine   pc_thread_switch(). t->co_vcore names the vcore it is bound
 *              to, and only that vcore's Linux thread ever changes the
 *              state of a uthread bound to it: other threads only read
 *              co_vcore, see another vcore's id, and refuse. So a switch
 *              between coroutines of one vcore is plain loads and stores,
 *              no atomic read-modify-write (one of those costs more here
 *              than the whole register switch).
 */

/*
 * Publishes that @t, whose context is now completely saved, is parked.
 * Returns false if a wake-up arrived since @t decided to park: then @t is
 * not parked and the caller must run it. Race: an unpark between
 * pc_thread_park()'s token check and here left PC_PARK_TOKEN; the CAS
 * sees it.
 */
static bool park_commit(struct pc_thread *t)
{
	unsigned int expect = PC_PARK_NONE;

	/* Release pairs with the acquire in claim_parked(). */
	if (atomic_compare_exchange_strong_explicit(&t->park, &expect,
						    PC_PARK_PARKED,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return true;
	PC_ASSERT(expect == PC_PARK_TOKEN);
	atomic_store_explicit(&t->park, PC_PARK_NONE, memory_order_relaxed);
	return false;
}

static void park_cb(struct pc_thread *t, void *unused)
{
	(void)unused;
	if (!park_commit(t))
		pc__thread_run(t);
	pc__vcore_loop(pc__vcore_self());
}

int pc_thread_park(void)
{
	struct pc_thread *t = pc__thread_current();

	if (!t)
		return -EPERM;
	/*
	 * A wake-up that came first is consumed without a switch. Unparkers
	 * never change TOKEN, so a plain store takes it; the acquire pairs
	 * with the unparker's CAS.
	 */
	if (atomic_load_explicit(&t->park, memory_order_acquire) ==
	    PC_PARK_TOKEN) {
		atomic_store_explicit(&t->park, PC_PARK_NONE,
				      memory_order_relaxed);
		return 0;
	}
	return pc__thread_leave(t, park_cb, NULL);
}

/*
 * Moves @t out of PARKED if it is parked (the caller must then run it), or
 * leaves a wake-up token if it is not. Returns true if @t was parked.
 * Any thread.
 */
static bool claim_parked(struct pc_thread *t, bool leave_token)
{
	unsigned int v = atomic_load_explicit(&t->park, memory_order_relaxed);

	for (;;) {
		unsigned int new;

		if (v == PC_PARK_PARKED)
			new = PC_PARK_NONE;
		else if (v == PC_PARK_NONE && leave_token)
			new = PC_PARK_TOKEN;
		else
			return false;
		/* Acquire pairs with the release in park_commit(). */
		if (atomic_compare_exchange_weak_explicit(
			    &t->park, &v, new, memory_order_acq_rel,
			    memory_order_relaxed))
			return v == PC_PARK_PARKED;
	}
}

/*
 * Takes coroutine @t bound to the calling vcore. Only this vcore's Linux
 * thread writes co_vcore while it names this vcore, so plain stores do.
 */
static bool claim_coroutine(struct pc_thread *t, int vcoreid)
{
	if (vcoreid < 0 ||
	    atomic_load_explicit(&t->co_vcore, memory_order_relaxed) !=
		    vcoreid)
		return false;
	atomic_store_explicit(&t->co_vcore, -1, memory_order_relaxed);
	return true;
}

int pc_thread_unpark(struct pc_thread *h)
{
	struct pc_thread *t = pc__thread_from_handle(h);
	int co;

	if (!t)
		return -EINVAL;
	co = atomic_load_explicit(&t->co_vcore, memory_order_relaxed);
	if (co >= 0) {
		bool claimed;

		/* The claim's load and store, as pc_thread_switch(). */
		pc__nopreempt_enter();
		claimed = claim_coroutine(t, pc_vcore_id());
		pc__nopreempt_exit();
		if (!claimed)
			return -EXDEV;
		pc__sched_runnable(h);
		return 0;
	}
	if (claim_parked(t, true))
		pc__sched_runnable(h);
	return 0;
}

int pc_thread_switch(struct pc_thread *h)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *self = vc ? vc->current : NULL;
	struct pc_thread *to = pc__thread_from_handle(h);

	if (!self)
		return -EPERM;
	if (!to || to == self)
		return -EINVAL;
	/*
	 * A nopreempt section from the claim on, which the switch ends as
	 * @to: this vcore's event handlers (run by a notification) may
	 * unpark a coroutine bound to it too. Between a claim's load and
	 * store one would claim @to a second time; after self's co_vcore is
	 * published it would queue self while self still runs.
	 */
	vc->irq.nopreempt++;
	atomic_signal_fence(memory_order_seq_cst);
	if (!claim_coroutine(to, vc->id) && !claim_parked(to, false)) {
		pc__nopreempt_exit();
		return -EINVAL;
	}
	/*
	 * Published before the registers are saved: nothing else runs on
	 * this vcore until the switch is done, and no other vcore acts on a
	 * coroutine bound to this one.
	 */
	atomic_store_explicit(&self->co_vcore, vc->id, memory_order_relaxed);
	self->err = *vc->errno_loc;
	return pc__thread_switch_raised(vc, self, to);
}

/* ---- queries ---- */

struct pc_thread *pc_thread_self(void)
{
	struct pc_thread *t = pc__thread_current();

	return t ? pc__handle(t) : NULL;
}

const char *pc_thread_name(const struct pc_thread *h)
{
	struct pc_thread *t = pc__thread_from_handle(h);

	return t ? t->name : NULL;
}

void *pc_thread_sched_data(struct pc_thread *h)
{
	return pc__unhandle_raw(h)->sched_data;
}

int pc_thread_last_vcore(const struct pc_thread *h)
{
	return atomic_load_explicit(&pc__unhandle_raw(h)->last_vcore,
				    memory_order_relaxed);
}

/*
 * pc__thread_adopt_main() - a TCB for the calling context, which is about
 * to become a uthread. Its stack is the caller's own.
 */
struct pc_thread *pc__thread_adopt_main(void)
{
	struct pc_thread *t = pc__tcb_alloc(PC_THREAD_STACK_MIN);

	if (!t)
		return NULL;
	t->is_main = true;
	/* Locks main took before multi-core mode are still its own. */
	t->sync_tag = pc__sync_thread_tag();
	strcpy(t->name, "main");
	pc__thread_ctx_adopt(t);
	atomic_init(&t->join, PC_JOIN_NONE);
	return t;
}
