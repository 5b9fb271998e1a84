/*
 * matmul.c - the use case parcore's process model was built for: a
 * trusting many-core application. The process asks for a bunch of cores,
 * gets them all at once, knows how many it has, and splits one big job
 * (C = A * B on N x N doubles) into uthreads that the vcores share.
 *
 * It first computes a reference product on one core, before entering
 * multi-core mode, then the same product in parallel, and checks that
 * every element is bit-identical. Then it reports how many uthreads each
 * vcore ran.
 *
 * Usage: matmul [N [VCORES [UTHREADS]]]
 *   N         matrix size, 1..4096 (default 512; 256 under TSan)
 *   VCORES    vcores to request (default: the CPUs of the affinity mask);
 *             more than the CPUs oversubscribes them
 *   UTHREADS  uthreads to split the rows into, 1..N (default: one per
 *             block of 8 rows, so 64 for N = 512)
 *
 *   build/examples/matmul            # default: 512, all CPUs
 *   build/examples/matmul 512 8      # 8 vcores, even on 2 CPUs
 */
#define _GNU_SOURCE

#include <parcore/parcore.h>

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define MATMUL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MATMUL_TSAN 1
#endif
#endif

/* Past this the naive O(N^3) loop takes minutes and 4 matrices take 512 MB. */
#define N_MAX 4096
/*
 * 512 takes ~0.1-0.2 s on one core at -O2. TSan turns each access of the
 * inner loop into a call and stops it being vectorized, ~30x slower: there
 * 256 (8x less work) keeps a run to a couple of seconds.
 */
#ifdef MATMUL_TSAN
#define N_DEFAULT 256
#else
#define N_DEFAULT 512
#endif
/*
 * Rows of C per uthread by default: 64 uthreads for N = 512, several per
 * vcore on a machine of up to ~16 CPUs, so a vcore that started late or
 * shares its CPU does not leave the others waiting for its last block.
 */
#define ROWS_PER_UTHREAD 8
/* Past this many vcores, the idle ones are counted rather than listed. */
#define VCORES_LISTED 16

struct config {
	int n;
	int vcores;
	int uthreads;
	int cpus;		/* in the affinity mask at start-up */
	int limit_raised;	/* VCORES was above pc_vcore_limit() */
};

/* One uthread's share: rows [lo, hi) of C. */
struct job {
	const double *a, *b;
	double *c;
	int n, lo, hi;
};

/* Uthreads each vcore ran, indexed by pc_vcore_id(). */
static atomic_int ran_on[PC_VCORE_MAX];
/* Uthreads that ended on another vcore than they started on. */
static atomic_int moved;

/* Print "prog: <message>" and the usage, then exit(2). */
static PC_NORETURN __attribute__((format(printf, 2, 3))) void
usage(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"\nusage: %s [N [VCORES [UTHREADS]]]\n"
		"  N         matrix size, 1..%d (default %d)\n"
		"  VCORES    vcores to request, 1..%d (default: the CPUs)\n"
		"  UTHREADS  uthreads to split the rows into, 1..N "
		"(default: N/%d)\n",
		prog, N_MAX, N_DEFAULT, PC_VCORE_MAX, ROWS_PER_UTHREAD);
	exit(2);
}

/*
 * parse_arg() - @arg as an integer in [1, @max], or exit(2) with a message
 * naming @what and the offending text.
 */
static int parse_arg(const char *prog, const char *what, const char *arg,
		     long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0')
		usage(prog, "%s must be a number, not '%s'", what, arg);
	if (v < 1)
		usage(prog, "%s must be at least 1, not %s", what, arg);
	if (errno == ERANGE || v > max)
		usage(prog, "%s must be at most %ld, not %s", what, max, arg);
	return (int)v;
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
	const char *prog = argv[0];

	if (argc > 4)
		usage(prog, "too many arguments (%d)", argc - 1);
	cfg->n = N_DEFAULT;
	if (argc > 1)
		cfg->n = parse_arg(prog, "N", argv[1], N_MAX);
	cfg->vcores = pc_vcore_limit();
	if (argc > 2)
		cfg->vcores = parse_arg(prog, "VCORES", argv[2], PC_VCORE_MAX);
	/* Each uthread needs a row: UTHREADS is bounded by N. */
	cfg->uthreads = (cfg->n + ROWS_PER_UTHREAD - 1) / ROWS_PER_UTHREAD;
	if (argc > 3)
		cfg->uthreads = parse_arg(prog, "UTHREADS", argv[3], cfg->n);
}

/*
 * An N x N matrix, 64-byte aligned: C_ref and C must put every row at the
 * same alignment, so the vectorized loop in mul_rows() splits each row into
 * the same head, body and tail in both runs (see mul_rows()).
 */
static double *matrix_alloc(int n)
{
	size_t bytes = (size_t)n * (size_t)n * sizeof(double);
	double *m;

	bytes = (bytes + 63) & ~(size_t)63;
	m = aligned_alloc(64, bytes);
	if (!m) {
		fprintf(stderr, "matmul: out of memory for %dx%d\n", n, n);
		exit(1);
	}
	memset(m, 0, bytes);
	return m;
}

/* Deterministic values in [-1, 1): Knuth's MMIX LCG, top 53 bits. */
static void matrix_fill(double *m, int n, uint64_t seed)
{
	size_t i, len = (size_t)n * (size_t)n;

	for (i = 0; i < len; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		m[i] = (double)(seed >> 11) * 0x1p-52 - 1.0;
	}
}

/*
 * mul_rows() - C[lo..hi) = A[lo..hi) * B, in i-k-j order.
 * Each C[i][j] is the sum over k in increasing order of A[i][k] * B[k][j],
 * whichever rows a caller asks for, so the parallel product is bit-identical
 * to the reference. noinline makes both run this very machine code: an
 * inlined copy could be vectorized or contracted (FMA) differently.
 */
static __attribute__((noinline)) void
mul_rows(const double *a, const double *b, double *c, int n, int lo, int hi)
{
	int i, j, k;

	for (i = lo; i < hi; i++) {
		double *ci = c + (size_t)i * n;

		for (k = 0; k < n; k++) {
			const double *bk = b + (size_t)k * n;
			double aik = a[(size_t)i * n + k];

			for (j = 0; j < n; j++)
				ci[j] += aik * bk[j];
		}
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * A uthread: one block of rows. It never yields, sleeps or blocks, so it
 * runs start to finish on one vcore; the end check would catch a runtime
 * that moved it anyway.
 */
static void *job_run(void *arg)
{
	struct job *jb = arg;
	int start = pc_vcore_id(), end;

	mul_rows(jb->a, jb->b, jb->c, jb->n, jb->lo, jb->hi);
	end = pc_vcore_id();
	if (start >= 0 && start < PC_VCORE_MAX)
		atomic_fetch_add_explicit(&ran_on[start], 1,
					  memory_order_relaxed);
	if (end != start)
		atomic_fetch_add_explicit(&moved, 1, memory_order_relaxed);
	return NULL;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "matmul: %s: %s\n", what, strerror(-err));
	exit(1);
}

/*
 * Split rows as evenly as possible: the first n % uthreads blocks get one
 * extra row. Create every uthread, then join them all. Runs in main()'s
 * uthread.
 */
static void mul_parallel(const double *a, const double *b, double *c,
			 const struct config *cfg)
{
	struct pc_thread **t = calloc((size_t)cfg->uthreads, sizeof(*t));
	struct job *jobs = calloc((size_t)cfg->uthreads, sizeof(*jobs));
	int per = cfg->n / cfg->uthreads, extra = cfg->n % cfg->uthreads;
	int i, lo = 0, err;

	if (!t || !jobs)
		die("allocating uthread table", -ENOMEM);
	for (i = 0; i < cfg->uthreads; i++) {
		int rows = per + (i < extra);

		jobs[i] = (struct job){ a, b, c, cfg->n, lo, lo + rows };
		lo += rows;
		err = pc_thread_create(&t[i], NULL, job_run, &jobs[i]);
		if (err)
			die("pc_thread_create", err);
	}
	for (i = 0; i < cfg->uthreads; i++) {
		err = pc_thread_join(t[i], NULL);
		if (err)
			die("pc_thread_join", err);
	}
	free(jobs);
	free(t);
}

/*
 * Exact comparison, no tolerance: both products came from the same code,
 * in the same order, on rows of the same alignment (see mul_rows()).
 */
static void check(const double *c, const double *ref, int n)
{
	size_t i, len = (size_t)n * (size_t)n;

	for (i = 0; i < len; i++) {
		if (c[i] != ref[i]) {
			fprintf(stderr,
				"matmul: WRONG at C[%zu][%zu]: %.17g, "
				"expected %.17g\n",
				i / (size_t)n, i % (size_t)n, c[i], ref[i]);
			exit(1);
		}
	}
}

static int affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	return CPU_COUNT(&set);
}

/* Runs in main()'s uthread, after every job was joined. */
static void report(const struct config *cfg, double t_ref, double t_par)
{
	int i, n, idle = 0;

	printf("matmul: %dx%d doubles, %d uthreads\n", cfg->n, cfg->n,
	       cfg->uthreads);
	printf("vcores: %d granted of %d requested; limit %d%s, %d CPUs in "
	       "affinity mask\n", pc_vcore_count(), cfg->vcores,
	       pc_vcore_limit(), cfg->limit_raised ? " (raised)" : "",
	       cfg->cpus);
	printf("single-threaded: %8.2f ms\n", t_ref * 1e3);
	printf("parallel:        %8.2f ms (speedup %.2fx)\n", t_par * 1e3,
	       t_par > 0 ? t_ref / t_par : 0.0);
	printf("result: correct (%d*%d elements checked)\n", cfg->n, cfg->n);

	for (i = 0; i < PC_VCORE_MAX; i++) {
		n = atomic_load_explicit(&ran_on[i], memory_order_relaxed);
		if (!n && !pc_sched_vcore_online(i))
			continue;
		if (!n && pc_vcore_count() > VCORES_LISTED) {
			idle++;
			continue;
		}
		printf("  vcore %d (cpu %d) ran %d uthread%s\n", i,
		       pc_vcore_cpu(i), n, n == 1 ? "" : "s");
	}
	if (idle)
		printf("  %d other vcores ran none\n", idle);
	n = atomic_load_explicit(&moved, memory_order_relaxed);
	if (n)
		printf("  %d uthreads changed vcore without yielding\n", n);
}

int main(int argc, char **argv)
{
	struct config cfg;
	double *a, *b, *c, *ref, t0, t_ref, t_par;
	int granted, err;

	parse_args(argc, argv, &cfg);
	/*
	 * Ask now, from the process's original thread: a vcore is pinned to
	 * one CPU, so from main()'s uthread the answer would be 1.
	 */
	cfg.cpus = affinity_cpus();
	a = matrix_alloc(cfg.n);
	b = matrix_alloc(cfg.n);
	c = matrix_alloc(cfg.n);
	ref = matrix_alloc(cfg.n);
	matrix_fill(a, cfg.n, 1);
	matrix_fill(b, cfg.n, 2);

	/* The reference runs on this plain Linux thread: no vcores yet. */
	t0 = now();
	mul_rows(a, b, ref, cfg.n, 0, cfg.n);
	t_ref = now() - t0;

	cfg.limit_raised = cfg.vcores > pc_vcore_limit();
	if (cfg.limit_raised) {
		err = pc_vcore_limit_set(cfg.vcores);
		if (err)
			die("pc_vcore_limit_set", err);
	}
	/* From here on main() is a uthread that vcore 0 resumed. */
	granted = pc_vcore_request(cfg.vcores);
	if (granted < 0)
		die("pc_vcore_request", granted);

	t0 = now();
	mul_parallel(a, b, c, &cfg);
	t_par = now() - t0;

	check(c, ref, cfg.n);
	report(&cfg, t_ref, t_par);
	free(ref);
	free(c);
	free(b);
	free(a);
	return 0;
}
