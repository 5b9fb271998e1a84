/*
 * whole.c - see whole.h.
 */
#define _GNU_SOURCE
#include "whole.h"

#include <fenv.h>
#include <stdbool.h>

atomic_long whole_corrupted, whole_doubled;

/*
 * Quotients whose last bit depends on the rounding mode, in the unit
 * that does double arithmetic (SSE here: MXCSR; fegetround() reads only
 * the x87 control word): the three tell all four modes apart.
 */
static void quotients(double q[3])
{
	volatile double one = 1.0, two = 2.0, three = 3.0;

	q[0] = one / three;
	q[1] = two / three;
	q[2] = -one / three;
}

static bool rounds_as(const double q[3])
{
	double now[3];

	quotients(now);
	return now[0] == q[0] && now[1] == q[1] && now[2] == q[2];
}

/* Uthread @id's rounding mode. */
static int mode_of(int id)
{
	static const int modes[] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD,
				     FE_TOWARDZERO };

	return modes[id % 4];
}

static void mark_running(struct whole *w)
{
	if (atomic_exchange(w->running, 1))
		atomic_fetch_add(&whole_doubled, 1);
}

uint64_t whole_begin(struct whole *w, int id, volatile uint64_t *stack,
		     atomic_int *running)
{
	w->id = id;
	w->shadow = (uint64_t)id + 1;
	w->i = 0;
	w->stack = stack;
	w->running = running;
	for (int k = 0; k < 8; k++)
		stack[k] = w->shadow + (uint64_t)k;
	fesetround(mode_of(id));
	quotients(w->q);
	mark_running(w);
	return w->shadow;
}

void whole_leave(struct whole *w)
{
	atomic_store(w->running, 0);
}

void whole_back(struct whole *w, uint64_t h)
{
	uint64_t i = w->i++;

	mark_running(w);
	w->shadow = whole_step(w->shadow, i);
	if (h != w->shadow ||
	    w->stack[i % 8] != (uint64_t)w->id + 1 + i % 8 ||
	    fegetround() != mode_of(w->id) || !rounds_as(w->q))
		atomic_fetch_add(&whole_corrupted, 1);
}

void whole_end(struct whole *w)
{
	atomic_store(w->running, 0);
}
