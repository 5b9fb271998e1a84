/*
 * parcore/event.h - events: numbered messages to vcores, handled in vcore
 * context (seed 003 section 4.2; docs/design/notifications.md).
 *
 * An event is posted to a vcore's mailbox, a bounded ring in memory shared
 * with the arbiter. The vcore handles it the next time it is in vcore
 * context: at once if the event asks for a notification (parcore's
 * interrupt: the running uthread is stopped where it is, the handlers run,
 * and the same uthread resumes on the same vcore), else when the vcore next
 * switches, blocks, or idles. Nothing is dropped without a trace: when the
 * ring is full the type's bit is set in the mailbox's bitmap and an
 * overflow counter is incremented, and the handler is called once for the
 * bit, with PC_EVENT_F_OVERFLOW and no payload.
 *
 * Handlers run in vcore context, one at a time per vcore, never nested.
 * They may interrupt a uthread anywhere, even inside malloc or printf, so
 * they must follow the rules of async-signal-safe functions: no malloc, no
 * stdio, no locks a uthread may hold. They may post events, unpark
 * uthreads and read any memory. Parcore takes the real-time signal
 * PC_NOTIFY_SIGNAL for notifications; a program must not use it.
 *
 * A program's own signal handlers keep working, with or without an
 * alternate stack of theirs. A notification that lands in one running on
 * an (armed) alternate stack waits until it returns. One running on the
 * uthread's stack, or on an alternate stack disarmed by SS_AUTODISARM,
 * may be interrupted there like any code; its signal mask then stays on
 * the vcore's thread, for the uthreads that run there, until the handler
 * resumes and returns (docs/design/notifications.md, "Limits").
 */
#ifndef PARCORE_EVENT_H
#define PARCORE_EVENT_H

#include <parcore/common.h>
#include <signal.h>

PC_BEGIN_DECLS

/* Event types. Types from PC_EV_APP_FIRST to PC_EV_MAX - 1 are the
 * application's; the ones below are parcore's. */
enum pc_event_type {
	PC_EV_NONE = 0,
	PC_EV_PREEMPT_PENDING = 1, /* arg[0]: deadline, CLOCK_MONOTONIC ns */
	PC_EV_VCORE_PREEMPTED = 2, /* arg[0]: the vcore that was preempted */
	PC_EV_CORE_GRANTED = 3,    /* arg[0]: the vcore that came online */
	PC_EV_CORE_REVOKED = 4,    /* arg[0]: the vcore that went offline
				    * (preempted, yielded or surplus);
				    * these two are posted along their
				    * routes only while a handler is set */
	PC_EV_ALARM = 5,           /* arg[0]: pc_alarm_set()'s @arg;
				    * arg[1]: its deadline */
	PC_EV_USER = 6,            /* a vcore notifying another */
	PC_EV_EVQ_READY = 7,       /* an event queue has events for its
				    * handler (evq.h; parcore runs it) */
	PC_EV_APP_FIRST = 32,
	PC_EV_MAX = 128,
};

/* struct pc_event.flags */
#define PC_EVENT_F_OVERFLOW 0x1u /* from the overflow bitmap: no payload */

struct pc_event {
	uint16_t type;      /* enum pc_event_type or an application type */
	int16_t src_vcore;  /* the posting vcore, or -1 */
	uint32_t flags;     /* PC_EVENT_F_* (set by parcore on delivery) */
	uint64_t arg[2];    /* the poster's payload */
};

/*
 * Delivery flags, per type (pc_event_route_set()) or per send.
 *  PC_EVF_NOTIFY    interrupt the target vcore now (a notification);
 *                   without it the event waits for the vcore's next look.
 *  PC_EVF_BIT_ONLY  set the type's bit instead of queuing the message: the
 *                   handler sees one event, with PC_EVENT_F_OVERFLOW, per
 *                   look, however many were posted.
 *  PC_EVF_FALLBACK  if the target vcore is not online, deliver to the
 *                   lowest-numbered online vcore instead of failing.
 * While the process is WAITING (no vcore online: pc_vcore_yield()), the
 * vcore it sleeps on takes events as if it were online, and a fallback
 * goes to it: a post wakes the process.
 */
#define PC_EVF_NOTIFY 0x1u
#define PC_EVF_BIT_ONLY 0x2u
#define PC_EVF_FALLBACK 0x4u
#define PC_EVF_ALL (PC_EVF_NOTIFY | PC_EVF_BIT_ONLY | PC_EVF_FALLBACK)

/* The signal parcore sends to a vcore's thread to notify it. */
#define PC_NOTIFY_SIGNAL (SIGRTMAX - 3)

/* Called in vcore context for each event of its type; see the top. */
typedef void (*pc_event_handler)(const struct pc_event *ev, void *arg);

/*
 * pc_event_handler_set() - run fn(ev, arg) for events of @type from now
 * on; NULL @fn removes the handler (events of the type are then counted as
 * unhandled and dropped). Works from any thread, in any mode.
 * Returns 0, or -EINVAL if @type is PC_EV_NONE or >= PC_EV_MAX.
 */
PC_EXPORT int pc_event_handler_set(unsigned int type, pc_event_handler fn,
				   void *arg);

/*
 * pc_event_route_set() - where pc_event_post() delivers events of @type:
 * to vcore @vcoreid, with delivery flags @flags (PC_EVF_*). The default
 * route of every type is vcore 0, PC_EVF_NOTIFY | PC_EVF_FALLBACK.
 * Works from any thread, in any mode.
 * Returns 0, or -EINVAL for a bad @type, a @vcoreid outside
 * 0..PC_VCORE_MAX-1, or an unknown flag.
 */
PC_EXPORT int pc_event_route_set(unsigned int type, int vcoreid,
				 unsigned int flags);

/*
 * pc_event_post() - deliver @ev along its type's route.
 * pc_event_send() - deliver @ev to vcore @vcoreid with @flags.
 * Both copy @ev (its flags field is ignored; src_vcore is set to the
 * caller's vcore). Work from any thread once the process is in multi-core
 * mode.
 * Return 0 (also when the ring was full and the event went to the bitmap);
 * -EINVAL for a NULL @ev, a bad type, vcore or flag; -EPERM before
 * multi-core mode; -ENXIO if the target is not online and
 * PC_EVF_FALLBACK is not set.
 */
PC_EXPORT int pc_event_post(const struct pc_event *ev);
PC_EXPORT int pc_event_send(int vcoreid, const struct pc_event *ev,
			    unsigned int flags);

/*
 * pc_alarm_set() - post PC_EV_ALARM along its route (pc_event_route_set())
 * once CLOCK_MONOTONIC reaches @deadline_ns (ns; a deadline already past
 * fires at once), with @arg in arg[0] and the deadline in arg[1]. The
 * arbiter's clock posts it, a thread of its own, so the alarm fires
 * however busy the vcores are; it is handled at the target's next look
 * (at once with PC_EVF_NOTIFY in the route, the default). Works from any
 * thread in multi-core mode.
 * Returns an id >= 0 for pc_alarm_cancel(); -EINVAL for a zero deadline;
 * -EPERM before multi-core mode; -ENOSPC if 256 alarms are pending;
 * -EAGAIN if the clock's thread cannot be started.
 */
PC_EXPORT int pc_alarm_set(uint64_t deadline_ns, uint64_t arg);

/*
 * pc_alarm_cancel() - cancel the pending alarm @id.
 * Returns 0; -ENOENT if it already fired or was cancelled; -EINVAL for a
 * negative @id.
 */
PC_EXPORT int pc_alarm_cancel(int id);

/* Counters of one vcore's mailbox and notifications (pc_event_stats()). */
struct pc_event_stats {
	uint64_t posted;      /* events queued in its ring */
	uint64_t overflowed;  /* events that found the ring full (bit set) */
	uint64_t handled;     /* handler calls, messages and bits */
	uint64_t unhandled;   /* events of a type with no handler */
	uint64_t notifs_sent; /* notification signals sent to it */
	uint64_t notifs_taken;  /* signals that interrupted a uthread */
	uint64_t notifs_deferred; /* ... that found it inside parcore first */
	uint64_t notifs_masked;   /* ... that found notifications disabled */
};

/*
 * pc_event_stats() - read vcore @vcoreid's counters into @out. The
 * counters are updated without locks; a snapshot may be mid-update by a
 * few events. Works from any thread.
 * Returns 0, -EINVAL for a bad @vcoreid or NULL @out, -EPERM before
 * multi-core mode.
 */
PC_EXPORT int pc_event_stats(int vcoreid, struct pc_event_stats *out);

PC_END_DECLS

#endif /* PARCORE_EVENT_H */
