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

int pc_rr_register(const void *start, const void *end, const void *restart)
{
	uintptr_t s = (uintptr_t)start, e = (uintptr_t)end;
	uintptr_t r = (uintptr_t)restart;
	int n, err = 0;

	if (!start || !end || !restart || s >= e || r < s || r >= e)
		return -EINVAL;
	pthread_mutex_lock(&register_lock);
	n = atomic_load_explicit(&nr_regions, memory_order_relaxed);
	for (int i = 0; i < n; i++)
		if (s < regions[i].end && regions[i].start < e)
			err = regions[i].start == s && regions[i].end == e &&
					      regions[i].restart == r ?
				      0 :
				      -EEXIST;
	if (!err && n == PC_RR_MAX)
		err = -ENOSPC;
	if (!err) {
		bool known = false;

		for (int i = 0; i < n; i++)
			known |= regions[i].start == s;
		if (!known) {
			regions[n] = (struct region){ s, e, r };
			atomic_store_explicit(&nr_regions, n + 1,
					      memory_order_release);
		}
	}
	pthread_mutex_unlock(&register_lock);
	return err;
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
