/*
 * cacheline.c - the limit for one CPU noticing what another wrote: a
 * store, and the load spinning on the other CPU that sees it, one cache
 * line moving between the two. An idle vcore that polls for events does
 * this plus its own work between two looks. Measured two ways:
 *
 *  back to back  two pthreads pass a sequence number back and forth in
 *                one line; a round trip is two one-way trips, and the
 *                figure is half of it. No timestamp is read.
 *  stamped       one message at a time, timed exactly as parcore's
 *                event_poll_latency is (struct bench_ping): the sender
 *                stamps the time and stores, the receiver's poll sees
 *                the store and stamps the time again, and the sender
 *                pauses BENCH_POLL_PAUSE_NS before the next. On the
 *                project's VM a TSC read costs up to 27 ns and a store that
 *                follows a pause reaches the other CPU later than one
 *                in a stream: this figure is about twice the other.
 */
#include "peers.h"
#include "ping_pair.h"

#include <pthread.h>
#include <string.h>

/* Odd: pong's turn; even: ping's. Odd, so that pong wakes up for it. */
#define SEQ_STOP UINT64_MAX

struct cacheline {
	/* Alone in its line: nothing else moves with it. */
	_Alignas(64) _Atomic uint64_t seq;
	_Alignas(64) int cpu[2];	/* ping's, pong's */
	const struct bench_timing *bt;
	double ns;		/* per round trip */
	int ping_err;		/* pinning or measuring failed */
	int pong_err;		/* pinning failed */
};

/*
 * @n round trips. No pause instruction in the spins: it would delay
 * noticing the line by up to its own latency (about 140 cycles on Intel
 * cores since Skylake), and this is the limit.
 */
static int ping_batch(void *arg, uint64_t n)
{
	struct cacheline *cl = arg;
	uint64_t s = atomic_load_explicit(&cl->seq, memory_order_relaxed);

	while (n--) {
		atomic_store_explicit(&cl->seq, ++s, memory_order_release);
		s++;
		while (atomic_load_explicit(&cl->seq, memory_order_acquire) !=
		       s)
			;
	}
	return 0;
}

/* Measures, then stops pong. */
static void *ping_thread(void *arg)
{
	struct cacheline *cl = arg;

	cl->ping_err = bench_pin_self(cl->cpu[0]);
	if (!cl->ping_err)
		cl->ping_err = bench_measure(cl->bt, ping_batch, cl, &cl->ns);
	atomic_store_explicit(&cl->seq, SEQ_STOP, memory_order_relaxed);
	return NULL;
}

/* Hands every odd number back as the next even one, until SEQ_STOP. */
static void *pong_thread(void *arg)
{
	struct cacheline *cl = arg;
	uint64_t s;

	cl->pong_err = bench_pin_self(cl->cpu[1]);
	for (;;) {
		s = atomic_load_explicit(&cl->seq, memory_order_acquire);
		if (s == SEQ_STOP)
			return NULL;
		if (s % 2)
			atomic_store_explicit(&cl->seq, s + 1,
					      memory_order_release);
	}
}

/* Runs pong and ping; returns 0 or -errno. */
static int run_pair(struct cacheline *cl)
{
	pthread_t ping, pong;
	int err;

	err = pthread_create(&pong, NULL, pong_thread, cl);
	if (err)
		return -err;
	err = pthread_create(&ping, NULL, ping_thread, cl);
	if (err)
		atomic_store(&cl->seq, SEQ_STOP);
	else
		pthread_join(ping, NULL);
	pthread_join(pong, NULL);
	if (err)
		return -err;
	return cl->pong_err ? cl->pong_err : cl->ping_err;
}

void peer_cacheline_pingpong(const struct bench_timing *bt,
			     struct bench_value *v)
{
	struct cacheline cl = { .seq = 0, .bt = bt };
	int err;

	cl.cpu[0] = bench_cpu_nth(0);
	cl.cpu[1] = bench_cpu_nth(1);
	if (cl.cpu[1] < 0) {
		bench_value_missing(v, "needs two CPUs: %s",
				    strerror(-cl.cpu[1]));
		return;
	}
	err = run_pair(&cl);
	if (err)
		bench_value_missing(v, "ping-pong between CPUs %d and %d: %s",
				    cl.cpu[0], cl.cpu[1], strerror(-err));
	else
		bench_value_set(v, cl.ns / 2);
}

struct stamped {
	struct ping_pair pair;
	_Alignas(64) _Atomic uint64_t seq;	/* alone in its line */
};

/* Only the sender writes @seq: a store, no read-modify-write. */
static int send_store(void *arg)
{
	struct stamped *st = arg;

	atomic_store_explicit(&st->seq, st->pair.ping.sent,
			      memory_order_release);
	return 0;
}

/* Acknowledges every new value of @seq, until stopped. */
static void poll_line(struct ping_pair *pp)
{
	struct stamped *st = pp->arg;
	uint64_t seen = 0, s;

	ping_pair_ready(pp);
	while (!ping_pair_stopped(pp)) {
		s = atomic_load_explicit(&st->seq, memory_order_acquire);
		if (s != seen) {
			seen = s;
			bench_ping_ack(&pp->ping);
		}
	}
}

void peer_cacheline_stamped(const struct bench_timing *bt,
			    struct bench_value *v)
{
	struct stamped st = {
		.pair = { .ping = { .send = send_store,
				    .pause_ns = BENCH_POLL_PAUSE_NS },
			  .receive = poll_line },
	};

	st.pair.ping.arg = &st;
	st.pair.arg = &st;
	ping_pair_measure(&st.pair, bt, "a store", v);
}
