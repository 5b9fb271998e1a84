/*
 * revoke.c - cores going back to the arbiter: preemption (the arbiter
 * takes a core, with a warning and a deadline) and yields (the process
 * gives one). The protocol and its races: docs/design/preemption.md.
 *
 * A preemption, in the embedded arbiter:
 *  1. pc_vcore_preempt() revokes one core of the pool and marks vcore R:
 *     preempt_pending = the deadline, nr_preempts_sent + 1 (arbiter page),
 *     and posts PC_EV_PREEMPT_PENDING to R with a notification.
 *  2. R gives the core back at its next pass through its loop with no
 *     uthread of its own to resume (pc__preempt_strand()): at once if it
 *     idles or its uthread yields, blocks or exits; a uthread the
 *     notification interrupted is resumed first (it may be inside libc).
 *     A nice yield (pc_vcore_yield(1)) completes it from a uthread.
 *  3. From the deadline on, the arbiter's clock (clock.c) notifies R again every PC_FORCE_RETRY_NS until it is done; a
 *     uthread the notification finds at a safe point is then stranded
 *     for another vcore to take (pc__preempt_strand()).
 * Completion: preempt_pending = 0, nr_preempts_done + 1, PREEMPTED, the
 * vcore offline and its queue handed off, PC_EV_VCORE_PREEMPTED to an
 * online vcore; then R's thread waits until the core is granted again.
 */
#include "internal.h"
#include "shared.h"

#include <stdio.h>
#include <string.h>

#include "../common/sys.h"

/* How often a vcore past its deadline is notified again. */
#define PC_FORCE_RETRY_NS (1000u * 1000u)

static uint64_t retry_at[PC_VCORE_MAX]; /* next forcing; grant_lock */

static struct pc__vcore_arb *arb_of(int id)
{
	return &pc__sh.arb_rw->vc[id];
}

/* ---- forcing, at the arbiter's clock (clock.c) ---- */

/*
 * Grants vcore @id, past deadline @d, its one extension if it is in a
 * critical section (pc_vcore_defer_begin()). The word is the process's:
 * read once, any nonzero value is a request. grant_lock held.
 */
static bool extend_locked(int id, uint64_t d)
{
	struct pc__vcore_arb *a = arb_of(id);

	if (!atomic_load_explicit(&pc__sh.arb_proc->vcpd[id].defer,
				  memory_order_relaxed) ||
	    (atomic_load(&a->flags) & PC_VCA_EXTENDED))
		return false;
	/* The deadline before the flag: pc__preempt_due() reads the flag first. */
	atomic_store(&a->preempt_pending, d + PC_PREEMPT_EXTENSION_NS);
	atomic_fetch_or(&a->flags, PC_VCA_EXTENDED);
	atomic_fetch_add(&a->nr_extensions, 1);
	return true;
}

/*
 * pc__preempt_force_due_locked() - see internal.h: notifies every vcore
 * past its deadline; returns the next time to look.
 */
uint64_t pc__preempt_force_due_locked(uint64_t now)
{
	int max = atomic_load(&pc__rt.max_vcoreid);
	uint64_t next = UINT64_MAX;

	for (int id = 0; id < max; id++) {
		uint64_t d = atomic_load(&arb_of(id)->preempt_pending);

		if (!d)
			continue;
		if (d < retry_at[id])
			d = retry_at[id];
		if (d <= now && extend_locked(id, d)) {
			d += PC_PREEMPT_EXTENSION_NS;
		} else if (d <= now) {
			atomic_fetch_add(&arb_of(id)->nr_forces, 1);
			pc__notify(id, true);
			d = retry_at[id] = now + PC_FORCE_RETRY_NS;
		}
		if (d < next)
			next = d;
	}
	return next;
}

/* ---- the arbiter takes a core ---- */

/*
 * Whether one vcore at most stays once the pending preemptions are done:
 * it may neither be preempted nor yield, or the process would have
 * nowhere to run. grant_lock held.
 */
static bool last_vcore_locked(void)
{
	return atomic_load(&pc__rt.nr_vcores) -
		       atomic_load(&pc__rt.nr_preempting) <=
	       1;
}

static int preempt_check_locked(int id)
{
	if (!pc_sched_vcore_online(id))
		return -ENXIO;
	if (atomic_load(&arb_of(id)->preempt_pending))
		return -EALREADY;
	/* Single-core mode's vcore stays, as the last one does. */
	if (last_vcore_locked() || id == atomic_load(&pc__rt.single))
		return -EBUSY;
	return 0;
}

int pc_vcore_preempt(int vcoreid, uint64_t warning_ns)
{
	struct pc_event ev = { .type = PC_EV_PREEMPT_PENDING };
	uint64_t deadline;
	int err;

	if (vcoreid < 0 || vcoreid >= PC_VCORE_MAX)
		return -EINVAL;
	if (atomic_load(&pc__rt.mode) != PC_MODE_M)
		return -EPERM;
	pc__grant_lock();
	err = preempt_check_locked(vcoreid);
	if (!err)
		err = pc__clock_start_locked();
	if (err) {
		pc__grant_unlock();
		return err;
	}
	deadline = pc__now_ns() + warning_ns;
	if (deadline == 0)
		deadline = 1;
	/*
	 * The warning goes out first, so that the vcore's handler has run
	 * by the time it can act on preempt_pending (its loop looks at its
	 * mailbox again when it finds the word set).
	 */
	ev.arg[0] = deadline;
	pc_event_send(vcoreid, &ev, PC_EVF_NOTIFY);
	atomic_fetch_add(&pc__rt.revoked, 1);
	atomic_fetch_add(&pc__rt.nr_preempting, 1);
	retry_at[vcoreid] = 0;
	atomic_fetch_and(&arb_of(vcoreid)->flags, ~PC_VCA_EXTENDED);
	atomic_fetch_add(&arb_of(vcoreid)->nr_preempts_sent, 1);
	atomic_store(&arb_of(vcoreid)->preempt_pending, deadline);
	/*
	 * Its uthread yields at its next PAUSE point, well before the
	 * deadline if it pauses at all. A vcore that switches to another
	 * uthread meanwhile sets the flag again (pc__thread_run()).
	 */
	pc__vcore_pause(pc__vcore_get(vcoreid), NULL);
	/*
	 * A vcore that handled the warning before the word was set and went
	 * idle looks again (a busy one looks at its next loop pass anyway).
	 */
	pc__notify(vcoreid, false);
	pc__clock_kick_locked();
	pc__grant_unlock();
	return 0;
}

int pc_vcore_restore(void)
{
	int granted, err;

	if (atomic_load(&pc__rt.mode) != PC_MODE_M)
		return -EPERM;
	pc__grant_lock();
	if (atomic_load(&pc__rt.revoked) == 0) {
		pc__grant_unlock();
		return -ENOENT;
	}
	atomic_fetch_sub(&pc__rt.revoked, 1);
	err = pc__arbiter_grant_locked();
	granted = atomic_load(&pc__rt.nr_vcores);
	pc__arbiter_surplus_update_locked();
	pc__grant_unlock();
	return err ? err : granted;
}

/* ---- the vcore gives it back ---- */

/*
 * Marks @vc's pending preemption done and releases the core. grant_lock
 * held; vcore context of @vc, nothing of it left to resume.
 */
static void preempt_done_locked(struct pc__vcore *vc)
{
	struct pc__vcore_arb *a = arb_of(vc->id);

	/*
	 * This preemption's extension is spent: cleared here, by the vcore
	 * itself, so no read of the next warning's deadline can pair with
	 * a flag left from this one.
	 */
	atomic_fetch_and(&a->flags, ~PC_VCA_EXTENDED);
	atomic_store(&a->preempt_pending, 0);
	atomic_fetch_add(&pc__rt.nr_preempting, -1);
	pc__arbiter_release_locked(vc);
	atomic_fetch_or(&a->flags, PC_VCA_PREEMPTED);
	/* Seen by the clock and the tests: sent == done. */
	atomic_fetch_add(&a->nr_preempts_done, 1);
	/* A core restored meanwhile goes to another vcore at once. */
	pc__arbiter_grant_locked();
	pc__arbiter_surplus_update_locked();
}

/*
 * Tells the others, then waits off the core until granted again. With a
 * notification: a uthread it stranded must not wait for a vcore's next
 * look while vcores are free.
 */
static void preempted_wait(struct pc__vcore *vc)
{
	struct pc_event ev = { .type = PC_EV_VCORE_PREEMPTED };

	ev.arg[0] = (uint64_t)vc->id;
	pc_event_send(vc->id, &ev, PC_EVF_FALLBACK | PC_EVF_NOTIFY);
	pc__vcore_wait_offline(vc);
}

/*
 * pc__preempt_due() - see internal.h. A vcore in a critical section whose
 * extension the arbiter has not looked at yet is not due: the deadline
 * thread may be late, and will extend it.
 */
bool pc__preempt_due(struct pc__vcore *vc)
{
	struct pc__vcore_arb *a = arb_of(vc->id);
	/*
	 * The flag before the deadline (extend_locked() stores them the
	 * other way round): a vcore that sees the extension granted sees the
	 * extended deadline, never the old one with the flag.
	 */
	bool extended = atomic_load(&a->flags) & PC_VCA_EXTENDED;
	uint64_t d = atomic_load(&a->preempt_pending);

	if (!d || pc__now_ns() < d)
		return false;
	return extended ||
	       !atomic_load_explicit(&vc->vcpd->defer, memory_order_relaxed);
}

/*
 * pc__preempt_strand() - see internal.h. The uthread (if any) goes into
 * the stranded slot before the vcore is marked preempted; the slot is taken
 * by exchange, by the vcore that handles PC_EV_VCORE_PREEMPTED or by this
 * one when it comes back, so exactly one of them runs it (LESSONS 3.9).
 */
struct pc_thread *pc__preempt_strand(struct pc__vcore *vc,
				     struct pc_thread *t)
{
	pc__grant_lock();
	if (!atomic_load(&arb_of(vc->id)->preempt_pending)) {
		pc__grant_unlock();
		return t;
	}
	atomic_store(&vc->stranded, t);
	/* A section forced past its extension ends here, not on the vcore. */
	atomic_store(&vc->vcpd->defer, 0);
	preempt_done_locked(vc);
	pc__grant_unlock();
	preempted_wait(vc);
	return atomic_exchange(&vc->stranded, NULL);
}

static void recover_one(int id)
{
	struct pc__vcore *r = pc__vcore_get(id);
	struct pc_thread *t;

	if (!r || !atomic_load(&r->stranded))
		return;
	t = atomic_exchange(&r->stranded, NULL);
	if (t)
		pc__rt.ops->thread_runnable(pc__handle(t));
}

/* pc__preempt_recover() - see internal.h; @id -1: every vcore. */
void pc__preempt_recover(int id)
{
	int max = atomic_load(&pc__rt.max_vcoreid);

	if (id >= 0 && id < max)
		recover_one(id);
	else if (id == -1)
		for (int i = 0; i < max; i++)
			recover_one(i);
}

struct yield_req {
	bool nice;
	int rc;
};

/* A plain yield: one core fewer wanted, through the process page. */
static int lower_request_locked(void)
{
	int want = atomic_load(&pc__rt.amt_wanted);

	if (want > 0)
		atomic_store(&pc__sh.proc->amt_wanted, want - 1);
	return pc__arbiter_read_request_locked();
}

/* The plain yield of the last vcore: it stays until it idles. */
#define PC_YIELD_LAST 1

/*
 * The checks of seed 003 4.4.4, under grant_lock so that no preemption
 * or grant changes them meanwhile: a nice yield answers a pending
 * preemption and is refused without one; a plain yield is refused while
 * one is pending (it lost the race: the caller should answer it) and on
 * the vcore of single-core mode. The last vcore's plain yield lowers the
 * request and keeps the core until the vcore idles; then, if nobody
 * wants a core, the process is WAITING (process-states.md).
 */
static int yield_check_locked(struct pc__vcore *vc, bool nice)
{
	bool pending = atomic_load(&arb_of(vc->id)->preempt_pending);

	if (nice)
		return pending ? 0 : -EAGAIN;
	if (pending)
		return -EAGAIN;
	if (vc->id == atomic_load(&pc__rt.single))
		return -EBUSY;
	if (last_vcore_locked())
		return PC_YIELD_LAST;
	return 0;
}

static void core_yield_cb(struct pc_thread *t, void *arg)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct yield_req *r = arg;
	bool nice = r->nice; /* @r is on @t's stack: gone once @t runs */
	bool last;

	pc__grant_lock();
	r->rc = yield_check_locked(vc, nice);
	last = r->rc == PC_YIELD_LAST;
	if (r->rc >= 0 && !nice)
		r->rc = lower_request_locked();
	if (r->rc || last) {
		pc__grant_unlock();
		pc__thread_run(t);
	}
	/* The caller runs on elsewhere: queued before the hand-off. */
	if (pc__rt.ops->thread_paused)
		pc__rt.ops->thread_paused(pc__handle(t));
	else
		pc__rt.ops->thread_runnable(pc__handle(t));
	if (nice) {
		preempt_done_locked(vc);
		pc__grant_unlock();
		preempted_wait(vc);
	} else {
		pc__arbiter_release_locked(vc);
		pc__arbiter_surplus_update_locked();
		pc__grant_unlock();
		pc__vcore_wait_offline(vc);
	}
	pc__vcore_loop(vc);
}

int pc_vcore_yield(int being_nice)
{
	struct pc_thread *t = pc__thread_current();
	struct yield_req r = { .nice = being_nice != 0 };

	if (!t)
		return -EPERM;
	pc__thread_leave(t, core_yield_cb, &r);
	return r.rc;
}

/* ---- critical sections ---- */

int pc_vcore_defer_begin(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = vc ? vc->current : NULL;

	if (!t)
		return -EPERM;
	if (t->defer_depth++ == 0)
		atomic_store_explicit(&vc->vcpd->defer, 1,
				      memory_order_relaxed);
	return 0;
}

int pc_vcore_defer_end(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = vc ? vc->current : NULL;

	if (!t)
		return -EPERM;
	if (!t->defer_depth)
		return -EINVAL;
	if (--t->defer_depth)
		return 0;
	atomic_store_explicit(&vc->vcpd->defer, 0, memory_order_relaxed);
	/* Answer a preemption now: the loop gives the core back at once. */
	if (atomic_load(&arb_of(vc->id)->preempt_pending))
		pc_thread_yield();
	return 0;
}
