/*
 * test_event.c - events and notifications: handlers, routes, the mailbox
 * and its overflow, interrupting a uthread that never yields, storms of
 * notifications against the masking protocol, no nesting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "rt.h"
#include "test.h"

/* Builds where a notification stops a uthread where it stands. */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define INTERRUPTS 1
#else
#define INTERRUPTS 0
#endif

#define EV_A PC_EV_APP_FIRST
#define EV_B (PC_EV_APP_FIRST + 1)

static struct pc_event ev_of(unsigned int type, uint64_t a0, uint64_t a1)
{
	struct pc_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint16_t)type;
	ev.arg[0] = a0;
	ev.arg[1] = a1;
	return ev;
}

static void ignore(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

TEST(bad_arguments_change_nothing)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);
	struct pc_event_stats st;

	ASSERT_EQ(pc_event_handler_set(PC_EV_NONE, ignore, NULL), -EINVAL);
	ASSERT_EQ(pc_event_handler_set(PC_EV_MAX, ignore, NULL), -EINVAL);
	ASSERT_EQ(pc_event_route_set(PC_EV_MAX, 0, 0), -EINVAL);
	ASSERT_EQ(pc_event_route_set(EV_A, -1, 0), -EINVAL);
	ASSERT_EQ(pc_event_route_set(EV_A, PC_VCORE_MAX, 0), -EINVAL);
	ASSERT_EQ(pc_event_route_set(EV_A, 0, 0x100), -EINVAL);
	/* Before multi-core mode. */
	ASSERT_EQ(pc_event_send(0, &ev, 0), -EPERM);
	ASSERT_EQ(pc_event_post(&ev), -EPERM);
	ASSERT_EQ(pc_event_stats(0, &st), -EPERM);
	test_enter(2);
	ASSERT_EQ(pc_event_send(0, NULL, 0), -EINVAL);
	ASSERT_EQ(pc_event_post(NULL), -EINVAL);
	ASSERT_EQ(pc_event_send(-1, &ev, 0), -EINVAL);
	ASSERT_EQ(pc_event_send(PC_VCORE_MAX, &ev, 0), -EINVAL);
	ASSERT_EQ(pc_event_send(0, &ev, 0x100), -EINVAL);
	ev.type = PC_EV_MAX;
	ASSERT_EQ(pc_event_send(0, &ev, 0), -EINVAL);
	ev.type = PC_EV_NONE;
	ASSERT_EQ(pc_event_post(&ev), -EINVAL);
	ASSERT_EQ(pc_event_stats(PC_VCORE_MAX, &st), -EINVAL);
	ASSERT_EQ(pc_event_stats(0, NULL), -EINVAL);
	ASSERT_EQ(pc_event_stats(0, &st), 0);
	ASSERT_EQ(st.posted, 0);
}

/* ---- delivery to the caller's own vcore ---- */

static atomic_int nr_msgs, nr_bits;
static atomic_ullong sum;

static void count(const struct pc_event *ev, void *arg)
{
	ASSERT_TRUE(arg == &nr_msgs);
	if (ev->flags & PC_EVENT_F_OVERFLOW) {
		atomic_fetch_add(&nr_bits, 1);
		return;
	}
	atomic_fetch_add(&nr_msgs, 1);
	atomic_fetch_add(&sum, ev->arg[0]);
}

TEST(events_wait_for_the_next_look_without_notify)
{
	int me;

	test_enter(1);
	ASSERT_EQ(pc_event_handler_set(EV_A, count, &nr_msgs), 0);
	me = pc_vcore_id();
	for (int i = 1; i <= 10; i++) {
		struct pc_event ev = ev_of(EV_A, (uint64_t)i, 0);

		ASSERT_EQ(pc_event_send(me, &ev, 0), 0);
	}
	/* Nothing looked yet: this uthread never left the vcore. */
	ASSERT_EQ(atomic_load(&nr_msgs), 0);
	pc_thread_yield();
	ASSERT_EQ(atomic_load(&nr_msgs), 10);
	ASSERT_EQ(atomic_load(&sum), 55);
	ASSERT_EQ(atomic_load(&nr_bits), 0);
}

TEST(a_full_ring_overflows_into_a_counted_bit)
{
	struct pc_event_stats st;
	int me, n = 200;

	test_enter(1);
	ASSERT_EQ(pc_event_handler_set(EV_A, count, &nr_msgs), 0);
	me = pc_vcore_id();
	for (int i = 0; i < n; i++) {
		struct pc_event ev = ev_of(EV_A, 1, 0);

		ASSERT_EQ(pc_event_send(me, &ev, 0), 0);
	}
	ASSERT_EQ(pc_event_stats(me, &st), 0);
	ASSERT_EQ(st.posted + st.overflowed, (uint64_t)n);
	ASSERT_GT(st.overflowed, 0);
	pc_thread_yield();
	/* Every queued message once, then the bit once for the rest. */
	ASSERT_EQ(atomic_load(&nr_msgs), (int)st.posted);
	ASSERT_EQ(atomic_load(&nr_bits), 1);
	ASSERT_EQ(pc_event_stats(me, &st), 0);
	ASSERT_EQ(st.handled, st.posted + 1);
}

TEST(bit_only_events_coalesce)
{
	int me;

	test_enter(1);
	ASSERT_EQ(pc_event_handler_set(EV_A, count, &nr_msgs), 0);
	me = pc_vcore_id();
	for (int i = 0; i < 10; i++) {
		struct pc_event ev = ev_of(EV_A, 1, 0);

		ASSERT_EQ(pc_event_send(me, &ev, PC_EVF_BIT_ONLY), 0);
	}
	pc_thread_yield();
	ASSERT_EQ(atomic_load(&nr_msgs), 0);
	ASSERT_EQ(atomic_load(&nr_bits), 1);
}

TEST(events_without_a_handler_are_counted)
{
	struct pc_event ev = ev_of(EV_B, 0, 0);
	struct pc_event_stats st;
	int me;

	test_enter(1);
	me = pc_vcore_id();
	ASSERT_EQ(pc_event_send(me, &ev, 0), 0);
	pc_thread_yield();
	ASSERT_EQ(pc_event_stats(me, &st), 0);
	ASSERT_EQ(st.unhandled, 1);
	ASSERT_EQ(st.handled, 0);
}

/* ---- routes and fallback ---- */

static atomic_int handled_on = -1;

static void record_vcore(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_store(&handled_on, pc_vcore_id());
}

TEST(routes_fall_back_to_an_online_vcore)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);

	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(EV_A, record_vcore, NULL), 0);
	/* Vcore 7 is not granted. */
	ASSERT_EQ(pc_event_send(7, &ev, PC_EVF_NOTIFY), -ENXIO);
	ASSERT_EQ(pc_event_route_set(EV_A, 7, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_event_post(&ev), -ENXIO);
	ASSERT_EQ(pc_event_route_set(EV_A, 7, PC_EVF_NOTIFY | PC_EVF_FALLBACK),
		  0);
	ASSERT_EQ(pc_event_post(&ev), 0);
	while (atomic_load(&handled_on) < 0)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&handled_on), 0);
	/* A route to an online vcore goes there. */
	atomic_store(&handled_on, -1);
	ASSERT_EQ(pc_event_route_set(EV_A, 1, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_event_post(&ev), 0);
	while (atomic_load(&handled_on) < 0)
		pc_thread_yield();
	ASSERT_EQ(atomic_load(&handled_on), 1);
}

/* ---- interrupting a uthread that never yields ---- */

static atomic_int spinner_vcore = -1;
static atomic_int stop;

static void *spin_until_stopped(void *arg)
{
	(void)arg;
	atomic_store(&spinner_vcore, pc_vcore_id());
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		; /* no yield, no parcore call */
	return NULL;
}

static void set_stop(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_store(&stop, 1);
}

/*
 * On two vcores, starts a uthread that spins until an EV_A handler stops
 * it; returns the vcore it holds (the caller runs on the other one).
 */
static int spinner_start(struct pc_thread **t)
{
	int v;

	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(EV_A, set_stop, NULL), 0);
	ASSERT_EQ(pc_thread_create(t, NULL, spin_until_stopped, NULL), 0);
	while ((v = atomic_load(&spinner_vcore)) < 0)
		pc_thread_yield();
	return v;
}

TEST(a_notification_interrupts_a_spinning_uthread)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);
	struct pc_event_stats st;
	struct pc_thread *t;
	int v;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	v = spinner_start(&t);
	/* The spinner holds vcore v; we run on the other one. */
	ASSERT_EQ(pc_event_send(v, &ev, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_event_stats(v, &st), 0);
	ASSERT_GE(st.notifs_taken, 1);
	ASSERT_EQ(st.handled, 1);
}

/*
 * A handler that interrupts a uthread runs as in vcore context: no
 * current uthread, on the interrupted uthread's vcore, free to unpark a
 * uthread, and its errno is not the uthread's. x86-64 runs it from the
 * signal handler, on the alternate stack, before the uthread is saved
 * (notify.c: early_look()); ASan builds keep ASan's alternate stack and
 * run it from the loop.
 */
static atomic_int handler_saw = -1;
static struct pc_thread *parked;

#if !defined(__SANITIZE_ADDRESS__)
/* Where the handler runs: from the signal handler (x86-64 but ASan). */
static int on_altstack(void)
{
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	stack_t ss;

	ASSERT_EQ(sigaltstack(NULL, &ss), 0);
	return here - (uintptr_t)ss.ss_sp < ss.ss_size;
}
#endif

static void check_context(const struct pc_event *ev, void *arg)
{
	int ok = !pc_thread_self() &&
		 pc_vcore_id() == atomic_load(&spinner_vcore);

	(void)ev;
	(void)arg;
#if !defined(__SANITIZE_ADDRESS__)
	ok = ok && on_altstack();
#endif
	test_errno_set(EIO);
	ASSERT_EQ(pc_thread_unpark(parked), 0);
	atomic_store(&handler_saw, ok);
	atomic_store(&stop, 1);
}

static void *spin_with_errno(void *arg)
{
	(void)arg;
	test_errno_set(EDOM);
	spin_until_stopped(NULL);
	return (void *)(intptr_t)test_errno_get();
}

static void *park_once(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_thread_park();
}

TEST(an_interrupting_handler_runs_in_vcore_context)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);
	struct pc_thread *t;
	void *ret;
	int v;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(EV_A, check_context, NULL), 0);
	ASSERT_EQ(pc_thread_create(&parked, NULL, park_once, NULL), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, spin_with_errno, NULL), 0);
	while ((v = atomic_load(&spinner_vcore)) < 0)
		pc_thread_yield();
	ASSERT_EQ(pc_event_send(v, &ev, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_thread_join(t, &ret), 0);
	ASSERT_EQ((intptr_t)ret, EDOM);
	ASSERT_EQ(atomic_load(&handler_saw), 1);
	ASSERT_EQ(pc_thread_join(parked, &ret), 0);
	ASSERT_EQ((intptr_t)ret, 0);
}

/*
 * Handlers run on the alternate stack only where it is large enough
 * (notify.c: early_look()). Main keeps a small one of its own, as a
 * program may, and spins on vcore 0, whose thread is main's: a
 * notification there runs the handler elsewhere, from the loop.
 */
#define SMALL_ALTSTACK (16 * 1024)

static char small_altstack[SMALL_ALTSTACK];
static atomic_int handler_on_small = -1;

static void where_am_i(const struct pc_event *ev, void *arg)
{
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = (uintptr_t)small_altstack;

	(void)ev;
	(void)arg;
	atomic_store(&handler_on_small,
		     here >= lo && here < lo + SMALL_ALTSTACK);
	atomic_store(&stop, 1);
}

static void *notify_vcore_0(void *arg)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);

	(void)arg;
	ASSERT_EQ(pc_event_send(0, &ev, PC_EVF_NOTIFY), 0);
	return NULL;
}

TEST(handlers_leave_a_small_alternate_stack_alone)
{
	stack_t ss = { .ss_sp = small_altstack, .ss_size = SMALL_ALTSTACK };
	struct pc_thread *t;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	ASSERT_EQ(sigaltstack(&ss, NULL), 0);
	test_enter(2);
	ASSERT_EQ(pc_vcore_id(), 0);
	ASSERT_EQ(pc_event_handler_set(EV_A, where_am_i, NULL), 0);
	/* No yield from here: main holds vcore 0, vcore 1 steals t. */
	ASSERT_EQ(pc_thread_create(&t, NULL, notify_vcore_0, NULL), 0);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	ASSERT_EQ(atomic_load(&handler_on_small), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/*
 * A quiet post leaves notif_pending set on a vcore whose uthread never
 * looks; a notifying post after it must still interrupt (it used to take
 * the quiet one's flag for a signal on its way, and the spinner ran on).
 */
TEST(a_quiet_post_does_not_swallow_a_later_notification)
{
	struct pc_event quiet = ev_of(EV_B, 0, 0), loud = ev_of(EV_A, 0, 0);
	struct pc_thread *t;
	int v;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	v = spinner_start(&t);
	ASSERT_EQ(pc_event_send(v, &quiet, 0), 0);
	ASSERT_EQ(pc_event_send(v, &loud, PC_EVF_NOTIFY), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/*
 * Storm: senders on every vcore post numbered events to every vcore,
 * with notifications, while workers there spin (interrupt path) or yield
 * in a loop (the pop's enable-and-recheck path). Only two workers spin
 * without yielding: a notification resumes the uthread it interrupted, so
 * spinners on every vcore would starve the senders. Each handler checks it
 * is not nested and that each sender's events arrive in order; at the
 * end every event was handled exactly once.
 */
#define STORM_VCORES 4
#define STORM_SENDERS 4
#define STORM_EVENTS 20000

static atomic_int depth[STORM_VCORES];
static atomic_ullong got[STORM_SENDERS];   /* events handled per sender */
static uint64_t last[STORM_VCORES][STORM_SENDERS]; /* per receiver */
static atomic_int storm_done;

static void storm_handler(const struct pc_event *ev, void *arg)
{
	int me = pc_vcore_id();
	uint64_t s = ev->arg[0], seq = ev->arg[1];

	(void)arg;
	ASSERT_EQ(atomic_fetch_add(&depth[me], 1), 0);
	/* The storm paces itself so that no ring overflows. */
	ASSERT_TRUE(!(ev->flags & PC_EVENT_F_OVERFLOW));
	ASSERT_LT(s, STORM_SENDERS);
	ASSERT_GT(seq, last[me][s]);
	last[me][s] = seq;
	atomic_fetch_add(&got[s], 1);
	atomic_fetch_sub(&depth[me], 1);
}

static void *storm_worker(void *arg)
{
	volatile uint64_t x = 0;

	while (!atomic_load(&storm_done)) {
		for (int i = 0; i < 1000; i++)
			x = x + 1;
		if ((uintptr_t)arg >= 2 || !INTERRUPTS)
			pc_thread_yield();
	}
	return NULL;
}

static void *storm_sender(void *arg)
{
	uint64_t me = (uintptr_t)arg;

	for (uint64_t i = 1; i <= STORM_EVENTS; i++) {
		struct pc_event ev = ev_of(EV_A, me, i);
		int to = (int)((me + i) % STORM_VCORES);

		/* At most 8 in flight per sender: no ring can fill. */
		while (i > atomic_load(&got[me]) + 8)
			pc_thread_yield();
		ASSERT_EQ(pc_event_send(to, &ev, PC_EVF_NOTIFY), 0);
	}
	return NULL;
}

TEST(notification_storm_loses_nothing_and_never_nests)
{
	struct pc_thread *w[2 * STORM_VCORES], *s[STORM_SENDERS];
	uint64_t posted = 0, over = 0;

	test_enter(STORM_VCORES);
	ASSERT_EQ(pc_event_handler_set(EV_A, storm_handler, NULL), 0);
	for (uintptr_t i = 0; i < 2 * STORM_VCORES; i++)
		ASSERT_EQ(pc_thread_create(&w[i], NULL, storm_worker,
					   (void *)i),
			  0);
	for (uintptr_t i = 0; i < STORM_SENDERS; i++)
		ASSERT_EQ(pc_thread_create(&s[i], NULL, storm_sender,
					   (void *)i),
			  0);
	for (int i = 0; i < STORM_SENDERS; i++)
		ASSERT_EQ(pc_thread_join(s[i], NULL), 0);
	for (int i = 0; i < STORM_SENDERS; i++)
		while (atomic_load(&got[i]) < STORM_EVENTS)
			pc_thread_yield();
	atomic_store(&storm_done, 1);
	for (int i = 0; i < 2 * STORM_VCORES; i++)
		ASSERT_EQ(pc_thread_join(w[i], NULL), 0);
	for (int i = 0; i < STORM_SENDERS; i++)
		ASSERT_EQ(atomic_load(&got[i]), STORM_EVENTS);
	for (int v = 0; v < STORM_VCORES; v++) {
		struct pc_event_stats st;

		ASSERT_EQ(pc_event_stats(v, &st), 0);
		posted += st.posted;
		over += st.overflowed;
		printf("vcore %d: %" PRIu64 " handled, %" PRIu64
		       " signals, %" PRIu64 " taken, %" PRIu64
		       " deferred, %" PRIu64 " masked\n",
		       v, st.handled, st.notifs_sent, st.notifs_taken,
		       st.notifs_deferred, st.notifs_masked);
	}
	ASSERT_EQ(posted, (uint64_t)STORM_SENDERS * STORM_EVENTS);
	ASSERT_EQ(over, 0);
}

static atomic_int granted[4], revoked[4];

static void on_core(const struct pc_event *ev, void *arg)
{
	atomic_int *count = arg;

	if (ev->arg[0] < 4)
		atomic_fetch_add(&count[ev->arg[0]], 1);
}

/*
 * CORE_GRANTED and CORE_REVOKED name the vcore each time one comes online
 * or goes offline: here a grant, a preemption, a restore, a plain yield.
 */
TEST(cores_granted_and_revoked_are_announced)
{
	ASSERT_EQ(pc_event_handler_set(PC_EV_CORE_GRANTED, on_core, granted),
		  0);
	ASSERT_EQ(pc_event_handler_set(PC_EV_CORE_REVOKED, on_core, revoked),
		  0);
	test_enter(2);
	while (atomic_load(&granted[1]) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_preempt(1, 0), 0);
	while (atomic_load(&revoked[1]) != 1)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_restore(), 2);
	while (atomic_load(&granted[1]) != 2)
		pc_thread_yield();
	/* The caller's own vcore goes: the event falls back to the other. */
	while (pc_vcore_yield(0) != 0)
		pc_thread_yield();
	while (atomic_load(&revoked[0]) + atomic_load(&revoked[1]) != 2)
		pc_thread_yield();
	ASSERT_EQ(pc_vcore_count(), 1);
	/* Vcore 0 was made before multi-core mode: no event for it. */
	ASSERT_EQ(atomic_load(&granted[0]), 0);
}

static atomic_int fired[3];
static atomic_int early;

static void on_alarm(const struct pc_event *ev, void *arg)
{
	(void)arg;
	/* Never before its deadline (CLOCK_MONOTONIC, like test_now_ns). */
	if (test_now_ns() < ev->arg[1])
		atomic_store(&early, 1);
	if (ev->arg[0] < 3)
		atomic_fetch_add(&fired[ev->arg[0]], 1);
}

/*
 * Alarms post PC_EV_ALARM at their deadline along the route; one whose
 * cancel succeeded never fires (it was due first, so it would have fired
 * before the one the case waits for), one whose cancel came too late
 * fired exactly once; ids of fired alarms are refused.
 */
TEST(alarms_fire_once_at_their_deadline_unless_cancelled)
{
	uint64_t now;
	int a, b, c, cancelled;

	ASSERT_EQ(pc_alarm_set(test_now_ns(), 0), -EPERM);
	test_enter(2);
	ASSERT_EQ(pc_event_handler_set(PC_EV_ALARM, on_alarm, NULL), 0);
	ASSERT_EQ(pc_event_route_set(PC_EV_ALARM, 1,
				     PC_EVF_NOTIFY | PC_EVF_FALLBACK),
		  0);
	ASSERT_EQ(pc_alarm_set(0, 0), -EINVAL);
	ASSERT_EQ(pc_alarm_cancel(-1), -EINVAL);
	now = test_now_ns();
	a = pc_alarm_set(now + 20 * 1000 * 1000, 0);
	b = pc_alarm_set(now + 40 * 1000 * 1000, 1);
	c = pc_alarm_set(now - 1, 2); /* past: fires at once */
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	ASSERT_GE(c, 0);
	/* Almost always in time; a very slow run may be too late. */
	cancelled = pc_alarm_cancel(a) == 0;
	ASSERT_EQ(pc_alarm_cancel(a), -ENOENT);
	while (atomic_load(&fired[1]) == 0 || atomic_load(&fired[2]) == 0)
		pc_thread_yield();
	ASSERT_EQ(pc_alarm_cancel(b), -ENOENT);
	ASSERT_EQ(atomic_load(&fired[0]), !cancelled);
	ASSERT_EQ(atomic_load(&fired[1]), 1);
	ASSERT_EQ(atomic_load(&fired[2]), 1);
	ASSERT_EQ(atomic_load(&early), 0);
}

/*
 * A handler may set alarms while a uthread of its vcore is inside
 * pc_alarm_set() itself: the runtime's lock is taken in a nopreempt
 * section, so the notification waits for the uthread to leave it. (Taken
 * plainly, the handler waited for the lock its own vcore held, for ever.)
 * Main sets and cancels alarms on vcore 0 while a uthread on vcore 1
 * sends it events whose handler does the same.
 */
#define LOCKED_EVENTS 2000

static atomic_int handled_locked;

static void set_and_cancel(const struct pc_event *ev, void *arg)
{
	int id = pc_alarm_set(test_now_ns() + 1000000000ull, 0);

	(void)ev;
	(void)arg;
	ASSERT_GE(id, 0);
	ASSERT_EQ(pc_alarm_cancel(id), 0);
	atomic_fetch_add(&handled_locked, 1);
}

/* Events to send to vcore 0, one at a time, and the handler's count. */
struct sends {
	int n;
	atomic_int *handled;
	atomic_int on; /* the sender's vcore, once it runs */
	atomic_int go; /* it sends once this is set */
};

static void *send_to_vcore_0(void *arg)
{
	struct sends *s = arg;
	struct pc_event ev = ev_of(EV_A, 0, 0);

	atomic_store(&s->on, pc_vcore_id());
	while (!atomic_load(&s->go))
		;
	for (int i = 0; i < s->n; i++) {
		ASSERT_EQ(pc_event_send(0, &ev, PC_EVF_NOTIFY), 0);
		while (atomic_load(s->handled) <= i)
			;
	}
	return NULL;
}

/*
 * Main on vcore 0, which the events of send_to_vcore_0() go to, with
 * @fn as their handler; skips where notifications do not interrupt.
 */
static void enter_for_sends(pc_event_handler fn)
{
	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	test_enter(2);
	ASSERT_EQ(pc_vcore_id(), 0);
	ASSERT_EQ(pc_event_handler_set(EV_A, fn, NULL), 0);
}

TEST(a_handler_sets_alarms_while_its_vcore_does)
{
	struct sends sends = { LOCKED_EVENTS, &handled_locked, -1, 1 };
	struct pc_thread *t;

	enter_for_sends(set_and_cancel);
	ASSERT_EQ(pc_thread_create(&t, NULL, send_to_vcore_0, &sends), 0);
	/* No yield: the sender runs on vcore 1, and interrupts main. */
	while (atomic_load(&handled_locked) < LOCKED_EVENTS) {
		int id = pc_alarm_set(test_now_ns() + 1000000000ull, 0);

		ASSERT_GE(id, 0);
		ASSERT_EQ(pc_alarm_cancel(id), 0);
	}
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/*
 * A notification can find a deferral left set: a nopreempt section's end
 * lowers the count to 0 and only then reads `deferred`, and a signal
 * between the two finds the count at 0. The early look keeps the count
 * at 1 while the handlers run, so that a handler's own section (here
 * pc_alarm_set()'s) never ends at 0 and takes that deferral from inside
 * the signal handler, with no uthread current. The window is one
 * instruction; a wrapper of the runtime's handler sets `deferred` before
 * every notification instead.
 */
static struct sigaction runtime_handler;

static void defer_then_notify(int sig, siginfo_t *si, void *uc)
{
	struct pc__vcore *vc = pc__vcore_self();

	if (vc && !vc->irq.nopreempt &&
	    !atomic_load(&vc->vcpd->notif_disabled))
		vc->irq.deferred = 1;
	runtime_handler.sa_sigaction(sig, si, uc);
}

TEST(a_handler_keeps_a_deferral_left_set_for_later)
{
	struct sends sends = { LOCKED_EVENTS, &handled_locked, -1, 1 };
	struct sigaction wrapper;
	struct pc_thread *t;

	enter_for_sends(set_and_cancel);
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, NULL, &runtime_handler), 0);
	wrapper = runtime_handler;
	wrapper.sa_sigaction = defer_then_notify;
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, &wrapper, NULL), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, send_to_vcore_0, &sends), 0);
	/* No yield: the sender runs on vcore 1, and interrupts main. */
	while (atomic_load(&handled_locked) < LOCKED_EVENTS)
		;
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, &runtime_handler, NULL), 0);
}

/*
 * A vcore's stack cache is changed by its uthreads (a create takes a
 * stack, a join gives the joined one's back) and by its event handlers
 * (a create from the early look), so uthreads change it in nopreempt
 * sections. Main creates and joins on vcore 0 while a uthread on vcore 1
 * sends it events whose handler creates a detached uthread; every new
 * uthread checks that its stack stayed its own across a yield. Each
 * event has a few instructions' chance of landing in main's window:
 * without the sections, 6 runs in 20 went wrong with this many (two
 * uthreads on one stack: a hang).
 */
#define CACHE_EVENTS 100000
#define CACHE_BATCH 8

static atomic_int handled_creates, detached_done, stack_lost;

static void *keep_own_stack(void *arg)
{
	volatile uintptr_t mark[16];

	for (int i = 0; i < 16; i++)
		mark[i] = (uintptr_t)arg + (uintptr_t)i;
	pc_thread_yield();
	for (int i = 0; i < 16; i++)
		if (mark[i] != (uintptr_t)arg + (uintptr_t)i)
			atomic_fetch_add(&stack_lost, 1);
	return arg;
}

static void *detached_keeper(void *arg)
{
	keep_own_stack(arg);
	atomic_fetch_add(&detached_done, 1);
	return NULL;
}

static void create_detached(const struct pc_event *ev, void *arg)
{
	struct pc_thread_attr attr = PC_THREAD_ATTR_INIT;
	uintptr_t n = (uintptr_t)atomic_load(&handled_creates);

	(void)ev;
	(void)arg;
	attr.flags = PC_THREAD_DETACHED;
	ASSERT_EQ(pc_thread_create(NULL, &attr, detached_keeper,
				   (void *)(n << 32)),
		  0);
	atomic_fetch_add(&handled_creates, 1);
}

TEST(a_handler_creates_uthreads_while_its_vcore_does)
{
	struct sends sends = { CACHE_EVENTS, &handled_creates, -1, 1 };
	struct pc_thread *sender, *t[CACHE_BATCH];
	struct pc_event_stats st;
	void *ret;

	enter_for_sends(create_detached);
	ASSERT_EQ(pc_thread_create(&sender, NULL, send_to_vcore_0, &sends), 0);
	/* In batches: main takes and gives stacks back in a row, unblocked. */
	for (uintptr_t i = 1; atomic_load(&handled_creates) < CACHE_EVENTS;
	     i += CACHE_BATCH) {
		for (uintptr_t k = 0; k < CACHE_BATCH; k++)
			ASSERT_EQ(pc_thread_create(&t[k], NULL, keep_own_stack,
						   (void *)(i + k)),
				  0);
		for (uintptr_t k = 0; k < CACHE_BATCH; k++) {
			ASSERT_EQ(pc_thread_join(t[k], &ret), 0);
			ASSERT_EQ((uintptr_t)ret, i + k);
		}
	}
	ASSERT_EQ(pc_thread_join(sender, NULL), 0);
	while (atomic_load(&detached_done) < CACHE_EVENTS)
		pc_thread_yield();
	ASSERT_EQ(pc_event_stats(0, &st), 0);
	printf("  %llu signals: %llu interrupted a uthread, %llu deferred, "
	       "%llu masked\n",
	       (unsigned long long)st.notifs_sent,
	       (unsigned long long)st.notifs_taken,
	       (unsigned long long)st.notifs_deferred,
	       (unsigned long long)st.notifs_masked);
	ASSERT_EQ(atomic_load(&stack_lost), 0);
}

/*
 * pc_thread_switch() claims its target and publishes its caller as a
 * coroutine in a nopreempt section: an event handler of the vcore may
 * unpark either, and between a claim's load and its store it would claim
 * the target a second time, or queue the caller while the caller still
 * runs. Main and a partner switch to each other on vcore 0 while a
 * uthread on vcore 1 sends it events whose handler unparks both. A
 * uthread whose switch fails (an unpark took its partner) parks until
 * its partner switches to it or an unpark comes. Each counts its turns
 * on its stack and in a global, which a uthread run twice from one save
 * would see differ.
 */
#define SWITCH_EVENTS 100000

static struct pc_thread *co[2];
static atomic_int handled_unparks, co_broken;
static atomic_long co_turns[2];

static void unpark_both(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pc_thread_unpark(co[i]), 0);
	atomic_fetch_add(&handled_unparks, 1);
}

static void switch_until_done(int me)
{
	volatile long mine = 0;

	while (atomic_load(&handled_unparks) < SWITCH_EVENTS) {
		if (atomic_fetch_add(&co_turns[me], 1) != mine++)
			atomic_fetch_add(&co_broken, 1);
		if (pc_thread_switch(co[!me]))
			ASSERT_EQ(pc_thread_park(), 0);
	}
}

static void *switch_partner(void *arg)
{
	(void)arg;
	switch_until_done(1);
	return NULL;
}

TEST(a_handler_unparks_coroutines_while_they_switch)
{
	struct sends sends = { SWITCH_EVENTS, &handled_unparks, -1, 0 };
	struct pc_thread *sender;

	enter_for_sends(unpark_both);
	co[0] = pc_thread_self();
	ASSERT_EQ(pc_thread_create(&sender, NULL, send_to_vcore_0, &sends), 0);
	/*
	 * Vcore 1 steals the sender, and then never picks again: the
	 * partner stays on vcore 0. Made first, it could be stolen and bound
	 * to vcore 1, where an unpark from vcore 0 gets -EXDEV (likely the
	 * one failure in about 350 runs of the first version). The sender
	 * waits for it.
	 */
	while (atomic_load(&sends.on) != 1)
		;
	ASSERT_EQ(pc_thread_create(&co[1], NULL, switch_partner, NULL), 0);
	atomic_store(&sends.go, 1);
	switch_until_done(0);
	ASSERT_EQ(pc_thread_join(sender, NULL), 0);
	/* The partner may be parked: the token or the wake-up ends it. */
	ASSERT_EQ(pc_thread_unpark(co[1]), 0);
	ASSERT_EQ(pc_thread_join(co[1], NULL), 0);
	printf("  %ld and %ld turns\n", atomic_load(&co_turns[0]),
	       atomic_load(&co_turns[1]));
	ASSERT_EQ(atomic_load(&co_broken), 0);
}

/*
 * A notification that lands in a signal handler of the program's, running
 * on the alternate stack, waits until that handler has returned: the
 * uthread is never saved on the alternate stack, where the kernel writes
 * the frame of the next signal. Main, on vcore 0, runs its own SIGUSR1
 * handler while a uthread on vcore 1 posts to vcore 0 once; the handler
 * stays until the signal has come, and then 5 ms more.
 */
static atomic_int in_own_handler, posted_once, handler_ran_inside;
static atomic_int handler_ran_after;

static uint64_t vcore_0_deferrals(void)
{
	struct pc_event_stats st;

	ASSERT_EQ(pc_event_stats(0, &st), 0);
	return st.notifs_deferred;
}

static void own_handler(int sig)
{
	uint64_t before = vcore_0_deferrals(), end;

	(void)sig;
	atomic_store(&in_own_handler, 1);
	while (!atomic_load(&posted_once))
		;
	while (vcore_0_deferrals() == before)
		;
	end = test_now_ns() + 5 * 1000 * 1000;
	while (test_now_ns() < end)
		;
	atomic_store(&in_own_handler, 0);
}

static void note_inside(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	if (atomic_load(&in_own_handler))
		atomic_store(&handler_ran_inside, 1);
	else
		atomic_store(&handler_ran_after, 1);
}

static void *post_into_own_handler(void *arg)
{
	struct pc_event ev = ev_of(EV_A, 0, 0);

	(void)arg;
	while (!atomic_load(&in_own_handler))
		;
	ASSERT_EQ(pc_event_send(0, &ev, PC_EVF_NOTIFY), 0);
	atomic_store(&posted_once, 1);
	return NULL;
}

/* The program's own handler of @sig, on the alternate stack. */
static void own_handler_set(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(sig, &sa, NULL), 0);
}

TEST(a_notification_waits_for_the_programs_own_handler)
{
	struct pc_thread *t;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	own_handler_set(SIGUSR1, own_handler);
	test_enter(2);
	ASSERT_EQ(pc_vcore_id(), 0);
	ASSERT_EQ(pc_event_handler_set(EV_A, note_inside, NULL), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, post_into_own_handler, NULL), 0);
	ASSERT_EQ(raise(SIGUSR1), 0);
	/* No call into parcore: the notification comes by itself. */
	while (!atomic_load(&handler_ran_after))
		;
	ASSERT_EQ(atomic_load(&handler_ran_inside), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
}

/*
 * The same, with a wake-up made from the program's handler (a nopreempt
 * section ends there) while another signal of the program's keeps coming:
 * the notification is not taken at that section's end, so the uthread is
 * not saved on the alternate stack, and the program's handler returns to
 * an intact frame. (Taken there, the other signal's frames overwrote the
 * saved uthread: a second reader's probe crashed 7 runs in 10.)
 */
static struct pc_thread *parked_one;
static pthread_t vcore_0_thread;
static atomic_int wake_now, other_signals;

static void unpark_in_own_handler(int sig)
{
	uint64_t before = vcore_0_deferrals();

	(void)sig;
	atomic_store(&in_own_handler, 1);
	while (!atomic_load(&posted_once))
		;
	while (vcore_0_deferrals() == before)
		;
	atomic_store(&wake_now, 1);
	ASSERT_EQ(pc_thread_unpark(parked_one), 0);
	atomic_store(&in_own_handler, 0);
}

static void count_other(int sig)
{
	(void)sig;
	atomic_fetch_add(&other_signals, 1);
}

static void *post_then_signal(void *arg)
{
	(void)arg;
	post_into_own_handler(NULL);
	while (!atomic_load(&wake_now))
		;
	for (int i = 0; i < 20; i++) {
		uint64_t next = test_now_ns() + 200 * 1000;

		ASSERT_EQ(pthread_kill(vcore_0_thread, SIGUSR2), 0);
		while (test_now_ns() < next)
			;
	}
	return NULL;
}

static void slow_handler(const struct pc_event *ev, void *arg)
{
	uint64_t end = test_now_ns() + 5 * 1000 * 1000;

	note_inside(ev, arg);
	while (test_now_ns() < end)
		;
}

TEST(a_wakeup_from_the_programs_handler_keeps_its_frame)
{
	struct pc_thread *t;

	if (!INTERRUPTS)
		SKIP("notifications interrupt uthreads on x86-64 without TSan");
	own_handler_set(SIGUSR1, unpark_in_own_handler);
	own_handler_set(SIGUSR2, count_other);
	vcore_0_thread = pthread_self();
	test_enter(2);
	ASSERT_EQ(pc_vcore_id(), 0);
	ASSERT_EQ(pc_event_handler_set(EV_A, slow_handler, NULL), 0);
	ASSERT_EQ(pc_thread_create(&parked_one, NULL, park_once, NULL), 0);
	ASSERT_EQ(pc_thread_create(&t, NULL, post_then_signal, NULL), 0);
	ASSERT_EQ(raise(SIGUSR1), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_thread_join(parked_one, NULL), 0);
	ASSERT_EQ(atomic_load(&handler_ran_inside), 0);
	ASSERT_GT(atomic_load(&other_signals), 0);
}

