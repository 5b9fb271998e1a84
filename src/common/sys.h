/*
 * sys.h - thin system-call wrappers shared by library, daemon and tools.
 * These are the only functions that look at errno: they return -errno.
 */
#ifndef PARCORE_SYS_H
#define PARCORE_SYS_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Wait while *@word == @val, at most until the CLOCK_MONOTONIC @deadline
 * (NULL: forever). Process-private futex. Returns 0 when woken (maybe
 * spuriously), -EAGAIN if *@word != @val, -ETIMEDOUT, or -EINTR.
 */
static inline int pc__futex_wait(uint32_t *word, uint32_t val,
				 const struct timespec *deadline)
{
	int saved = errno, r;

	r = (int)syscall(SYS_futex, word,
			 FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, deadline,
			 NULL, FUTEX_BITSET_MATCH_ANY);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

/* Wake up to @n waiters on @word. Returns how many were woken. */
static inline int pc__futex_wake(uint32_t *word, int n)
{
	int saved = errno, r;

	r = (int)syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n,
			 NULL, NULL, 0);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

/* CLOCK_MONOTONIC in nanoseconds (vDSO, no system call). */
static inline uint64_t pc__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline struct timespec pc__ns_to_ts(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };
	return ts;
}

#endif /* PARCORE_SYS_H */
