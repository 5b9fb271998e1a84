// spawn.go - create + join: `go f()` and a sync.WaitGroup the new
// goroutine signals and main waits on. Prints the median nanoseconds per
// create + join.
package main

import (
	"fmt"
	"sync"
)

func done(wg *sync.WaitGroup) {
	wg.Done()
}

func main() {
	parseFlags()

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
