/*
 * event.c - the event API (parcore/event.h): handlers, routes, posting,
 * and handling in vcore context.
 *
 * Handlers live in process-private memory (they are pointers); routes live
 * in the shared process page, because the arbiter delivers its own events
 * along them and reads them as hostile input.
 *
 * A handler (here, and an event queue's in evq.c) is a seqlock: writers
 * (any thread, serialized by a spinlock) make seq odd, write, make it
 * even; the vcore reading it retries while seq is odd or moved. Every
 * access is sequentially consistent, which orders them without fences
 * (TSan models no fences). Writers hold a nopreempt section (the
 * spinlock), so a notification never finds its own vcore's writer
 * mid-update.
 */
#include "internal.h"
#include "shared.h"

static struct pc__handler handlers[PC_EV_MAX];
static struct pc__spinlock handler_lock = PC_SPINLOCK_INIT;

static bool type_ok(unsigned int type)
{
	return type != PC_EV_NONE && type < PC_EV_MAX;
}

/* pc__handler_set() - see internal.h: the seqlock's writer. */
void pc__handler_set(struct pc__handler *h, struct pc__spinlock *lock,
		     pc_event_handler fn, void *arg)
{
	pc__spin_lock(lock);
	atomic_fetch_add(&h->seq, 1);
	atomic_store(&h->fn, fn);
	atomic_store(&h->arg, arg);
	atomic_fetch_add(&h->seq, 1);
	pc__spin_unlock(lock);
}

/* pc__handler_get() - see internal.h: the seqlock's reader. */
pc_event_handler pc__handler_get(struct pc__handler *h, void **arg)
{
	for (;;) {
		unsigned int seq = atomic_load(&h->seq);
		pc_event_handler fn;

		if (seq & 1) {
			pc__cpu_relax();
			continue;
		}
		fn = atomic_load(&h->fn);
		*arg = atomic_load(&h->arg);
		if (atomic_load(&h->seq) == seq)
			return fn;
	}
}

int pc_event_handler_set(unsigned int type, pc_event_handler fn, void *arg)
{
	if (!type_ok(type))
		return -EINVAL;
	pc__handler_set(&handlers[type], &handler_lock, fn, arg);
	return 0;
}

int pc_event_route_set(unsigned int type, int vcoreid, unsigned int flags)
{
	int err = pc__shared_init();
	struct pc__route *r;

	if (!type_ok(type) || vcoreid < 0 || vcoreid >= PC_VCORE_MAX ||
	    (flags & ~PC_EVF_ALL))
		return -EINVAL;
	if (err)
		return err;
	r = &pc__sh.proc->route[type];
	/* Two words: a post racing with this may use one old, one new. */
	atomic_store(&r->vcoreid, vcoreid);
	atomic_store(&r->flags, flags);
	return 0;
}

/* ---- posting ---- */

static bool vcore_online(int id)
{
	return atomic_load_explicit(&pc__sh.arb->vc[id].flags,
				    memory_order_acquire) &
	       PC_VCA_ONLINE;
}

/* The lowest-numbered online vcore, or -1. */
static int first_online(void)
{
	for (int i = 0; i < PC_VCORE_MAX; i++)
		if (vcore_online(i))
			return i;
	return -1;
}

/*
 * The vcore to tell instead of an offline one: the lowest online one, or
 * the one a WAITING process sleeps on. That one publishes `waiting`
 * before it goes offline and clears it after it is back
 * (process-states.md), so one of the two is always there; a poster that
 * read them while it came back looks again.
 */
static int fallback_vcore(void)
{
	for (;;) {
		int id = first_online();

		if (id >= 0)
			return id;
		id = atomic_load(&pc__rt.waiting);
		if (id >= 0)
			return id;
		pc__cpu_relax();
	}
}

/*
 * Vcore @id is the one a WAITING process sleeps on: it takes events as
 * an online one does (a post wakes the process). Online before `waiting`
 * is cleared: a poster that finds `waiting` moved on finds it online.
 */
static bool vcore_reachable(int id)
{
	return atomic_load(&pc__rt.waiting) == id || vcore_online(id);
}

/*
 * event_deliver() - queue @ev (type already checked) for vcore @id
 * with @flags and tell it. Any thread. Returns 0 or -ENXIO.
 */
static int event_deliver(int id, const struct pc_event *ev,
			 unsigned int flags)
{
	struct pc_event e = *ev;

	if (!vcore_online(id) && !vcore_reachable(id)) {
		if (!(flags & PC_EVF_FALLBACK))
			return -ENXIO;
		id = fallback_vcore();
	}
	e.flags = 0;
	e.src_vcore = (int16_t)pc_vcore_id();
	pc__mbox_post(pc__vcpd(id), &e, flags & PC_EVF_BIT_ONLY);
	/*
	 * If @id went offline since the check, it forwards what it finds
	 * in its mailbox to an online vcore (pc__events_forward()).
	 */
	pc__notify(id, flags & PC_EVF_NOTIFY);
	return 0;
}

static int post_check(const struct pc_event *ev)
{
	if (!ev || !type_ok(ev->type))
		return -EINVAL;
	if (atomic_load_explicit(&pc__rt.mode, memory_order_acquire) !=
	    PC_MODE_M)
		return -EPERM;
	return 0;
}

int pc_event_send(int vcoreid, const struct pc_event *ev, unsigned int flags)
{
	int err = post_check(ev);

	if (err)
		return err;
	if (vcoreid < 0 || vcoreid >= PC_VCORE_MAX || (flags & ~PC_EVF_ALL))
		return -EINVAL;
	return event_deliver(vcoreid, ev, flags);
}

/*
 * pc__event_announce() - see internal.h. Only when a handler is set: a
 * program that does not listen pays no mailbox traffic for every grant.
 */
void pc__event_announce(unsigned int type, int vcoreid)
{
	struct pc_event ev = { .type = (uint16_t)type };
	void *arg;

	if (!pc__handler_get(&handlers[type], &arg))
		return;
	ev.arg[0] = (uint64_t)vcoreid;
	pc_event_post(&ev);
}

int pc_event_post(const struct pc_event *ev)
{
	int err = post_check(ev);
	struct pc__route *r;
	int id;

	if (err)
		return err;
	r = &pc__sh.proc->route[ev->type];
	/* Our own page, but a bad write to it must not crash us. */
	id = atomic_load_explicit(&r->vcoreid, memory_order_relaxed);
	if (id < 0 || id >= PC_VCORE_MAX)
		id = 0;
	return event_deliver(id, ev,
			     atomic_load_explicit(&r->flags,
						  memory_order_relaxed) &
				     PC_EVF_ALL);
}

/* ---- handling, vcore context ---- */

/*
 * Counts in the vcore's half of the stats: only the vcore's own thread
 * writes them, so a load and a store do. A locked add would wait for
 * the store that freed the ring slot to leave the store buffer, and that
 * store waits for the line to come back from the poster: the handler ran
 * a line transfer later (event_poll_latency).
 */
static void stat_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void dispatch(struct pc__vcpd *v, const struct pc_event *ev)
{
	pc_event_handler fn = NULL;
	void *arg;

	/*
	 * The runtime's part first: whatever the handler does, no stranded
	 * uthread waits for it. As an overflow bit the event names no
	 * vcore: then every one is looked at.
	 */
	if (ev->type == PC_EV_VCORE_PREEMPTED)
		pc__preempt_recover(ev->flags & PC_EVENT_F_OVERFLOW ?
					    -1 :
					    (int)ev->arg[0]);
	else if (ev->type == PC_EV_EVQ_READY)
		pc__evq_ready(ev);
	/* The ring is in writable shared memory: check what comes out. */
	if (ev->type < PC_EV_MAX)
		fn = pc__handler_get(&handlers[ev->type], &arg);
	if (!fn) {
		stat_inc(&v->stat.unhandled);
		return;
	}
	stat_inc(&v->stat.handled);
	fn(ev, arg);
}

/* Calls @fn on every event in @vc's mailbox: messages, then bits. */
static void drain(struct pc__vcore *vc,
		  void (*fn)(struct pc__vcpd *v, const struct pc_event *ev))
{
	struct pc__vcpd *v = vc->vcpd;
	struct pc_event ev;

	while (pc__mbox_take(v, &ev))
		fn(v, &ev);
	for (unsigned int w = 0; w < PC_EV_WORDS; w++) {
		uint64_t bits = pc__mbox_take_bits(v, w);

		while (bits) {
			unsigned int b = (unsigned int)__builtin_ctzll(bits);

			bits &= bits - 1;
			ev = pc__evbits_event(w * 64 + b);
			fn(v, &ev);
		}
	}
}

/*
 * A look at @vc's mailbox: if anything was posted, clear notif_pending
 * and then drain with @fn. Cleared before the drain (an RMW, ordered
 * before the reads of the ring), so whatever is posted during the drain
 * sets it again for the next look. A message already in the ring is
 * taken and handled first, before the clear: the poster may not have set
 * notif_pending yet, and the clear would pull that line from it before
 * the handler runs (event_poll_latency: one transfer fewer). Taking one
 * early loses nothing: the drain after the clear takes the rest.
 */
static void look(struct pc__vcore *vc,
		 void (*fn)(struct pc__vcpd *v, const struct pc_event *ev))
{
	struct pc__vcpd *v = vc->vcpd;
	struct pc_event ev;

	if (!pc__events_maybe(v))
		return;
	if (pc__mbox_take(v, &ev))
		fn(v, &ev);
	atomic_exchange(&v->notif_pending, 0);
	drain(vc, fn);
}

/* pc__events_handle() - see internal.h. */
void pc__events_handle(struct pc__vcore *vc)
{
	look(vc, dispatch);
}

/*
 * What an offline vcore does with an event it finds: pass it to an online
 * vcore (or to the waiting one: process-states.md), or, if it has been
 * granted again since it last looked (then it may be the first online
 * one), handle it itself. Never post it back to
 * itself: the drain would take it again, for ever (qemu's aarch64 runs
 * of stress_provision livelocked so, with millions of posts).
 */
static void forward(struct pc__vcpd *v, const struct pc_event *ev)
{
	int self = (int)(v - pc__sh.proc->vcpd);
	int id = fallback_vcore();

	if (id == self) {
		dispatch(v, ev);
		return;
	}
	pc__mbox_post(pc__vcpd(id), ev, ev->flags & PC_EVENT_F_OVERFLOW);
	pc__notify(id, true);
}

/*
 * pc__events_forward() - @vc is offline: hand what was posted to it to an
 * online vcore. Its own thread (the mailbox's one consumer), vcore context.
 */
void pc__events_forward(struct pc__vcore *vc)
{
	look(vc, forward);
}

int pc_event_stats(int vcoreid, struct pc_event_stats *out)
{
	struct pc__vcpd *v;

	if (vcoreid < 0 || vcoreid >= PC_VCORE_MAX || !out)
		return -EINVAL;
	if (atomic_load_explicit(&pc__rt.mode, memory_order_acquire) !=
	    PC_MODE_M)
		return -EPERM;
	v = pc__vcpd(vcoreid);
	out->posted = atomic_load(&v->pstat.posted);
	out->overflowed = atomic_load(&v->pstat.overflowed);
	out->handled = atomic_load(&v->stat.handled);
	out->unhandled = atomic_load(&v->stat.unhandled);
	out->notifs_sent = atomic_load(&v->pstat.notifs_sent);
	out->notifs_taken = atomic_load(&v->stat.notifs_taken);
	out->notifs_deferred = atomic_load(&v->stat.notifs_deferred);
	out->notifs_masked = atomic_load(&v->stat.notifs_masked);
	return 0;
}
