// spawn.go - create + join: `go f()` and a sync.WaitGroup the new
// goroutine signals and main waits on, on one P (GOMAXPROCS(1), as
// parcore creates and joins on one vcore; with two, 5-10% slower here).
// Prints the median nanoseconds per create + join.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

func done(wg *sync.WaitGroup) {
	wg.Done()
}

func main() {
	parseFlags()
	runtime.GOMAXPROCS(1)

	var wg sync.WaitGroup
	ns := measure(func(n int64) {
		for i := int64(0); i < n; i++ {
			wg.Add(1)
			go done(&wg)
			wg.Wait()
		}
	})
	fmt.Printf("%.3f\n", ns)
}
