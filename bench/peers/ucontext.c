/*
 * ucontext.c - glibc's swapcontext(): saves and restores the signal mask
 * with a system call on every switch, which is why nobody builds a fast
 * runtime on it; it is here as the portable baseline.
 */
#include "peers.h"

#include <ucontext.h>

#define STACK_SIZE (64 * 1024)

/* makecontext() passes only ints, so the partner finds its state here. */
static ucontext_t uc_main, uc_co;

static void uc_partner(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static int uc_batch(void *arg, uint64_t n)
{
	(void)arg;
	while (n--) {
		if (swapcontext(&uc_main, &uc_co) < 0)
			return -1;
	}
	return 0;
}

void peer_swapcontext_switch(const struct bench_timing *bt,
			     struct bench_value *v)
{
	void *stack;

	stack = bench_stack_alloc(STACK_SIZE);
	if (!stack) {
		bench_value_missing(v, "no memory for a stack");
		return;
	}
	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = stack;
	uc_co.uc_stack.ss_size = STACK_SIZE;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, uc_partner, 0);
	bench_measure_value(bt, uc_batch, NULL, v, "swapcontext");
	bench_stack_free(stack, STACK_SIZE);
}
