/*
 * futex.c - the kernel's answer to "let the other thread run": two
 * pthreads, both pinned to one CPU, hand a futex word back and forth.
 * A round trip is two wake-ups, two waits and two kernel context switches.
 */
#include "peers.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Whose turn it is: the measuring thread's or the echoing thread's. */
enum { TURN_PING, TURN_PONG };

struct pingpong {
	_Atomic uint32_t turn;
	atomic_int stop;
	int cpu;
	const struct bench_timing *bt;
	double ns;
	int ping_err;	/* pinning or measuring failed */
	int pong_err;	/* pinning failed */
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * Give the turn to the other side and wait until it comes back. The
 * release store pairs with the acquire load in the other side's wait
 * loop, so what one side wrote before passing the turn is seen by the
 * other.
 */
static void pass_turn(struct pingpong *pp, uint32_t mine, uint32_t theirs)
{
	atomic_store_explicit(&pp->turn, theirs, memory_order_release);
	futex_wake(&pp->turn);
	while (atomic_load_explicit(&pp->turn, memory_order_acquire) != mine)
		futex_wait(&pp->turn, theirs);
}

static int ping_batch(void *arg, uint64_t n)
{
	struct pingpong *pp = arg;

	while (n--)
		pass_turn(pp, TURN_PING, TURN_PONG);
	return 0;
}

/*
 * Measures, then stops pong. Each thread pins itself before its first
 * turn, so every timed round trip runs with both on the one CPU.
 */
static void *ping_thread(void *arg)
{
	struct pingpong *pp = arg;

	pp->ping_err = bench_pin_self(pp->cpu);
	if (!pp->ping_err)
		pp->ping_err = bench_measure(pp->bt, ping_batch, pp, &pp->ns);
	/* The release store of the turn below publishes stop to pong. */
	atomic_store_explicit(&pp->stop, 1, memory_order_relaxed);
	atomic_store_explicit(&pp->turn, TURN_PONG, memory_order_release);
	futex_wake(&pp->turn);
	return NULL;
}

/* Passes every turn straight back until ping says stop. */
static void *pong_thread(void *arg)
{
	struct pingpong *pp = arg;

	pp->pong_err = bench_pin_self(pp->cpu);
	for (;;) {
		while (atomic_load_explicit(&pp->turn, memory_order_acquire) !=
		       TURN_PONG)
			futex_wait(&pp->turn, TURN_PING);
		if (atomic_load_explicit(&pp->stop, memory_order_relaxed))
			return NULL;
		atomic_store_explicit(&pp->turn, TURN_PING,
				      memory_order_release);
		futex_wake(&pp->turn);
	}
}

void peer_futex_pingpong(const struct bench_timing *bt, struct bench_value *v)
{
	struct pingpong pp = { .turn = TURN_PING, .bt = bt };
	pthread_t ping, pong;
	int err;

	pp.cpu = bench_cpu_nth(0);
	if (pp.cpu < 0) {
		bench_value_missing(v, "sched_getaffinity: %s",
				    strerror(-pp.cpu));
		return;
	}
	err = pthread_create(&pong, NULL, pong_thread, &pp);
	if (err) {
		bench_value_missing(v, "pthread_create: %s", strerror(err));
		return;
	}
	err = pthread_create(&ping, NULL, ping_thread, &pp);
	if (err) {
		/* Stop pong as ping would have. */
		atomic_store(&pp.stop, 1);
		atomic_store(&pp.turn, TURN_PONG);
		futex_wake(&pp.turn);
		pthread_join(pong, NULL);
		bench_value_missing(v, "pthread_create: %s", strerror(err));
		return;
	}
	pthread_join(ping, NULL);
	pthread_join(pong, NULL);
	err = pp.pong_err ? pp.pong_err : pp.ping_err;
	if (err)
		bench_value_missing(v, "pinned ping-pong on CPU %d: %s", pp.cpu,
				    strerror(-err));
	else
		bench_value_set(v, pp.ns);
}
