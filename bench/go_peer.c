/*
 * go_peer.c - run one Go peer program and collect its figure.
 */
#include "go_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Is there an executable `go` in one of PATH's directories? */
static int go_in_path(void)
{
	const char *path = getenv("PATH"), *dir, *end;
	char file[PATH_MAX];
	int len;

	for (dir = path; dir && *dir; dir = *end ? end + 1 : end) {
		end = strchr(dir, ':');
		if (!end)
			end = dir + strlen(dir);
		len = snprintf(file, sizeof(file), "%.*s/go", (int)(end - dir),
			       dir);
		if (len > 0 && (size_t)len < sizeof(file) &&
		    access(file, X_OK) == 0)
			return 1;
	}
	return 0;
}

/*
 * The environment with GOMAXPROCS=1 in place of any GOMAXPROCS: the Go
 * peers run on one P, as parcore runs on one vcore. gosched.go would set
 * it anyway; spawn.go and idle_mem.go take it from here.
 */
static char **go_environ(void)
{
	static char gomaxprocs[] = "GOMAXPROCS=1";
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "GOMAXPROCS=", 11) != 0)
			env[j++] = environ[i];
	}
	env[j] = gomaxprocs;
	return env;
}

void bench_go_run(const char *dir, const char *prog,
		  const struct bench_timing *bt, unsigned int timeout_s,
		  struct bench_value *v)
{
	bench_go_run_count(dir, prog, bt, bt->idle_count, timeout_s, v);
}

void bench_go_run_count(const char *dir, const char *prog,
			const struct bench_timing *bt, unsigned int n,
			unsigned int timeout_s, struct bench_value *v)
{
	char path[PATH_MAX], reps[24], batch[24], min[24], max[24], count[24];
	char *argv[] = { path, "-reps", reps, "-batch-ns", batch, "-min-ops",
			 min, "-max-ops", max, "-count", count, NULL };
	posix_spawn_file_actions_t fa;
	char **env;
	int fds[2], err;
	pid_t pid;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, prog) >=
	    sizeof(path)) {
		bench_value_missing(v, "path too long: %s/%s", dir, prog);
		return;
	}
	if (access(path, X_OK) < 0) {
		if (go_in_path())
			bench_value_missing(v, "not built: no %s (`make bench` "
					    "builds it)", path);
		else
			bench_value_missing(v, "install golang-go");
		return;
	}
	snprintf(reps, sizeof(reps), "%u", bt->reps);
	snprintf(batch, sizeof(batch), "%llu",
		 (unsigned long long)bt->batch_ns);
	snprintf(min, sizeof(min), "%llu", (unsigned long long)bt->min_ops);
	snprintf(max, sizeof(max), "%llu", (unsigned long long)bt->max_ops);
	snprintf(count, sizeof(count), "%u", n);

	env = go_environ();
	if (!env) {
		bench_value_missing(v, "no memory for the environment");
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		bench_value_missing(v, "pipe: %s", strerror(errno));
		free(env);
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	fflush(NULL);
	err = posix_spawn(&pid, path, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(fds[1]);
	if (err) {
		close(fds[0]);
		bench_value_missing(v, "running %s: %s", path, strerror(err));
		return;
	}
	bench_collect(pid, fds[0], timeout_s, prog, v);
}
