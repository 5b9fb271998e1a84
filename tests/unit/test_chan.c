/*
 * test_chan.c - channels: every message once and in each sender's order,
 * closing, select, time-outs racing hand-offs, bad input, vcore context.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "test.h"

TEST(bad_input_is_refused_and_changes_nothing)
{
	void *slots[2], *m;
	struct pc_chan c, z = PC_CHAN_BOUNDED_INIT(slots, 0);
	struct pc_chan_op op = { .chan = &c, .dir = PC_CHAN_RECV };
	struct timespec bad = { 0, -1 }, d;

	ASSERT_EQ(pc_chan_init(NULL, PC_CHAN_UNBUFFERED, NULL, 0), -EINVAL);
	ASSERT_EQ(pc_chan_init(&c, 9, NULL, 0), -EINVAL);
	ASSERT_EQ(pc_chan_init(&c, PC_CHAN_BOUNDED, slots, 0), -EINVAL);
	ASSERT_EQ(pc_chan_init(&c, PC_CHAN_BOUNDED, NULL, 2), -EINVAL);
	ASSERT_EQ(pc_chan_init(&c, PC_CHAN_UNBUFFERED, slots, 2), -EINVAL);
	ASSERT_EQ(pc_chan_send(&z, NULL), -EINVAL); /* capacity 0 */
	ASSERT_EQ(pc_chan_recv(&z, &m), -EINVAL);
	ASSERT_EQ(pc_chan_init(&c, PC_CHAN_BOUNDED, slots, 2), 0);
	ASSERT_EQ(pc_chan_send(NULL, NULL), -EINVAL);
	ASSERT_EQ(pc_chan_recv(&c, NULL), -EINVAL);
	ASSERT_EQ(pc_chan_tryrecv(&c, &m), -EAGAIN);
	ASSERT_EQ(pc_chan_trysend(&c, (void *)1), 0);
	ASSERT_EQ(pc_chan_trysend(&c, (void *)2), 0);
	ASSERT_EQ(pc_chan_trysend(&c, (void *)3), -EAGAIN); /* full */
	ASSERT_EQ(pc_chan_len(&c), 2);
	ASSERT_EQ(pc_chan_timedsend(&c, (void *)3, &bad), -EINVAL);
	ASSERT_EQ(pc_chan_select(NULL, 1, NULL), -EINVAL);
	ASSERT_EQ(pc_chan_select(&op, 0, NULL), -EINVAL);
	ASSERT_EQ(pc_chan_select(&op, PC_CHAN_SELECT_MAX + 1, NULL), -EINVAL);
	op.dir = 7;
	ASSERT_EQ(pc_chan_select(&op, 1, NULL), -EINVAL);
	op.dir = PC_CHAN_RECV;
	op.chan = NULL;
	ASSERT_EQ(pc_chan_select(&op, 1, NULL), -EINVAL); /* never */
	ASSERT_EQ(pc_chan_tryselect(&op, 1), -EAGAIN);
	d = test_deadline_in(1000 * 1000);
	ASSERT_EQ(pc_chan_select(&op, 1, &d), -ETIMEDOUT);
	ASSERT_EQ(pc_chan_len(&c), 2);
	/* Closed: sends fail, receives drain, then fail. */
	ASSERT_EQ(pc_chan_close(&c), 0);
	ASSERT_EQ(pc_chan_close(&c), -EPIPE);
	ASSERT_EQ(pc_chan_send(&c, (void *)4), -EPIPE);
	ASSERT_EQ(pc_chan_recv(&c, &m), 0);
	ASSERT_EQ((intptr_t)m, 1);
	ASSERT_EQ(pc_chan_recv(&c, &m), 0);
	ASSERT_EQ((intptr_t)m, 2);
	ASSERT_EQ(pc_chan_recv(&c, &m), -EPIPE);
	ASSERT_EQ(pc_chan_destroy(&c), 0);
	ASSERT_EQ(pc_chan_destroy(NULL), -EINVAL);
}

/* ---- every message once, in each sender's order ---- */

#define SENDERS 6 /* 5 uthreads, 1 pthread */
#define RECEIVERS 5 /* 4 uthreads, 1 pthread */
#define PER_SENDER 3000

static struct pc_chan *flow;
static atomic_int got[SENDERS][PER_SENDER];
static atomic_int out_of_order, senders_left;

static void *send_all(void *arg)
{
	intptr_t me = (intptr_t)arg;

	for (intptr_t i = 0; i < PER_SENDER; i++) {
		ASSERT_EQ(pc_chan_send(flow, (void *)(me << 20 | i)), 0);
		if (i % 64 == 0 && me != SENDERS - 1)
			pc_thread_yield();
	}
	if (atomic_fetch_sub(&senders_left, 1) == 1)
		ASSERT_EQ(pc_chan_close(flow), 0);
	return NULL;
}

static void *recv_all(void *arg)
{
	int last[SENDERS];
	void *m;

	(void)arg;
	memset(last, -1, sizeof(last));
	while (pc_chan_recv(flow, &m) == 0) {
		int from = (int)((intptr_t)m >> 20), seq = (int)((intptr_t)m & 0xfffff);

		if (seq <= last[from])
			atomic_store(&out_of_order, 1);
		last[from] = seq;
		atomic_fetch_add(&got[from][seq], 1);
	}
	return NULL;
}

/* Senders and receivers, uthreads and pthreads, on 8 vcores; then close. */
static void run_flow(struct pc_chan *c)
{
	struct pc_thread *t[SENDERS + RECEIVERS];
	pthread_t ps, pr;

	flow = c;
	atomic_store(&senders_left, SENDERS);
	memset(got, 0, sizeof(got));
	test_enter(8);
	ASSERT_EQ(pthread_create(&pr, NULL, recv_all, NULL), 0);
	for (intptr_t i = 0; i < RECEIVERS - 1; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, recv_all, NULL), 0);
	ASSERT_EQ(pthread_create(&ps, NULL, send_all,
				 (void *)(intptr_t)(SENDERS - 1)),
		  0);
	for (intptr_t i = 0; i < SENDERS - 1; i++)
		ASSERT_EQ(pc_thread_create(&t[RECEIVERS - 1 + i], NULL,
					   send_all, (void *)i),
			  0);
	for (int i = 0; i < SENDERS + RECEIVERS - 2; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(pthread_join(ps, NULL), 0);
	ASSERT_EQ(pthread_join(pr, NULL), 0);
	ASSERT_EQ(atomic_load(&out_of_order), 0);
	for (int s = 0; s < SENDERS; s++)
		for (int i = 0; i < PER_SENDER; i++)
			ASSERT_EQ(atomic_load(&got[s][i]), 1);
	ASSERT_EQ(pc_chan_destroy(c), 0);
}

TEST(an_unbuffered_channel_delivers_every_message_once_in_order)
{
	static struct pc_chan c = PC_CHAN_UNBUFFERED_INIT;

	run_flow(&c);
}

TEST(a_bounded_channel_delivers_every_message_once_in_order)
{
	static void *slots[4];
	static struct pc_chan c = PC_CHAN_BOUNDED_INIT(slots, 4);

	run_flow(&c);
}

TEST(an_unbounded_channel_delivers_every_message_once_in_order)
{
	static struct pc_chan c = PC_CHAN_UNBOUNDED_INIT;

	run_flow(&c);
}

/* ---- close wakes every waiter ---- */

static struct pc_chan closing = PC_CHAN_UNBUFFERED_INIT;

static void *blocked_recv(void *arg)
{
	void *m = (void *)1;
	int rc;

	(void)arg;
	rc = pc_chan_recv(&closing, &m);
	ASSERT_TRUE(m == (void *)1); /* untouched on failure */
	return (void *)(intptr_t)rc;
}

static void *blocked_send(void *arg)
{
	return (void *)(intptr_t)pc_chan_send(&closing, arg);
}

TEST(close_fails_every_waiting_sender_and_receiver)
{
	struct pc_thread *t[6];
	void *rc;

	test_enter(4);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, blocked_recv, NULL),
			  0);
	while (test_waiters(&closing._lock, &closing._rhead) < 3)
		pc_thread_yield();
	ASSERT_EQ(pc_chan_destroy(&closing), -EBUSY);
	ASSERT_EQ(pc_chan_close(&closing), 0);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(pc_thread_join(t[i], &rc), 0);
		ASSERT_EQ((int)(intptr_t)rc, -EPIPE);
	}
	/* Senders blocked on an unbuffered channel, then closed. */
	ASSERT_EQ(pc_chan_init(&closing, PC_CHAN_UNBUFFERED, NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, blocked_send,
					   (void *)(intptr_t)(i + 1)),
			  0);
	while (test_waiters(&closing._lock, &closing._shead) < 3)
		pc_thread_yield();
	ASSERT_EQ(pc_chan_close(&closing), 0);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(pc_thread_join(t[i], &rc), 0);
		ASSERT_EQ((int)(intptr_t)rc, -EPIPE);
	}
	ASSERT_EQ(pc_chan_recv(&closing, &rc), -EPIPE); /* nothing got in */
	ASSERT_EQ(pc_chan_destroy(&closing), 0);
}

/* ---- select ---- */

#define SEL_CHANS 3
#define SEL_EACH 2000

static struct pc_chan sel_c[SEL_CHANS] = { PC_CHAN_UNBUFFERED_INIT,
					    PC_CHAN_UNBOUNDED_INIT,
					    PC_CHAN_UNBUFFERED_INIT };

static void *feed(void *arg)
{
	intptr_t ch = (intptr_t)arg;

	for (intptr_t i = 1; i <= SEL_EACH; i++)
		ASSERT_EQ(pc_chan_send(&sel_c[ch], (void *)i), 0);
	ASSERT_EQ(pc_chan_close(&sel_c[ch]), 0);
	return NULL;
}

/*
 * One uthread selects over three channels fed by three others until all
 * are closed: it gets each channel's messages once and in order, and
 * every case is picked (a closed channel's case is then disabled).
 */
TEST(select_receives_from_several_channels)
{
	struct pc_chan_op ops[SEL_CHANS];
	struct pc_thread *t[SEL_CHANS];
	intptr_t next[SEL_CHANS] = { 1, 1, 1 };
	int open = SEL_CHANS;

	test_enter(4);
	for (int i = 0; i < SEL_CHANS; i++) {
		ops[i] = (struct pc_chan_op){ .chan = &sel_c[i],
					      .dir = PC_CHAN_RECV };
		ASSERT_EQ(pc_thread_create(&t[i], NULL, feed,
					   (void *)(intptr_t)i),
			  0);
	}
	while (open) {
		int i = pc_chan_select(ops, SEL_CHANS, NULL);

		ASSERT_GE(i, 0);
		ASSERT_LT(i, SEL_CHANS);
		if (ops[i].result == -EPIPE) {
			ASSERT_EQ(next[i], SEL_EACH + 1);
			ops[i].chan = NULL;
			open--;
			continue;
		}
		ASSERT_EQ(ops[i].result, 0);
		ASSERT_EQ((intptr_t)ops[i].msg, next[i]);
		next[i]++;
	}
	for (int i = 0; i < SEL_CHANS; i++) {
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
		ASSERT_EQ(pc_chan_destroy(&sel_c[i]), 0);
	}
}

/*
 * Both cases ready every time (a full and an empty bounded channel): the
 * pick is spread, so neither starves; exactly one case happens each time.
 */
TEST(select_picks_among_ready_cases_at_random_and_does_one)
{
	void *a_slots[1], *b_slots[1], *m;
	struct pc_chan a, b;
	struct pc_chan_op ops[2];
	int picked[2] = { 0, 0 };

	test_enter(1);
	ASSERT_EQ(pc_chan_init(&a, PC_CHAN_BOUNDED, a_slots, 1), 0);
	ASSERT_EQ(pc_chan_init(&b, PC_CHAN_BOUNDED, b_slots, 1), 0);
	ASSERT_EQ(pc_chan_send(&a, (void *)7), 0); /* a: full, b: empty */
	for (int k = 0; k < 1000; k++) {
		ops[0] = (struct pc_chan_op){ .chan = &a, .dir = PC_CHAN_RECV };
		ops[1] = (struct pc_chan_op){ .chan = &b,
					      .dir = PC_CHAN_SEND,
					      .msg = (void *)9 };
		int i = pc_chan_tryselect(ops, 2);

		ASSERT_TRUE(i == 0 || i == 1);
		picked[i]++;
		/* Put back the state: a full, b empty. */
		if (i == 0) {
			ASSERT_EQ((intptr_t)ops[0].msg, 7);
			ASSERT_EQ(pc_chan_send(&a, (void *)7), 0);
		} else {
			ASSERT_EQ(pc_chan_recv(&b, &m), 0);
			ASSERT_EQ((intptr_t)m, 9);
		}
		ASSERT_EQ(pc_chan_len(&a), 1);
		ASSERT_EQ(pc_chan_len(&b), 0);
	}
	ASSERT_GT(picked[0], 0);
	ASSERT_GT(picked[1], 0);
}

/* ---- time-outs racing hand-offs ---- */

#define RACERS 8
#define RACES 3000

static struct pc_chan race_c = PC_CHAN_UNBUFFERED_INIT;
static atomic_long sent_ok, recv_ok, recv_sum, sent_sum;

static void *race(void *arg)
{
	uint32_t seed = (uint32_t)(intptr_t)arg * 2654435761u + 3;
	bool sender = (intptr_t)arg % 2;

	for (int i = 0; i < RACES; i++) {
		uint32_t r = test_xorshift(&seed);
		struct timespec d = test_deadline_in(r % 50000);
		void *m = (void *)(intptr_t)(r % 1000 + 1);
		int rc;

		if (sender) {
			rc = pc_chan_timedsend(&race_c, m, &d);
			if (rc == 0) {
				atomic_fetch_add(&sent_ok, 1);
				atomic_fetch_add(&sent_sum, (intptr_t)m);
			}
		} else {
			rc = pc_chan_timedrecv(&race_c, &m, &d);
			if (rc == 0) {
				atomic_fetch_add(&recv_ok, 1);
				atomic_fetch_add(&recv_sum, (intptr_t)m);
			}
		}
		ASSERT_TRUE(rc == 0 || rc == -ETIMEDOUT);
	}
	return NULL;
}

/*
 * Timed sends and receives on an unbuffered channel, with deadlines of
 * 0-50 us: a message counts as sent exactly when it was received.
 */
TEST(timed_sends_and_receives_agree_on_every_message)
{
	struct pc_thread *t[RACERS];

	test_enter(8);
	for (intptr_t i = 0; i < RACERS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, race, (void *)i), 0);
	for (int i = 0; i < RACERS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	ASSERT_EQ(atomic_load(&sent_ok), atomic_load(&recv_ok));
	ASSERT_EQ(atomic_load(&sent_sum), atomic_load(&recv_sum));
	ASSERT_GT(atomic_load(&sent_ok), 0);
	ASSERT_EQ(pc_chan_destroy(&race_c), 0);
	printf("  %ld of %d exchanges happened\n", atomic_load(&sent_ok),
	       RACERS / 2 * RACES);
}

/* ---- vcore context ---- */

static void *h_slots[1];
static struct pc_chan h_chan = PC_CHAN_BOUNDED_INIT(h_slots, 1);
static atomic_int h_send = 1, h_full = 1, h_recv = 1;

static void in_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_store(&h_send, pc_chan_trysend(&h_chan, (void *)5));
	atomic_store(&h_full, pc_chan_send(&h_chan, (void *)6));
	atomic_store(&h_recv, pc_chan_trysend(&h_chan, (void *)6));
}

/* A handler may try, but a send that would wait is refused. */
TEST(a_handler_can_try_but_not_wait)
{
	struct pc_event ev = { .type = PC_EV_USER };
	void *m;

	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(PC_EV_USER, in_handler, NULL), 0);
	ASSERT_EQ(pc_event_send(1 - pc_vcore_id(), &ev, PC_EVF_NOTIFY), 0);
	while (atomic_load(&h_recv) == 1)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&h_send), 0);
	ASSERT_EQ(atomic_load(&h_full), -EPERM);
	ASSERT_EQ(atomic_load(&h_recv), -EAGAIN);
	ASSERT_EQ(pc_chan_recv(&h_chan, &m), 0);
	ASSERT_EQ((intptr_t)m, 5);
}
