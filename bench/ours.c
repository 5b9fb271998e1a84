/*
 * ours.c - parcore's side of each benchmark, through the public API only.
 *
 * Every benchmark but the cross-vcore latencies and the preemptions at
 * the end runs on one vcore (pc_vcore_limit_set(1)), matching its peers:
 * one hand-written or Boost context on one thread, Go with GOMAXPROCS=1,
 * two pthreads pinned to one CPU. On one vcore a uthread another one
 * waits for runs only when the waiter switches, yields or parks, which is
 * what makes the start-up hand-shakes below simple.
 */
#include "ours.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ours_failed(struct bench_value *v, const char *call, int err)
{
	bench_value_missing(v, "%s: %s (%d)", call, strerror(-err), err);
}

/* ours_enter_vcores() - see ours.h. */
int ours_enter_vcores(int n, struct bench_value *v)
{
	char call[40];
	int rc;

	rc = pc_vcore_limit_set(n);
	if (rc < 0) {
		snprintf(call, sizeof(call), "pc_vcore_limit_set(%d)", n);
		ours_failed(v, call, rc);
		return rc;
	}
	rc = pc_vcore_request(n);
	snprintf(call, sizeof(call), "pc_vcore_request(%d)", n);
	if (rc < 0) {
		ours_failed(v, call, rc);
		return rc;
	}
	if (rc < n) {
		bench_value_missing(v, "%s granted %d", call, rc);
		return -EAGAIN;
	}
	if (!pc_thread_self()) {
		bench_value_missing(v, "not a uthread after %s", call);
		return -EPERM;
	}
	return 0;
}

/* ours_measure_made() - see ours.h. */
void ours_measure_made(void *arg, struct bench_value *v, int made_err,
		       bench_batch_fn fn, void *state)
{
	double ns;
	int err;

	if (made_err) {
		ours_failed(v, "pc_thread_create", made_err);
		return;
	}
	err = bench_measure(arg, fn, state, &ns);
	if (err)
		ours_failed(v, "measuring", err);
	else
		bench_value_set(v, ns);
}

/*
 * Direct switch. main and the partner each park in pc_thread_switch()
 * while the other runs. Start: main creates the partner and parks; the
 * partner switches to main. Stop: main sets stop and switches to the
 * partner, which unparks main and returns.
 */
struct switch_state {
	struct pc_thread *main;
	struct pc_thread *partner;
	atomic_int stop;	/* relaxed: the switch orders it */
	int err;		/* the partner's failed call */
};

static void *switch_partner(void *arg)
{
	struct switch_state *s = arg;
	int err;

	/* Only on several vcores could we get here before main parks. */
	err = ours_switch_when_parked(s->main);
	while (!err && !atomic_load_explicit(&s->stop, memory_order_relaxed))
		err = pc_thread_switch(s->main);
	s->err = err;
	pc_thread_unpark(s->main);
	return NULL;
}

static int switch_batch(void *arg, uint64_t n)
{
	struct switch_state *s = arg;
	int err;

	while (n--) {
		err = pc_thread_switch(s->partner);
		if (err)
			return err;
	}
	return 0;
}

void ours_switch(void *arg, struct bench_value *v)
{
	struct switch_state s = { .stop = 0 };
	double ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	s.main = pc_thread_self();
	err = pc_thread_create(&s.partner, NULL, switch_partner, &s);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	err = pc_thread_park();
	if (err) {
		ours_failed(v, "pc_thread_park", err);
		return;
	}
	if (s.err) {
		ours_failed(v, "pc_thread_switch (partner)", s.err);
		return;
	}
	err = bench_measure(arg, switch_batch, &s, &ns);
	if (err) {
		ours_failed(v, "pc_thread_switch", err);
		return;
	}
	atomic_store_explicit(&s.stop, 1, memory_order_relaxed);
	err = pc_thread_switch(s.partner);
	if (!err)
		err = pc_thread_join(s.partner, NULL);
	if (err) {
		ours_failed(v, "stopping the partner", err);
		return;
	}
	bench_value_set(v, ns);
}

/*
 * Yield through the default 2LS: the partner yields in a loop, main times
 * its own yields. Each of main's yields is a round trip only if the 2LS
 * ran the partner in between, so that is checked, not assumed.
 */
struct yield_state {
	atomic_int stop;	/* relaxed: the yields order it */
	uint64_t main_yields;
	uint64_t partner_yields;
};

static void *yield_partner(void *arg)
{
	struct yield_state *y = arg;

	while (!atomic_load_explicit(&y->stop, memory_order_relaxed)) {
		pc_thread_yield();
		y->partner_yields++;
	}
	return NULL;
}

static int yield_batch(void *arg, uint64_t n)
{
	struct yield_state *y = arg;

	y->main_yields += n;
	while (n--)
		pc_thread_yield();
	return 0;
}

void ours_yield(void *arg, struct bench_value *v)
{
	struct yield_state y = { .stop = 0 };
	struct pc_thread *partner;
	double ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	err = pc_thread_create(&partner, NULL, yield_partner, &y);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	err = bench_measure(arg, yield_batch, &y, &ns);
	if (err) {
		ours_failed(v, "pc_thread_yield", err);
		return;
	}
	atomic_store_explicit(&y.stop, 1, memory_order_relaxed);
	err = pc_thread_join(partner, NULL);
	if (err) {
		ours_failed(v, "pc_thread_join", err);
		return;
	}
	if (y.partner_yields < y.main_yields / 2) {
		bench_value_missing(v,
			"the partner ran %llu times for %llu yields of main: "
			"not round trips", (unsigned long long)y.partner_yields,
			(unsigned long long)y.main_yields);
		return;
	}
	bench_value_set(v, ns);
}

static void *noop_thread(void *arg)
{
	return arg;
}

static int create_join_batch(void *arg, uint64_t n)
{
	struct pc_thread *t;
	int err;

	(void)arg;
	while (n--) {
		err = pc_thread_create(&t, NULL, noop_thread, NULL);
		if (err)
			return err;
		err = pc_thread_join(t, NULL);
		if (err)
			return err;
	}
	return 0;
}

void ours_create_join(void *arg, struct bench_value *v)
{
	double ns;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	err = bench_measure(arg, create_join_batch, NULL, &ns);
	if (err) {
		ours_failed(v, "pc_thread_create/join", err);
		return;
	}
	bench_value_set(v, ns);
}

/*
 * Idle memory: count uthreads, default attributes, each parked. The
 * resident set is read before the first is created and after the last
 * has parked; everything main needs (the handle array) is touched before
 * the first reading, and one uthread is created and joined first so that
 * the runtime's one-time set-up is not charged to the count.
 */
struct idle_state {
	atomic_uint parked;
};

static void *idle_thread(void *arg)
{
	struct idle_state *d = arg;

	/* Pairs with the acquire load in ours_idle_memory(). */
	atomic_fetch_add_explicit(&d->parked, 1, memory_order_release);
	pc_thread_park();
	return NULL;
}

static int idle_start(struct pc_thread **ts, unsigned int count,
		      struct idle_state *d, struct bench_value *v)
{
	unsigned int i;
	int err;

	for (i = 0; i < count; i++) {
		err = pc_thread_create(&ts[i], NULL, idle_thread, d);
		if (err) {
			bench_value_missing(v,
				"pc_thread_create of uthread %u of %u: %s", i,
				count, strerror(-err));
			return err;
		}
	}
	while (atomic_load_explicit(&d->parked, memory_order_acquire) < count)
		pc_thread_yield();
	return 0;
}

void ours_idle_memory(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	unsigned int i, count = bt->idle_count;
	struct idle_state d = { .parked = 0 };
	struct pc_thread **ts, *t;
	int64_t before, after;
	int err;

	if (ours_enter_vcores(1, v))
		return;
	ts = malloc(count * sizeof(*ts));
	if (!ts) {
		bench_value_missing(v, "no memory for %u handles", count);
		return;
	}
	/* Not zero: a zeroing memset may be turned into calloc(). */
	memset(ts, 0xa5, count * sizeof(*ts));
	err = pc_thread_create(&t, NULL, noop_thread, NULL);
	if (!err)
		err = pc_thread_join(t, NULL);
	if (err) {
		ours_failed(v, "pc_thread_create/join", err);
		return;
	}

	before = bench_rss_bytes();
	if (idle_start(ts, count, &d, v))
		return;
	after = bench_rss_bytes();
	if (before < 0 || after < 0) {
		ours_failed(v, "reading /proc/self/statm",
		       (int)(before < 0 ? before : after));
		return;
	}

	for (i = 0; i < count; i++)
		pc_thread_unpark(ts[i]);
	for (i = 0; i < count; i++)
		pc_thread_join(ts[i], NULL);
	free(ts);
	bench_value_set(v, (double)(after - before) / count);
}

/*
 * Cross-vcore latencies, on two vcores A and B (pinned to two CPUs): main,
 * a uthread on A, stamps the time and sends an event to B, whose handler
 * stamps it again and acknowledges (struct bench_ping). Main spins while
 * it waits, never yields, so it stays on A and keeps A busy. The two
 * benchmarks differ in what B is doing when the event comes.
 */
#define EV_PING PC_EV_APP_FIRST

/* Far above any start-up hand-shake; only a bug takes this long. */
#define SETUP_TIMEOUT_S 5u

struct xvcore {
	struct bench_ping ping;
	int target;		/* vcore B */
	unsigned int flags;	/* of every pc_event_send() */
	struct pc_event_stats before, after;	/* B's, around the pings */
	/* Are the samples what they should be? Else fills @v, returns -1. */
	int (*check)(const struct xvcore *x, struct bench_value *v);
};

static void ping_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	bench_ping_ack(arg);
}

static int ping_send(void *arg)
{
	struct xvcore *x = arg;
	struct pc_event ev = { .type = EV_PING };

	return pc_event_send(x->target, &ev, x->flags);
}

/* @n samples into @ns, B's counters around them. */
static int xvcore_run(struct xvcore *x, unsigned int n, double *ns)
{
	int err;

	x->ping.send = ping_send;
	x->ping.arg = x;
	err = pc_event_handler_set(EV_PING, ping_handler, &x->ping);
	if (!err)
		err = pc_event_stats(x->target, &x->before);
	if (!err)
		err = bench_ping_run(&x->ping, n, ns);
	if (!err)
		err = pc_event_stats(x->target, &x->after);
	pc_event_handler_set(EV_PING, NULL, NULL);
	return err;
}

/* An event went unhandled for a second: B's counters say how far it got. */
static void lost_event(const struct xvcore *x, struct bench_value *v)
{
	struct pc_event_stats st;

	if (pc_event_stats(x->target, &st)) {
		bench_value_missing(v, "vcore %d did not handle an event "
				    "within 1 s", x->target);
		return;
	}
	bench_value_missing(v, "vcore %d did not handle event %u within 1 s "
			    "(posted %llu, handled %llu, signals sent %llu, "
			    "taken %llu, deferred %llu, masked %llu)",
			    x->target, x->ping.sent,
			    (unsigned long long)st.posted,
			    (unsigned long long)st.handled,
			    (unsigned long long)st.notifs_sent,
			    (unsigned long long)st.notifs_taken,
			    (unsigned long long)st.notifs_deferred,
			    (unsigned long long)st.notifs_masked);
}

/* Fills @v: the median and p99 of @n samples, or why there are none. */
static void xvcore_measure(struct xvcore *x, unsigned int n,
			   struct bench_value *v)
{
	int a = pc_vcore_cpu(pc_vcore_id()), b = pc_vcore_cpu(x->target);
	double *ns;
	int err;

	if (a < 0 || b < 0) {
		ours_failed(v, "pc_vcore_cpu", a < 0 ? a : b);
		return;
	}
	if (a == b) {
		bench_value_missing(v, "vcores %d and %d share CPU %d: "
				    "needs two CPUs", pc_vcore_id(), x->target,
				    a);
		return;
	}
	ns = malloc(n * sizeof(*ns));
	if (!ns) {
		bench_value_missing(v, "no memory for %u samples", n);
		return;
	}
	err = xvcore_run(x, n, ns);
	if (err == -ETIMEDOUT)
		lost_event(x, v);
	else if (err)
		ours_failed(v, "sending events", err);
	else if (!x->check(x, v))
		bench_value_set_samples(v, ns, n);
	free(ns);
}

/* A uthread that never yields: it holds its vcore until told to stop. */
struct spinner {
	atomic_int vcore;	/* where it spins; -1 until it runs */
	atomic_int stop;
};

static void *spinner_thread(void *arg)
{
	struct spinner *s = arg;

	atomic_store_explicit(&s->vcore, pc_vcore_id(), memory_order_release);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed))
		;
	return NULL;
}

/*
 * Yields until main runs on another vcore than the spinner; returns the
 * spinner's, or -ETIMEDOUT. Main yielding on the spinner's vcore leaves
 * it in that vcore's queue, which the spinner never lets run: the other,
 * idle vcore steals it.
 */
static int away_from_spinner(struct spinner *s)
{
	uint64_t deadline = bench_now_ns() + SETUP_TIMEOUT_S * 1000000000ull;
	int vc;

	for (;;) {
		vc = atomic_load_explicit(&s->vcore, memory_order_acquire);
		if (vc >= 0 && vc != pc_vcore_id())
			return vc;
		if (bench_now_ns() > deadline)
			return -ETIMEDOUT;
		pc_thread_yield();
	}
}

/*
 * The samples must have interrupted the spinner: a signal sent, and taken
 * in user code. One that found B still in vcore context (notifications
 * masked: no signal) is a poll, not a notification. A loaded host can
 * delay B past the pause now and then (1 in 20,000 seen), which does not
 * move the median; more than 1% would.
 */
static int check_notified(const struct xvcore *x, struct bench_value *v)
{
	uint64_t taken = x->after.notifs_taken - x->before.notifs_taken;

	if (taken * 100 >= (uint64_t)x->ping.sent * 99)
		return 0;
	bench_value_missing(v, "%llu of %u events interrupted the spinner: "
			    "not notifications", (unsigned long long)taken,
			    x->ping.sent);
	return -1;
}

void ours_notify_latency(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	struct spinner s = { .vcore = -1, .stop = 0 };
	struct xvcore x = {
		.ping.pause_ns = BENCH_NOTIFY_PAUSE_NS,
		.flags = PC_EVF_NOTIFY,
		.check = check_notified,
	};
	struct pc_thread *t;
	int err;

	if (ours_enter_vcores(2, v))
		return;
	err = pc_thread_create(&t, NULL, spinner_thread, &s);
	if (err) {
		ours_failed(v, "pc_thread_create", err);
		return;
	}
	x.target = away_from_spinner(&s);
	if (x.target < 0)
		bench_value_missing(v, "main and the spinner did not get "
				    "vcores of their own within %u s",
				    SETUP_TIMEOUT_S);
	else
		xvcore_measure(&x, bt->samples, v);
	atomic_store_explicit(&s.stop, 1, memory_order_relaxed);
	err = pc_thread_join(t, NULL);
	if (err && v->ok)
		ours_failed(v, "pc_thread_join", err);
}

/*
 * No signal went out: the events were sent without PC_EVF_NOTIFY (a
 * notifying post to a vcore in vcore context pays a membarrier() to rule
 * out a race with the vcore's unfenced pop: see src/lib/notify.c), so
 * only an idle vcore's polling can have delivered them this fast.
 */
static int check_idle(const struct xvcore *x, struct bench_value *v)
{
	uint64_t sent = x->after.notifs_sent - x->before.notifs_sent;

	if (!sent)
		return 0;
	bench_value_missing(v, "%llu signals went out for %u quiet events",
			    (unsigned long long)sent, x->ping.sent);
	return -1;
}

void ours_event_poll_latency(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	struct xvcore x = {
		.ping.pause_ns = BENCH_POLL_PAUSE_NS,
		.flags = 0, /* "without a signal" */
		.check = check_idle,
	};

	if (ours_enter_vcores(2, v))
		return;
	/* Main is the only uthread: the other vcore has nothing to run. */
	x.target = 1 - pc_vcore_id();
	xvcore_measure(&x, bt->samples, v);
}

/*
 * Preemption, on three vcores: main (the driver) on vcore D, a victim
 * uthread that never yields on vcore B, and a third vcore, idle, for the
 * victim to go on on once B is gone. Main stamps the time, calls
 * pc_vcore_preempt(B) and waits until the victim stamps its first moment
 * on another vcore; the sample is the difference. Then main gives the
 * core back (pc_vcore_restore()), lets it settle (preempt_settle()) and
 * preempts the victim's new vcore.
 *
 * 3 vcores on 2 CPUs (vcore i on CPU i % 2): one CPU has two vcores. Main
 * first moves to the vcore that has its CPU to itself (main_place()), so
 * that the victim never shares main's CPU: there its thread would run
 * only when Linux took the CPU from main, and the samples would time
 * Linux's time slices. Main never makes a 2LS yield, so it stays there
 * and never runs the victim itself: a victim that lands in D's queue is
 * stolen by the idle vcore, as it would be from any vcore whose uthread
 * is busy. Main waits with sched_yield(): free on a CPU of its own, and
 * until it has one it does not hold up the vcore it shares it with.
 */
#define PREEMPT_VCORES 3

/* preempt_nice's warning: long enough that the nice yield ends it. */
#define NICE_WARNING_NS (100u * 1000u * 1000u)

/*
 * How long main waits for the victim to move: forced, the arbiter
 * notifies B again every millisecond; nice, the warning is 100 ms. Only
 * a bug takes longer.
 */
#define MOVE_TIMEOUT_NS 1000000000u

/* preempt_settle()'s event: the vcore granted back answers it. */
#define EV_SETTLE (PC_EV_APP_FIRST + 1)

/*
 * How long the vcore granted back is left idle before the next
 * preemption: well past the 20 us it polls, so that it has parked, as an
 * idle vcore does. The figures depend on the pause on this VM: measured
 * with fixed pauses, preempt_nice's median was 20-25 us after 100-200 us,
 * 40-55 us after 2 ms and 55-80 us after 5 ms, every step slower,
 * pc_vcore_preempt()'s own run on main's CPU included (5 us, then 15), as
 * if the code went cold. These are figures of the warm path.
 */
#define SETTLE_NS 100000u

struct preempt {
	pc_thread_fn fn;	/* the victim: preempt_spinner or nice_worker */
	uint64_t warning_ns;	/* of every pc_vcore_preempt() */
	atomic_int vcore;	/* where the victim runs; -1 until it does */
	atomic_uint moves;	/* to another vcore, counted after @stamp */
	_Atomic uint64_t stamp;	/* its bench_stamp() on arrival there */
	atomic_int stop;
	atomic_int err;		/* a refused pc_vcore_yield(1) */
	atomic_uint settled;	/* EV_SETTLE handler calls */
	/* PC_EV_PREEMPT_PENDING handler calls, per vcore (preempt_nice). */
	atomic_uint warned[PC_VCORE_MAX];
	/* B's counters before the preemption, for victim_stuck(). */
	struct pc_event_stats before;
	unsigned int warned_before;
};

/* The victim's first act on vcore @vc, its new one. */
static void victim_moved(struct preempt *p, int vc)
{
	atomic_store_explicit(&p->stamp, bench_stamp(), memory_order_relaxed);
	atomic_store_explicit(&p->vcore, vc, memory_order_relaxed);
	/* Pairs with main's acquire load: publishes the two above. */
	atomic_fetch_add_explicit(&p->moves, 1, memory_order_release);
}

/*
 * preempt_forced's victim: spins and never yields, looking at the stop
 * flag and its vcore only. The stamp is taken after the look that found
 * a new vcore, so it is never earlier than the move. (A look under way
 * when the spinner was stranded may still read the old vcore's id; the
 * next one reads the new id.) It looks only every SPIN_BETWEEN_LOOKS
 * iterations of its own: pc_vcore_id() is parcore's code, where it is
 * never moved, and looking at every iteration kept it there for a third
 * of its time, so most forcings found it there and the median was the
 * arbiter's 1 ms retry (1.1 ms), not the mechanism.
 */
#define SPIN_BETWEEN_LOOKS 256

static void *preempt_spinner(void *arg)
{
	struct preempt *p = arg;
	int home = pc_vcore_id(), vc;

	atomic_store_explicit(&p->vcore, home, memory_order_release);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		for (volatile int i = 0; i < SPIN_BETWEEN_LOOKS; i = i + 1)
			;
		vc = pc_vcore_id();
		if (vc != home) {
			victim_moved(p, vc);
			home = vc;
		}
	}
	return NULL;
}

/*
 * The PC_EV_PREEMPT_PENDING handler: runs in vcore context on the vcore
 * being preempted (the warning's notification interrupted its uthread),
 * so it counts the warning there. Async-signal-safe.
 */
static void nice_warned(const struct pc_event *ev, void *arg)
{
	struct preempt *p = arg;
	int vc = pc_vcore_id();

	(void)ev;
	if (vc >= 0 && vc < PC_VCORE_MAX)
		atomic_fetch_add_explicit(&p->warned[vc], 1,
					  memory_order_relaxed);
}

static void settle_ack(const struct pc_event *ev, void *arg)
{
	struct preempt *p = arg;

	(void)ev;
	/* Pairs with main's acquire load. */
	atomic_fetch_add_explicit(&p->settled, 1, memory_order_release);
}

/*
 * preempt_nice's victim: spins and never yields, but looks at its vcore's
 * warnings and answers one with pc_vcore_yield(1), which returns on
 * another vcore; the stamp is taken right after it. No race with the
 * warning: pc_vcore_preempt() marks the vcore pending under the lock the
 * yield takes, before the handler can have run.
 */
static void *nice_worker(void *arg)
{
	struct preempt *p = arg;
	int home = pc_vcore_id(), err;
	unsigned int seen = atomic_load(&p->warned[home]);

	atomic_store_explicit(&p->vcore, home, memory_order_release);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		if (atomic_load_explicit(&p->warned[home],
					 memory_order_relaxed) == seen)
			continue;
		err = pc_vcore_yield(1);
		if (err) {
			atomic_store(&p->err, err); /* main says why */
			break;
		}
		victim_moved(p, pc_vcore_id());
		home = pc_vcore_id();
		seen = atomic_load(&p->warned[home]);
		/*
		 * The vcore that just left shares this one's CPU, and may
		 * not be done yet: it woke this vcore while holding the
		 * arbiter's grant_lock, and Linux ran this one instead. Give
		 * it the CPU back, or it holds the lock (and main's
		 * pc_vcore_restore()) until the next tick, 1-7 ms here.
		 */
		sched_yield();
	}
	return NULL;
}

/*
 * Main's wait: sched_yield() lets a vcore that shares main's CPU run, if
 * main shares it (it does not once placed). Returns 1 past @deadline.
 */
static int preempt_past(uint64_t deadline)
{
	if (bench_now_ns() > deadline)
		return 1;
	sched_yield();
	return 0;
}

/* Waits until all the vcores are granted (again). */
static int vcores_back(struct bench_value *v)
{
	uint64_t deadline = bench_now_ns() + SETUP_TIMEOUT_S * 1000000000ull;

	while (pc_vcore_count() < PREEMPT_VCORES) {
		if (preempt_past(deadline)) {
			bench_value_missing(v, "%d vcores granted after %u s, "
					    "not %d", pc_vcore_count(),
					    SETUP_TIMEOUT_S, PREEMPT_VCORES);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/*
 * After pc_vcore_restore(): waits until vcore @b, granted back, is up (it
 * has handled an event) and has been idle for SETTLE_NS, so that every
 * preemption starts from the same state. Without it the next one finds
 * @b's thread on its way out of its futex, competing for the CPU with the
 * victim's (preempt_nice's median was about 40 us instead of 20).
 */
static int preempt_settle(struct preempt *p, int b, struct bench_value *v)
{
	struct pc_event ev = { .type = EV_SETTLE };
	unsigned int acks = atomic_load_explicit(&p->settled,
						 memory_order_relaxed);
	uint64_t deadline;
	int err;

	err = vcores_back(v);
	if (err)
		return err;
	err = pc_event_send(b, &ev, PC_EVF_NOTIFY);
	if (err) {
		ours_failed(v, "pc_event_send to the vcore granted back", err);
		return err;
	}
	deadline = bench_now_ns() + SETUP_TIMEOUT_S * 1000000000ull;
	while (atomic_load_explicit(&p->settled, memory_order_acquire) ==
	       acks) {
		if (preempt_past(deadline)) {
			bench_value_missing(v, "vcore %d, granted back, did "
					    "not handle an event within %u s",
					    b, SETUP_TIMEOUT_S);
			return -ETIMEDOUT;
		}
	}
	deadline = bench_now_ns() + SETTLE_NS;
	while (!preempt_past(deadline))
		;
	return 0;
}

/* Is main's vcore the only one on its CPU? */
static int main_alone(void)
{
	int d = pc_vcore_id(), cpu = pc_vcore_cpu(d);

	for (int i = 0; i < PREEMPT_VCORES; i++) {
		if (i != d && pc_vcore_cpu(i) == cpu)
			return 0;
	}
	return cpu >= 0;
}

/*
 * Moves main to the vcore that has its CPU to itself, the way
 * preempt_nice moves its victim: main's vcore is preempted with a long
 * warning, main answers with a nice yield and goes on on another vcore,
 * then the core comes back. Once placed, main stays: it never yields to
 * the 2LS and never parks.
 */
static int main_place(struct bench_value *v)
{
	uint64_t deadline = bench_now_ns() + SETUP_TIMEOUT_S * 1000000000ull;
	const char *call;
	int err;

	while (!main_alone()) {
		if (bench_now_ns() > deadline) {
			bench_value_missing(v, "main did not get a CPU of its "
					    "own within %u s (on vcore %d)",
					    SETUP_TIMEOUT_S, pc_vcore_id());
			return -ETIMEDOUT;
		}
		call = "pc_vcore_preempt(main's vcore)";
		err = pc_vcore_preempt(pc_vcore_id(), NICE_WARNING_NS);
		if (!err) {
			call = "pc_vcore_yield(1) in main";
			err = pc_vcore_yield(1);
		}
		if (!err) {
			call = "pc_vcore_restore";
			err = pc_vcore_restore();
		}
		if (err < 0) {
			ours_failed(v, call, err);
			return err;
		}
		err = vcores_back(v);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The victim did not move within MOVE_TIMEOUT_NS. B's counters since the
 * call, and whether B is still online, tell a victim that was never
 * stopped from one that was stopped but not run again elsewhere.
 */
static void victim_stuck(const struct preempt *p, int b,
			 struct bench_value *v)
{
	struct pc_event_stats st = p->before;
	char warned[64] = "";
	int err = atomic_load(&p->err);

	if (err) {
		ours_failed(v, "pc_vcore_yield(1) in the victim", err);
		return;
	}
	pc_event_stats(b, &st);
	if (p->fn == nice_worker)
		snprintf(warned, sizeof(warned), "warnings handled there %u, ",
			 atomic_load(&p->warned[b]) - p->warned_before);
	bench_value_missing(v, "the victim did not leave vcore %d within 1 s "
			    "of pc_vcore_preempt(%d, %llu ns) (vcore %d %s; "
			    "since the call: %ssignals sent %llu, taken %llu, "
			    "deferred %llu; %d vcores granted)", b, b,
			    (unsigned long long)p->warning_ns, b,
			    pc_vcore_cpu(b) < 0 ? "offline" : "online", warned,
			    (unsigned long long)(st.notifs_sent -
						 p->before.notifs_sent),
			    (unsigned long long)(st.notifs_taken -
						 p->before.notifs_taken),
			    (unsigned long long)(st.notifs_deferred -
						 p->before.notifs_deferred),
			    pc_vcore_count());
}

/*
 * One preemption of the victim's vcore, its latency in ticks to @ticks
 * (signed, so that a skew between the CPUs' counters would show rather
 * than wrap); then the core goes back and settles.
 */
static int preempt_once(struct preempt *p, int64_t *ticks,
			struct bench_value *v)
{
	int b = atomic_load_explicit(&p->vcore, memory_order_relaxed);
	unsigned int moves = atomic_load_explicit(&p->moves,
						  memory_order_relaxed);
	int d = pc_vcore_id(), err;
	uint64_t deadline, t0;
	char call[64];

	/* main_place() did this: the victim is on the other CPU. */
	if (b == d || pc_vcore_cpu(b) == pc_vcore_cpu(d)) {
		bench_value_missing(v, "the victim (vcore %d) shares main's "
				    "CPU (vcore %d)", b, d);
		return -EINVAL;
	}
	pc_event_stats(b, &p->before);
	p->warned_before = atomic_load(&p->warned[b]);
	t0 = bench_stamp();
	err = pc_vcore_preempt(b, p->warning_ns);
	if (err) {
		snprintf(call, sizeof(call), "pc_vcore_preempt(%d)", b);
		ours_failed(v, call, err);
		return err;
	}
	deadline = bench_now_ns() + MOVE_TIMEOUT_NS;
	while (atomic_load_explicit(&p->moves, memory_order_acquire) ==
	       moves) {
		if (atomic_load_explicit(&p->err, memory_order_relaxed) ||
		    preempt_past(deadline)) {
			victim_stuck(p, b, v);
			return -ETIMEDOUT;
		}
	}
	*ticks = (int64_t)(atomic_load_explicit(&p->stamp,
						memory_order_relaxed) - t0);
	err = pc_vcore_restore();
	if (err < 0) {
		ours_failed(v, "pc_vcore_restore", err);
		return err;
	}
	return preempt_settle(p, b, v);
}

/* Fills @v with the median and p99 of @n preemptions, or why not. */
static void preempt_measure(struct preempt *p, unsigned int n,
			    struct bench_value *v)
{
	uint64_t deadline = bench_now_ns() + SETUP_TIMEOUT_S * 1000000000ull;
	double ns_per_tick = bench_stamp_ns_per_tick();
	unsigned int i, warm = n / 10 + 1;
	struct pc_thread *t = NULL;
	int64_t ticks;
	double *ns;
	int err;

	ns = malloc(n * sizeof(*ns));
	if (!ns) {
		bench_value_missing(v, "no memory for %u samples", n);
		return;
	}
	atomic_store(&p->vcore, -1);
	err = pc_event_handler_set(EV_SETTLE, settle_ack, p);
	if (err)
		ours_failed(v, "pc_event_handler_set", err);
	else
		err = main_place(v);
	if (!err) {
		err = pc_thread_create(&t, NULL, p->fn, p);
		if (err)
			ours_failed(v, "pc_thread_create", err);
	}
	/* In main's queue: an idle vcore steals it (main does not yield). */
	while (!err && atomic_load_explicit(&p->vcore,
					    memory_order_acquire) < 0) {
		if (preempt_past(deadline)) {
			bench_value_missing(v, "the victim did not run "
					    "within %u s", SETUP_TIMEOUT_S);
			err = -ETIMEDOUT;
		}
	}
	/* The warm-up's figures (never more than @n) are overwritten. */
	for (i = 0; !err && i < warm + n; i++) {
		err = preempt_once(p, &ticks, v);
		if (!err)
			ns[i < warm ? i : i - warm] =
				(double)ticks * ns_per_tick;
	}
	atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	/*
	 * After a failure the victim is not joined: left on a vcore that
	 * is gone, it could keep the join waiting for ever. The child
	 * exits anyway.
	 */
	if (!err) {
		err = pc_thread_join(t, NULL);
		if (err)
			ours_failed(v, "pc_thread_join", err);
	}
	if (!err)
		bench_value_set_samples(v, ns, n);
	free(ns);
	pc_event_handler_set(EV_SETTLE, NULL, NULL);
}

/*
 * Both need a notification to stop a spinning uthread where it stands,
 * which parcore does on x86-64 without TSan only, and two CPUs, one for
 * main and one for the victim.
 */
static int preempt_enter(struct bench_value *v)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	int c0, c1;

	if (ours_enter_vcores(PREEMPT_VCORES, v))
		return -1;
	c0 = pc_vcore_cpu(0);
	c1 = pc_vcore_cpu(1);
	if (c0 >= 0 && c0 == c1 && c0 == pc_vcore_cpu(2)) {
		bench_value_missing(v, "vcores 0-2 all on CPU %d: needs two "
				    "CPUs", c0);
		return -1;
	}
	return 0;
#else
	bench_value_missing(v, "needs x86-64 without TSan: elsewhere a "
			    "notification does not interrupt a spinning "
			    "uthread");
	return -1;
#endif
}

void ours_preempt_forced(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	struct preempt p = { .fn = preempt_spinner, .warning_ns = 0 };

	if (preempt_enter(v))
		return;
	preempt_measure(&p, bt->samples, v);
}

void ours_preempt_nice(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	struct preempt p = {
		.fn = nice_worker,
		.warning_ns = NICE_WARNING_NS,
	};
	int err;

	if (preempt_enter(v))
		return;
	err = pc_event_handler_set(PC_EV_PREEMPT_PENDING, nice_warned, &p);
	if (err) {
		ours_failed(v, "pc_event_handler_set", err);
		return;
	}
	preempt_measure(&p, bt->samples, v);
	pc_event_handler_set(PC_EV_PREEMPT_PENDING, NULL, NULL);
}
