/*
 * handwritten.c - the limit: a round trip through the smallest switch that
 * is still correct at a function call (switch_x86_64.S).
 */
#include "peers.h"

#include <stdint.h>

#define STACK_SIZE (64 * 1024)

#if defined(__x86_64__)

typedef void (*hw_entry_fn)(void *arg, void *pass);

void *bench_hw_swap(void **save_sp, void *to_sp, void *pass);
void bench_hw_start(void);

/*
 * A fresh stack whose first resumption enters bench_hw_start with r12 =
 * @fn and r13 = @arg. Nine words below the 16-byte aligned top: six
 * registers, the return address, and two of padding, so that rsp is
 * 16-byte aligned again when bench_hw_start calls @fn.
 */
static void *hw_make(void *stack_hi, hw_entry_fn fn, void *arg)
{
	uint64_t *sp = (uint64_t *)((uintptr_t)stack_hi & ~(uintptr_t)15) - 9;
	unsigned int i;

	for (i = 0; i < 9; i++)
		sp[i] = 0;
	sp[2] = (uint64_t)(uintptr_t)arg;		/* r13 */
	sp[3] = (uint64_t)(uintptr_t)fn;		/* r12 */
	sp[6] = (uint64_t)(uintptr_t)bench_hw_start;	/* return address */
	return sp;
}

struct hw {
	void *main_sp;
	void *co_sp;
};

static void hw_partner(void *arg, void *pass)
{
	struct hw *s = arg;

	(void)pass;
	for (;;)
		bench_hw_swap(&s->co_sp, s->main_sp, NULL);
}

static int hw_batch(void *arg, uint64_t n)
{
	struct hw *s = arg;

	while (n--)
		bench_hw_swap(&s->main_sp, s->co_sp, NULL);
	return 0;
}

void peer_handwritten_switch(const struct bench_timing *bt,
			     struct bench_value *v)
{
	struct hw s = { NULL, NULL };
	void *stack;

	stack = bench_stack_alloc(STACK_SIZE);
	if (!stack) {
		bench_value_missing(v, "no memory for a stack");
		return;
	}
	/* The partner is left suspended for good; its stack just goes. */
	s.co_sp = hw_make((char *)stack + STACK_SIZE, hw_partner, &s);
	bench_measure_value(bt, hw_batch, &s, v, "hand-written switch");
	bench_stack_free(stack, STACK_SIZE);
}

#else

void peer_handwritten_switch(const struct bench_timing *bt,
			     struct bench_value *v)
{
	(void)bt;
	bench_value_missing(v, "no hand-written switch for this architecture");
}

#endif
