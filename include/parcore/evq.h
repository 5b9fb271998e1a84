/*
 * parcore/evq.h - event queues of the application's own (seed 003
 * section 4.2: Akaros's ev_q), beside the vcores' mailboxes of event.h.
 *
 * A queue is a bounded ring of struct pc_event that anyone may post to:
 * a uthread, an event handler in vcore context, a plain pthread. Its
 * events are consumed in one of two ways, or both at once:
 *  - waited for: pc_evq_wait() blocks the calling uthread until an event
 *    arrives (its vcore runs other uthreads meanwhile); pc_evq_get() takes
 *    one without blocking, from any thread;
 *  - handled: with a handler set (pc_evq_handler_set()), a post tells a
 *    vcore, as the event PC_EV_EVQ_READY, that the queue has events; that
 *    vcore then runs the handler on each of them in vcore context, with
 *    the rules of event.h (async-signal-safe work only).
 * Each event is consumed once, by one waiter or one handler call.
 *
 * Nothing is dropped without a trace: when the ring is full, the event's
 * type bit is set and the queue's overflow counter incremented, and the
 * consumer gets one event of that type with PC_EVENT_F_OVERFLOW and no
 * payload once the ring is empty (as a mailbox does).
 */
#ifndef PARCORE_EVQ_H
#define PARCORE_EVQ_H

#include <parcore/common.h>
#include <parcore/event.h>

PC_BEGIN_DECLS

struct pc_evq;

/* Ring slots when pc_evq_create() is given 0. */
#define PC_EVQ_DEFAULT_CAPACITY 256u
#define PC_EVQ_MAX_CAPACITY 65536u
/* Queues that may exist at once in a process. */
#define PC_EVQ_MAX 1024

/*
 * pc_evq_create() - make an event queue whose ring holds @capacity events
 * (a power of two from 2 up to PC_EVQ_MAX_CAPACITY; 0 for the default),
 * with no handler. Works from any thread, in any mode.
 * Returns 0 and the queue in *@out; -EINVAL for a NULL @out or a bad
 * @capacity; -ENOMEM; -ENOSPC if PC_EVQ_MAX queues exist.
 */
PC_EXPORT int pc_evq_create(struct pc_evq **out, unsigned int capacity);

/*
 * pc_evq_destroy() - free @q. Its handler is removed first, and a vcore
 * running it is waited for. Nobody may post to or wait on @q from the
 * call on. Events still queued are dropped. Works from any thread.
 * Returns 0; -EINVAL for NULL; -EBUSY (and nothing changed) while a
 * uthread is inside pc_evq_wait() on @q (a woken one too, until it has
 * returned), from @q's own handler, or from any handler while a vcore
 * runs @q's.
 */
PC_EXPORT int pc_evq_destroy(struct pc_evq *q);

/*
 * pc_evq_post() - queue a copy of @ev (its flags are ignored, src_vcore is
 * set to the caller's vcore) and wake one waiter, or tell the handler's
 * vcore. Works from any thread, and from event handlers.
 * Returns 0 (also when the ring was full and the event went to the
 * bitmap); -EINVAL for a NULL @q or @ev, or a type not below PC_EV_MAX.
 */
PC_EXPORT int pc_evq_post(struct pc_evq *q, const struct pc_event *ev);

/*
 * pc_evq_get() - take the oldest event of @q into @out without blocking.
 * Works from any thread.
 * Returns 0; -EAGAIN if @q is empty; -EINVAL for a NULL argument.
 */
PC_EXPORT int pc_evq_get(struct pc_evq *q, struct pc_event *out);

/*
 * pc_evq_wait() - take the oldest event of @q into @out, blocking the
 * calling uthread until there is one. Waiters are woken one per post.
 * Returns 0; -EINVAL for a NULL argument; -EPERM outside a uthread (a
 * plain thread polls with pc_evq_get()).
 */
PC_EXPORT int pc_evq_wait(struct pc_evq *q, struct pc_event *out);

/*
 * pc_evq_handler_set() - from now on, when events are posted to @q, tell
 * vcore @vcoreid with delivery flags @flags (PC_EVF_NOTIFY,
 * PC_EVF_FALLBACK; see event.h) and have it call fn(ev, arg) in vcore
 * context for each event it takes from @q. (A notice already on its way
 * to the previous vcore, or one that overflowed a mailbox, has the
 * handler run once more where it lands.) Events already queued are
 * handled at the next post. NULL @fn removes the handler. When the call
 * returns, every call of the old handler has finished and none will
 * begin; events keep coming meanwhile without holding it up. Called
 * from a handler (vcore context) it does not wait: two handlers waiting
 * for each other would never finish. Works from any thread; handling
 * starts once the process is in multi-core mode.
 * Returns 0; -EINVAL for a NULL @q, a bad @vcoreid or an unknown flag
 * (PC_EVF_BIT_ONLY included).
 */
PC_EXPORT int pc_evq_handler_set(struct pc_evq *q, pc_event_handler fn,
				 void *arg, int vcoreid, unsigned int flags);

/* Counters of one queue (pc_evq_stats()). */
struct pc_evq_stats {
	uint64_t posted;     /* events queued in its ring */
	uint64_t overflowed; /* events that found it full (bit set) */
	uint64_t taken;	     /* events consumed: waited, got or handled */
	uint64_t waiters;    /* uthreads blocked in pc_evq_wait() now */
};

/*
 * pc_evq_stats() - read @q's counters into @out (racy by a few events
 * while posts are under way). Returns 0, or -EINVAL for NULL.
 */
PC_EXPORT int pc_evq_stats(struct pc_evq *q, struct pc_evq_stats *out);

PC_END_DECLS

#endif /* PARCORE_EVQ_H */
