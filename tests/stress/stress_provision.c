/*
 * stress_provision.c - the provisioner stress, in the manner of Akaros's
 * prov test: while thousands of uthreads do checksummed work on 8 vcores
 * over 2 CPUs, a provisioner thread (playing the arbiter) takes cores
 * away and gives them back at random, with warnings from 0 to 200 us, as
 * fast as it can (thousands of changes a second here). Invariants that
 * only a lost, duplicated or corrupted uthread, or a lost preemption,
 * could break:
 *  - every worker returns the checksum of its id and of the number of
 *    rounds it says it made, and is joined exactly once;
 *  - every preemption sent completes (nr_preempts_sent == done per vcore)
 *    once the provisioner stops;
 *  - the process ends with every core back;
 *  - every USER event a poster thread sends meanwhile, to random vcores
 *    with a fallback, is handled exactly once, or counted as overflowed
 *    (events posted to a vcore as it goes offline are forwarded by it);
 *  - every event it posts to an event queue is taken exactly once by the
 *    uthreads blocked on the queue (a count and a sum);
 *  - the workers' mutexes exclude (one owner at a time, counts exact)
 *    and their semaphore's units all come back, while holders and
 *    waiters are moved and their vcores taken.
 * $PC_STRESS_SECONDS sets the duration (default 3; the long run
 * is 30).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "provision.h"
#include "rt.h"
#include "test.h"

#define VCORES 8
#define WORKERS 2000

static atomic_int stop;
static atomic_long ev_sent, ev_msgs, ev_bits;
#define QWAITERS 4
#define QSTOP 1
static struct pc_evq *q;
static atomic_long q_sent, q_got, q_sum_sent, q_sum_got;

static uint64_t mix(uint64_t h, uint64_t i)
{
	return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9u + i;
}

/* What worker @id returns after @rounds rounds, computed directly. */
static uint64_t expected(uint64_t id, uint64_t rounds)
{
	uint64_t h = id * 0x9e3779b97f4a7c15u;

	for (uint64_t i = 0; i < rounds; i++)
		h = mix(h, i);
	return h;
}

struct result {
	uint64_t h, rounds;
};

/* Shared by the workers: mutual exclusion and units under preemption. */
#define MUTEXES 4
#define UNITS 3
static struct pc_mutex mtx[MUTEXES] = { PC_MUTEX_INIT, PC_MUTEX_INIT,
					PC_MUTEX_INIT, PC_MUTEX_INIT };
static long mtx_count[MUTEXES];        /* under mtx[i] */
static atomic_int mtx_inside[MUTEXES]; /* owners now: 0 or 1 */
static atomic_long mtx_taken[MUTEXES];
static struct pc_sem units = PC_SEM_INIT(UNITS);
static atomic_int units_out;

/* A deadline @ns from now, for the timed waits. */
static struct timespec in_ns(uint64_t ns)
{
	uint64_t t = test_now_ns() + ns;

	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000u),
				  .tv_nsec = (long)(t % 1000000000u) };
}

/*
 * Every third take is timed, 0-100 us: its timer sits in a sleep queue
 * that moves when the vcore goes, and races the hand-off.
 */
static void use_mutex(uint32_t r)
{
	int i = (int)(r % MUTEXES);

	if (r % 3 == 0) {
		struct timespec d = in_ns((r >> 4) % 100000);
		int rc = pc_mutex_timedlock(&mtx[i], &d);

		if (rc == -ETIMEDOUT)
			return;
		ASSERT_EQ(rc, 0);
	} else {
		ASSERT_EQ(pc_mutex_lock(&mtx[i]), 0);
	}
	ASSERT_EQ(atomic_fetch_add(&mtx_inside[i], 1), 0);
	mtx_count[i]++;
	if (r % 5 == 0)
		pc_thread_yield(); /* held across a switch, maybe a move */
	atomic_fetch_sub(&mtx_inside[i], 1);
	ASSERT_EQ(pc_mutex_unlock(&mtx[i]), 0);
	atomic_fetch_add(&mtx_taken[i], 1);
}

static void use_unit(uint32_t r)
{
	struct timespec d = in_ns(r % 200000);

	if (r % 2) {
		int rc = pc_sem_timedwait(&units, &d);

		if (rc == -ETIMEDOUT)
			return;
		ASSERT_EQ(rc, 0);
	} else {
		ASSERT_EQ(pc_sem_wait(&units), 0);
	}
	ASSERT_LE(atomic_fetch_add(&units_out, 1), UNITS - 1);
	pc_thread_yield();
	atomic_fetch_sub(&units_out, 1);
	ASSERT_EQ(pc_sem_post(&units), 0);
}

static void *worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, h = id * 0x9e3779b97f4a7c15u;
	uint32_t rnd = (uint32_t)id * 2654435761u + 1;
	struct result *res = malloc(sizeof(*res));
	uint64_t i;

	ASSERT_TRUE(res != NULL);
	for (i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		uint32_t r = test_xorshift(&rnd);

		h = mix(h, i);
		if (r % 3 == 0) {
			pc_thread_yield();
		} else if (r % 7 == 1) {
			use_mutex(r >> 8);
		} else if (r % 29 == 2) {
			use_unit(r >> 6);
		} else if (r % 101 == 1) {
			pc_thread_sleep(r % 100000);
		} else if (r % 53 == 2) {
			/* Runs past a short deadline: forced, not nice. */
			uint64_t until = test_now_ns() + r % 50000;

			while (test_now_ns() < until)
				;
		}
	}
	res->h = h;
	res->rounds = i;
	return res;
}

static void on_user(const struct pc_event *ev, void *arg)
{
	(void)arg;
	atomic_fetch_add(ev->flags & PC_EVENT_F_OVERFLOW ? &ev_bits : &ev_msgs,
			 1);
}

/*
 * Sends USER events to random vcores until the provisioner is done, a
 * burst of four at a time (so some find a vcore leaving) and sleeping in
 * between (so the provisioner keeps its CPU).
 */
static void *poster(void *arg)
{
	const struct timespec pause = { 0, 100 * 1000 };
	struct pc_event ev = { .type = PC_EV_USER };
	uint32_t rnd = 777;

	(void)arg;
	while (!test_provisioner_done()) {
		struct pc_event qev = { .type = PC_EV_APP_FIRST,
					.arg = { test_xorshift(&rnd) } };

		for (int i = 0; i < 4; i++)
			if (pc_event_send((int)(test_xorshift(&rnd) % VCORES),
					  &ev,
					  PC_EVF_NOTIFY | PC_EVF_FALLBACK) == 0)
				atomic_fetch_add(&ev_sent, 1);
		ASSERT_EQ(pc_evq_post(q, &qev), 0);
		atomic_fetch_add(&q_sent, 1);
		atomic_fetch_add(&q_sum_sent, (long)qev.arg[0]);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Takes the queue's events until a stop event. */
static void *q_waiter(void *arg)
{
	struct pc_event ev;

	(void)arg;
	for (;;) {
		ASSERT_EQ(pc_evq_wait(q, &ev), 0);
		if (ev.arg[1] == QSTOP)
			return NULL;
		atomic_fetch_add(&q_got, 1);
		atomic_fetch_add(&q_sum_got, (long)ev.arg[0]);
	}
}

/* Stops the waiters once they took everything; checks what they took. */
static void q_check(struct pc_thread **w)
{
	struct pc_event end = { .type = PC_EV_APP_FIRST, .arg = { 0, QSTOP } };
	struct pc_evq_stats st;

	/* An overflowed event is never taken: fail now, not hang below. */
	ASSERT_EQ(pc_evq_stats(q, &st), 0);
	ASSERT_EQ(st.overflowed, 0);
	while (atomic_load(&q_got) < atomic_load(&q_sent))
		pc_thread_yield();
	for (int i = 0; i < QWAITERS; i++)
		ASSERT_EQ(pc_evq_post(q, &end), 0);
	for (int i = 0; i < QWAITERS; i++)
		ASSERT_EQ(pc_thread_join(w[i], NULL), 0);
	ASSERT_EQ(atomic_load(&q_got), atomic_load(&q_sent));
	ASSERT_EQ(atomic_load(&q_sum_got), atomic_load(&q_sum_sent));
	ASSERT_EQ(pc_evq_stats(q, &st), 0);
	ASSERT_EQ(st.overflowed, 0);
	ASSERT_EQ(pc_evq_destroy(q), 0);
}

static uint64_t overflowed(void)
{
	uint64_t n = 0;

	for (int v = 0; v < VCORES; v++) {
		struct pc_event_stats st;

		ASSERT_EQ(pc_event_stats(v, &st), 0);
		n += st.overflowed;
	}
	return n;
}

/* Every event sent was handled as a message, or went to a bitmap. */
static void all_events_handled(void)
{
	while ((uint64_t)atomic_load(&ev_msgs) + overflowed() <
	       (uint64_t)atomic_load(&ev_sent))
		pc_thread_yield();
	ASSERT_LE(atomic_load(&ev_msgs), atomic_load(&ev_sent));
	if (overflowed() == 0)
		ASSERT_EQ(atomic_load(&ev_bits), 0);
}

static void all_preemptions_done(void)
{
	for (int v = 0; v < VCORES; v++)
		while (atomic_load(&pc__sh.arb->vc[v].nr_preempts_done) !=
		       atomic_load(&pc__sh.arb->vc[v].nr_preempts_sent))
			pc_thread_yield();
}

TEST(cores_taken_and_given_back_at_random_lose_nothing)
{
	uint64_t ns = test_stress_ns(3);
	uint64_t sent = 0, done = 0;
	struct pc_thread **t = malloc(WORKERS * sizeof(*t)), *qw[QWAITERS];
	pthread_t post;
	long changes;

	ASSERT_TRUE(t != NULL);
	test_enter(VCORES);
	for (uintptr_t i = 0; i < WORKERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, worker, (void *)i), 0);
	ASSERT_EQ(pc_event_handler_set(PC_EV_USER, on_user, NULL), 0);
	ASSERT_EQ(pc_evq_create(&q, PC_EVQ_MAX_CAPACITY), 0);
	for (int i = 0; i < QWAITERS; i++)
		ASSERT_EQ(pc_thread_create(&qw[i], NULL, q_waiter, NULL), 0);
	test_provisioner_start(VCORES, ns);
	ASSERT_EQ(pthread_create(&post, NULL, poster, NULL), 0);
	while (!test_provisioner_done())
		pc_thread_yield();
	changes = test_provisioner_join();
	pthread_join(post, NULL);
	all_preemptions_done();
	all_events_handled();
	q_check(qw);
	atomic_store(&stop, 1);
	for (uintptr_t i = 0; i < WORKERS; i++) {
		struct result *res;

		ASSERT_EQ(pc_thread_join(t[i], (void **)&res), 0);
		ASSERT_EQ(res->h, expected(i, res->rounds));
		free(res);
	}
	for (int v = 0; v < VCORES; v++) {
		sent += atomic_load(&pc__sh.arb->vc[v].nr_preempts_sent);
		done += atomic_load(&pc__sh.arb->vc[v].nr_preempts_done);
	}
	printf("%ld changes in %.1f s (%.0f/s), %" PRIu64
	       " preemptions sent, %" PRIu64 " completed; %ld events sent, "
	       "%ld handled, %" PRIu64 " overflowed; %ld through a queue\n",
	       changes, (double)ns / 1e9,
	       (double)changes / ((double)ns / 1e9), sent, done,
	       atomic_load(&ev_sent), atomic_load(&ev_msgs), overflowed(),
	       atomic_load(&q_got));
	ASSERT_EQ(sent, done);
	ASSERT_GT(sent, 0);
	for (int i = 0; i < MUTEXES; i++) {
		ASSERT_EQ(mtx_count[i], atomic_load(&mtx_taken[i]));
		ASSERT_EQ(pc_mutex_destroy(&mtx[i]), 0);
	}
	ASSERT_EQ(pc_sem_value(&units), UNITS);
	ASSERT_EQ(pc_vcore_count(), VCORES);
	free(t);
}
