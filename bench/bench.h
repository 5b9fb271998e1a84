/*
 * bench.h - what every benchmark in bench/ shares: batch timing, results
 * with their peers, the printer and the JSON writer.
 *
 * Timing. Reading the clock costs tens of nanoseconds here, as much as the
 * operations we time, so nothing is timed alone: a batch of n operations
 * runs between two clock_gettime(CLOCK_MONOTONIC) calls, n is chosen so
 * that a batch lasts about bench_timing.batch_ns, and the figure reported
 * is the median over bench_timing.reps batches of (batch time / n). The
 * median, not the mean, so that one batch hit by an interrupt or a
 * migration does not move the figure.
 *
 * Every figure is a cost (nanoseconds per operation, or bytes), so a ratio
 * ours / peer below 1 means parcore is ahead.
 */
#ifndef PARCORE_BENCH_H
#define PARCORE_BENCH_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))

struct bench_timing {
	unsigned int reps;	/* batches timed; the median is reported */
	uint64_t batch_ns;	/* aimed-for duration of one batch */
	uint64_t min_ops;	/* bounds on the operations in one batch */
	uint64_t max_ops;
	unsigned int idle_count; /* idle threads in the memory benchmark */
	unsigned int samples;	/* one-way latencies timed per figure */
};

/*
 * 21 batches of about 20 ms: the whole suite runs in well under a minute,
 * and with ops of 10-200 ns a batch holds 10^5-10^6 of them, so the two
 * clock reads around it are lost in the noise. Slow ops (a kernel thread
 * create) get at least 1000 per batch.
 */
#define BENCH_TIMING_DEFAULT { 21, 20000000, 1000, 1000000, 100000, 2000 }

/*
 * Performs @n operations. Returns 0, or -errno to abandon the measurement.
 */
typedef int (*bench_batch_fn)(void *arg, uint64_t n);

/*
 * bench_measure() - time @fn in batches as described above and store the
 * median nanoseconds per operation in @ns_per_op. One untimed batch runs
 * first, to warm caches and to size the batches.
 * Returns 0, or the first error @fn returned.
 */
int bench_measure(const struct bench_timing *bt, bench_batch_fn fn, void *arg,
		  double *ns_per_op);

/*
 * bench_measure_pair() - bench_measure() of @a and @b together, their
 * batches interleaved (a b, b a, a b...) with the same size, so that
 * both see the same machine: on this VM two runs of one loop a second
 * apart differ by several percent, more than the gaps some targets ask
 * to resolve. Returns 0, or the first error.
 */
int bench_measure_pair(const struct bench_timing *bt, bench_batch_fn a,
		       bench_batch_fn b, void *arg, double *a_ns, double *b_ns);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Median of @n values; sorts @v in place. @n must be at least 1. */
double bench_median(double *v, unsigned int n);

/* Resident set size of the calling process in bytes, or -errno. */
int64_t bench_rss_bytes(void);

/*
 * bench_cpu_nth() - the @i-th (from 0) CPU of the calling thread's
 * affinity mask, or -errno (-ESRCH if there are not that many).
 */
int bench_cpu_nth(int i);

/* Pins the calling thread to @cpu. Returns 0 or -errno. */
int bench_pin_self(int cpu);

/*
 * bench_pin_first() - pins the calling thread to the first CPU of its
 * affinity mask, which it saves in @saved for bench_unpin(): a peer that
 * runs on one CPU, as parcore's side runs on one vcore. Threads it then
 * creates inherit the pin. Returns the CPU, or -errno.
 */
int bench_pin_first(cpu_set_t *saved);

/* Gives the calling thread back the mask bench_pin_first() saved. */
void bench_unpin(const cpu_set_t *saved);

/*
 * bench_attr_cpus() - @attr, initialized, for threads that run on the
 * first @n CPUs of the calling thread's affinity mask (all of them if it
 * has fewer): the pthread peers of the benchmarks that run parcore on n
 * vcores. Returns 0 or an error number; destroy @attr after use.
 */
int bench_attr_cpus(pthread_attr_t *attr, int n);

/*
 * bench_stamp() - a timestamp that two CPUs can compare, cheap enough to
 * take one per sample: the TSC on x86-64 (half the cost of
 * clock_gettime() here, 10-25 ns; constant and synchronized across the
 * CPUs of the machines we measure), CLOCK_MONOTONIC elsewhere. Async-
 * signal-safe. bench_stamp_ns_per_tick() converts; it calibrates against
 * CLOCK_MONOTONIC for 20 ms on its first call (bench_ping_run() makes it
 * before its first message).
 */
static inline uint64_t bench_stamp(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#else
	return bench_now_ns();
#endif
}

double bench_stamp_ns_per_tick(void);

/*
 * One-way latency from one CPU to another, one sample per message: the
 * sender takes a stamp and calls @send, which makes the receiver call
 * bench_ping_ack() (from an event or signal handler); the sample is the
 * receiver's stamp minus the sender's. The sender spins until the
 * acknowledgement, then for @pause_ns more, then sends the next.
 */
struct bench_ping {
	_Atomic uint64_t stamp;	/* the receiver's, set by bench_ping_ack() */
	atomic_uint acks;	/* bench_ping_ack() calls */
	int (*send)(void *arg);	/* returns 0 or -errno */
	void *arg;
	uint64_t pause_ns;
	unsigned int sent;	/* messages sent, warm-up included */
};

/*
 * The pause between two interrupting messages (parcore's PC_EVF_NOTIFY
 * event and the tgkill peer's signal): the interrupted thread must be back
 * in its spin, out of the handler's tail, before the next one comes, or
 * the next sample would not be an interruption (parcore sends no signal
 * to a vcore in vcore context). A few times the latency itself.
 */
#define BENCH_NOTIFY_PAUSE_NS 20000u

/*
 * The pause between two messages to a receiver that polls (parcore's idle
 * vcore and the cache-line peer): long enough for it to be back in its
 * poll loop after the last one, far below the 20 us an idle vcore polls
 * before it parks (a futex wake-up would be timed instead).
 */
#define BENCH_POLL_PAUSE_NS 2000u

/*
 * bench_ping_ack() - the receiver's side: first thing in its handler, so
 * that the stamp is where the handler starts. Async-signal-safe.
 */
static inline void bench_ping_ack(struct bench_ping *p)
{
	atomic_store_explicit(&p->stamp, bench_stamp(), memory_order_relaxed);
	/* Pairs with the sender's acquire load: publishes the stamp. */
	atomic_fetch_add_explicit(&p->acks, 1, memory_order_release);
}

/*
 * bench_ping_run() - @n / 10 + 1 warm-up messages, then @n timed ones,
 * their latencies in nanoseconds into @ns. Returns 0, the first error of
 * @send, or -ETIMEDOUT if an acknowledgement did not come within a
 * second.
 */
int bench_ping_run(struct bench_ping *p, unsigned int n, double *ns);

/*
 * bench_stack_alloc() - @size bytes of read-write anonymous memory for a
 * peer's coroutine stack; NULL on failure. Free with bench_stack_free().
 */
void *bench_stack_alloc(size_t size);
void bench_stack_free(void *stack, size_t size);

/*
 * The critical section of the contended-lock benchmarks: a few dependent
 * steps on data the lock guards (the Go peer, go/mutex.go, does the same).
 */
static inline void bench_critical(uint64_t *x)
{
	uint64_t v = *x;

	for (int i = 0; i < 8; i++) {
		v ^= v << 13;
		v ^= v >> 7;
		v ^= v << 17;
	}
	*x = v;
}

/*
 * Fairness of a contended lock: k contenders take it in a loop for
 * bench_fairness_window_ns() (ten batches' time), each counting its
 * acquisitions; bench_spread() is the most any got over the fewest (the
 * fewest counted as at least 1): 1 is perfectly even.
 */
uint64_t bench_fairness_window_ns(const struct bench_timing *bt);

/*
 * One contender's count, on a cache line of its own: counts that share a
 * line are written from both CPUs after every acquisition, which moved
 * the peers' spreads (a second reader's runs).
 */
struct bench_count {
	_Alignas(64) uint64_t n;
};

double bench_spread(const struct bench_count *got, unsigned int k);

/* Contenders of the contended-lock benchmarks (mutex_2, _8, _64). */
#define BENCH_CONTENDERS_MAX 64

#define BENCH_REASON_MAX 200

/* A figure, or the reason there is none. */
struct bench_value {
	int ok;
	double value;
	double p99;	/* above 0: value is a median, this the 99th centile */
	double paired;	/* above 0: a peer's figure, timed interleaved */
	char reason[BENCH_REASON_MAX]; /* when !ok */
};

void bench_value_set(struct bench_value *v, double value);

/*
 * bench_value_set_samples() - the median of @n samples into @v, with their
 * 99th percentile. Sorts @ns in place. @n must be at least 1.
 */
void bench_value_set_samples(struct bench_value *v, double *ns,
			     unsigned int n);

/*
 * bench_measure_value() - bench_measure() straight into @v: the median on
 * success; otherwise @v is reported missing, naming @what and the error.
 */
void bench_measure_value(const struct bench_timing *bt, bench_batch_fn fn,
			 void *arg, struct bench_value *v, const char *what);
void bench_value_missing(struct bench_value *v, const char *fmt, ...)
	BENCH_PRINTF(2, 3);

/*
 * A peer: @target, when above 0, is the largest ours / peer ratio the
 * issue accepts.
 */
struct bench_peer {
	const char *name;
	double target;
	struct bench_value v;
};

#define BENCH_PEERS_MAX 4

struct bench_result {
	const char *name;	/* short and stable: the JSON key */
	const char *what;	/* one line for people */
	const char *unit;	/* "ns" or "bytes" */
	struct bench_value ours;
	double ours_target;	/* when above 0, the most ours may be */
	unsigned int npeers;
	struct bench_peer peers[BENCH_PEERS_MAX];
};

/* Appends a peer named @name (a string literal) to @r; returns it. */
struct bench_peer *bench_add_peer(struct bench_result *r, const char *name,
				  double target);

/*
 * bench_ratio() - ours / peer, and 1 if both are known, 0 if either is
 * missing.
 */
int bench_ratio(const struct bench_result *r, const struct bench_peer *p,
		double *ratio);

/*
 * bench_print() - one block for @r on @f: our figure (and its target),
 * then each peer with its figure, the ratio and the target, or why it is
 * missing.
 * Returns the number of targets missed.
 */
unsigned int bench_print(FILE *f, const struct bench_result *r);

/*
 * bench_write_json() - write @n results to @path as a JSON list of
 * {"benchmark", "unit", "ours", "peers": {name: figure}, "ratios":
 * {name: ours / peer}}, a missing figure or ratio being null. Writes a
 * temporary file next to @path and renames it, so a reader never sees half
 * a file; creates @path's directory if needed.
 * Returns 0 or -errno.
 */
int bench_write_json(const char *path, const struct bench_result *r,
		     unsigned int n);

/*
 * bench_collect() - read what child @pid prints on @fd (a figure, or a line
 * "error: <why>"), wait for it and fill @v. A child that has not finished
 * after @timeout_s seconds is killed. Closes @fd. @who names the child in
 * the reasons. Returns 0 if @v holds a figure, else -1.
 */
int bench_collect(pid_t pid, int fd, unsigned int timeout_s, const char *who,
		  struct bench_value *v);

/* Measures in a child process: fills @v with a figure or a reason. */
typedef void (*bench_child_fn)(void *arg, struct bench_value *v);

/*
 * bench_run_forked() - run fn(arg, v) in a forked child and bring its
 * figure back into @v (as bench_collect()). The caller must have no other
 * threads running: the child runs @fn with only the forking thread.
 * Returns 0 if @v holds a figure, else -1.
 */
int bench_run_forked(bench_child_fn fn, void *arg, unsigned int timeout_s,
		     const char *who, struct bench_value *v);

#endif /* PARCORE_BENCH_H */
