/*
 * autoscale.c - the default 2LS's estimate of how many cores the process
 * needs: it raises amt_wanted when runnable uthreads wait while no vcore
 * is idle, and lowers it while some vcore is always idle (seed 003 4.4:
 * the 2LS, not the program, knows the demand).
 *
 * Both are judged at the 2LS's picks, on every vcore: a busy vcore picks
 * at each switch, an idle one while it spins and, parked, every
 * PC_AUTOSCALE_IDLE_NS / 2 (pc__rt.idle_poll_ns), so an idle process is
 * looked at too. Hysteresis, so that the request does not flap:
 *  - raise: a backlog (uthreads queued behind the one picked, with no
 *    vcore spinning or parked) seen at every pick for
 *    PC_AUTOSCALE_RAISE_NS; the request then grows by the backlog seen,
 *    at once (a burst asks for the cores it can use), up to max;
 *  - lower: at least one vcore idle at every pick for
 *    PC_AUTOSCALE_IDLE_NS, fifty times longer; the request drops by one,
 *    down to min, and the window starts again;
 *  - any two changes are PC_AUTOSCALE_RAISE_NS apart, and one caller
 *    makes each (a CAS on the time of the last one).
 * (A first version lowered when one vcore had found no work for the
 * window: a sleeper waking every millisecond on either of two vcores
 * kept both from ever qualifying, and the request stuck at 2.)
 *
 * The request goes through the process page, as a program's would
 * (pc__arbiter_want()), but never changes the mode: it is ignored in
 * single-core mode, and a minimum of 0 lets the last vcore go, idle,
 * leaving the process WAITING (process-states.md). Vcore context.
 */
#include "internal.h"

#include "../common/sys.h"

#define PC_AUTOSCALE_RAISE_NS (200u * 1000u)
#define PC_AUTOSCALE_IDLE_NS (10u * 1000u * 1000u)

static atomic_int as_min, as_max;
static atomic_uint_fast64_t backlog_since; /* 0: no backlog seen */
static atomic_uint_fast64_t last_change;

static atomic_uint_fast64_t spare_since; /* 0: a pick saw none idle */

atomic_bool pc__autoscale_on;

int pc_sched_default_autoscale(int min, int max)
{
	if (max == 0) {
		atomic_store(&pc__autoscale_on, false);
		pc__sched_default_refresh();
		atomic_store(&pc__rt.idle_poll_ns, 0);
		return 0;
	}
	if (min < 0 || max < min || max > PC_VCORE_MAX)
		return -EINVAL;
	if (pc__rt.ops && pc__rt.ops != pc_sched_default())
		return -EOPNOTSUPP;
	atomic_store(&as_min, min);
	atomic_store(&as_max, max);
	/* Windows from an earlier time on are stale. */
	atomic_store(&backlog_since, 0);
	atomic_store(&spare_since, 0);
	atomic_store(&last_change, pc__now_ns());
	atomic_store(&pc__rt.idle_poll_ns, PC_AUTOSCALE_IDLE_NS / 2);
	atomic_store(&pc__autoscale_on, true);
	pc__sched_default_refresh();
	return 0;
}

/*
 * @now - @then, signed: another vcore may have stored a time later than
 * the @now this one read a moment before (then it is negative, not huge).
 */
static int64_t elapsed(uint64_t now, uint64_t then)
{
	return (int64_t)(now - then);
}

/* Claims the right to change the request now; false if too soon. */
static bool claim_change(uint64_t now)
{
	uint64_t last =
	    atomic_load_explicit(&last_change, memory_order_relaxed);

	return elapsed(now, last) >= PC_AUTOSCALE_RAISE_NS &&
	       atomic_compare_exchange_strong(&last_change, &last, now);
}

static void request(int want)
{
	int min = atomic_load(&as_min), max = atomic_load(&as_max);

	pc__arbiter_want(want < min ? min : want > max ? max : want, true);
}

static void saw_backlog(int queued)
{
	uint64_t now = pc__now_ns();
	uint64_t since =
	    atomic_load_explicit(&backlog_since, memory_order_relaxed);
	int wanted = pc_vcore_wanted();

	if (wanted >= atomic_load_explicit(&as_max, memory_order_relaxed))
		return;
	if (!since) {
		atomic_compare_exchange_strong(&backlog_since, &since, now);
		return;
	}
	if (elapsed(now, since) < PC_AUTOSCALE_RAISE_NS || !claim_change(now))
		return;
	atomic_store(&backlog_since, 0);
	request(wanted + queued);
}

/* A pick saw a vcore idle (maybe its own): a core to spare? */
static void saw_spare(void)
{
	uint64_t now = pc__now_ns();
	uint64_t since =
	    atomic_load_explicit(&spare_since, memory_order_relaxed);
	int wanted;

	if (!since) {
		atomic_compare_exchange_strong(&spare_since, &since, now);
		return;
	}
	wanted = pc_vcore_wanted();
	if (elapsed(now, since) < PC_AUTOSCALE_IDLE_NS ||
	    wanted <= atomic_load(&as_min) || !claim_change(now))
		return;
	atomic_store(&spare_since, now);
	request(wanted - 1);
}

/* Forgets a window that a pick has just broken. */
static void reset(atomic_uint_fast64_t *since)
{
	if (atomic_load_explicit(since, memory_order_relaxed))
		atomic_store_explicit(since, 0, memory_order_relaxed);
}

/* pc__autoscale_pick() - see internal.h. */
void pc__autoscale_pick(bool found, int queued)
{
	int idle = pc__vcores_idle();

	if (found && queued > 0 && !idle)
		saw_backlog(queued);
	else
		reset(&backlog_since);
	if (idle || !found)
		saw_spare();
	else
		reset(&spare_since);
}
