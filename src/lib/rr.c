/*
 * rr.c - restartable regions (seed 000's roll-back recovery;
 * docs/design/ticks.md): short sequences on per-vcore data that a
 * notification, interrupting one, restarts from its beginning rather
 * than saving it mid-way.
 *
 * The table only grows. A region is published with a release store of
 * the count after its entry is written, and the signal handler reads the
 * count with an acquire load: it never sees a half-written entry, and it
 * takes no lock (async-signal-safe).
 */
#include "internal.h"

#include <parcore/preempt.h>

#define PC_RR_MAX 256

struct region {
	uintptr_t start, end, restart;
};

static struct region regions[PC_RR_MAX];
static atomic_int nr_regions;
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

__thread int pc_rr_vcore __attribute__((tls_model("initial-exec"))) = -1;

/* 0 if [@s, @e) is new, 1 if registered as is, -EEXIST if it overlaps. */
static int known_locked(uintptr_t s, uintptr_t e, uintptr_t r, int n)
{
	for (int i = 0; i < n; i++) {
		struct region *g = &regions[i];

		if (g->start == s && g->end == e && g->restart == r)
			return 1;
		if (s < g->end && g->start < e)
			return -EEXIST;
	}
	return 0;
}

int pc_rr_register(const void *start, const void *end, const void *restart)
{
	uintptr_t s = (uintptr_t)start, e = (uintptr_t)end;
	uintptr_t r = (uintptr_t)restart;
	int n, known;

	if (!start || !end || !restart || s >= e || r < s || r >= e)
		return -EINVAL;
	pthread_mutex_lock(&register_lock);
	n = atomic_load_explicit(&nr_regions, memory_order_relaxed);
	known = known_locked(s, e, r, n);
	if (!known && n < PC_RR_MAX) {
		regions[n] = (struct region){ s, e, r };
		atomic_store_explicit(&nr_regions, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&register_lock);
	if (known < 0)
		return known;
	return known || n < PC_RR_MAX ? 0 : -ENOSPC;
}

/* pc__rr_restart_at() - see internal.h. Signal handler. */
uintptr_t pc__rr_restart_at(uintptr_t pc)
{
	int n = atomic_load_explicit(&nr_regions, memory_order_acquire);

	for (int i = 0; i < n; i++)
		if (pc >= regions[i].start && pc < regions[i].end)
			return regions[i].restart;
	return 0;
}
