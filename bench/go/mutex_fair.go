// mutex_fair.go - fairness of a contended sync.Mutex: -count goroutines
// on 2 Ps take it around the same critical section as mutex.go for ten
// batches' time, each counting its acquisitions. Prints the most any got
// over the fewest (at least 1), as bench_spread() does.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	parseFlags()
	runtime.GOMAXPROCS(2)

	c := &contention{x: 1}
	mu, x := &c.mu, &c.x
	var stop int32
	got := make([]count64, *count)
	var wg sync.WaitGroup
	wg.Add(*count)
	for c := 0; c < *count; c++ {
		go func(c int) {
			for atomic.LoadInt32(&stop) == 0 {
				mu.Lock()
				critical(x)
				mu.Unlock()
				got[c].n++
			}
			wg.Done()
		}(c)
	}
	time.Sleep(time.Duration(*batchNs * 10))
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	lo, hi := got[0].n, got[0].n
	for _, g := range got {
		if g.n < lo {
			lo = g.n
		}
		if g.n > hi {
			hi = g.n
		}
	}
	if lo == 0 {
		lo = 1
	}
	fmt.Printf("%.3f\n", float64(hi)/float64(lo))
}
