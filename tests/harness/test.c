/*
 * test.c - the harness's runner; see test.h.
 */
#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CASES 256
#define EXIT_SKIP 77

static struct test_case cases[MAX_CASES];
static int ncases;

void test_register(const char *name, void (*fn)(void))
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "test.c: more than %d cases\n", MAX_CASES);
		abort();
	}
	cases[ncases].name = name;
	cases[ncases].fn = fn;
	ncases++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: assertion failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

void test_skip(const char *why, const char *file, int line)
{
	fprintf(stderr, "%s:%d: skipped: %s\n", file, line, why);
	fflush(stderr);
	_exit(EXIT_SKIP);
}

static int case_timeout(void)
{
	const char *s = getenv("PC_TEST_TIMEOUT");
	int t = s ? atoi(s) : 0;

	return t > 0 ? t : 120;
}

/* Registered by the case (test_on_hang()); run in the child on time-out. */
static void (*hang_dump)(void);

void test_on_hang(void (*dump)(void))
{
	hang_dump = dump;
}

static void hang_handler(int sig)
{
	(void)sig;
	if (hang_dump)
		hang_dump();
	_exit(1);
}

/*
 * Waits for @pid for at most @secs seconds. On time-out the child gets
 * SIGUSR2 (its hang dump, if it registered one) and a few seconds to print
 * it, then SIGKILL.
 */
static int wait_child(pid_t pid, int secs, int *timed_out)
{
	struct timespec step = { 0, 10 * 1000 * 1000 };
	long waited_ms = 0;
	int status;

	*timed_out = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (waited_ms >= secs * 1000L + 3000 && *timed_out) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return status;
		}
		if (waited_ms >= secs * 1000L && !*timed_out) {
			*timed_out = 1;
			kill(pid, SIGUSR2);
		}
		nanosleep(&step, NULL);
		waited_ms += 10;
	}
}

/* Runs one case in a child; returns 0 pass, 1 fail, EXIT_SKIP skip. */
static int run_case(const struct test_case *c)
{
	int status, timed_out;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		signal(SIGUSR2, hang_handler);
		c->fn();
		fflush(NULL);
		_exit(0);
	}
	status = wait_child(pid, case_timeout(), &timed_out);
	if (timed_out) {
		printf("FAIL %s (timed out after %d s)\n", c->name,
		       case_timeout());
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok   %s\n", c->name);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
		printf("skip %s\n", c->name);
		return EXIT_SKIP;
	}
	if (WIFSIGNALED(status))
		printf("FAIL %s (signal %d: %s)\n", c->name, WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	else
		printf("FAIL %s (exit %d)\n", c->name, WEXITSTATUS(status));
	return 1;
}

static const struct test_case *find_case(const char *name)
{
	for (int i = 0; i < ncases; i++)
		if (strcmp(cases[i].name, name) == 0)
			return &cases[i];
	return NULL;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (int i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	for (int i = 0; i < (argc > 1 ? argc - 1 : ncases); i++) {
		const struct test_case *c =
			argc > 1 ? find_case(argv[i + 1]) : &cases[i];
		int r;

		if (!c) {
			printf("FAIL %s (no such case)\n", argv[i + 1]);
			failed++;
			continue;
		}
		r = run_case(c);
		if (r == 0)
			passed++;
		else if (r == EXIT_SKIP)
			skipped++;
		else
			failed++;
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	return (passed == 0 && skipped > 0) ? EXIT_SKIP : 0;
}

uint64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t test_xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}
