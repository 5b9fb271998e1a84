/*
 * test.h - the test harness: one executable per feature, cases by name.
 *
 *   TEST(name) { ... ASSERT_EQ(a, b); ... }
 *
 * Each case runs in a forked child, so a crash, an abort or a hang fails
 * that case only. `prog` runs every case; `prog name...` runs those;
 * `prog -l` lists them. A case that calls SKIP() is skipped (exit 77).
 * The per-case time limit is $PC_TEST_TIMEOUT seconds (default 120); it
 * catches hangs, it is not a timing assertion.
 *
 * The last line printed is "N passed, N failed, N skipped"; the exit status
 * is 0 when nothing failed, 1 otherwise, 77 when every case skipped.
 */
#ifndef PARCORE_TEST_H
#define PARCORE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

void test_register(const char *name, void (*fn)(void));

/*
 * On time-out, the case's process gets SIGUSR2 and runs @dump (from the
 * signal handler, on whatever thread took it) before it is killed: a
 * picture of the hang for a log where no debugger can attach.
 */
void test_on_hang(void (*dump)(void));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t test_now_ns(void);
/* A xorshift32 step of @s (not 0): cheap per-thread randomness. */
uint32_t test_xorshift(uint32_t *s);
void test_skip(const char *why, const char *file, int line)
	__attribute__((noreturn));
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

#define TEST(name)                                                        \
	static void test_##name(void);                                    \
	__attribute__((constructor)) static void test_reg_##name(void)    \
	{                                                                 \
		test_register(#name, test_##name);                        \
	}                                                                 \
	static void test_##name(void)

#define SKIP(why) test_skip((why), __FILE__, __LINE__)

#define ASSERT_CMP_(a, op, b)                                             \
	do {                                                              \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);          \
		if (!(a_ op b_))                                          \
			test_fail(__FILE__, __LINE__,                     \
				  "%s %s %s: %jd vs %jd", #a, #op, #b,    \
				  a_, b_);                                \
	} while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
/* A parcore call that must succeed (return >= 0). */
#define ASSERT_OK(call) ASSERT_CMP_(call, >=, 0)
#define ASSERT_PTR_EQ(a, b)                                               \
	do {                                                              \
		const void *a_ = (a), *b_ = (b);                          \
		if (a_ != b_)                                             \
			test_fail(__FILE__, __LINE__, "%s == %s: %p vs %p", \
				  #a, #b, a_, b_);                        \
	} while (0)
#define ASSERT_TRUE(c)                                                    \
	do {                                                              \
		if (!(c))                                                 \
			test_fail(__FILE__, __LINE__, "%s", #c);          \
	} while (0)

#endif /* PARCORE_TEST_H */
