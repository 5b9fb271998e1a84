/*
 * xsave.h - one save of the vector state, as a preemption does it
 * (xsave.c): parcore's lazy XSAVEC, and a full XSAVE for comparison.
 */
#ifndef PARCORE_BENCH_XSAVE_H
#define PARCORE_BENCH_XSAVE_H

#include <stdbool.h>

#include "bench.h"

/* @avx512: with AVX-512 state in use, else SSE only. */
void xsave_lazy(const struct bench_timing *bt, bool avx512,
		struct bench_value *v);
void xsave_full(const struct bench_timing *bt, bool avx512,
		struct bench_value *v);

#endif
