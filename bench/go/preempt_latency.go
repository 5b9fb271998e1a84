// preempt_latency.go - how long a goroutine waits for the CPU behind one
// spinning in a call-free loop, GOMAXPROCS=1: main sleeps until a
// deadline 1-3 ms away while the spinner holds the only P; each sample
// is the time from the deadline to main running again (the runtime
// forces a preemption after 10 ms). Prints the median of -count samples.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

func main() {
	parseFlags()
	runtime.GOMAXPROCS(1)

	var stop int32
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
		}
	}()
	runtime.Gosched() // the spinner holds the P from here
	lat := make([]float64, *count)
	rnd := uint32(2463534242)
	for i := range lat {
		rnd ^= rnd << 13
		rnd ^= rnd >> 17
		rnd ^= rnd << 5
		deadline := time.Now().Add(time.Duration(1000000 + rnd%2000000))
		time.Sleep(time.Until(deadline))
		lat[i] = float64(time.Since(deadline).Nanoseconds())
	}
	atomic.StoreInt32(&stop, 1)
	fmt.Printf("%.3f\n", median(lat))
}
