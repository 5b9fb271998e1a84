// idle_mem.go - resident memory per idle goroutine: start -count
// goroutines that each block on a channel receive, and divide the growth
// of the resident set by the count. Prints bytes per goroutine.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	parseFlags()
	n := *count

	ch := make(chan struct{})
	var started, finished sync.WaitGroup
	// One goroutine first, so that one-time set-up is not charged to
	// the count.
	finished.Add(1)
	go func() { finished.Done() }()
	finished.Wait()
	runtime.GC()

	before := rssBytes()
	started.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-ch
			finished.Done()
		}()
	}
	started.Wait()
	after := rssBytes()
	close(ch)
	finished.Wait()
	fmt.Printf("%.1f\n", float64(after-before)/float64(n))
}
