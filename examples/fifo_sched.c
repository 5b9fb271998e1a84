/*
 * fifo_sched.c - a deliberately different 2LS: every vcore takes from one
 * global FIFO queue under one lock. No affinity, no stealing, no per-vcore
 * state. It uses only the public sched.h interface, which is the point:
 * a program brings its own scheduler with pc_sched_set().
 */
#include "fifo_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

struct node {
	struct pc_thread *next;
};

static struct {
	pthread_spinlock_t lock;
	struct pc_thread *head, *tail;
	atomic_int len;
} q;

static struct node *node_of(struct pc_thread *t)
{
	return pc_thread_sched_data(t);
}

static int fifo_init(int max_vcores)
{
	(void)max_vcores;
	return -pthread_spin_init(&q.lock, PTHREAD_PROCESS_PRIVATE);
}

static void fifo_runnable(struct pc_thread *t)
{
	node_of(t)->next = NULL;
	pthread_spin_lock(&q.lock);
	if (q.tail)
		node_of(q.tail)->next = t;
	else
		q.head = t;
	q.tail = t;
	atomic_fetch_add_explicit(&q.len, 1, memory_order_relaxed);
	pthread_spin_unlock(&q.lock);
	/* The queue is shared: any idle vcore will do. */
	pc_sched_wake();
}

static struct pc_thread *fifo_pick_next(int vcoreid)
{
	struct pc_thread *t;

	(void)vcoreid;
	if (!atomic_load_explicit(&q.len, memory_order_relaxed))
		return NULL;
	pthread_spin_lock(&q.lock);
	t = q.head;
	if (t) {
		q.head = node_of(t)->next;
		if (!q.head)
			q.tail = NULL;
		atomic_fetch_sub_explicit(&q.len, 1, memory_order_relaxed);
	}
	pthread_spin_unlock(&q.lock);
	return t;
}

/* Shared by every vcore: each busy one is ticked while any uthread waits. */
static unsigned int fifo_queued(int vcoreid)
{
	(void)vcoreid;
	return (unsigned int)atomic_load_explicit(&q.len,
						  memory_order_relaxed);
}

static const struct pc_sched_ops fifo_ops = {
	.name = "fifo",
	.init = fifo_init,
	.pick_next = fifo_pick_next,
	.thread_runnable = fifo_runnable,
	.queued = fifo_queued,
	/*
	 * thread_paused and vcore_leaving: not needed with one queue;
	 * thread_handoff: a hand-off is an ordinary wake-up here.
	 */
};

const struct pc_sched_ops *fifo_sched_ops(void)
{
	return &fifo_ops;
}
