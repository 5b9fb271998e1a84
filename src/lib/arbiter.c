/*
 * arbiter.c - the embedded arbiter: the process's core pool, amt_wanted
 * and grants (DESIGN.md section 5, embedded mode).
 *
 * The pool is the CPUs of the affinity mask at start-up, or a limit set by
 * the program or $PARCORE_VCORES, which may exceed the CPUs. The arbiter
 * keeps nr_vcores == min(amt_wanted, limit) as its target: it grants the
 * lowest free vcore ids up to the target at once, and a surplus vcore
 * gives its core back the next time it passes through its loop.
 *
 * Lock: grant_lock serializes grants against surplus vcores leaving, so
 * that the count of granted vcores and their online flags agree.
 */
#include "internal.h"
#include "shared.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_init(void)
{
	cpu_set_t set;
	const char *env = getenv("PARCORE_VCORES");
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int cpu = 0; cpu < CPU_SETSIZE && n < PC_VCORE_MAX; cpu++)
			if (CPU_ISSET(cpu, &set))
				pc__rt.cpus[n++] = cpu;
	if (n == 0)
		pc__rt.cpus[n++] = 0;
	pc__rt.ncpus = n;
	atomic_store(&pc__rt.limit, n);
	if (env) {
		char *end;
		long v = strtol(env, &end, 10);

		if (*env && !*end && v >= 1 && v <= PC_VCORE_MAX)
			atomic_store(&pc__rt.limit, (int)v);
	}
	if (!pc__rt.ops)
		pc__rt.ops = pc_sched_default();
}

int pc__vcore_cpu_for(int id)
{
	pthread_once(&pool_once, pool_init);
	return pc__rt.cpus[id % pc__rt.ncpus];
}

/* The target: the request, within the pool less the cores revoked. */
int pc__arbiter_target(void)
{
	int want = atomic_load_explicit(&pc__rt.amt_wanted,
					memory_order_relaxed);
	int limit = atomic_load_explicit(&pc__rt.limit, memory_order_relaxed) -
		    atomic_load_explicit(&pc__rt.revoked, memory_order_relaxed);

	return want < limit ? want : limit;
}

/*
 * The process holds more vcores than the target. Vcores being preempted
 * already count as gone: otherwise another vcore would leave as well.
 * The last vcore is never surplus: it leaves by itself, idle, when none
 * is wanted (pc__state_wait_begin()).
 */
static bool surplus_now(void)
{
	int target = pc__arbiter_target();

	return atomic_load_explicit(&pc__rt.nr_vcores, memory_order_relaxed) -
		       atomic_load_explicit(&pc__rt.nr_preempting,
					    memory_order_relaxed) >
	       (target > 1 ? target : 1);
}

/*
 * Recomputes the hint that every vcore loop pass reads (one relaxed load
 * instead of three and a comparison: it was a tenth of a yield's
 * instructions). Called under grant_lock after anything it depends on
 * changed; a stale hint only delays a leave or costs one locked recheck.
 */
void pc__arbiter_surplus_update_locked(void)
{
	bool now = surplus_now();

	/*
	 * Parked vcores check the hint only before they park: wake one, which
	 * leaves and wakes the next (pc__vcore_wait_offline()), so that a
	 * lowered request takes effect on an idle process too.
	 */
	/* seq_cst: pairs with may_leave()'s read in vcore.c. */
	if (now && !atomic_exchange(&pc__rt.surplus, now))
		pc__vcore_wake_surplus();
	else
		atomic_store_explicit(&pc__rt.surplus, now,
				      memory_order_relaxed);
}

/*
 * pc__arbiter_release_locked() - @vc gives its core back: count it, mark
 * it offline and hand what was queued on it to the vcores that stay.
 * grant_lock held; vcore context of @vc.
 */
void pc__arbiter_release_locked(struct pc__vcore *vc)
{
	atomic_fetch_sub(&pc__rt.nr_vcores, 1);
	/* Before the hand-off: pushers recheck it (sched_default.c). */
	pc__vcore_set_online(vc, false, true);
	pc__vcore_hand_off_locked(vc);
}

/*
 * pc__arbiter_should_leave() - see internal.h. The unlocked check keeps
 * the common case to a few loads; the decision, the count and the hand-off
 * happen under grant_lock, so that the count, the online flags and the
 * heirs of the hand-off agree.
 */
bool pc__arbiter_should_leave(struct pc__vcore *vc)
{
	bool leave = false;

	if (PC_LIKELY(!pc__arbiter_surplus()))
		return false;
	pc__grant_lock();
	if (surplus_now() && vc->id != atomic_load(&pc__rt.single)) {
		pc__arbiter_release_locked(vc);
		leave = true;
	}
	pc__arbiter_surplus_update_locked();
	pc__grant_unlock();
	return leave;
}

/*
 * pc__arbiter_read_request_locked() - take the process's request from its
 * page. The page is the process's to write, so it is hostile input here
 * (DESIGN.md section 5): each word is read once, range-checked, and never
 * followed. A good request goes to the arbiter's page and becomes the
 * target; a bad one is refused, counted in nr_refused and reported, and
 * the last good one stays. grant_lock held. Returns 0 or -EPROTO.
 */
int pc__arbiter_read_request_locked(void)
{
	const struct pc__proc_page *p = pc__sh.arb_proc;
	struct pc__arb_page *a = pc__sh.arb_rw;
	uint32_t magic = p->magic, version = p->version;
	int32_t want = atomic_load_explicit(&p->amt_wanted,
					    memory_order_relaxed);
	int32_t min = atomic_load_explicit(&p->amt_min, memory_order_relaxed);

	if (magic != PC_SHARED_MAGIC || version != PC_SHARED_VERSION ||
	    want < 0 || want > PC_VCORE_MAX || min < 0 ||
	    min > PC_VCORE_MAX) {
		atomic_fetch_add(&a->nr_refused, 1);
		fprintf(stderr,
			"parcore arbiter: refused the process page (magic %#x "
			"version %u amt_wanted %d amt_min %d; wants magic %#x "
			"version %u and counts in 0..%d); keeping amt_wanted "
			"%d\n",
			magic, version, want, min, PC_SHARED_MAGIC,
			PC_SHARED_VERSION, PC_VCORE_MAX,
			atomic_load(&a->amt_wanted));
		return -EPROTO;
	}
	atomic_store(&a->amt_wanted, want);
	atomic_store(&a->amt_min, min);
	atomic_store(&pc__rt.amt_wanted, want);
	return 0;
}

/*
 * Grants the lowest free ids up to the target, the vcore a WAITING
 * process sleeps on first (it holds the sleepers). grant_lock held.
 */
int pc__arbiter_grant_locked(void)
{
	int target = pc__arbiter_target();

	if (target >= 1) {
		int err = pc__state_wake_locked();

		if (err)
			return err;
	}
	for (int id = 0; id < PC_VCORE_MAX &&
			 atomic_load(&pc__rt.nr_vcores) < target;
	     id++) {
		int err;

		if (pc_sched_vcore_online(id))
			continue;
		err = pc__vcore_grant_locked(id, true);
		if (err)
			return err;
		atomic_fetch_add(&pc__rt.nr_vcores, 1);
	}
	return 0;
}

/*
 * Moves the mode from S to ENTERING for the caller, waiting while another
 * thread holds it. Returns false if the process is in multi-core mode.
 */
static bool reserve_single_core_mode(void)
{
	for (;;) {
		int expect = PC_MODE_S;

		if (atomic_compare_exchange_strong(&pc__rt.mode, &expect,
						   PC_MODE_ENTERING))
			return true;
		if (expect == PC_MODE_M)
			return false;
		sched_yield(); /* another thread is entering, or pc_sched_set */
	}
}

/*
 * The first request: set up the runtime and enter multi-core mode. A
 * second thread making a first request at the same time waits until vcore
 * 0 exists (pc__vcore_start_first() publishes M) and then only grants.
 */
static int enter_multicore(void)
{
	int err;

	if (!reserve_single_core_mode())
		return 0;
	pthread_once(&pool_once, pool_init);
	pc__safepoint_init();
	err = pc__notify_init();
	if (err == 0)
		err = pc__rt.ops->init(PC_VCORE_MAX);
	if (err == 0)
		err = pc__ticker_start();
	if (err == 0)
		err = pc__vcore_start_first(); /* returns as a uthread, in M */
	if (err)
		atomic_store(&pc__rt.mode, PC_MODE_S);
	return err;
}

/* pc__arbiter_want() - see internal.h. */
int pc__arbiter_want(int n, bool by_2ls)
{
	int err, granted;

	pc__grant_lock();
	if (by_2ls && atomic_load(&pc__rt.single) >= 0) {
		pc__grant_unlock();
		return 0;
	}
	/* The request travels through the shared page, as to a daemon. */
	atomic_store(&pc__sh.proc->amt_wanted, n);
	err = pc__arbiter_read_request_locked();
	if (!err) {
		pc__state_multi_locked();
		err = pc__arbiter_grant_locked();
	}
	/* Read under the lock: surplus vcores may leave as soon as it drops. */
	granted = atomic_load(&pc__rt.nr_vcores);
	pc__arbiter_surplus_update_locked();
	pc__grant_unlock();
	return err ? err : granted;
}

int pc_vcore_request(int n)
{
	int err;

	if (n < 0 || n > PC_VCORE_MAX)
		return -EINVAL;
	if (n == 0)
		return pc__state_single();
	err = pc__shared_init();
	if (err)
		return err;
	if (atomic_load(&pc__rt.mode) != PC_MODE_M) {
		/* Checked before the runtime starts: a bad page stops it. */
		atomic_store(&pc__sh.proc->amt_wanted, n);
		pc__grant_lock();
		err = pc__arbiter_read_request_locked();
		pc__grant_unlock();
		if (!err)
			err = enter_multicore();
		if (err)
			return err;
	}
	return pc__arbiter_want(n, false);
}

int pc_vcore_limit_set(int n)
{
	if (n < 1 || n > PC_VCORE_MAX)
		return -EINVAL;
	pthread_once(&pool_once, pool_init);
	pc__grant_lock();
	atomic_store(&pc__rt.limit, n);
	pc__arbiter_surplus_update_locked();
	pc__grant_unlock();
	return 0;
}

int pc_vcore_limit(void)
{
	pthread_once(&pool_once, pool_init);
	return atomic_load(&pc__rt.limit);
}

int pc_vcore_wanted(void)
{
	return atomic_load(&pc__rt.amt_wanted);
}

int pc_sched_set(const struct pc_sched_ops *ops)
{
	if (!ops || !ops->init || !ops->pick_next || !ops->thread_runnable ||
	    (ops->quantum_ns && ops->quantum_ns < PC_QUANTUM_MIN_NS))
		return -EINVAL;
	/* Held in ENTERING so that no first request reads ops meanwhile. */
	if (!reserve_single_core_mode())
		return -EBUSY;
	pthread_once(&pool_once, pool_init);
	pc__rt.ops = ops;
	pc__sched_default_refresh();
	pc__quantum_of_2ls(ops->quantum_ns);
	atomic_store(&pc__rt.mode, PC_MODE_S);
	return 0;
}
