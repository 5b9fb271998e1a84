// common.go - what the Go peers share with bench/bench.c: the same flags
// and the same batch timing (a warm-up that sizes the batches, then the
// median of per-operation times over -reps batches), so that the figures
// compare. Built together with each peer: go build -o X peer.go common.go
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	reps    = flag.Int("reps", 21, "batches timed; the median is printed")
	batchNs = flag.Int64("batch-ns", 20000000, "aimed-for batch duration")
	minOps  = flag.Int64("min-ops", 1000, "fewest operations in a batch")
	maxOps  = flag.Int64("max-ops", 1000000, "most operations in a batch")
	count   = flag.Int("count", 100000, "idle goroutines (idle_mem)")
)

// batchSize runs growing warm-up batches until one lasts an eighth of the
// aimed-for time, then scales to the aimed-for time.
func batchSize(fn func(n int64)) int64 {
	n := *minOps
	var dt time.Duration
	for {
		t0 := time.Now()
		fn(n)
		dt = time.Since(t0)
		if int64(dt) >= *batchNs/8 || n >= *maxOps {
			break
		}
		n *= 4
	}
	if dt <= 0 {
		dt = 1
	}
	ops := float64(n) * float64(*batchNs) / float64(dt)
	if ops < float64(*minOps) {
		ops = float64(*minOps)
	}
	if ops > float64(*maxOps) {
		ops = float64(*maxOps)
	}
	return int64(ops)
}

func median(v []float64) float64 {
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// measure returns the median nanoseconds per operation of fn, which
// performs n operations per call.
func measure(fn func(n int64)) float64 {
	n := batchSize(fn)
	perOp := make([]float64, *reps)
	for i := range perOp {
		t0 := time.Now()
		fn(n)
		perOp[i] = float64(time.Since(t0).Nanoseconds()) / float64(n)
	}
	return median(perOp)
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fail("reading /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		fail("unexpected /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		fail("unexpected /proc/self/statm: %q", b)
	}
	return pages * int64(os.Getpagesize())
}

// contention is a contended lock and the data under it, each on cache
// lines of its own, as the C sides lay them out (bench/README.md): a
// lock word on the data's line is pulled away by the other CPU's
// contenders while the owner writes the data.
type contention struct {
	mu sync.Mutex
	_  [64]byte
	x  uint64
	_  [64]byte
}

// count64 is one contender's count, on a line of its own
// (struct bench_count in bench/bench.h).
type count64 struct {
	n uint64
	_ [56]byte
}

// critical is bench_critical() of bench/bench.h: the contended locks'
// critical section.
func critical(x *uint64) {
	v := *x
	for i := 0; i < 8; i++ {
		v ^= v << 13
		v ^= v >> 7
		v ^= v << 17
	}
	*x = v
}

// fail prints the line the C driver reads as the reason, and exits.
func fail(format string, a ...interface{}) {
	fmt.Printf("error: "+format+"\n", a...)
	os.Exit(1)
}

func parseFlags() {
	flag.Parse()
	if *reps < 1 || *batchNs < 1 || *minOps < 1 || *maxOps < *minOps ||
		*count < 1 {
		fail("bad flags")
	}
}
