/*
 * fcontext.c - Boost.Context's fcontext, the switch under boost::context
 * and boost::fiber: callee-saved registers plus MXCSR and the x87 control
 * word, as parcore's.
 *
 * libboost_context exports jump_fcontext() and make_fcontext() with C
 * linkage; its headers are C++, so the two are declared here from the
 * documented ABI. Without the library (BENCH_NO_FCONTEXT) the peer is
 * reported missing.
 */
#include "peers.h"

#ifndef BENCH_NO_FCONTEXT

#include <stddef.h>

#define STACK_SIZE (64 * 1024)

typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;	/* the context that jumped to us */
	void *data;
} transfer_t;

transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

/* Jumps back to whoever jumped here, forever. */
static void fc_partner(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, NULL);
}

static int fc_batch(void *arg, uint64_t n)
{
	fcontext_t *co = arg;
	transfer_t t;

	while (n--) {
		t = jump_fcontext(*co, NULL);
		*co = t.fctx;
	}
	return 0;
}

void peer_fcontext_switch(const struct bench_timing *bt,
			  struct bench_value *v)
{
	fcontext_t co;
	void *stack;

	stack = bench_stack_alloc(STACK_SIZE);
	if (!stack) {
		bench_value_missing(v, "no memory for a stack");
		return;
	}
	/* make_fcontext() takes the top of the stack: it grows down. */
	co = make_fcontext((char *)stack + STACK_SIZE, STACK_SIZE, fc_partner);
	bench_measure_value(bt, fc_batch, &co, v, "jump_fcontext");
	bench_stack_free(stack, STACK_SIZE);
}

#else

void peer_fcontext_switch(const struct bench_timing *bt,
			  struct bench_value *v)
{
	(void)bt;
	bench_value_missing(v, "install libboost-context-dev");
}

#endif
