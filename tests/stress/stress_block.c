/*
 * stress_block.c - uthreads that block and hand off, 64 of them on 8
 * vcores over however many CPUs there are (2 here: oversubscribed). The
 * target is the fast block (docs/design/sync.md): a uthread that blocks
 * while its vcore's hand-off slot is full publishes itself blocked
 * before its switch has saved it, and a waker on another vcore may queue
 * it, and that vcore or a third take it, at once; it must wait for the
 * save. The slot's uthread may be another fast blocker's, not saved yet
 * either.
 *  - Rings of 4 uthreads pass a token round over unbuffered channels:
 *    each send hands the token to the next one, blocked in its receive,
 *    and the sender's own receive then blocks and switches to it.
 *  - 16 uthreads take turns at one mutex, handed from owner to owner;
 *    one take in three is timed, 0-50 us, so that timers make blocked
 *    waiters runnable as hand-offs and fast blocks go on.
 * Now and then one sleeps a moment, so that vcores go idle and steal
 * what waits in the others' slots and queues. A third case runs fewer
 * uthreads, which spin a few microseconds after each send: idle vcores
 * then steal the slot while its owner may be taking it (the slot's take,
 * docs/design/sync.md). Invariants that only a
 * lost, doubled or half-saved uthread, or a lost hand-off, could break:
 *  - each uthread's state stays whole across every block (whole.h:
 *    registers, stack, rounding mode, never on two vcores at once);
 *  - each ring's token counts exactly its members' receives;
 *  - the mutex's counter, incremented under it, counts exactly its
 *    owners' turns;
 *  - every uthread finishes and is joined.
 * Once alone, once with the provisioner taking cores away and giving
 * them back. $PC_STRESS_SECONDS sets how long they run (default 2).
 */
#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <time.h>

#include "provision.h"
#include "rt.h"
#include "test.h"
#include "whole.h"

#define VCORES 8
#define RINGS 12
#define RING 4
#define LOCKERS 16
#define UTHREADS (RINGS * RING + LOCKERS)
/* The third case's: few enough that vcores idle, and its spin. */
#define STEAL_RINGS 2
#define STEAL_LOCKERS 4
#define STEAL_SPIN_NS 4000
/* One turn in this many sleeps a moment: vcores go idle and steal. */
#define SLEEP_EVERY 1024

/*
 * A token is its hop count, shifted past the stop bit; a stop carries
 * the index of the member that started it, which ends the stop's round.
 */
#define STOP 1u

static struct pc_chan chans[RINGS][RING];
static struct pc_mutex lock;
static uint64_t counter; /* under lock */
static uint64_t last_token[RINGS];
static int nrings = RINGS, nlockers = LOCKERS;
static uint64_t spin_ns; /* after each send or unlock */
static atomic_int stop;
static atomic_int running[UTHREADS];
static atomic_long moves;

struct member {
	int id;       /* among all the uthreads */
	int ring, at; /* for a ring's member */
	uint64_t turns, timeouts;
};

static struct member members[UTHREADS];

/* Between @m's turns: now and then a sleep; counts a move between vcores. */
static void between_turns(struct member *m, int *vc)
{
	if (m->turns % SLEEP_EVERY == (uint64_t)m->id % SLEEP_EVERY)
		pc_thread_sleep(20000);
	if (pc_vcore_id() != *vc) {
		*vc = pc_vcore_id();
		atomic_fetch_add(&moves, 1);
	}
}

/* Keeps the vcore busy for spin_ns: the slot just filled waits. */
static void spin_after_hand_off(void)
{
	struct timespec t0, t;

	if (!spin_ns)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u +
		       (uint64_t)t.tv_nsec - (uint64_t)t0.tv_nsec <
	       spin_ns);
}

/* Receives on @m's channel, with the state checked across the block. */
static uintptr_t ring_recv(struct member *m, struct whole *w, uint64_t *h)
{
	void *msg = NULL;

	*h = whole_step(*h, w->i);
	whole_leave(w);
	ASSERT_EQ(pc_chan_recv(&chans[m->ring][m->at], &msg), 0);
	whole_back(w, *h);
	return (uintptr_t)msg;
}

static void ring_send(struct member *m, uintptr_t msg)
{
	ASSERT_EQ(pc_chan_send(&chans[m->ring][(m->at + 1) % RING],
			       (void *)msg),
		  0);
}

static void *ring_member(void *arg)
{
	struct member *m = arg;
	int vc = pc_vcore_id();
	volatile uint64_t on_stack[8];
	struct whole w;
	uint64_t h = whole_begin(&w, m->id, on_stack, &running[m->id]);

	for (;;) {
		uintptr_t msg = ring_recv(m, &w, &h);

		if (msg & STOP) {
			if ((int)(msg >> 1) != (m->at + 1) % RING)
				ring_send(m, msg);
			break;
		}
		m->turns++;
		if (atomic_load_explicit(&stop, memory_order_relaxed)) {
			last_token[m->ring] = msg >> 1;
			ring_send(m, (uintptr_t)m->at << 1 | STOP);
			break;
		}
		ring_send(m, msg + 2);
		spin_after_hand_off();
		between_turns(m, &vc);
	}
	whole_end(&w);
	return NULL;
}

static void *locker(void *arg)
{
	struct member *m = arg;
	int vc = pc_vcore_id();
	volatile uint64_t on_stack[8];
	struct whole w;
	uint64_t h = whole_begin(&w, m->id, on_stack, &running[m->id]);

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t tries = m->turns + m->timeouts;
		int rc = 0;

		h = whole_step(h, w.i);
		whole_leave(&w);
		if (tries % 3 == 0) {
			struct timespec d = test_deadline_in(tries * 7919 % 50000);

			rc = pc_mutex_timedlock(&lock, &d);
		} else {
			ASSERT_EQ(pc_mutex_lock(&lock), 0);
		}
		whole_back(&w, h);
		if (rc) {
			ASSERT_EQ(rc, -ETIMEDOUT);
			m->timeouts++;
			between_turns(m, &vc);
			continue;
		}
		counter++;
		ASSERT_EQ(pc_mutex_unlock(&lock), 0);
		spin_after_hand_off();
		m->turns++;
		between_turns(m, &vc);
	}
	whole_end(&w);
	return NULL;
}

/* Runs everything for $PC_STRESS_SECONDS, with the provisioner if asked. */
static void run_blockers(bool provision)
{
	struct pc_thread *t[UTHREADS];
	uint64_t turns = 0, locked = 0;
	int n = nrings * RING + nlockers;

	test_enter(VCORES);
	ASSERT_EQ(pc_mutex_init(&lock, PC_MUTEX_NORMAL), 0);
	for (int i = 0; i < n; i++) {
		bool in_ring = i < nrings * RING;

		members[i] = (struct member){ i, i / RING, i % RING, 0, 0 };
		if (in_ring)
			ASSERT_EQ(pc_chan_init(&chans[i / RING][i % RING],
					       PC_CHAN_UNBUFFERED, NULL, 0),
				  0);
		ASSERT_EQ(pc_thread_create(&t[i], NULL,
					   in_ring ? ring_member : locker,
					   &members[i]),
			  0);
	}
	for (int r = 0; r < nrings; r++)
		ASSERT_EQ(pc_chan_send(&chans[r][0], (void *)0), 0);
	test_stress_run(VCORES, test_stress_ns(2), provision);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int r = 0; r < nrings; r++) {
		uint64_t received = 0;

		for (int k = 0; k < RING; k++)
			received += members[r * RING + k].turns;
		ASSERT_EQ(last_token[r] + 1, received);
		turns += received;
	}
	for (int i = nrings * RING; i < n; i++)
		locked += members[i].turns;
	ASSERT_EQ(counter, locked);
	turns += locked;
	ASSERT_EQ(atomic_load(&whole_corrupted), 0);
	ASSERT_EQ(atomic_load(&whole_doubled), 0);
	/* The uthreads did move between vcores: the race was in reach. */
	ASSERT_GT(atomic_load(&moves), 0);
	ASSERT_GT(turns, (uint64_t)n);
}

TEST(blocks_on_8_vcores_keep_every_uthread_whole)
{
	run_blockers(false);
}

/*
 * A vcore that goes offline hands its queue and its slot to the others,
 * where a blocker published but not yet saved can become a fast block's
 * target at once.
 */
TEST(blocks_while_cores_come_and_go_keep_every_uthread_whole)
{
	run_blockers(true);
}

TEST(stolen_hand_offs_keep_every_uthread_whole)
{
	nrings = STEAL_RINGS;
	nlockers = STEAL_LOCKERS;
	spin_ns = STEAL_SPIN_NS;
	run_blockers(false);
}
