/*
 * pause_loops.c - the PAUSE benchmarks' loops without checks, the peers:
 * a sum over an array (vectorizable) and a dependent multiply-add chain
 * (scalar). One operation is one pass of PAUSE_N iterations. The checked
 * variants, the same loops with PAUSE points, are in ours_pause.c, built
 * with the same flags.
 */
#include "pause_loops.h"

uint32_t pause_array[PAUSE_N];

void pause_array_fill(void)
{
	for (size_t i = 0; i < PAUSE_N; i++)
		pause_array[i] = (uint32_t)(i * 2654435761u);
}

__attribute__((noinline)) uint32_t pause_sum_plain(void)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < PAUSE_N; i++)
		sum += pause_array[i];
	return sum;
}

__attribute__((noinline)) uint64_t pause_chain_plain(uint64_t x)
{
	for (size_t i = 0; i < PAUSE_N; i++)
		x = x * 6364136223846793005u + i;
	return x;
}
