/*
 * test_evq.c - application event queues (parcore/evq.h): order, overflow,
 * waiting uthreads, handlers in vcore context, and every event consumed
 * exactly once when waiters, pollers and a handler compete for them.
 */
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>

#include "rt.h"
#include "test.h"

#define APP_EV (PC_EV_APP_FIRST + 1)

static struct pc_event ev_of(uint64_t a0, uint64_t a1)
{
	return (struct pc_event){.type = APP_EV, .arg = {a0, a1}};
}

TEST(bad_calls_change_nothing)
{
	struct pc_evq *q;
	struct pc_event ev = ev_of(1, 0), out;

	ASSERT_EQ(pc_evq_create(NULL, 0), -EINVAL);
	ASSERT_EQ(pc_evq_create(&q, 3), -EINVAL);
	ASSERT_EQ(pc_evq_create(&q, 1), -EINVAL); /* one slot cannot work */
	ASSERT_EQ(pc_evq_create(&q, PC_EVQ_MAX_CAPACITY * 2), -EINVAL);
	ASSERT_EQ(pc_evq_create(&q, 0), 0);
	ASSERT_EQ(pc_evq_post(NULL, &ev), -EINVAL);
	ASSERT_EQ(pc_evq_post(q, NULL), -EINVAL);
	ev.type = PC_EV_MAX;
	ASSERT_EQ(pc_evq_post(q, &ev), -EINVAL);
	ASSERT_EQ(pc_evq_get(q, &out), -EAGAIN);
	ASSERT_EQ(pc_evq_get(q, NULL), -EINVAL);
	/* main is not a uthread yet: it polls instead. */
	ASSERT_EQ(pc_evq_wait(q, &out), -EPERM);
	ASSERT_EQ(pc_evq_handler_set(q, NULL, NULL, -1, 0), -EINVAL);
	ASSERT_EQ(pc_evq_handler_set(q, NULL, NULL, 0, PC_EVF_BIT_ONLY),
		  -EINVAL);
	ASSERT_EQ(pc_evq_destroy(NULL), -EINVAL);
	ASSERT_EQ(pc_evq_destroy(q), 0);
}

TEST(events_come_out_in_order_from_any_thread)
{
	struct pc_evq *q;
	struct pc_evq_stats st;
	struct pc_event out;

	ASSERT_EQ(pc_evq_create(&q, 64), 0);
	for (uint64_t i = 0; i < 50; i++) {
		struct pc_event ev = ev_of(i, 0);

		ASSERT_EQ(pc_evq_post(q, &ev), 0);
	}
	for (uint64_t i = 0; i < 50; i++) {
		ASSERT_EQ(pc_evq_get(q, &out), 0);
		ASSERT_EQ(out.type, APP_EV);
		ASSERT_EQ(out.arg[0], i);
		ASSERT_EQ(out.flags, 0);
	}
	ASSERT_EQ(pc_evq_get(q, &out), -EAGAIN);
	ASSERT_EQ(pc_evq_stats(q, &st), 0);
	ASSERT_EQ(st.posted, 50);
	ASSERT_EQ(st.taken, 50);
	ASSERT_EQ(st.overflowed, 0);
	ASSERT_EQ(pc_evq_destroy(q), 0);
}

TEST(a_full_ring_counts_the_overflow_and_sets_the_bit)
{
	struct pc_evq *q;
	struct pc_evq_stats st;
	struct pc_event ev = ev_of(7, 0), out;

	ASSERT_EQ(pc_evq_create(&q, 4), 0);
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(pc_evq_post(q, &ev), 0);
	ASSERT_EQ(pc_evq_stats(q, &st), 0);
	ASSERT_EQ(st.posted, 4);
	ASSERT_EQ(st.overflowed, 6);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pc_evq_get(q, &out), 0);
		ASSERT_EQ(out.arg[0], 7);
	}
	/* The six overflowed events: one event of their type, no payload. */
	ASSERT_EQ(pc_evq_get(q, &out), 0);
	ASSERT_EQ(out.type, APP_EV);
	ASSERT_EQ(out.flags, PC_EVENT_F_OVERFLOW);
	ASSERT_EQ(out.arg[0], 0);
	ASSERT_EQ(pc_evq_get(q, &out), -EAGAIN);
	ASSERT_EQ(pc_evq_destroy(q), 0);
}

static struct pc_evq *shared_q;

static void *wait_one(void *arg)
{
	struct pc_event out;

	(void)arg;
	ASSERT_EQ(pc_evq_wait(shared_q, &out), 0);
	return (void *)(uintptr_t)out.arg[0];
}

static void *post_from_pthread(void *arg)
{
	struct pc_event ev = ev_of((uint64_t)(uintptr_t)arg, 0);

	ASSERT_EQ(pc_evq_post(shared_q, &ev), 0);
	return NULL;
}

TEST(a_waiting_uthread_wakes_for_a_plain_threads_post)
{
	struct pc_thread *t;
	struct pc_evq_stats st;
	pthread_t p;
	void *got;

	test_enter(2);
	ASSERT_EQ(pc_evq_create(&shared_q, 0), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, wait_one, NULL), 0);
	/* Once it waits, destroying the queue under it is refused. */
	while (pc_evq_stats(shared_q, &st) == 0 && st.waiters == 0)
		pc_thread_yield();
	ASSERT_EQ(pc_evq_destroy(shared_q), -EBUSY);
	ASSERT_EQ(pthread_create(&p, NULL, post_from_pthread, (void *)42), 0);
	ASSERT_EQ(pc_thread_join(t, &got), 0);
	pthread_join(p, NULL);
	ASSERT_EQ((uintptr_t)got, 42);
	ASSERT_EQ(pc_evq_destroy(shared_q), 0);
}

static atomic_long handled;
static atomic_int wrong_vcore, not_vcore_context;

static void on_event(const struct pc_event *ev, void *arg)
{
	(void)ev;
	if (pc_vcore_id() != (int)(intptr_t)arg)
		atomic_fetch_add(&wrong_vcore, 1);
	if (pc_thread_self() != NULL)
		atomic_fetch_add(&not_vcore_context, 1);
	atomic_fetch_add(&handled, 1);
}

TEST(a_handler_runs_in_vcore_context_on_its_vcore)
{
	struct pc_evq *q;
	struct pc_event ev = ev_of(1, 0);

	test_enter(3);
	ASSERT_EQ(pc_evq_create(&q, 1024), 0); /* room for every event */
	ASSERT_EQ(pc_evq_handler_set(q, on_event, (void *)2, 2, PC_EVF_NOTIFY),
		  0);
	for (int i = 0; i < 1000; i++) {
		ASSERT_EQ(pc_evq_post(q, &ev), 0);
		if (i % 64 == 0)
			pc_thread_yield();
	}
	while (atomic_load(&handled) < 1000)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&handled), 1000);
	ASSERT_EQ(atomic_load(&wrong_vcore), 0);
	ASSERT_EQ(atomic_load(&not_vcore_context), 0);
	ASSERT_EQ(pc_evq_destroy(q), 0);
}

/*
 * Waiters, a poller and a handler compete for the events that uthreads
 * and a plain thread post: each event is consumed once (the sums and
 * counts agree), none is left behind, none overflowed.
 */
#define WAITERS 6
#define POSTERS 4
#define PER_POSTER 5000
#define STOP 1

static atomic_long got_count, got_sum;

static void consume(const struct pc_event *ev)
{
	atomic_fetch_add(&got_count, 1);
	atomic_fetch_add(&got_sum, (long)ev->arg[0]);
}

static void on_compete(const struct pc_event *ev, void *arg)
{
	(void)arg;
	consume(ev);
}

static void *waiter(void *arg)
{
	struct pc_event ev;

	(void)arg;
	for (;;) {
		ASSERT_EQ(pc_evq_wait(shared_q, &ev), 0);
		if (ev.arg[1] == STOP)
			return NULL;
		consume(&ev);
	}
}

static void *poster(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg * PER_POSTER;

	for (uint64_t i = 0; i < PER_POSTER; i++) {
		struct pc_event ev = ev_of(base + i, 0);
		struct pc_event got;

		ASSERT_EQ(pc_evq_post(shared_q, &ev), 0);
		if (i % 7 == 0 && pc_evq_get(shared_q, &got) == 0) {
			if (got.arg[1] == STOP)
				ASSERT_TRUE(!"a stop before the end");
			consume(&got);
		}
		if (i % 5 == 0)
			pc_thread_yield();
	}
	return NULL;
}

TEST(waiters_pollers_and_a_handler_consume_each_event_once)
{
	struct pc_thread *w[WAITERS], *p[POSTERS];
	struct pc_evq_stats st;
	pthread_t plain;
	long n = (long)(POSTERS + 1) * PER_POSTER;
	long sum = n * (n - 1) / 2;

	test_enter(8);
	ASSERT_EQ(pc_evq_create(&shared_q, PC_EVQ_MAX_CAPACITY), 0);
	ASSERT_EQ(pc_evq_handler_set(shared_q, on_compete, NULL, 1,
				     PC_EVF_NOTIFY | PC_EVF_FALLBACK),
		  0);
	for (int i = 0; i < WAITERS; i++)
		ASSERT_EQ(pc_thread_create(&w[i], NULL, waiter, NULL), 0);
	for (uintptr_t i = 0; i < POSTERS; i++)
		ASSERT_EQ(pc_thread_create(&p[i], NULL, poster, (void *)i), 0);
	/* The plain thread posts the last share, from outside parcore. */
	ASSERT_EQ(pthread_create(&plain, NULL, poster, (void *)POSTERS), 0);
	for (int i = 0; i < POSTERS; i++)
		ASSERT_EQ(pc_thread_join(p[i], NULL), 0);
	pthread_join(plain, NULL);
	while (atomic_load(&got_count) < n)
		pc_thread_yield();
	ASSERT_EQ(pc_evq_handler_set(shared_q, NULL, NULL, 0, 0), 0);
	for (int i = 0; i < WAITERS; i++) {
		struct pc_event stop = ev_of(0, STOP);

		ASSERT_EQ(pc_evq_post(shared_q, &stop), 0);
	}
	for (int i = 0; i < WAITERS; i++)
		ASSERT_EQ(pc_thread_join(w[i], NULL), 0);
	ASSERT_EQ(atomic_load(&got_count), n);
	ASSERT_EQ(atomic_load(&got_sum), sum);
	ASSERT_EQ(pc_evq_stats(shared_q, &st), 0);
	ASSERT_EQ(st.overflowed, 0);
	ASSERT_EQ(st.taken, st.posted);
	ASSERT_EQ(pc_evq_destroy(shared_q), 0);
}

static void on_count(const struct pc_event *ev, void *arg)
{
	(void)ev;
	atomic_fetch_add((atomic_long *)arg, 1);
}

/*
 * Queues destroyed while their PC_EV_EVQ_READY is still on its way, and
 * their table slots reused at once: a late event never runs a freed
 * queue's handler (ASan would see it) nor a new queue's for the old one.
 */
TEST(destroying_a_queue_with_a_handler_racing_is_safe)
{
	static atomic_long counts[2];
	struct pc_event ev = ev_of(1, 0);

	test_enter(4);
	for (int round = 0; round < 400; round++) {
		struct pc_evq *q;
		atomic_long *c = &counts[round % 2];
		long before = atomic_load(c);

		ASSERT_EQ(pc_evq_create(&q, 16), 0);
		ASSERT_EQ(pc_evq_handler_set(q, on_count, c, round % 4,
					     PC_EVF_NOTIFY | PC_EVF_FALLBACK),
			  0);
		for (int i = 0; i < 8; i++)
			ASSERT_EQ(pc_evq_post(q, &ev), 0);
		if (round % 3 == 0)
			pc_thread_yield();
		ASSERT_EQ(pc_evq_destroy(q), 0);
		ASSERT_LE(atomic_load(c) - before, 8);
	}
}

/*
 * Found by a second reader: waiters blocking and waking in a loop while
 * plain threads post. A waiter woken for an event another took could be
 * unlinked without being woken and sleep for ever; and a waiter that
 * found the head slot still being filled used up a later event's wake-up.
 * Every waiter must get its stop event.
 */
#define CYCLERS 8
#define CYCLE_POSTERS 3
#define PER_CYCLE_POSTER 50000

static atomic_long cycle_sent;

static void *cycle_poster(void *arg)
{
	struct pc_event ev = ev_of(0, 0);

	(void)arg;
	for (int i = 0; i < PER_CYCLE_POSTER; i++) {
		/* Never more in flight than the ring holds: no overflow. */
		while (atomic_load(&cycle_sent) - atomic_load(&got_count) >
		       PC_EVQ_MAX_CAPACITY / 2)
			sched_yield();
		ASSERT_EQ(pc_evq_post(shared_q, &ev), 0);
		atomic_fetch_add(&cycle_sent, 1);
		if (i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

TEST(waiters_cycling_against_plain_posters_are_never_lost)
{
	struct pc_thread *w[CYCLERS];
	pthread_t p[CYCLE_POSTERS];
	long n = (long)CYCLE_POSTERS * PER_CYCLE_POSTER;

	test_enter(2);
	ASSERT_EQ(pc_evq_create(&shared_q, PC_EVQ_MAX_CAPACITY), 0);
	for (int i = 0; i < CYCLERS; i++)
		ASSERT_EQ(pc_thread_create(&w[i], NULL, waiter, NULL), 0);
	for (int i = 0; i < CYCLE_POSTERS; i++)
		ASSERT_EQ(pthread_create(&p[i], NULL, cycle_poster, NULL), 0);
	for (int i = 0; i < CYCLE_POSTERS; i++)
		pthread_join(p[i], NULL);
	while (atomic_load(&got_count) < n)
		pc_thread_sleep(1000 * 1000);
	for (int i = 0; i < CYCLERS; i++) {
		struct pc_event stop = ev_of(0, STOP);

		ASSERT_EQ(pc_evq_post(shared_q, &stop), 0);
	}
	for (int i = 0; i < CYCLERS; i++)
		ASSERT_EQ(pc_thread_join(w[i], NULL), 0);
	ASSERT_EQ(atomic_load(&got_count), n);
	ASSERT_EQ(pc_evq_destroy(shared_q), 0);
}

static void *wait_and_go(void *arg)
{
	struct pc_event ev;

	(void)arg;
	ASSERT_EQ(pc_evq_wait(shared_q, &ev), 0);
	return NULL;
}

/*
 * A woken waiter still inside pc_evq_wait() keeps the queue alive:
 * destroy says -EBUSY until it is out (ASan saw the free under it).
 */
TEST(destroy_waits_for_woken_waiters_to_leave)
{
	struct pc_evq_stats st;

	test_enter(2);
	for (int round = 0; round < 1000; round++) {
		struct pc_thread *t;
		struct pc_event ev = ev_of(1, 0);
		int r;

		ASSERT_EQ(pc_evq_create(&shared_q, 16), 0);
		ASSERT_EQ(pc_thread_create(&t, NULL, wait_and_go, NULL), 0);
		while (pc_evq_stats(shared_q, &st) == 0 && st.waiters == 0)
			pc_thread_yield();
		ASSERT_EQ(pc_evq_post(shared_q, &ev), 0);
		while ((r = pc_evq_destroy(shared_q)) == -EBUSY)
			;
		ASSERT_EQ(r, 0);
		ASSERT_EQ(pc_thread_join(t, NULL), 0);
	}
}

static atomic_int stream_on;

static void slow_handler(const struct pc_event *ev, void *arg)
{
	uint64_t until = test_now_ns() + 20000;

	(void)ev;
	(void)arg;
	while (test_now_ns() < until)
		;
}

static void *stream(void *arg)
{
	struct pc_event ev = ev_of(1, 0);

	(void)arg;
	while (atomic_load(&stream_on)) {
		for (int i = 0; i < 100; i++)
			pc_evq_post(shared_q, &ev);
		usleep(1000);
	}
	return NULL;
}

/*
 * Changing the handler waits for the old handler's calls, not for the
 * queue to run dry: it returns while events keep coming (the stream
 * stops only after it returned; waiting for an idle queue hung here).
 */
TEST(a_handler_change_returns_under_a_steady_stream)
{
	pthread_t p;

	test_enter(3);
	ASSERT_EQ(pc_evq_create(&shared_q, PC_EVQ_MAX_CAPACITY), 0);
	ASSERT_EQ(pc_evq_handler_set(shared_q, slow_handler, NULL, 1,
				     PC_EVF_NOTIFY),
		  0);
	atomic_store(&stream_on, 1);
	ASSERT_EQ(pthread_create(&p, NULL, stream, NULL), 0);
	pc_thread_sleep(50 * 1000 * 1000);
	ASSERT_EQ(pc_evq_handler_set(shared_q, slow_handler, (void *)1, 1,
				     PC_EVF_NOTIFY),
		  0);
	atomic_store(&stream_on, 0);
	pthread_join(p, NULL);
	ASSERT_EQ(pc_evq_handler_set(shared_q, NULL, NULL, 0, 0), 0);
	ASSERT_EQ(pc_evq_destroy(shared_q), 0);
}

static struct pc_evq *qa, *qb;
static atomic_int in_a, in_b, crossed;

/* Each handler, once both run, changes the other's queue. */
static void cross(atomic_int *mine, atomic_int *other, struct pc_evq *q,
		  int vcoreid)
{
	atomic_store(mine, 1);
	while (!atomic_load(other))
		;
	ASSERT_EQ(pc_evq_handler_set(q, NULL, NULL, vcoreid, 0), 0);
	atomic_fetch_add(&crossed, 1);
}

static void on_a(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	cross(&in_a, &in_b, qb, 2);
}

static void on_b(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	cross(&in_b, &in_a, qa, 1);
}

/* From a handler, a handler change does not wait (two would deadlock). */
TEST(handlers_changing_each_others_queue_do_not_deadlock)
{
	struct pc_event ev = ev_of(1, 0);

	test_enter(3);
	ASSERT_EQ(pc_evq_create(&qa, 16), 0);
	ASSERT_EQ(pc_evq_create(&qb, 16), 0);
	ASSERT_EQ(pc_evq_handler_set(qa, on_a, NULL, 1, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_evq_handler_set(qb, on_b, NULL, 2, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_evq_post(qa, &ev), 0);
	ASSERT_EQ(pc_evq_post(qb, &ev), 0);
	while (atomic_load(&crossed) < 2)
		pc_thread_yield();
	ASSERT_EQ(pc_evq_destroy(qa), 0);
	ASSERT_EQ(pc_evq_destroy(qb), 0);
}

/*
 * A waiter takes the event and destroys the queue while the poster is
 * still announcing it: destroy waits for the post to finish (ASan saw the
 * poster touch the freed queue; a second reader's finding).
 */
static _Atomic(struct pc_evq *) tail_q;
static atomic_int tail_round, tail_done, tail_quit;

static void *tail_poster(void *arg)
{
	int seen = 0;

	(void)arg;
	while (!atomic_load(&tail_quit)) {
		int r = atomic_load(&tail_round);
		struct pc_event ev = ev_of(1, 0);

		if (r == seen) {
			sched_yield();
			continue;
		}
		seen = r;
		ASSERT_EQ(pc_evq_post(atomic_load(&tail_q), &ev), 0);
		atomic_store(&tail_done, r);
	}
	return NULL;
}

TEST(destroy_right_after_a_wait_lets_the_post_finish)
{
	pthread_t p;

	test_enter(2);
	ASSERT_EQ(pthread_create(&p, NULL, tail_poster, NULL), 0);
	for (int r = 1; r <= 5000; r++) {
		struct pc_evq *q;
		struct pc_event ev;

		ASSERT_EQ(pc_evq_create(&q, 16), 0);
		atomic_store(&tail_q, q);
		atomic_store(&tail_round, r);
		ASSERT_EQ(pc_evq_wait(q, &ev), 0);
		ASSERT_EQ(pc_evq_destroy(q), 0);
		while (atomic_load(&tail_done) != r)
			pc_thread_yield();
	}
	atomic_store(&tail_quit, 1);
	pthread_join(p, NULL);
}

static int old_arg, mid_arg, new_arg;
static atomic_int in_old, release_old, mid_done;

/* As the old handler: runs until released. */
static void long_call(const struct pc_event *ev, void *arg)
{
	(void)ev;
	if (arg != &old_arg)
		return;
	atomic_store(&in_old, 1);
	while (!atomic_load(&release_old))
		;
	atomic_store(&in_old, 0);
}

static void *set_mid(void *arg)
{
	(void)arg;
	ASSERT_EQ(pc_evq_handler_set(shared_q, long_call, &mid_arg, 1,
				     PC_EVF_NOTIFY),
		  0);
	atomic_store(&mid_done, 1);
	return NULL;
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	atomic_store(&release_old, 1);
	return NULL;
}

/*
 * Two handler changes at once: neither returns while a call of the
 * handler they replaced is still running (interleaved epoch flips once
 * let the second return at once; a second reader's finding).
 */
TEST(concurrent_handler_changes_both_wait_for_the_old_call)
{
	struct pc_event ev = ev_of(1, 0);
	pthread_t mid, rel;

	test_enter(3);
	ASSERT_EQ(pc_evq_create(&shared_q, 16), 0);
	ASSERT_EQ(pc_evq_handler_set(shared_q, long_call, &old_arg, 1,
				     PC_EVF_NOTIFY),
		  0);
	ASSERT_EQ(pc_evq_post(shared_q, &ev), 0);
	while (!atomic_load(&in_old))
		pc_thread_yield();
	ASSERT_EQ(pthread_create(&mid, NULL, set_mid, NULL), 0);
	ASSERT_EQ(pthread_create(&rel, NULL, release_later, NULL), 0);
	ASSERT_EQ(pc_evq_handler_set(shared_q, long_call, &new_arg, 1,
				     PC_EVF_NOTIFY),
		  0);
	ASSERT_EQ(atomic_load(&in_old), 0);
	ASSERT_EQ(atomic_load(&release_old), 1);
	pthread_join(mid, NULL);
	pthread_join(rel, NULL);
	ASSERT_EQ(atomic_load(&mid_done), 1);
	ASSERT_EQ(pc_evq_handler_set(shared_q, NULL, NULL, 0, 0), 0);
	ASSERT_EQ(pc_evq_destroy(shared_q), 0);
}
