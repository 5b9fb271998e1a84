/*
 * vcore.c - vcore threads, the vcore loop, idling and waking.
 *
 * Each vcore is a Linux thread pinned to one CPU. It runs vcore context on
 * its transition stack: pc__vcore_loop() is the one entry point, always
 * entered from the top of that stack, and it keeps no state between
 * entries (seed 003 section 4.2.4). It asks the 2LS for a uthread and runs
 * it; when the uthread leaves (yield, block, exit), a callback finishes
 * the leave and calls pc__vcore_loop() again.
 *
 * Idle and wake-up (docs/design/vcore-idle.md). A vcore with nothing to
 * run spins for a while, then parks on its futex. The lost-wake-up race
 * is closed Dekker-style, with seq_cst read-modify-writes on one shared
 * variable on both sides instead of fences (TSan models those):
 *
 *   waker                               parking vcore
 *   queue work (2LS, under its lock)    RMW idle := PARKED
 *   RMW nr_parked (+0)                  RMW nr_parked (+1)
 *   read nr_spinning, idle              look for work once more (2LS)
 *   -> CAS idle PARKED->BUSY, wake      -> futex_wait(wake, 0)
 *
 * The two RMWs on nr_parked are ordered. If the parker's comes first, the
 * waker sees it parked and wakes it; if the waker's comes first, the
 * parker's RMW reads from it, so it happens after the queued work and the
 * parker's last look finds it. Both may happen; a spurious wake-up costs
 * one loop pass. A targeted wake (pc_sched_wake_vcore) pairs the same way
 * through RMWs on the vcore's idle word.
 */
#include "internal.h"
#include "shared.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/sys.h"

#if defined(PARCORE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

#define PC_TSTACK_GUARD (16u * 1024u)

/*
 * How long an idle vcore looks for work before parking: a futex wake-up
 * costs 25-55 us across CPUs here, so spinning a little less than that
 * catches work that arrives soon without burning a CPU for long.
 */
#define PC_SPIN_NS (20u * 1000u)

/* Loop passes between clock reads for the sleep queue (a read is ~23 ns). */
#define PC_TIMER_CHECK_PASSES 64

struct pc__runtime pc__rt = {
	.grant_lock = PTHREAD_MUTEX_INITIALIZER,
	.waiting = -1,
	.single = -1,
};

/*
 * On a cache line of its own: every waker's RMW takes the line, and idle
 * vcores read what shares it at every pass. A build whose layout put it
 * beside the default 2LS's nr_seen and rqs, which the idle vcore reads
 * so, took a contended mutex's acquisition (8 uthreads on 2 vcores) from
 * 45 to 134 ns.
 */
static struct {
	_Alignas(PC_CACHELINE) atomic_int nr_parked;
} parking;

__thread struct pc__vcore *pc__tls_vcore
	__attribute__((tls_model("initial-exec")));

#if !defined(__x86_64__)
/* Opaque to the optimizer: see internal.h. */
__attribute__((noinline)) struct pc__vcore *pc__vcore_self(void)
{
	struct pc__vcore *vc = pc__tls_vcore;

	__asm__ volatile("" : "+r"(vc));
	return vc;
}
#endif

void pc__panic(const char *file, int line, const char *what)
{
	fprintf(stderr, "parcore: %s:%d: internal error: %s\n", file, line,
		what);
	abort();
}

/* ---- idle and wake ---- */

static bool wake_parked(struct pc__vcore *vc)
{
	int expect = PC_VC_PARKED;

	if (!atomic_compare_exchange_strong(&vc->idle, &expect, PC_VC_BUSY))
		return false;
	atomic_fetch_sub(&parking.nr_parked, 1);
	atomic_store_explicit(&vc->wake, 1, memory_order_release);
	pc__futex_wake((uint32_t *)&vc->wake, 1);
	return true;
}

void pc_sched_wake(void)
{
	int max;

	/* Pairs with the RMW in vcore_park(): see the file comment. */
	if (!atomic_fetch_add(&parking.nr_parked, 0) ||
	    atomic_load_explicit(&pc__rt.nr_spinning, memory_order_relaxed))
		return;
	max = atomic_load_explicit(&pc__rt.max_vcoreid, memory_order_acquire);
	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);

		if (vc && atomic_load_explicit(&vc->idle,
					       memory_order_relaxed) ==
				  PC_VC_PARKED &&
		    wake_parked(vc))
			return;
	}
}

int pc_sched_wake_vcore(int id)
{
	struct pc__vcore *vc;

	if (id < 0 || id >= PC_VCORE_MAX)
		return 0;
	vc = pc__vcore_get(id);
	if (!vc || !atomic_load(&vc->online))
		return 0;
	/* Pairs with the exchange in vcore_park(). */
	switch (atomic_fetch_or(&vc->idle, 0)) {
	case PC_VC_SPINNING:
		return 1;
	case PC_VC_PARKED:
		/* Lost CAS: someone else woke it, and it will look. */
		wake_parked(vc);
		return 1;
	default:
		return 0;
	}
}

/*
 * pc__vcore_wake_surplus() - see internal.h. pc_sched_wake() would do for
 * work, but it may pick the vcore of single-core mode, which does not
 * leave, and the chain of leaves would stop there.
 */
void pc__vcore_wake_surplus(void)
{
	int max = atomic_load_explicit(&pc__rt.max_vcoreid,
				       memory_order_acquire);
	int single = atomic_load(&pc__rt.single);

	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);

		if (vc && i != single && atomic_load(&vc->online) &&
		    atomic_load(&vc->idle) == PC_VC_PARKED && wake_parked(vc))
			return;
	}
}

/* pc__vcores_idle() - see internal.h. */
int pc__vcores_idle(void)
{
	return atomic_load_explicit(&parking.nr_parked, memory_order_relaxed) +
	       atomic_load_explicit(&pc__rt.nr_spinning, memory_order_relaxed);
}

int pc_sched_vcore_online(int id)
{
	struct pc__vcore *vc;

	if (id < 0 || id >= PC_VCORE_MAX)
		return 0;
	vc = pc__vcore_get(id);
	return vc && atomic_load(&vc->online);
}

/* Runs every vcore's due sleepers; returns the earliest deadline left. */
static uint64_t timers_run_all(uint64_t now)
{
	int max = atomic_load_explicit(&pc__rt.max_vcoreid,
				       memory_order_acquire);
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);
		uint64_t d;

		if (!vc)
			continue;
		pc__timer_run(vc, now);
		d = atomic_load_explicit(&vc->next_deadline,
					 memory_order_acquire);
		if (d < next)
			next = d;
	}
	return next;
}

static struct pc_thread *pick(struct pc__vcore *vc)
{
	return pc__unhandle_raw(pc__rt.ops->pick_next(vc->id));
}

/*
 * Something was posted to @vc: leave idleness to handle it. The ring
 * first: a poster publishes the message before it sets notif_pending.
 * notif_pending sequentially consistent: in vcore_park() it is the second
 * half of the Dekker pair with pc__vcore_kick().
 */
static bool events_pending(struct pc__vcore *vc)
{
	return pc__mbox_ready(vc->vcpd) ||
	       atomic_load(&vc->vcpd->notif_pending);
}

/* A preemption of @vc is pending: the loop must look at it. */
static bool preempt_pending(struct pc__vcore *vc)
{
	return atomic_load_explicit(&vc->arb->preempt_pending,
				    memory_order_relaxed);
}

/*
 * The process holds more vcores than it wants, and @vc is one that may
 * go: not the vcore of single-core mode, which would otherwise never
 * idle while the others leave.
 */
static bool may_leave(struct pc__vcore *vc)
{
	/*
	 * Sequentially consistent: in vcore_park() this read follows the
	 * exchange of idle, and pairs with the surplus update's exchange
	 * followed by its read of idle (pc__vcore_wake_surplus()), so that
	 * a vcore never parks unseen with the hint set (Dekker, as with
	 * nr_parked; plain loads on x86).
	 */
	return atomic_load(&pc__rt.surplus) &&
	       vc->id != atomic_load_explicit(&pc__rt.single,
					      memory_order_relaxed);
}

/* What ends idleness besides work: the loop has something to do. */
static bool idle_ends(struct pc__vcore *vc)
{
	return may_leave(vc) || events_pending(vc) || preempt_pending(vc);
}

/*
 * Parks until woken, until the earliest sleeper anywhere is due, or for
 * pc__rt.idle_poll_ns at most (the 2LS's estimate looks at idle vcores).
 * The last vcore of a process that wants none leaves while it is parked
 * (the process is WAITING: process-states.md) and comes back when woken.
 */
static struct pc_thread *vcore_park(struct pc__vcore *vc)
{
	struct pc_thread *t;
	uint64_t now, next, poll;
	int expect = PC_VC_PARKED;
	bool waiting;

	atomic_store_explicit(&vc->wake, 0, memory_order_relaxed);
	/* Pair with the RMWs in pc_sched_wake() and pc_sched_wake_vcore(). */
	atomic_exchange(&vc->idle, PC_VC_PARKED);
	atomic_fetch_add(&parking.nr_parked, 1);
	waiting = pc__state_wait_begin(vc);
	now = pc__now_ns();
	next = timers_run_all(now);
	poll = atomic_load_explicit(&pc__rt.idle_poll_ns, memory_order_relaxed);
	if (poll && !waiting && now + poll < next)
		next = now + poll;
	t = pick(vc);
	/* The recheck after idle_ends(): a watch claimed for nothing costs. */
	if (!t && !idle_ends(vc)) {
		uint64_t recheck = pc__sched_default_recheck_ns(vc->id);
		struct timespec ts;

		if (recheck && now + recheck < next)
			next = now + recheck;
		ts = pc__ns_to_ts(next);
		pc__futex_wait((uint32_t *)&vc->wake, 0,
			       next == UINT64_MAX ? NULL : &ts);
	}
	if (atomic_compare_exchange_strong(&vc->idle, &expect, PC_VC_BUSY))
		atomic_fetch_sub(&parking.nr_parked, 1);
	if (waiting)
		pc__state_wait_end(vc);
	return t;
}

/* Spins for work for up to PC_SPIN_NS; returns it, or NULL. */
static struct pc_thread *vcore_spin(struct pc__vcore *vc)
{
	uint64_t start = pc__now_ns(), now = start;
	struct pc_thread *t = NULL;

	atomic_store(&vc->idle, PC_VC_SPINNING);
	atomic_fetch_add(&pc__rt.nr_spinning, 1);
	for (unsigned int i = 1; now - start < PC_SPIN_NS; i++) {
		/*
		 * Events are handled here: leaving idleness through the loop
		 * put two line transfers before the handler (event_poll
		 * latency). Not counted as spinning while the handlers run,
		 * though: wakers skip parked vcores while one spins, and a
		 * long handler would hold up work queued meanwhile (a second
		 * reader measured 200 ms). The count is on a line only idle
		 * vcores write. idle stays SPINNING: the poster has read its
		 * line, and a store would wait for it before the handler
		 * (measured: 300 -> 450 ns); so a targeted wake-up during a
		 * handler counts on this vcore, as it would on any vcore
		 * about to look at its queue. The clock is read every 16
		 * passes: @now may be that old.
		 */
		if (events_pending(vc)) {
			atomic_fetch_sub(&pc__rt.nr_spinning, 1);
			pc__events_handle(vc);
			atomic_fetch_add(&pc__rt.nr_spinning, 1);
			if (preempt_pending(vc))
				break;
			start = now; /* a full spin after each, as before */
		}
		/* Before the pick: a vcore on its way out steals nothing. */
		if (may_leave(vc))
			break;
		t = pick(vc);
		if (t)
			break;
		pc__cpu_relax();
		if (i % 16 == 0) {
			now = pc__now_ns();
			timers_run_all(now);
		}
	}
	atomic_fetch_sub(&pc__rt.nr_spinning, 1);
	atomic_store(&vc->idle, PC_VC_BUSY);
	return t;
}

/*
 * Idles until there is work: spin, park, and after each wake-up (or sleep
 * queue time-out) spin again. Returns the uthread to run, or NULL if the
 * vcore should give its core back.
 *
 * Pass the baton: wakers skip parked vcores while one spins, and a wake-up
 * is for one uthread; so a vcore that leaves idleness with work, however
 * it found it, wakes one more, which finds more work and does the same or
 * finds none and parks (Go's scheduler does likewise). Without this, a
 * second runnable uthread could wait behind the first while a vcore stays
 * parked.
 */
static struct pc_thread *vcore_idle(struct pc__vcore *vc)
{
	struct pc_thread *t;

	for (;;) {
		t = vcore_spin(vc);
		if (t || idle_ends(vc))
			break;
		t = vcore_park(vc);
		if (t || idle_ends(vc))
			break;
	}
	pc__sched_default_idle_ends(vc->id);
	if (t)
		pc_sched_wake();
	return t;
}

/* ---- giving the core back ---- */

/* The online vcore with the lowest id other than @vc, or NULL. */
static struct pc__vcore *other_online(struct pc__vcore *vc)
{
	int max = atomic_load(&pc__rt.max_vcoreid);

	for (int i = 0; i < max; i++)
		if (i != vc->id && pc_sched_vcore_online(i))
			return pc__vcore_get(i);
	return NULL;
}

/*
 * pc__vcore_hand_off_locked() - @vc has just been marked offline: hand its
 * queued uthreads (2LS) and sleepers to vcores that stay online. Under
 * grant_lock, so no other vcore can go offline meanwhile and the heir
 * stays online (a heir picked without it could leave before the sleepers
 * reached it, stranding them). Vcore context of @vc.
 */
void pc__vcore_hand_off_locked(struct pc__vcore *vc)
{
	struct pc__vcore *heir = other_online(vc);

	if (pc__rt.ops->vcore_leaving)
		pc__rt.ops->vcore_leaving(vc->id);
	if (heir)
		pc__timer_move(vc, heir);
}

/*
 * Vcore context, @vc offline: waits off its core until granted again.
 * Events posted to it meanwhile (by a poster that saw it online) wake it,
 * and it forwards them to a vcore that is online.
 */
void pc__vcore_wait_offline(struct pc__vcore *vc)
{
	atomic_store(&vc->idle, PC_VC_BUSY);
	pc_sched_wake(); /* for the work it handed off */
	if (pc__arbiter_surplus())
		pc__vcore_wake_surplus();
	for (;;) {
		atomic_store(&vc->wake, 0);
		if (atomic_load(&vc->online))
			break;
		pc__events_forward(vc);
		pc__futex_wait((uint32_t *)&vc->wake, 0, NULL);
	}
}

/*
 * pc__vcore_set_online() - mark @vc granted or not, in the runtime and in
 * the arbiter's page (the vcore map the process and a daemon read).
 * grant_lock held, or the first vcore being made.
 */
void pc__vcore_set_online(struct pc__vcore *vc, bool online, bool announce)
{
	struct pc__vcore_arb *a = &pc__sh.arb_rw->vc[vc->id];

	atomic_store(&vc->online, online);
	atomic_store(&a->cpu, online ? vc->cpu : -1);
	if (online)
		atomic_store(&a->flags, PC_VCA_ONLINE); /* not PREEMPTED */
	else
		atomic_fetch_and(&a->flags, ~PC_VCA_ONLINE);
	atomic_fetch_add(&pc__sh.arb_rw->nr_granted, online ? 1 : -1);
	if (announce)
		pc__event_announce(online ? PC_EV_CORE_GRANTED :
					    PC_EV_CORE_REVOKED,
				   vc->id);
}

/*
 * pc__vcore_kick() - see internal.h. The caller set notif_pending by an
 * RMW; this load of idle pairs with the exchange in vcore_park(), which
 * reads notif_pending afterwards (Dekker, as in the file comment). A
 * vcore seen busy or spinning looks at notif_pending by itself, so only
 * a parked one costs an RMW on its line.
 */
void pc__vcore_kick(struct pc__vcore *vc)
{
	if (atomic_load(&vc->idle) == PC_VC_PARKED) {
		wake_parked(vc);
		return;
	}
	if (atomic_load(&vc->online))
		return;
	atomic_store(&vc->wake, 1);
	pc__futex_wake((uint32_t *)&vc->wake, 1);
}

/* ---- the loop ---- */

/*
 * Sleepers to look at in pass @passes since the loop was entered: at
 * every pass once it found nothing to run, else at one pass in
 * PC_TIMER_CHECK_PASSES (a clock read costs about 23 ns). A pass counts
 * itself with count_pass(), after the look: a yield that looks, finds a
 * chore due and goes through the loop must leave the loop the same
 * answer.
 */
static inline bool timers_due(struct pc__vcore *vc, unsigned int passes)
{
	return atomic_load_explicit(&vc->next_deadline, memory_order_relaxed) !=
		       UINT64_MAX &&
	       (passes || (vc->timer_pass + 1) % PC_TIMER_CHECK_PASSES == 0);
}

static inline void count_pass(struct pc__vcore *vc)
{
	vc->timer_pass++;
}

/*
 * Whether a pass of the loop has anything to do before it picks: events,
 * a notified uthread to resume, a preemption, a surplus, sleepers due.
 * Each load is the one the chore itself starts with, with the same order.
 */
static inline bool chores_due(struct pc__vcore *vc, unsigned int passes)
{
	return pc__events_maybe(vc->vcpd) || vc->resume || preempt_pending(vc) ||
	       atomic_load(&pc__rt.surplus) || timers_due(vc, passes);
}

/*
 * The loop's work before a pick; returns only if there is a pick to make.
 * Out of line: on a yield or a block, which find nothing to do here, its
 * frame and its checks cost a fifth of the switch (callgrind).
 */
static __attribute__((noinline)) void do_chores(struct pc__vcore *vc,
						unsigned int passes)
{
	struct pc_thread *t;

	pc__events_handle(vc);
	/*
	 * A notified uthread goes on first, on this vcore. A vcore warned
	 * of a preemption gives its core back once nothing of its own is
	 * left to run, or past the deadline leaving a movable notified
	 * uthread to the others. It looks at its mailbox once more first:
	 * the warning was posted before preempt_pending was set, but maybe
	 * after the look above, and the process's handler must have seen it
	 * (a test caught the core gone with the warning still in the
	 * mailbox).
	 */
	t = vc->resume;
	vc->resume = NULL;
	if (PC_UNLIKELY(atomic_load(&vc->arb->preempt_pending)) &&
	    (!t || (vc->resume_movable && pc__preempt_due(vc)))) {
		pc__events_handle(vc);
		t = pc__preempt_strand(vc, t);
	}
	if (t && PC_UNLIKELY(atomic_load_explicit(&vc->tick_due,
						  memory_order_relaxed)))
		t = pc__tick_preempt(vc, t);
	if (t)
		pc__thread_run(t);
	if (PC_UNLIKELY(may_leave(vc)) && pc__arbiter_should_leave(vc))
		pc__vcore_wait_offline(vc);
	if (timers_due(vc, passes))
		pc__timer_run(vc, pc__now_ns());
}

/* The loop past its first pass, or with chores to do. */
static __attribute__((noreturn, noinline)) void loop(struct pc__vcore *vc)
{
	for (unsigned int passes = 0;; passes++) {
		struct pc_thread *t;

		if (PC_UNLIKELY(chores_due(vc, passes)))
			do_chores(vc, passes);
		count_pass(vc);
		t = pick(vc);
		if (!t)
			t = vcore_idle(vc);
		if (t)
			pc__thread_run(t);
	}
}

/*
 * The usual pass, that of a yield or a block, picks and runs without the
 * loop's frame: pc__thread_run() does not return.
 */
void pc__vcore_loop(struct pc__vcore *vc)
{
	struct pc_thread *t;

	if (PC_LIKELY(!chores_due(vc, 0))) {
		count_pass(vc);
		t = pick(vc);
		if (t)
			pc__thread_run(t);
	}
	loop(vc);
}

/*
 * Another uthread starts a fresh quantum (ticks.md). Resuming the same one
 * (after a notification, or a yield with nothing queued) does not: its
 * quantum goes on. Direct switches do not count, so a group of coroutines
 * shares one quantum.
 */
static PC_INLINE_HOT void run_begin(struct pc__vcore *vc, struct pc_thread *t)
{
	if (vc->last_run == t)
		return;
	vc->last_run = t;
	atomic_store_explicit(&vc->nr_runs,
			      atomic_load_explicit(&vc->nr_runs,
						   memory_order_relaxed) +
				      1,
			      memory_order_relaxed);
	if (__atomic_load_n(&pc_pause_pending, __ATOMIC_RELAXED))
		__atomic_store_n(&pc_pause_pending, 0, __ATOMIC_RELAXED);
	/*
	 * Race: a warning's flag (revoke.c), set as this vcore picked @t,
	 * was just cleared: a warned vcore's uthread pauses too. (A
	 * store-load reorder can still lose it; the deadline then acts as
	 * for a uthread that never pauses.)
	 */
	if (PC_UNLIKELY(atomic_load_explicit(
		    &vc->arb->preempt_pending,
		    memory_order_relaxed)))
		__atomic_store_n(&pc_pause_pending, 1, __ATOMIC_RELAXED);
	if (atomic_load_explicit(&vc->tick_due, memory_order_relaxed))
		atomic_store_explicit(&vc->tick_due, 0, memory_order_relaxed);
	pc__ticker_kick();
}

/* pc__vcore_run_begin() - see internal.h. */
void pc__vcore_run_begin(struct pc__vcore *vc, struct pc_thread *t)
{
	run_begin(vc, t);
}

/*
 * A pick made without the loop, by a fast yield or block: counted as the
 * loop's pass, and @to's run begun once it is saved (it may be another
 * fast yielder or blocker, queued or published before its save).
 */
static PC_INLINE_HOT void fast_pick(struct pc__vcore *vc,
				   struct pc_thread *to)
{
	count_pass(vc);
	pc__thread_wait_saved(to);
	run_begin(vc, to);
}

/*
 * pc__vcore_yield_target() - see internal.h; the protocol and its races:
 * docs/design/context-switch.md, "Fast yield". From the 2LS's queue,
 * @t may be taken before the switch has saved it: its saved stack
 * pointer, cleared here, tells the taker to wait for the save
 * (pc__thread_wait_saved()).
 */
struct pc_thread *pc__vcore_yield_target(struct pc__vcore *vc,
					 struct pc_thread *t)
{
	struct pc_thread *to;

	if (chores_due(vc, 0))
		return NULL;
	t->ctx.sp = NULL;
	to = pc__sched_default_yield(vc->id, t);
	if (to)
		fast_pick(vc, to);
	return to;
}

/* pc__vcore_block_ready() - see internal.h. */
bool pc__vcore_block_ready(struct pc__vcore *vc)
{
	return !chores_due(vc, 0) && pc__sched_default_next_ready(vc->id);
}

/*
 * The pick of pc__vcore_block_leave(); the protocol and its races:
 * docs/design/sync.md, "Fast block". The slot's uthread may be another
 * fast blocker's, published before it was saved: wait for its save.
 * The pick may also be @t itself: made runnable since it published its
 * block and queued on this vcore, it is the queue's head that the slot's
 * run limit puts first. Waiting for its own save would never end (a
 * TSan run of stress_provision hung so, a uthread spinning in a
 * nopreempt section): it runs on instead.
 */
static PC_INLINE_HOT struct pc_thread *
block_pick(struct pc__vcore *vc, struct pc_thread *t, enum pc__block_how how)
{
	struct pc_thread *to;

	if (how == PC_BLOCK_LOOP || (how == PC_BLOCK_TAKE && chores_due(vc, 0)))
		return NULL;
	to = how == PC_BLOCK_TAKE ? pc__sched_default_take_ready(vc->id)
				  : pc__sched_default_take_next(vc->id);
	if (to && to != t)
		fast_pick(vc, to);
	return to;
}

/* A blocked uthread's way through the loop: it is published. */
static void loop_cb(struct pc_thread *t, void *unused)
{
	(void)t;
	(void)unused;
	pc__vcore_loop(pc__vcore_self());
}

/*
 * pc__vcore_block_leave() - see internal.h. One function from the pick
 * to the switch, which it enters by a tail call: a committed block went
 * through three frames here (sync.md).
 */
int pc__vcore_block_leave(struct pc__vcore *vc, struct pc_thread *t,
			  enum pc__block_how how)
{
	struct pc_thread *to = block_pick(vc, t, how);

	if (to == t) {
		pc__nopreempt_exit();
		return 0;
	}
	if (to)
		return pc__thread_switch_raised(vc, t, to);
	pc__leave_arm(vc, t, loop_cb, NULL);
	return pc__thread_leave_raised(vc, t);
}

/* ---- vcore creation ---- */

static struct pc__vcore *vcore_alloc(int id)
{
	struct pc__vcore *vc = aligned_alloc(PC_CACHELINE, sizeof(*vc));
	char *map;

	if (!vc)
		return NULL;
	memset(vc, 0, sizeof(*vc));
	map = mmap(NULL, PC_TSTACK_GUARD + PC_TSTACK_SIZE,
		   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED) {
		free(vc);
		return NULL;
	}
	mprotect(map, PC_TSTACK_GUARD, PROT_NONE);
#if defined(PARCORE_VALGRIND)
	VALGRIND_STACK_REGISTER(map + PC_TSTACK_GUARD,
				map + PC_TSTACK_GUARD + PC_TSTACK_SIZE);
#endif
	vc->id = id;
	vc->cpu = pc__vcore_cpu_for(id);
	pc__vcpd_init(id);
	vc->vcpd = pc__vcpd(id);
	vc->arb = &pc__sh.arb->vc[id];
	vc->tstack_map = map;
	vc->tstack_size = PC_TSTACK_SIZE;
	vc->tstack_hi = map + PC_TSTACK_GUARD + PC_TSTACK_SIZE;
	atomic_init(&vc->next_deadline, UINT64_MAX);
	vc->rand_state = (uint32_t)id * 2654435761u + 1;
	return vc;
}

static void pin_self(int cpu)
{
	int saved = errno;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: a vcore still works, unpinned, if this fails. */
	sched_setaffinity(0, sizeof(set), &set);
	errno = saved;
}

/* Per-thread set-up shared by vcore 0 and the vcore threads. */
static void vcore_bind_self(struct pc__vcore *vc)
{
	pc__tls_vcore = vc;
	vc->errno_loc = &errno;
	atomic_store(&vc->pause_flag, &pc_pause_pending);
	pc_rr_vcore = vc->id;
	pc__altstack_init(vc);
	pc__notify_thread_init(vc);
	pc__xarea_refill(vc);
	pin_self(vc->cpu);
}

static void *vcore_thread(void *arg)
{
	struct pc__vcore *vc = arg;

	vcore_bind_self(vc);
	pc__ctx_vcore_start(vc);
}

/*
 * pc__vcore_grant_locked() - bring vcore @id online: allocate it and start
 * its thread the first time, else wake it from pc__vcore_wait_offline(). grant_lock
 * held. Returns 0 or -EAGAIN/-ENOMEM (then nothing changed).
 */
int pc__vcore_grant_locked(int id, bool announce)
{
	struct pc__vcore *vc = pc__vcore_get(id);
	pthread_attr_t attr;
	int err;

	if (vc) {
		pc__vcore_set_online(vc, true, announce);
		atomic_store(&vc->wake, 1);
		pc__futex_wake((uint32_t *)&vc->wake, 1);
		return 0;
	}
	vc = vcore_alloc(id);
	if (!vc)
		return -ENOMEM;
	pc__vcore_set_online(vc, true, announce);
	/*
	 * Published before its thread runs: the thread may park at once,
	 * and a waker must be able to find it then.
	 */
	atomic_store_explicit(&pc__rt.vcores[id], vc, memory_order_release);
	if (id >= atomic_load(&pc__rt.max_vcoreid))
		atomic_store(&pc__rt.max_vcoreid, id + 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = pthread_create(&vc->pthread, &attr, vcore_thread, vc);
	pthread_attr_destroy(&attr);
	if (err) {
		/*
		 * Unpublished, so no later grant finds a vcore without a
		 * thread. Not freed: a waker may have loaded the pointer.
		 */
		pc__vcore_set_online(vc, false, announce);
		atomic_store_explicit(&pc__rt.vcores[id], NULL,
				      memory_order_release);
		return -EAGAIN;
	}
	return 0;
}

static void enter_cb(struct pc_thread *main_t, void *unused)
{
	(void)unused;
	pc__thread_run(main_t);
}

/*
 * pc__vcore_start_first() - make the calling thread vcore 0 and its
 * context main's uthread, which vcore 0 resumes at once. Called once, with
 * the process entering multi-core mode and grant_lock not held. Returns
 * in the new uthread, 0 or -errno.
 */
int pc__vcore_start_first(void)
{
	struct pc__vcore *vc = vcore_alloc(0);
	struct pc_thread *main_t;

	if (!vc)
		return -ENOMEM;
	main_t = pc__thread_adopt_main();
	if (!main_t) {
		munmap(vc->tstack_map, PC_TSTACK_GUARD + PC_TSTACK_SIZE);
		free(vc);
		return -ENOMEM;
	}
	pc__stack_overflow_init();
	vcore_bind_self(vc);
	pc__vcore_set_online(vc, true, true);
	atomic_store(&pc__sh.arb_rw->state, PC_PROC_RUNNING_M);
	vc->current = main_t;
	atomic_store_explicit(&pc__rt.vcores[0], vc, memory_order_release);
	atomic_store(&pc__rt.max_vcoreid, 1);
	atomic_store(&pc__rt.nr_vcores, 1);
	/*
	 * Multi-core mode starts only now that vcore 0 exists: a second
	 * thread making a first request waits for this (arbiter.c) and must
	 * not grant a second vcore 0.
	 */
	atomic_store(&pc__rt.mode, PC_MODE_M);
	return pc__thread_leave(main_t, enter_cb, NULL);
}

/* ---- queries ---- */

int pc_vcore_id(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	return vc ? vc->id : -1;
}

int pc_vcore_count(void)
{
	return atomic_load(&pc__rt.nr_vcores);
}

int pc_vcore_cpu(int id)
{
	if (!pc_sched_vcore_online(id))
		return -EINVAL;
	return pc__vcore_get(id)->cpu;
}
