/*
 * whole.h - state a uthread carries across its switches, which only a
 * lost, doubled or half-saved switch breaks: a value recomputed in
 * registers, values on its stack, its own rounding mode (the FP control
 * state a switch carries: MXCSR and the x87 control word, or FPCR), and
 * a flag that says it runs, taken by exchange. The stress tests of the
 * fast paths that publish a uthread before its switch has saved it
 * (stress_yield.c, stress_block.c) share it.
 */
#ifndef PARCORE_TEST_WHOLE_H
#define PARCORE_TEST_WHOLE_H

#include <stdatomic.h>
#include <stdint.h>

struct whole {
	int id;
	uint64_t shadow, i;
	double q[3];
	volatile uint64_t *stack; /* 8 words in the uthread's frame */
	atomic_int *running;      /* the uthread's flag */
};

/* Counts of what the checks found, over every uthread. */
extern atomic_long whole_corrupted, whole_doubled;

/*
 * The value a uthread keeps in a local across a call that may switch,
 * where the compiler keeps it in a callee-saved register: stepped before
 * each call, checked after it by whole_back().
 */
static inline uint64_t whole_step(uint64_t h, uint64_t i)
{
	return (h ^ (h >> 31)) * 0x9e3779b97f4a7c15u + i;
}

/*
 * Starts uthread @id's state, with its rounding mode set, @stack 8 words
 * of its frame and @running its flag; marks it running. Returns the
 * local's first value.
 */
uint64_t whole_begin(struct whole *w, int id, volatile uint64_t *stack,
		     atomic_int *running);
/*
 * Around a call that may switch: h = whole_step(h, w->i), then
 * whole_leave() marks the uthread not running; after the call,
 * whole_back() marks it running and checks @h, the stack and the
 * rounding mode against a recomputation.
 */
void whole_leave(struct whole *w);
void whole_back(struct whole *w, uint64_t h);
/* The uthread is done: marks it not running. */
void whole_end(struct whole *w);

#endif
