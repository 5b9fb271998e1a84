/*
 * bench.c - batch timing, the median, CPUs, resident memory, peer
 * stacks.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t bench_fairness_window_ns(const struct bench_timing *bt)
{
	return bt->batch_ns * 10;
}

double bench_spread(const struct bench_count *got, unsigned int k)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (unsigned int i = 0; i < k; i++) {
		lo = got[i].n < lo ? got[i].n : lo;
		hi = got[i].n > hi ? got[i].n : hi;
	}
	return (double)hi / (double)(lo ? lo : 1);
}

int bench_cpu_nth(int i)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &set) && i-- == 0)
			return cpu;
	}
	return -ESRCH;
}

int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* bench_pin_first() - see bench.h. */
int bench_pin_first(cpu_set_t *saved)
{
	int cpu, err;

	err = pthread_getaffinity_np(pthread_self(), sizeof(*saved), saved);
	if (err)
		return -err;
	cpu = bench_cpu_nth(0);
	if (cpu < 0)
		return cpu;
	err = bench_pin_self(cpu);
	return err ? err : cpu;
}

void bench_unpin(const cpu_set_t *saved)
{
	pthread_setaffinity_np(pthread_self(), sizeof(*saved), saved);
}

/* bench_attr_cpus() - see bench.h. */
int bench_attr_cpus(pthread_attr_t *attr, int n)
{
	cpu_set_t set;
	int err = pthread_attr_init(attr);

	CPU_ZERO(&set);
	for (int i = 0, cpu; !err && i < n && (cpu = bench_cpu_nth(i)) >= 0;
	     i++)
		CPU_SET(cpu, &set);
	if (!err && CPU_COUNT(&set))
		err = pthread_attr_setaffinity_np(attr, sizeof(set), &set);
	return err;
}

/*
 * Run growing batches until one lasts an eighth of the aimed-for time,
 * then scale: a short first guess would be all clock noise. The batches
 * run here are the warm-up.
 */
static int batch_size(const struct bench_timing *bt, bench_batch_fn fn,
		      void *arg, uint64_t *out)
{
	uint64_t n = bt->min_ops, t0, dt;
	double ops;
	int err;

	for (;;) {
		t0 = bench_now_ns();
		err = fn(arg, n);
		if (err)
			return err;
		dt = bench_now_ns() - t0;
		if (dt >= bt->batch_ns / 8 || n >= bt->max_ops)
			break;
		n *= 4;
	}
	ops = (double)n * (double)bt->batch_ns / (double)(dt ? dt : 1);
	if (ops < (double)bt->min_ops)
		ops = (double)bt->min_ops;
	if (ops > (double)bt->max_ops)
		ops = (double)bt->max_ops;
	*out = (uint64_t)ops;
	return 0;
}

int bench_measure(const struct bench_timing *bt, bench_batch_fn fn, void *arg,
		  double *ns_per_op)
{
	double *per_op;
	uint64_t n, t0;
	unsigned int i;
	int err;

	per_op = calloc(bt->reps, sizeof(*per_op));
	if (!per_op)
		return -ENOMEM;
	err = batch_size(bt, fn, arg, &n);
	for (i = 0; !err && i < bt->reps; i++) {
		t0 = bench_now_ns();
		err = fn(arg, n);
		per_op[i] = (double)(bench_now_ns() - t0) / (double)n;
	}
	if (!err)
		*ns_per_op = bench_median(per_op, bt->reps);
	free(per_op);
	return err;
}

static uint64_t time_batch(bench_batch_fn fn, void *arg, uint64_t n,
			   int *err)
{
	uint64_t t0 = bench_now_ns();

	*err = fn(arg, n);
	return bench_now_ns() - t0;
}

int bench_measure_pair(const struct bench_timing *bt, bench_batch_fn a,
		       bench_batch_fn b, void *arg, double *a_ns, double *b_ns)
{
	double *pa = calloc(bt->reps, sizeof(*pa));
	double *pb = calloc(bt->reps, sizeof(*pb));
	uint64_t n = 0;
	int err = pa && pb ? 0 : -ENOMEM, err2 = 0;

	if (!err)
		err = batch_size(bt, a, arg, &n);
	if (!err)
		err = b(arg, n); /* b's warm-up */
	for (unsigned int i = 0; !err && !err2 && i < bt->reps; i++) {
		bench_batch_fn first = i % 2 ? b : a, second = i % 2 ? a : b;
		double t1 = (double)time_batch(first, arg, n, &err) / (double)n;
		double t2 = (double)time_batch(second, arg, n, &err2) /
			    (double)n;

		pa[i] = i % 2 ? t2 : t1;
		pb[i] = i % 2 ? t1 : t2;
	}
	if (!err)
		err = err2;
	if (!err) {
		*a_ns = bench_median(pa, bt->reps);
		*b_ns = bench_median(pb, bt->reps);
	}
	free(pa);
	free(pb);
	return err;
}

/*
 * The second field of /proc/self/statm: resident pages. Read with plain
 * read(2) so that no stdio buffer is allocated between two readings.
 */
int64_t bench_rss_bytes(void)
{
	char buf[128];
	long long size, resident;
	ssize_t len;
	int fd;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -EIO;
	buf[len] = '\0';
	if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
		return -EIO;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

void *bench_stack_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_stack_free(void *stack, size_t size)
{
	munmap(stack, size);
}

void bench_measure_value(const struct bench_timing *bt, bench_batch_fn fn,
			 void *arg, struct bench_value *v, const char *what)
{
	double ns;
	int err = bench_measure(bt, fn, arg, &ns);

	if (err)
		bench_value_missing(v, "%s: %s", what, strerror(-err));
	else
		bench_value_set(v, ns);
}
