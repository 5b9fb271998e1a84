/*
 * go_peer.h - the Go peers: programs in bench/go/, built by `make bench`
 * into one directory, run with the driver's timing flags. Each prints one
 * figure (see go/common.go).
 */
#ifndef PARCORE_BENCH_GO_PEER_H
#define PARCORE_BENCH_GO_PEER_H

#include "bench.h"

/*
 * bench_go_run() - run program @prog of @dir with GOMAXPROCS=1 and the
 * timing of @bt, and fill @v with what it prints. A program that is not
 * there is reported missing: "install golang-go" if there is no `go` in
 * PATH, else as not built.
 */
void bench_go_run(const char *dir, const char *prog,
		  const struct bench_timing *bt, unsigned int timeout_s,
		  struct bench_value *v);

/* The same with -count @n (the program's own count, e.g. contenders). */
void bench_go_run_count(const char *dir, const char *prog,
			const struct bench_timing *bt, unsigned int n,
			unsigned int timeout_s, struct bench_value *v);

#endif /* PARCORE_BENCH_GO_PEER_H */
