/*
 * ours.c - parcore's side of each benchmark, through the public API only.
 *
 * Every benchmark but the cross-vcore latencies at the end runs on one
 * vcore (pc_vcore_limit_set(1)), matching its peers: one hand-written or
 * Boost context on one thread, Go with GOMAXPROCS=1, two pthreads pinned
 * to one CPU. On one vcore a uthread another one waits for runs only when
 * the waiter switches, yields or parks, which is what makes the start-up
 * hand-shakes below simple.
 */
#include "ours.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void failed(struct bench_value *v, const char *call, int err)
{
	bench_value_missing(v, "%s: %s (%d)", call, strerror(-err), err);
}

/* Make the calling context a uthread with @n vcores under it. */
static int enter_vcores(int n, struct bench_value *v)
{
	char call[40];
	int rc;

	rc = pc_vcore_limit_set(n);
	if (rc < 0) {
		snprintf(call, sizeof(call), "pc_vcore_limit_set(%d)", n);
		failed(v, call, rc);
		return rc;
	}
	rc = pc_vcore_request(n);
	snprintf(call, sizeof(call), "pc_vcore_request(%d)", n);
	if (rc < 0) {
		failed(v, call, rc);
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
	while ((err = pc_thread_switch(s->main)) == -EINVAL)
		pc_thread_yield();
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

	if (enter_vcores(1, v))
		return;
	s.main = pc_thread_self();
	err = pc_thread_create(&s.partner, NULL, switch_partner, &s);
	if (err) {
		failed(v, "pc_thread_create", err);
		return;
	}
	err = pc_thread_park();
	if (err) {
		failed(v, "pc_thread_park", err);
		return;
	}
	if (s.err) {
		failed(v, "pc_thread_switch (partner)", s.err);
		return;
	}
	err = bench_measure(arg, switch_batch, &s, &ns);
	if (err) {
		failed(v, "pc_thread_switch", err);
		return;
	}
	atomic_store_explicit(&s.stop, 1, memory_order_relaxed);
	err = pc_thread_switch(s.partner);
	if (!err)
		err = pc_thread_join(s.partner, NULL);
	if (err) {
		failed(v, "stopping the partner", err);
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

	if (enter_vcores(1, v))
		return;
	err = pc_thread_create(&partner, NULL, yield_partner, &y);
	if (err) {
		failed(v, "pc_thread_create", err);
		return;
	}
	err = bench_measure(arg, yield_batch, &y, &ns);
	if (err) {
		failed(v, "pc_thread_yield", err);
		return;
	}
	atomic_store_explicit(&y.stop, 1, memory_order_relaxed);
	err = pc_thread_join(partner, NULL);
	if (err) {
		failed(v, "pc_thread_join", err);
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

	if (enter_vcores(1, v))
		return;
	err = bench_measure(arg, create_join_batch, NULL, &ns);
	if (err) {
		failed(v, "pc_thread_create/join", err);
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

	if (enter_vcores(1, v))
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
		failed(v, "pc_thread_create/join", err);
		return;
	}

	before = bench_rss_bytes();
	if (idle_start(ts, count, &d, v))
		return;
	after = bench_rss_bytes();
	if (before < 0 || after < 0) {
		failed(v, "reading /proc/self/statm",
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

/*
 * Between two events to an idle vcore: long enough for B to be back in
 * its poll loop after the last handler, far below the 20 us it polls
 * before it parks (a futex wake-up would be timed instead).
 */
#define POLL_PAUSE_NS 2000u

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
		failed(v, "pc_vcore_cpu", a < 0 ? a : b);
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
		failed(v, "sending events", err);
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

	if (enter_vcores(2, v))
		return;
	err = pc_thread_create(&t, NULL, spinner_thread, &s);
	if (err) {
		failed(v, "pc_thread_create", err);
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
		failed(v, "pc_thread_join", err);
}

/*
 * B was idle at every send: in vcore context, where notifications are
 * masked, so not one signal went out although every event asked for one.
 */
static int check_idle(const struct xvcore *x, struct bench_value *v)
{
	uint64_t sent = x->after.notifs_sent - x->before.notifs_sent;

	if (!sent)
		return 0;
	bench_value_missing(v, "%llu of %u events found vcore %d running a "
			    "uthread: not idle polling",
			    (unsigned long long)sent, x->ping.sent, x->target);
	return -1;
}

void ours_event_poll_latency(void *arg, struct bench_value *v)
{
	const struct bench_timing *bt = arg;
	struct xvcore x = {
		.ping.pause_ns = POLL_PAUSE_NS,
		/* Changes nothing for an idle B; lets check_idle() see it. */
		.flags = PC_EVF_NOTIFY,
		.check = check_idle,
	};

	if (enter_vcores(2, v))
		return;
	/* Main is the only uthread: the other vcore has nothing to run. */
	x.target = 1 - pc_vcore_id();
	xvcore_measure(&x, bt->samples, v);
}
