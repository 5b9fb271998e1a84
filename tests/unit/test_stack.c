/*
 * test_stack.c - uthread stacks: an overflow is reported by name and
 * aborts; big stacks are usable; idle uthreads cost little memory.
 */
#define _GNU_SOURCE
#include <parcore/parcore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"
#include "test.h"

static int depth(int n)
{
	volatile char frame[1024];

	frame[0] = (char)n;
	if (n == 0)
		return frame[0];
	return depth(n - 1) + frame[0];
}

static void *recurse(void *arg)
{
	return (void *)(intptr_t)depth((int)(intptr_t)arg);
}

/* Runs @fn in a child with stderr captured into @buf; returns its status. */
static int run_captured(void (*fn)(void), char *buf, size_t len)
{
	int fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ASSERT_EQ(pipe(fds), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
	close(fds[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

static void overflow_child(void)
{
	struct pc_thread_attr a = { PC_THREAD_STACK_MIN, "deep", 0 };
	struct pc_thread *t;

	test_enter(1);
	pc_thread_create(&t, &a, recurse, (void *)1000);
	pc_thread_join(t, NULL);
}

TEST(overflow_is_reported_by_name)
{
	char buf[4096];
	int status = run_captured(overflow_child, buf, sizeof(buf));

	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	if (!strstr(buf, "uthread deep overflowed its 16 KiB stack")) {
		fprintf(stderr, "stderr was: %s\n", buf);
		ASSERT_TRUE(!"overflow message missing");
	}
}

/*
 * An event handler too deep for its stack is reported too: on x86-64 it
 * runs from the signal handler on the vcore's alternate stack, else (or
 * under ASan, whose own alternate stack parcore keeps) from the loop on
 * its transition stack; both are guarded. Main spins on vcore 0 and a
 * uthread on vcore 1 notifies it.
 */
#define EV_DEEP PC_EV_APP_FIRST

static void deep_handler(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	depth(2000); /* 2 MiB: past either stack, sanitizers' too */
}

static void *notify_vcore_0(void *arg)
{
	struct pc_event ev = { .type = EV_DEEP };

	(void)arg;
	pc_event_send(0, &ev, PC_EVF_NOTIFY);
	return NULL;
}

static void deep_handler_child(void)
{
	struct pc_thread *t;

	test_enter(2);
	pc_event_handler_set(EV_DEEP, deep_handler, NULL);
	pc_thread_create(&t, NULL, notify_vcore_0, NULL);
	for (;;)
		; /* no yield: the notification interrupts main */
}

TEST(a_handler_overflow_is_reported)
{
	char buf[4096];
	int status;

#if !defined(__x86_64__) || defined(__SANITIZE_THREAD__)
	SKIP("notifications interrupt uthreads on x86-64 without TSan");
#endif
	status = run_captured(deep_handler_child, buf, sizeof(buf));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	if (!strstr(buf, "stack of vcore 0 overflowed its")) {
		fprintf(stderr, "stderr was: %s\n", buf);
		ASSERT_TRUE(!"overflow message missing");
	}
}

TEST(large_stacks_are_usable)
{
	struct pc_thread_attr a = { 2 * 1024 * 1024, "big", 0 };
	struct pc_thread *t;
	void *r;

	test_enter(1);
	/* About 1.5 MiB of frames. */
	ASSERT_EQ(pc_thread_create(&t, &a, recurse, (void *)1400), 0);
	ASSERT_EQ(pc_thread_join(t, &r), 0);
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ASSERT_TRUE(f != NULL);
	ASSERT_EQ(fscanf(f, "%ld %ld", &pages, &resident), 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *park_forever(void *arg)
{
	(void)arg;
	pc_thread_park();
	return NULL;
}

/* Stacks are committed lazily: 2,000 idle uthreads cost a page or two each. */
TEST(idle_uthreads_commit_little_memory)
{
	static struct pc_thread *t[2000];
	long before, after;

	/* Measured in the plain tree; the sanitizers add their own state. */
#if defined(__SANITIZE_ADDRESS__)
	SKIP("ASan's shadow memory and redzones add to every uthread");
#elif defined(__SANITIZE_THREAD__)
	SKIP("TSan keeps some 880 KiB of state per uthread (fiber)");
#endif
	test_enter(1);
	before = rss_kib();
	for (int i = 0; i < 2000; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, park_forever, NULL), 0);
	pc_thread_sleep(1000 * 1000); /* all have run and parked */
	after = rss_kib();
	/* 256 KiB stacks; well under 16 KiB each must be resident. */
	ASSERT_LT((after - before) / 2000, 16);
	for (int i = 0; i < 2000; i++) {
		ASSERT_EQ(pc_thread_unpark(t[i]), 0);
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	}
}
