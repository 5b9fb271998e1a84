/*
 * wg.c - the wait group: a count of outstanding work, and the threads
 * waiting for it to reach 0 (docs/design/sync.md).
 *
 * The count changes only under the spinlock; its atomic copy lets a
 * wait on a count of 0 return without the lock (acquire, pairing with
 * the release store of the add that brought it to 0).
 */
#include "internal.h"

#include <limits.h>
#include <stddef.h>

/* struct pc_wg, as the runtime sees it. */
struct pc__wg {
	atomic_long count;
	struct pc__spinlock lock;
	unsigned int pad;
	struct pc__waitq q;
};

_Static_assert(sizeof(struct pc__wg) == sizeof(struct pc_wg) &&
		       offsetof(struct pc__wg, q) ==
			       offsetof(struct pc_wg, _head),
	       "struct pc_wg and struct pc__wg differ");

static struct pc__wg *WG(struct pc_wg *wg)
{
	return (struct pc__wg *)wg;
}

int pc_wg_init(struct pc_wg *wg)
{
	if (!wg)
		return -EINVAL;
	*wg = (struct pc_wg)PC_WG_INIT;
	return 0;
}

int pc_wg_destroy(struct pc_wg *pwg)
{
	struct pc__wg *wg = WG(pwg);
	bool busy;

	if (!wg)
		return -EINVAL;
	pc__spin_lock(&wg->lock);
	busy = wg->q.head != NULL;
	pc__spin_unlock(&wg->lock);
	return busy ? -EBUSY : 0;
}

int pc_wg_add(struct pc_wg *pwg, long n)
{
	struct pc__wg *wg = WG(pwg);
	struct pc__waiter *waited = NULL;
	long c;
	int err = 0;

	if (!wg)
		return -EINVAL;
	pc__spin_lock(&wg->lock);
	c = atomic_load_explicit(&wg->count, memory_order_relaxed);
	if (n < 0 && (n == LONG_MIN || c < -n))
		err = -EINVAL;
	else if (n > 0 && c > LONG_MAX - n)
		err = -EOVERFLOW;
	else if ((c += n) == 0)
		waited = pc__waitq_take_all(&wg->q);
	if (!err)
		atomic_store_explicit(&wg->count, c, memory_order_release);
	pc__spin_unlock(&wg->lock);
	pc__waiter_wake_all(waited);
	return err;
}

int pc_wg_done(struct pc_wg *wg)
{
	return pc_wg_add(wg, -1);
}

/* Waits at most until @deadline (UINT64_MAX: for ever). */
static int wait_until(struct pc__wg *wg, uint64_t deadline)
{
	struct pc__waiter w;
	void *self;

	if (!atomic_load_explicit(&wg->count, memory_order_acquire))
		return 0;
	self = pc__sync_self();
	if (!self)
		return -EPERM;
	pc__waiter_init(&w, self);
	pc__spin_lock(&wg->lock);
	if (!atomic_load_explicit(&wg->count, memory_order_relaxed)) {
		pc__spin_unlock(&wg->lock);
		return 0;
	}
	return pc__waiter_wait(&wg->lock, &wg->q, &w, deadline, NULL, NULL);
}

int pc_wg_wait(struct pc_wg *wg)
{
	if (!wg)
		return -EINVAL;
	return wait_until(WG(wg), UINT64_MAX);
}

int pc_wg_timedwait(struct pc_wg *wg, const struct timespec *deadline)
{
	uint64_t ns;

	if (!wg || !pc__deadline_ns(deadline, &ns))
		return -EINVAL;
	return wait_until(WG(wg), ns);
}

long pc_wg_count(struct pc_wg *wg)
{
	if (!wg)
		return -EINVAL;
	return atomic_load(&WG(wg)->count);
}
