/*
 * ours.c - parcore's side of each benchmark, through the public API only.
 *
 * Every benchmark runs on one vcore (pc_vcore_limit_set(1)), matching its
 * peers: one hand-written or Boost context on one thread, Go with
 * GOMAXPROCS=1, two pthreads pinned to one CPU. On one vcore a uthread
 * another one waits for runs only when the waiter switches, yields or
 * parks, which is what makes the start-up hand-shakes below simple.
 */
#include "ours.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void failed(struct bench_value *v, const char *call, int err)
{
	bench_value_missing(v, "%s: %s (%d)", call, strerror(-err), err);
}

/* Make the calling context a uthread with one vcore under it. */
static int enter_one_vcore(struct bench_value *v)
{
	int rc;

	rc = pc_vcore_limit_set(1);
	if (rc < 0) {
		failed(v, "pc_vcore_limit_set(1)", rc);
		return rc;
	}
	rc = pc_vcore_request(1);
	if (rc < 0) {
		failed(v, "pc_vcore_request(1)", rc);
		return rc;
	}
	if (!pc_thread_self()) {
		bench_value_missing(v,
				    "not a uthread after pc_vcore_request()");
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

	if (enter_one_vcore(v))
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

	if (enter_one_vcore(v))
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

	if (enter_one_vcore(v))
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

	if (enter_one_vcore(v))
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
