/*
 * state.c - the process's state (DESIGN.md section 3) as the embedded
 * arbiter keeps it: RUNNING_M, RUNNING_S again after pc_vcore_request(0)
 * (the caller's vcore is the only one left), and WAITING (no vcore: the
 * last one left, idle, while the process wanted none). The protocol and
 * its races: docs/design/process-states.md.
 */
#include "internal.h"
#include "shared.h"

void pc__state_set_locked(uint32_t state)
{
	atomic_store(&pc__sh.arb_rw->state, state);
}

/* ---- single-core mode ---- */

/*
 * pc__state_single() - see internal.h. The caller's vcore stays; the
 * others are surplus (the target is 0, the floor 1) and leave at their
 * next pass, handing their work on; pc__arbiter_should_leave() never
 * lets the single vcore go.
 */
int pc__state_single(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	int err;

	if (atomic_load(&pc__rt.mode) != PC_MODE_M)
		return 0; /* single-core already */
	if (!vc || !pc__thread_current())
		return -EPERM;
	pc__grant_lock();
	/* It would go: the request lost the race, as a plain yield does. */
	if (atomic_load(&vc->arb->preempt_pending)) {
		pc__grant_unlock();
		return -EAGAIN;
	}
	atomic_store(&pc__sh.proc->amt_wanted, 0);
	err = pc__arbiter_read_request_locked();
	if (!err) {
		atomic_store(&pc__rt.single, vc->id);
		pc__state_set_locked(PC_PROC_RUNNING_S);
		pc__arbiter_surplus_update_locked();
	}
	pc__grant_unlock();
	return err;
}

void pc__state_multi_locked(void)
{
	if (atomic_load(&pc__rt.single) < 0)
		return;
	atomic_store(&pc__rt.single, -1);
	pc__state_set_locked(PC_PROC_RUNNING_M);
}

/* ---- WAITING ---- */

/*
 * pc__state_wait_begin() - see internal.h. @vc is PARKED and counted in
 * nr_parked already: a waker that queues work after this finds it so and
 * wakes it (vcore-idle.md), and work queued before it is found by the
 * caller's last look, which comes after.
 */
bool pc__state_wait_begin(struct pc__vcore *vc)
{
	bool leave;

	if (PC_LIKELY(atomic_load_explicit(&pc__rt.amt_wanted,
					   memory_order_relaxed) != 0 ||
		      atomic_load_explicit(&pc__rt.single,
					   memory_order_relaxed) >= 0))
		return false;
	pc__grant_lock();
	leave = pc__arbiter_target() == 0 &&
		atomic_load(&pc__rt.nr_vcores) == 1 &&
		atomic_load(&pc__rt.nr_preempting) == 0 &&
		atomic_load(&pc__rt.single) < 0 && atomic_load(&vc->online) &&
		!atomic_load(&vc->arb->preempt_pending);
	if (leave) {
		/* Before it goes offline: a poster finds one or the other. */
		atomic_store(&pc__rt.waiting, vc->id);
		atomic_fetch_sub(&pc__rt.nr_vcores, 1);
		/* Unannounced: an event would wake the process at once. */
		pc__vcore_set_online(vc, false, false);
		pc__vcore_hand_off_locked(vc); /* no heir: sleepers stay */
		pc__state_set_locked(PC_PROC_WAITING);
	}
	pc__grant_unlock();
	return leave;
}

/*
 * pc__state_wake_locked() - see internal.h. Online before `waiting` is
 * cleared, the mirror of pc__state_wait_begin(): a poster that misses
 * the one sees the other.
 */
int pc__state_wake_locked(void)
{
	int id = atomic_load(&pc__rt.waiting);
	int err;

	if (id < 0)
		return 0;
	err = pc__vcore_grant_locked(id, false);
	if (err)
		return err;
	atomic_fetch_add(&pc__rt.nr_vcores, 1);
	atomic_store(&pc__rt.waiting, -1);
	pc__state_set_locked(PC_PROC_RUNNING_M);
	return 0;
}

/* Woken: back online, unless a grant brought it back already. */
void pc__state_wait_end(struct pc__vcore *vc)
{
	pc__grant_lock();
	if (!atomic_load(&vc->online))
		pc__state_wake_locked();
	pc__arbiter_surplus_update_locked();
	pc__grant_unlock();
}
