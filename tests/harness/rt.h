/*
 * rt.h - entering multi-core mode in tests.
 *
 * test_enter(n) sets the pool to @n vcores (oversubscribing the CPUs if
 * @n is larger), installs the 2LS named by $PC_TEST_SCHED ("fifo" for the
 * example in examples/fifo_sched.c, else the default), and requests @n
 * vcores: the caller returns as a uthread.
 */
#ifndef PARCORE_TEST_RT_H
#define PARCORE_TEST_RT_H

#include <stdbool.h>

void test_enter(int nvcores);

/* A case that enters otherwise: print the runtime's state if it hangs. */
void test_dump_on_hang(void);

/*
 * errno through a fresh lookup each time (a separate translation unit, so
 * the compiler cannot reuse an errno address computed on another vcore:
 * see "errno" in parcore/thread.h).
 */
void test_errno_set(int v);
int test_errno_get(void);

struct pc_mutex;
struct timespec;
/* The CLOCK_MONOTONIC deadline @ns from now, for the timed waits. */
struct timespec test_deadline_in(unsigned long long ns);

/*
 * Waiters queued on a parcore/sync.h primitive now: its _lock and the
 * _head of the queue (counted under that spinlock). Not for a mutex,
 * whose queue is taken otherwise (mutex.c): test_mutex_waiters().
 */
int test_waiters(int *lock, void **head);
/* Waiters queued on mutex @m now, counted with its queue taken. */
int test_mutex_waiters(struct pc_mutex *m);
/*
 * Whether membarrier() serves parcore's asymmetric fences here (x86-64,
 * registered once multi-core mode is entered): without it no mutex is
 * biased, and the plain pop is not made (mutex.c).
 */
bool test_asym_fence(void);

#endif
