/*
 * spinlock.c - waiting for a runtime spinlock (struct pc__spinlock) whose
 * holder may not be running: the preemption-detecting half of the lock
 * (seed 003 4.4; Akaros's mcs-pdr, LESSONS 3.x; STYLE.md example 3).
 *
 * A holder is never stopped by parcore: it holds the lock in a nopreempt
 * section, so neither a notification nor a preemption takes it off its
 * vcore (notifications.md). What does stop holders is Linux, when vcores
 * share a CPU (oversubscription): it time-slices their threads, and a
 * waiter that spins on the holder's own CPU spins for the rest of its
 * slice (milliseconds) while the holder cannot run at all. So the lock
 * word names the holder's CPU, and a waiter on that CPU gives the CPU to
 * it (sched_yield()) at once: the one CPU runs one of the two, and the
 * waiter, running, proves the holder is not. A waiter elsewhere spins, and
 * yields every PC_SPIN_YIELD_EVERY looks in case Linux has descheduled
 * the holder for another thread of its CPU.
 *
 * A holder whose vcore a daemon freezes (DESIGN.md section 5's backstop)
 * would need the arbiter to run it; that comes with the daemon.
 */
#include "internal.h"

#include <sched.h>

/* Looks at a held lock between yields when the holder may be running. */
#define PC_SPIN_YIELD_EVERY 4096u

/* pc__spin_wait() - see internal.h: until @l looks free. */
void pc__spin_wait(struct pc__spinlock *l, int tag)
{
	for (unsigned int looks = 1;; looks++) {
		int holder =
		    atomic_load_explicit(&l->locked, memory_order_relaxed);

		if (!holder)
			return;
		if (holder == tag && tag != PC_SPIN_ANON) {
			atomic_fetch_add_explicit(&pc__rt.nr_spin_handoffs, 1,
						  memory_order_relaxed);
			sched_yield();
		} else if (looks % PC_SPIN_YIELD_EVERY == 0) {
			sched_yield();
		} else {
			pc__cpu_relax();
		}
	}
}
