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

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))

struct bench_timing {
	unsigned int reps;	/* batches timed; the median is reported */
	uint64_t batch_ns;	/* aimed-for duration of one batch */
	uint64_t min_ops;	/* bounds on the operations in one batch */
	uint64_t max_ops;
	unsigned int idle_count; /* idle threads in the memory benchmark */
};

/*
 * 21 batches of about 20 ms: the whole suite runs in well under a minute,
 * and with ops of 10-200 ns a batch holds 10^5-10^6 of them, so the two
 * clock reads around it are lost in the noise. Slow ops (a kernel thread
 * create) get at least 1000 per batch.
 */
#define BENCH_TIMING_DEFAULT { 21, 20000000, 1000, 1000000, 100000 }

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

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Median of @n values; sorts @v in place. @n must be at least 1. */
double bench_median(double *v, unsigned int n);

/* Resident set size of the calling process in bytes, or -errno. */
int64_t bench_rss_bytes(void);

/*
 * bench_stack_alloc() - @size bytes of read-write anonymous memory for a
 * peer's coroutine stack; NULL on failure. Free with bench_stack_free().
 */
void *bench_stack_alloc(size_t size);
void bench_stack_free(void *stack, size_t size);

#define BENCH_REASON_MAX 200

/* A figure, or the reason there is none. */
struct bench_value {
	int ok;
	double value;
	char reason[BENCH_REASON_MAX]; /* when !ok */
};

void bench_value_set(struct bench_value *v, double value);

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
