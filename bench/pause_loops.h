/*
 * pause_loops.h - the PAUSE benchmarks' loops without checks
 * (pause_loops.c), and their size.
 */
#ifndef PARCORE_BENCH_PAUSE_LOOPS_H
#define PARCORE_BENCH_PAUSE_LOOPS_H

#include <stddef.h>
#include <stdint.h>

/* Iterations per operation: 64 KiB of array, resident in L2. */
#define PAUSE_N 16384

extern uint32_t pause_array[PAUSE_N];

/*
 * Writes the array. Left unwritten, its pages would all map the kernel's
 * one zero page: the sum would read 4 KiB over and over, with aliasing
 * effects that made its figures bimodal (0.55-1.9 between runs).
 */
void pause_array_fill(void);

uint32_t pause_sum_plain(void);
uint64_t pause_chain_plain(uint64_t x);

#endif
