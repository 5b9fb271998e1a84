/*
 * queue_ideal.c - the least a strict-FIFO hand-off of parcore's shape
 * costs on this machine: a limit for the contended-mutex benchmarks, as
 * the hand-written switch is for `switch` (bench/README.md).
 *
 * k uthreads on one vcore contend for a lock made of a test-and-set
 * spinlock guarding a FIFO of waiters on their stacks. Unlock makes the
 * head the owner and records it as the one to run next; lock, if the
 * lock is held, queues and switches straight to that one with
 * pc_thread_switch(). Once all are queued, every acquisition is the next
 * contender's, as in mutex_8 once its contenders gather on one vcore.
 * Nothing else: no outcome word, timer, cancellation or idle vcore to
 * wake, and no nopreempt section. So it is correct only on one vcore,
 * with nothing preempting it; it is a figure to compare with, not a lock.
 */
#include "ours.h"

#include <stdatomic.h>
#include <stdbool.h>

struct ideal_waiter {
	struct pc_thread *t;
	struct ideal_waiter *next;
};

struct ideal {
	atomic_int tas;
	struct ideal_waiter *head, *tail; /* under tas */
	struct pc_thread *owner;          /* under tas */
	struct pc_thread *run_next;       /* the last unlock's new owner */
	struct pc_thread *main, *t[BENCH_CONTENDERS_MAX];
	unsigned int k;
	uint64_t x;    /* under the lock */
	uint64_t left; /* acquisitions left in the batch */
	bool stop;
	int err;
};

static void tas_lock(struct ideal *q)
{
	while (atomic_exchange_explicit(&q->tas, 1, memory_order_acquire))
		;
}

static void tas_unlock(struct ideal *q)
{
	atomic_store_explicit(&q->tas, 0, memory_order_release);
}

/*
 * Takes the lock for @me; if it is held, queues and switches to @to (the
 * last unlock's new owner, or while all queue at the start, the next
 * contender), and returns when an unlock has made @me the owner.
 */
static int ideal_lock(struct ideal *q, struct pc_thread *me,
		      struct pc_thread *to)
{
	struct ideal_waiter w = { me, NULL };

	tas_lock(q);
	if (!q->owner) {
		q->owner = me;
		tas_unlock(q);
		return 0;
	}
	if (q->tail)
		q->tail->next = &w;
	else
		q->head = &w;
	q->tail = &w;
	tas_unlock(q);
	return ours_switch_when_parked(to);
}

static void ideal_unlock(struct ideal *q)
{
	struct ideal_waiter *w;

	tas_lock(q);
	w = q->head;
	if (w) {
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
	}
	q->owner = w ? w->t : NULL;
	tas_unlock(q);
	if (w)
		q->run_next = w->t;
}

struct ideal_member {
	struct ideal *q;
	unsigned int i;
};

/*
 * The first to run takes the lock and lets each other contender queue
 * in turn; the last queued switches back to it. A batch's last
 * acquisition switches to main holding the lock, and the next batch
 * resumes its owner. At the stop, each owner unlocks and makes the next
 * one runnable, or main once the queue is empty.
 */
static void *contend(void *arg)
{
	struct ideal_member *me = arg;
	struct ideal *q = me->q;
	struct pc_thread *self = q->t[me->i];
	int err = pc_thread_park();

	if (!err)
		err = ideal_lock(q, self, q->t[(me->i + 1) % q->k]);
	if (!err && me->i == 0)
		err = ours_switch_when_parked(q->t[1]);
	while (!err && !q->stop) {
		bench_critical(&q->x);
		if (--q->left == 0) {
			err = pc_thread_switch(q->main);
			continue;
		}
		ideal_unlock(q);
		err = ideal_lock(q, self, q->run_next);
	}
	if (err)
		q->err = err;
	ideal_unlock(q);
	pc_thread_unpark(q->owner ? q->owner : q->main);
	return NULL;
}

static int ideal_batch(void *arg, uint64_t n)
{
	struct ideal *q = arg;
	int err;

	q->left = n;
	err = ours_switch_when_parked(q->owner ? q->owner : q->t[0]);
	return err ? err : q->err;
}

static void ours_queue_ideal(void *arg, struct bench_value *v, unsigned int k)
{
	static struct ideal q;
	struct ideal_member members[BENCH_CONTENDERS_MAX];
	unsigned int made = 0;
	int err = 0;

	if (ours_enter_vcores(1, v))
		return;
	q.k = k;
	q.main = pc_thread_self();
	for (; made < k && !err; made++) {
		members[made] = (struct ideal_member){ &q, made };
		err = pc_thread_create(&q.t[made], NULL, contend,
				       &members[made]);
	}
	ours_measure_made(arg, v, err, ideal_batch, &q);
	if (err)
		return; /* the stop needs all k; the process exits */
	q.stop = true;
	pc_thread_switch(q.owner);
	for (unsigned int i = 0; i < made; i++)
		pc_thread_join(q.t[i], NULL);
}

void ours_queue_ideal_2(void *arg, struct bench_value *v)
{
	ours_queue_ideal(arg, v, 2);
}

void ours_queue_ideal_8(void *arg, struct bench_value *v)
{
	ours_queue_ideal(arg, v, 8);
}

void ours_queue_ideal_64(void *arg, struct bench_value *v)
{
	ours_queue_ideal(arg, v, 64);
}
