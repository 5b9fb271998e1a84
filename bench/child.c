/*
 * child.c - measurements that run in another process: parcore's side (each
 * benchmark in a fresh forked child, so that one benchmark's vcores,
 * cached stacks or crash cannot touch the next) and the Go peers.
 *
 * A child prints one line on its pipe: the figure (then, for a median of
 * samples, their 99th percentile), or "error: <why>".
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_MAX 512

/*
 * Read @fd until EOF or @deadline_ns; keeps the first OUTPUT_MAX - 1
 * bytes. Returns 0 at EOF, -ETIMEDOUT, or -errno.
 */
static int read_until_eof(int fd, uint64_t deadline_ns, char *out)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	char sink[256];
	uint64_t now;
	ssize_t got;
	int rc;

	for (;;) {
		now = bench_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000 + 1));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		if (len < OUTPUT_MAX - 1)
			got = read(fd, out + len, OUTPUT_MAX - 1 - len);
		else
			got = read(fd, sink, sizeof(sink));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		if (len < OUTPUT_MAX - 1)
			len += (size_t)got;
		out[len] = '\0';
	}
}

/* Parses one finite number at @s into @x; returns where it ends, or NULL. */
static const char *parse_number(const char *s, double *x)
{
	char *end;

	errno = 0;
	*x = strtod(s, &end);
	if (end == s || errno || !isfinite(*x))
		return NULL;
	return end;
}

/*
 * Is @s a figure and, for a median of samples, their 99th percentile,
 * and nothing else but white space? If so, sets @v to them.
 */
/* "value [p99 [paired]]", as bench_run_forked()'s child prints it. */
static int parse_figure(const char *s, struct bench_value *v)
{
	double x, p99 = 0, paired = 0;
	const char *end = parse_number(s, &x);

	if (end && end[strspn(end, " \t\r\n")])
		end = parse_number(end, &p99);
	if (end && end[strspn(end, " \t\r\n")])
		end = parse_number(end, &paired);
	if (!end)
		return 0;
	end += strspn(end, " \t\r\n");
	if (*end)
		return 0;
	bench_value_set(v, x);
	v->p99 = p99;
	v->paired = paired;
	return 1;
}

static void describe_status(struct bench_value *v, const char *who, int status)
{
	if (WIFSIGNALED(status))
		bench_value_missing(v, "%s was killed by signal %d (%s)", who,
				    WTERMSIG(status),
				    strsignal(WTERMSIG(status)));
	else
		bench_value_missing(v, "%s exited with status %d", who,
				    WEXITSTATUS(status));
}

int bench_collect(pid_t pid, int fd, unsigned int timeout_s, const char *who,
		  struct bench_value *v)
{
	char out[OUTPUT_MAX] = "";
	int err, status = 0;

	err = read_until_eof(fd, bench_now_ns() +
				     (uint64_t)timeout_s * 1000000000u, out);
	close(fd);
	if (err)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[strcspn(out, "\n")] = '\0';
	if (err == -ETIMEDOUT)
		bench_value_missing(v, "%s timed out after %u s", who,
				    timeout_s);
	else if (err)
		bench_value_missing(v, "reading %s: %s", who, strerror(-err));
	else if (strncmp(out, "error: ", 7) == 0)
		bench_value_missing(v, "%s", out + 7);
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		describe_status(v, who, status);
	else if (!parse_figure(out, v))
		bench_value_missing(v, "%s printed no figure: \"%s\"", who,
				    out);
	return v->ok ? 0 : -1;
}

int bench_run_forked(bench_child_fn fn, void *arg, unsigned int timeout_s,
		     const char *who, struct bench_value *v)
{
	struct bench_value cv;
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		bench_value_missing(v, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		bench_value_missing(v, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		bench_value_missing(&cv, "%s set no figure", who);
		fn(arg, &cv);
		if (cv.ok && (cv.p99 > 0 || cv.paired > 0))
			dprintf(fds[1], "%.17g %.17g %.17g\n", cv.value,
				cv.p99, cv.paired);
		else if (cv.ok)
			dprintf(fds[1], "%.17g\n", cv.value);
		else
			dprintf(fds[1], "error: %s\n", cv.reason);
		_exit(cv.ok ? 0 : 1);
	}
	close(fds[1]);
	return bench_collect(pid, fds[0], timeout_s, who, v);
}
