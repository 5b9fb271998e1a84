/*
 * shared.h - the layout of the memory a process shares with its arbiter
 * (DESIGN.md section 5; docs/design/shared-page.md).
 *
 * Two memfds, each mapped by both sides:
 *  - the process page (struct pc__proc_page): the process writes it; the
 *    arbiter reads every field as hostile input (once, bounds-checked, no
 *    pointer followed) and writes only the words the protocol gives it
 *    (mailbox slots, notif_pending, counters);
 *  - the arbiter page (struct pc__arb_page): only the arbiter writes it;
 *    the process maps it read-only after the arbiter sealed it with
 *    F_SEAL_FUTURE_WRITE, so no new writable mapping can be made.
 * The embedded arbiter (a part of this library) uses the same layout and
 * protocol as the daemon will, through its own writable mapping.
 *
 * No pointers are stored in either page: only indices and values.
 */
#ifndef PARCORE_SHARED_H
#define PARCORE_SHARED_H

#include <parcore/event.h>
#include <parcore/vcore.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

#define PC_SHARED_MAGIC 0x70637368u /* "pcsh" */
#define PC_SHARED_VERSION 2u /* 2: mailbox slots line-aligned */

/* Mailbox ring slots per vcore: a power of two. */
#define PC_MBOX_SLOTS 64u

/*
 * A vcore's mailbox: many producers, one consumer (the vcore). The
 * producers' ticket counter is in the vcpd's first cache line (below).
 */
struct pc__mbox {
	_Alignas(64) _Atomic uint32_t head; /* next consumer ticket */
	_Atomic uint64_t bits[PC_EV_WORDS]; /* types posted bit-only/overflowed */
	/* A line holds two slots, never one and a half (a poll reads one). */
	_Alignas(64) struct pc__mslot slot[PC_MBOX_SLOTS];
};

/*
 * Per-vcore words the process writes (the VCPD of seed 003), on three
 * cache lines by who writes them: the line an idle vcore polls (its
 * notif_pending), written once per post; the posters' line, which a
 * single poster keeps in its cache from post to post; the vcore's own.
 * Measured: the posters' words on the polled line made a post to a
 * polling vcore 30% slower (the poller keeps taking the line back
 * between the poster's writes); the counters on one shared line, too.
 */
struct pc__vcpd {
	_Alignas(64) _Atomic uint32_t notif_disabled; /* vcore context */
	_Atomic uint32_t notif_pending;               /* PC_NP_*, or 0 */
	_Atomic uint32_t defer; /* critical sections open (revoke.c) */
	_Alignas(64) _Atomic uint32_t mbox_tail;      /* next producer ticket */
	struct { /* posters' half of struct pc_event_stats */
		_Atomic uint64_t posted, overflowed, notifs_sent;
	} pstat;
	_Alignas(64) struct { /* the vcore's half */
		_Atomic uint64_t handled, unhandled, notifs_taken,
			notifs_deferred, notifs_masked;
	} stat;
	struct pc__mbox mbox;
};

/* notif_pending bits (notify.c: pc__notify()). */
#define PC_NP_POSTED 0x1u   /* posted since the vcore last looked */
#define PC_NP_SIGNALED 0x2u /* ...and a notification signal was sent */

/* Per event type: where pc_event_post() delivers it. */
struct pc__route {
	_Atomic int32_t vcoreid;
	_Atomic uint32_t flags; /* PC_EVF_* */
};

struct pc__proc_page {
	uint32_t magic;
	uint32_t version;
	_Atomic int32_t amt_wanted; /* vcores the process wants */
	_Atomic int32_t amt_min;    /* vcores it cannot work without */
	struct pc__route route[PC_EV_MAX];
	struct pc__vcpd vcpd[PC_VCORE_MAX];
};

/* Per-vcore words only the arbiter writes. */
#define PC_VCA_ONLINE 0x1u    /* granted: a core runs this vcore */
#define PC_VCA_PREEMPTED 0x2u /* taken: its thread is stopped */
#define PC_VCA_EXTENDED 0x4u  /* this preemption's extension is used */

struct pc__vcore_arb {
	_Atomic uint32_t flags; /* PC_VCA_* */
	_Atomic int32_t cpu;    /* the CPU granted, or -1 */
	_Atomic uint64_t preempt_pending; /* deadline in ns, 0: none */
	_Atomic uint64_t nr_preempts_sent, nr_preempts_done;
	_Atomic uint64_t nr_forces; /* notified again past the deadline */
	_Atomic uint64_t nr_extensions; /* deadlines extended for a section */
};

/* Process states of DESIGN.md section 3 (the arbiter's view). */
enum pc__proc_state {
	PC_PROC_RUNNING_S,
	PC_PROC_RUNNING_M,
	PC_PROC_WAITING,
};

struct pc__arb_page {
	uint32_t magic;
	uint32_t version;
	_Atomic uint32_t state;     /* enum pc__proc_state */
	_Atomic int32_t nr_granted; /* vcores online */
	_Atomic int32_t amt_wanted; /* the last request the arbiter accepted */
	_Atomic int32_t amt_min;
	_Atomic uint64_t nr_refused; /* hostile or bad writes refused */
	struct pc__vcore_arb vc[PC_VCORE_MAX];
};

/* The two pages, mapped at start-up (shared.c). */
struct pc__shared {
	struct pc__proc_page *proc;      /* process view, read-write */
	const struct pc__arb_page *arb;  /* process view, read-only */
	/* The embedded arbiter's own views (a daemon has its own). */
	struct pc__proc_page *arb_proc;
	struct pc__arb_page *arb_rw;
	int proc_fd, arb_fd;
};

extern struct pc__shared pc__sh;

/* Creates, maps and seals both pages. Once; 0 or -errno. */
int pc__shared_init(void);
/* Readies vcore @id's words before the vcore first runs. */
void pc__vcpd_init(int id);

/* The mailbox (mbox.c). */
bool pc__mbox_post(struct pc__vcpd *v, const struct pc_event *ev,
		   bool bit_only);
bool pc__mbox_take(struct pc__vcpd *v, struct pc_event *out);
uint64_t pc__mbox_take_bits(struct pc__vcpd *v, unsigned int word);

/*
 * Whether the next message is in the ring already: what an idle vcore
 * polls besides notif_pending. The poster publishes the slot before it
 * sets notif_pending, so this sees a post one line transfer sooner.
 * Vcore context of the mailbox's vcore.
 */
static inline bool pc__mbox_ready(struct pc__vcpd *v)
{
	return pc__ring_ready(v->mbox.slot, PC_MBOX_SLOTS, &v->mbox.head);
}

/*
 * Whether anything was posted to @v since its vcore last looked: a message
 * in the ring (published before notif_pending is set), or the flag.
 */
static inline bool pc__events_maybe(struct pc__vcpd *v)
{
	return pc__mbox_ready(v) ||
	       atomic_load_explicit(&v->notif_pending, memory_order_relaxed);
}

static inline struct pc__vcpd *pc__vcpd(int vcoreid)
{
	return &pc__sh.proc->vcpd[vcoreid];
}

#endif /* PARCORE_SHARED_H */
