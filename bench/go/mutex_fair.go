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

	var mu sync.Mutex
	var x uint64 = 1
	var stop int32
	got := make([]uint64, *count)
	var wg sync.WaitGroup
	wg.Add(*count)
	for c := 0; c < *count; c++ {
		go func(c int) {
			for atomic.LoadInt32(&stop) == 0 {
				mu.Lock()
				critical(&x)
				mu.Unlock()
				got[c]++
			}
			wg.Done()
		}(c)
	}
	time.Sleep(time.Duration(*batchNs * 10))
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	lo, hi := got[0], got[0]
	for _, g := range got {
		if g < lo {
			lo = g
		}
		if g > hi {
			hi = g
		}
	}
	if lo == 0 {
		lo = 1
	}
	fmt.Printf("%.3f\n", float64(hi)/float64(lo))
}
