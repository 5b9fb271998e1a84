// mutex.go - contended sync.Mutex: -count goroutines on 2 Ps
// (GOMAXPROCS(2), as parcore runs its uthreads on 2 vcores) take one
// mutex around the same critical section as bench_critical() in
// bench/bench.h, n / count times each per batch. Prints the median
// nanoseconds per acquisition.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	parseFlags()
	runtime.GOMAXPROCS(2)

	c := &contention{x: 1}
	mu, x := &c.mu, &c.x
	k := int64(*count)
	ns := measure(func(n int64) {
		per := n / k
		if per == 0 {
			per = 1
		}
		var wg sync.WaitGroup
		wg.Add(int(k))
		for c := int64(0); c < k; c++ {
			go func() {
				for i := int64(0); i < per; i++ {
					mu.Lock()
					critical(x)
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
	})
	fmt.Printf("%.3f\n", ns)
}
