// gosched.go - yield round trip between two goroutines on one P: main
// calls runtime.Gosched(), the partner runs one turn of its own Gosched
// loop, main runs again. Prints the median nanoseconds per round trip.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

func main() {
	parseFlags()
	runtime.GOMAXPROCS(1)

	var stop int32
	var mainYields, partnerYields int64
	done := make(chan struct{})
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
			runtime.Gosched()
			partnerYields++
		}
		close(done)
	}()
	ns := measure(func(n int64) {
		for i := int64(0); i < n; i++ {
			runtime.Gosched()
		}
		mainYields += n
	})
	atomic.StoreInt32(&stop, 1)
	<-done
	// On one P every Gosched of main must have let the partner run.
	if partnerYields < mainYields/2 {
		fail("partner ran %d times for %d yields", partnerYields,
			mainYields)
	}
	fmt.Printf("%.3f\n", ns)
}
