// chanpp.go - round trip between two goroutines on one P over two
// unbuffered channels: main sends, the partner receives and sends back,
// main receives. Prints the median nanoseconds per round trip.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	parseFlags()
	runtime.GOMAXPROCS(1)

	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for m := range pong {
			ping <- m
		}
	}()
	ns := measure(func(n int64) {
		for i := int64(0); i < n; i++ {
			pong <- i
			if <-ping != i {
				fail("echo out of order")
			}
		}
	})
	close(pong)
	fmt.Printf("%.3f\n", ns)
}
