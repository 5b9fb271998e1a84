/*
 * internal.h - the one cross-file internal header of libparcore.
 *
 * Naming: pc__ for internal functions that are not static; a _nopreempt or
 * _locked suffix states a precondition (see STYLE.md).
 *
 * The pieces and who owns what:
 *   context.c   switching between uthreads and vcore context; errno and
 *               sanitizer bookkeeping that travels with each switch
 *   stack.c     uthread stacks and TCBs: mmap, guard, per-vcore cache,
 *               overflow report
 *   uthread.c   the thread API: create, exit, join, detach, yield, park,
 *               switch
 *   key.c       uthread-local keys
 *   timer.c     per-vcore sleep queues
 *   vcore.c     vcore threads, the vcore loop, idle and wake-up
 *   spinlock.c  the runtime's spinlocks: waiting for a holder not running
 *   arbiter.c   the embedded arbiter: amt_wanted, the pool, grants
 *   state.c     the process's state: single-core mode again, WAITING
 *   revoke.c    preemption and core yields
 *   clock.c     the arbiter's clock thread; alarm.c, the alarms it posts
 *   shared.c    the pages shared with the arbiter (shared.h)
 *   notify.c    notifications: the signal, its handler, re-entry
 *   safepoint.c where an interrupted uthread may change vcores
 *   event.c     events: handlers, routes, posting, handling
 *   mbox.c      a vcore's mailbox; ring.c, the ring under it (ring.h)
 *   evq.c       the application's event queues
 *   sched_default.c  the default 2LS; autoscale.c, its core estimate
 *   waiter.c    FIFO waiters and the hand-off under every blocking
 *               primitive: mutex.c, cond.c, sem.c
 */
#ifndef PARCORE_INTERNAL_H
#define PARCORE_INTERNAL_H

#include <parcore/parcore.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/sys.h"
#include "arch/arch.h"

struct pc__vcore;

#define PC_CACHELINE 64
#define PC_PAGE 4096u

#define PC_LIKELY(x) __builtin_expect(!!(x), 1)
#define PC_UNLIKELY(x) __builtin_expect(!!(x), 0)
/*
 * For a static function on a blocking hand-off's path that has more than
 * one caller, which the compiler would leave out of line: each frame on
 * that path costs about half a nanosecond (docs/design/sync.md, "On a
 * Xeon (session 17)").
 */
#define PC_INLINE_HOT inline __attribute__((always_inline))

/* A broken internal invariant: report and abort, never return an error. */
#define PC_ASSERT(cond)                                                   \
	do {                                                              \
		if (PC_UNLIKELY(!(cond)))                                 \
			pc__panic(__FILE__, __LINE__, #cond);             \
	} while (0)

__attribute__((noreturn)) void pc__panic(const char *file, int line,
					 const char *what);

#if defined(__SANITIZE_ADDRESS__)
#define PC_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define PC_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define PC_TSAN 1
#endif
#endif

/* Not instrumented by TSan (for code that switches TSan fibers). */
#if PC_TSAN
#define PC_NO_TSAN __attribute__((no_sanitize_thread, noinline))
#else
#define PC_NO_TSAN
#endif

static inline void pc__cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/*
 * One look of a wait for a store by a thread that may share this CPU
 * (oversubscription): a pause, and at every 64th look the CPU given up.
 */
static inline void pc__spin_pause(unsigned int looks)
{
	if (looks % 64 == 0)
		sched_yield();
	else
		pc__cpu_relax();
}

/*
 * Spinlock for short runtime-internal critical sections (run queues, sleep
 * queues). Test-and-test-and-set. Holders never block or switch while
 * holding one. The word says who holds it: the CPU of the holder's vcore
 * plus one, or PC_SPIN_ANON for a thread that is not a vcore (0: free).
 * A waiter whose vcore shares the holder's CPU knows the holder is not
 * running, and gives the CPU to it (spinlock.c).
 */
struct pc__spinlock {
	atomic_int locked;
};
#define PC_SPINLOCK_INIT { 0 }
#define PC_SPIN_ANON INT32_MAX

/* nopreempt sections (notify.c); defined after struct pc__vcore. */
static inline void pc__nopreempt_enter(void);
static inline void pc__nopreempt_exit(void);
/* What the caller leaves in a lock it takes; after struct pc__vcore. */
static inline int pc__spin_tag(void);
/* The wait of a contended pc__spin_lock() (spinlock.c). */
void pc__spin_wait(struct pc__spinlock *l, int tag);

/*
 * Runtime spinlocks are notification-safe (an "irqsave" lock, LESSONS
 * 3.23): held in a nopreempt section, so a notification never enters
 * vcore context on a vcore whose uthread holds one that vcore context
 * also takes.
 */
static inline bool pc__spin_take(struct pc__spinlock *l, int tag)
{
	int free = 0;

	return atomic_compare_exchange_weak_explicit(&l->locked, &free, tag,
						     memory_order_acquire,
						     memory_order_relaxed);
}

/*
 * The lock without the nopreempt section, for vcore context: its
 * notifications are masked already.
 */
static inline void pc__spin_lock_masked(struct pc__spinlock *l)
{
	int tag = pc__spin_tag();

	/*
	 * A CAS, not an exchange: a failed exchange would write this
	 * waiter's tag over the holder's. Acquire pairs with the release in
	 * pc__spin_unlock_masked().
	 */
	while (!pc__spin_take(l, tag))
		pc__spin_wait(l, tag);
}

static inline void pc__spin_unlock_masked(struct pc__spinlock *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

static inline void pc__spin_lock(struct pc__spinlock *l)
{
	pc__nopreempt_enter();
	pc__spin_lock_masked(l);
}

/* One try, without the nopreempt section (see pc__spin_lock_masked()). */
static inline bool pc__spin_trylock_masked(struct pc__spinlock *l)
{
	return !atomic_load_explicit(&l->locked, memory_order_relaxed) &&
	       pc__spin_take(l, pc__spin_tag());
}

static inline bool pc__spin_trylock(struct pc__spinlock *l)
{
	pc__nopreempt_enter();
	if (pc__spin_trylock_masked(l))
		return true;
	pc__nopreempt_exit();
	return false;
}

static inline void pc__spin_unlock(struct pc__spinlock *l)
{
	pc__spin_unlock_masked(l);
	pc__nopreempt_exit();
}

/* ---- stacks (stack.c) ---- */

struct pc__stack {
	char *map;       /* start of the mapping: guard page first */
	size_t map_size; /* whole mapping */
	size_t size;     /* usable bytes below the TCB */
	size_t size_class; /* the size asked for, in whole pages (<= size) */
};

/* ---- uthreads (uthread.c) ---- */

/*
 * Values of pc_thread.join: who will reclaim the thread. Any other value
 * is a pointer to the waiting joiner's struct pc__joiner.
 */
#define PC_JOIN_NONE ((uintptr_t)0)     /* running, joinable */
#define PC_JOIN_DETACHED ((uintptr_t)1) /* running, detached */
#define PC_JOIN_EXITED ((uintptr_t)2)   /* exited, waiting for a join */
#define PC_JOIN_DONE ((uintptr_t)3)     /* joined or freed */

/* Values of pc_thread.wait (uthread.c: pc__wait_while()). */
#define PC_WAIT_NONE 0u
#define PC_WAIT_BLOCKED 1u

/* Values of pc_thread.park. */
#define PC_PARK_NONE 0u   /* running or runnable, no wake-up pending */
#define PC_PARK_TOKEN 1u  /* a wake-up arrived before the park */
#define PC_PARK_PARKED 2u /* parked: the unparker must make it runnable */

struct pc_thread {
	struct pc__ctx ctx; /* saved stack pointer while not running; first */
	/*
	 * Bumped when the TCB is freed; tags handles. Read by anyone holding
	 * a handle, even a stale one, while the TCB may be reused: atomic,
	 * and never cleared by a reset (everything from `err` on is).
	 */
	_Atomic uint16_t gen;
	/* Where interrupts save its vector state (xarea.c); kept cached. */
	struct pc__xarea *xarea;
	/*
	 * Serializes marking a wait cancelled with consuming the request
	 * (waiter.c). Never reset: a vcore that blocked the uthread may
	 * still take it as the TCB is reused.
	 */
	struct pc__spinlock cancel_lock;
	/*
	 * The wait word's plain grant and the RMWs that race it (waiter.c's
	 * grant_plain(), pc__word_mark()): a granter in its window,
	 * and the markers (a timer, a cancellation) at work. Never reset
	 * either: a canceller may still be at work as the TCB is reused.
	 */
	atomic_int granting;
	atomic_int marking;
#if PC_TSAN
	/* Kept with the cached TCB: creating TSan fibers is slow. */
	void *tsan_fiber;
	unsigned int tsan_uses;
#endif
	int err;            /* errno while not running; reset from here on */
	unsigned int defer_depth; /* pc_vcore_defer_begin() sections open */
	/* Written by the vcore that runs it; a 2LS may read it any time. */
	atomic_int last_vcore;
	atomic_uint park;     /* PC_PARK_*: the user's park/unpark */
	atomic_uint wait;     /* PC_WAIT_*: waits inside the runtime */
	/* A sync wait's word (waiter.c): in the TCB, which outlives it. */
	atomic_uintptr_t granted;
	/*
	 * The vcore this uthread is suspended on as a coroutine (in
	 * pc_thread_switch()), else -1. Only that vcore's Linux thread
	 * changes it while it is >= 0: see pc_thread_switch().
	 */
	atomic_int co_vcore;
	atomic_uintptr_t join; /* PC_JOIN_* or a struct pc__joiner * */
	bool is_main;
	/* Its owner tag in sync.h's primitives if not itself (waiter.c). */
	void *sync_tag;
	pc_thread_fn fn;
	void *arg;
	void *retval;
	struct pc__stack stack;
	struct pc__keyval *keys; /* uthread-local values, lazily allocated */
	/* Sleep queue (timer.c): pairing-heap links and deadline. */
	uint64_t deadline;
	struct pc_thread *heap_child, *heap_next, *heap_prev;
	/* The sleep queue it is in, if in_heap (timer.c); under its lock. */
	_Atomic(struct pc__vcore *) timer_vc;
	bool in_heap;
	bool timed;          /* a timed sync wait, not a sleep (waiter.c) */
	/*
	 * Its last re-entry into vcore context by a notification was where
	 * it may not move to another vcore: the pop's recheck, re-entering
	 * with the same context, keeps to that (notify.c).
	 */
	bool pinned;
	uint32_t wait_gen;   /* sync waits begun: the high bits of granted */
	uint32_t timer_gen;  /* the wait_gen its timer is for */
	unsigned int preempt_off; /* pc_preempt_disable() sections open */
	atomic_int cancel_req; /* pc_sync_cancel() pending (waiter.c) */
	struct pc_thread *cache_next; /* free list of cached TCBs */
#if PC_ASAN
	void *asan_fake_stack;
	const void *asan_stack_lo;
	size_t asan_stack_size;
#endif
	char name[PC_THREAD_NAME_MAX];
	_Alignas(16) unsigned char sched_data[PC_SCHED_DATA_SIZE];
};

/*
 * Handles given to users carry the TCB's generation in their top 16 bits,
 * so a stale handle (a thread already joined, its TCB reused) is refused
 * rather than silently naming another thread. TCB memory is never
 * unmapped, so decoding a stale handle is always safe.
 */
#define PC_HANDLE_SHIFT 48
static inline struct pc_thread *pc__handle(struct pc_thread *t)
{
	uint16_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed);

	return (struct pc_thread *)((uintptr_t)t |
				    ((uintptr_t)gen << PC_HANDLE_SHIFT));
}

static inline struct pc_thread *pc__unhandle_raw(const struct pc_thread *h)
{
	return (struct pc_thread *)((uintptr_t)h &
				    (((uintptr_t)1 << PC_HANDLE_SHIFT) - 1));
}

/* The TCB named by handle @h, or NULL if @h is NULL or stale. */
struct pc_thread *pc__thread_from_handle(const struct pc_thread *h);

/* Runs @t's key destructors (key.c). Uthread context of @t. */
void pc__keys_run_dtors(struct pc_thread *t);
void pc__keys_free(struct pc_thread *t);

/*
 * Waits inside the runtime (uthread.c), a futex for uthreads: the calling
 * uthread @self blocks while *@word == @val, and may return spuriously;
 * its waker changes *@word (a seq_cst RMW) and then, if pc__wait_claim()
 * wins @t, makes it run (the 2LS's thread_runnable, or at once). Vcore
 * context reads *@word once more after @self may already run elsewhere:
 * if *@word can be freed once @self returns, the caller adds 1 to *@hold
 * first and frees only at 0 (the read drops it); else @hold is NULL.
 */
void pc__wait_while(struct pc_thread *self, atomic_uintptr_t *word,
		    uintptr_t val, atomic_int *hold);
bool pc__wait_claim(struct pc_thread *t);

/* Makes the calling Linux thread's context a uthread (_S -> _M). */
struct pc_thread *pc__thread_adopt_main(void);

/* ---- context switching (context.c) ---- */

/*
 * A function run in vcore context right after a uthread left the vcore:
 * @t is the uthread (its context completely saved), @arg is what the
 * leaving code passed. It ends by calling pc__vcore_loop() (never returns).
 */
typedef void (*pc__vcore_cb)(struct pc_thread *t, void *arg);

/* Resumes @t on the calling vcore. Vcore context. */
__attribute__((noreturn)) void pc__thread_run(struct pc_thread *t);
/*
 * Race: a fast yield queues its uthread before the switch has saved it
 * (pc__vcore_yield_target()), and a fast block publishes its uthread
 * blocked (waiter.c), which a waker may then queue; another vcore may
 * steal it, or take it from its own queue, at once. The save's last
 * store is the stack pointer (a release on aarch64), so once it is there
 * everything is: who resumes a uthread from a queue waits for it. The
 * window is a few instructions in a nopreempt section, unless Linux
 * deschedules the uthread's thread in it: then the CPU is given up, as
 * for a spinlock's holder.
 */
void pc__thread_wait_saved_slow(struct pc_thread *t);
static inline void pc__thread_wait_saved(struct pc_thread *t)
{
	if (PC_UNLIKELY(!__atomic_load_n(&t->ctx.sp, __ATOMIC_ACQUIRE)))
		pc__thread_wait_saved_slow(t);
}

/* Prepares @t's saved context to start the uthread's entry function. */
void pc__thread_ctx_init(struct pc_thread *t);
void pc__thread_ctx_adopt(struct pc_thread *t);

/* Moves the calling thread onto @vc's transition stack, into its loop. */
__attribute__((noreturn)) void pc__ctx_vcore_start(struct pc__vcore *vc);

/* ---- vcores (vcore.c) ---- */

/*
 * A vcore's transition stack, where vcore context runs; and its alternate
 * signal stack, where the early look (notify.c) runs event handlers too:
 * as much room for them, plus the kernel's signal frame (11 KiB with
 * AMX's state) and the signal handler's own.
 */
#if PC_ASAN || PC_TSAN
#define PC_TSTACK_SIZE (512u * 1024u) /* sanitizers' frames are large */
#else
#define PC_TSTACK_SIZE (64u * 1024u)
#endif
#define PC_ALTSTACK_SIZE (PC_TSTACK_SIZE + 32u * 1024u)

enum pc__vcore_idle {
	PC_VC_BUSY,
	PC_VC_SPINNING,
	PC_VC_PARKED,
};

struct pc__vcore {
	int id;
	int cpu;
	struct pc_thread *current; /* the uthread running here, or NULL */
	struct pc__irq irq;        /* notify.c; this thread only */
	/*
	 * The mutex whose queue a uthread here holds by its bias, or NULL
	 * (mutex.c): written by this thread only, read by a revoker.
	 */
	_Atomic(void *) bias_hold;
	/* A notified uthread, resumed first by the next loop pass. */
	struct pc_thread *resume;
	bool resume_movable; /* it stopped where it may change vcores */
	bool intr_movable;   /* the handler's verdict (safepoint.c) */
	/* Left behind by a preemption, for whoever claims it first. */
	_Atomic(struct pc_thread *) stranded;
	struct pc__vcpd *vcpd;     /* its words in the shared page */
	const struct pc__vcore_arb *arb; /* and in the arbiter's part */
	atomic_int tid;            /* the Linux thread, for tgkill */
	int *errno_loc;            /* this Linux thread's errno */
	char *tstack_map;          /* transition stack mapping */
	size_t tstack_size;
	void *tstack_hi;
	/*
	 * The lowest byte of parcore's alternate signal stack on this
	 * thread (PC_ALTSTACK_SIZE, a guard below), or NULL if the thread
	 * kept one of the program's (stack.c).
	 */
	char *alt_lo;
	pthread_t pthread;
	/* What a leaving uthread asked vcore context to do (context.c). */
	pc__vcore_cb leave_cb;
	void *leave_arg;
	atomic_bool online;       /* granted (and not leaving) */
	unsigned int timer_pass; /* loop passes since the last clock read */
	/* Ticks (tick.c): runs of a uthread other than the last one run. */
	atomic_uint nr_runs;
	struct pc_thread *last_run;
	/*
	 * This thread's pc_pause_pending: set by the thread itself, after
	 * the vcore is published (NULL until then).
	 */
	_Atomic(int *) pause_flag;
	atomic_int tick_due;      /* the ticker wants the uthread out */
	struct {
		atomic_uint_fast64_t ticks, signals, preemptions, deferred,
			restarts, areas;
	} tstat;
	/* The next uthread without a save area gets this one (xarea.c). */
	struct pc__xarea *xarea_spare;
	/* Stack cache (stack.c): only this vcore touches it. */
	struct pc_thread *stack_cache;
	int stack_cache_len;
#if PC_TSAN
	void *tsan_fiber;          /* vcore context's (context.c) */
	unsigned int tsan_entries; /* into vcore context on that fiber */
#endif
	uint32_t rand_state;
	/*
	 * Lines other vcores read: nothing this vcore writes at every
	 * switch may sit on them. With timer_pass beside next_deadline,
	 * which idle vcores read as they spin, each loop pass here was a
	 * cache miss, and a mutex handed between uthreads of one vcore
	 * cost 200 ns per acquisition instead of 30 with a second vcore idle.
	 */
	_Alignas(PC_CACHELINE) atomic_uint wake; /* futex word for parking */
	atomic_int idle;          /* enum pc__vcore_idle */
	/* Sleep queue (timer.c). */
	_Alignas(PC_CACHELINE) struct pc__spinlock timer_lock;
	struct pc_thread *timer_root;
	atomic_uint_fast64_t next_deadline; /* UINT64_MAX: none */
} __attribute__((aligned(PC_CACHELINE)));

struct pc__runtime {
	atomic_int mode; /* enum pc__mode */
	const struct pc_sched_ops *ops;
	pthread_mutex_t grant_lock;
	atomic_int limit;         /* the pool; written under grant_lock */
	atomic_int amt_wanted;
	atomic_bool surplus;      /* hint: more vcores than the target */
	atomic_int revoked;       /* cores the arbiter took back (revoke.c) */
	atomic_int nr_preempting; /* vcores warned, not yet gone */
	atomic_int nr_vcores;     /* granted */
	int ncpus;
	int cpus[PC_VCORE_MAX];   /* CPUs of the affinity mask */
	/* Published once each, when the vcore's thread exists. */
	_Atomic(struct pc__vcore *) vcores[PC_VCORE_MAX];
	atomic_int max_vcoreid;   /* highest id ever granted, plus one */
	/* On a line of its own: idle vcores write it, posters never. */
	_Alignas(PC_CACHELINE) atomic_int nr_spinning;
	/* Spinlock waits that gave the CPU to a holder on it (spinlock.c). */
	atomic_uint_fast64_t nr_spin_handoffs;
	/* A parked vcore looks for work this often anyway (0: never). */
	atomic_uint_fast64_t idle_poll_ns;
	/* state.c; written under grant_lock, -1: none. */
	atomic_int waiting; /* the vcore the WAITING process sleeps on */
	atomic_int single;  /* the vcore of single-core mode */
};

enum pc__mode {
	PC_MODE_S,        /* single-core: no vcores, no uthreads */
	PC_MODE_ENTERING, /* the first request is being set up */
	PC_MODE_M,        /* multi-core: vcores and uthreads exist */
};

extern struct pc__runtime pc__rt;

/*
 * The vcore of the calling Linux thread, or NULL if it is not one. It must
 * be read afresh after every switch (a uthread can resume on another Linux
 * thread). On x86-64 a TLS read is one %fs-relative load that the compiler
 * cannot cache across calls; elsewhere it goes through an opaque function
 * (aarch64 compilers cache tpidr_el0 within a function).
 */
#if defined(__x86_64__)
extern __thread struct pc__vcore *pc__tls_vcore
	__attribute__((tls_model("initial-exec")));
static inline struct pc__vcore *pc__vcore_self(void)
{
	return pc__tls_vcore;
}
#else
struct pc__vcore *pc__vcore_self(void);
#endif

static inline void pc__nopreempt_enter(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	if (vc) {
		vc->irq.nopreempt++;
		atomic_signal_fence(memory_order_seq_cst);
	}
}

void pc__notify_deferred(void);

/*
 * Leaving the outermost section takes a notification the signal handler
 * deferred (docs/design/notifications.md). The vcore is the one entered
 * on: nothing switches inside a section.
 */
static inline int pc__spin_tag(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	return vc ? vc->cpu + 1 : PC_SPIN_ANON;
}

static inline void pc__nopreempt_exit(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	if (!vc)
		return;
	atomic_signal_fence(memory_order_seq_cst);
	if (--vc->irq.nopreempt == 0) {
		atomic_signal_fence(memory_order_seq_cst);
		if (PC_UNLIKELY(vc->irq.deferred))
			pc__notify_deferred();
	}
}

/* ---- notifications and events (notify.c, event.c) ---- */

/*
 * The asymmetric fence (liburcu's; LESSONS): once membarrier() is
 * registered (x86-64 only), a fast side that stores a flag and then
 * loads another's needs only a compiler barrier between the two, if the
 * slow side stores its own, calls pc__asym_fence(), which makes every
 * running thread of the process pass a full barrier, and then loads the
 * fast side's: one of the two loads sees the other's store. Set up with
 * the notifications, before the first vcore runs; read by the pop too
 * (pc__pop_fence, switch.S).
 */
extern int pc__pop_fence;
static inline bool pc__asym_fence_ok(void)
{
	/* Atomic: a plain thread may read it while it is set up. */
	return !__atomic_load_n(&pc__pop_fence, __ATOMIC_RELAXED);
}
void pc__asym_fence(void);

/* An event handler and its argument, read consistently (event.c). */
struct pc__handler {
	atomic_uint seq;
	_Atomic(pc_event_handler) fn;
	_Atomic(void *) arg;
};
void pc__handler_set(struct pc__handler *h, struct pc__spinlock *lock,
		     pc_event_handler fn, void *arg);
pc_event_handler pc__handler_get(struct pc__handler *h, void **arg);
/*
 * Posts @type (CORE_GRANTED, CORE_REVOKED) naming vcore @vcoreid along
 * its route, if a handler is set for it (event.c). Any thread.
 */
void pc__event_announce(unsigned int type, int vcoreid);
/* Runs the handler of the event queue @ev names (evq.c). Vcore context. */
void pc__evq_ready(const struct pc_event *ev);

/* Save areas (xarea.c): a vcore's spare; an interrupt's area or NULL. */
void pc__xarea_refill(struct pc__vcore *vc);
struct pc__xarea *pc__xarea_take(struct pc__vcore *vc, struct pc_thread *t);

/* Installs the signal handler and probes XSAVE. Once; 0 or -errno. */
int pc__notify_init(void);
/*
 * Take the calling uthread into vcore context as the vcore's resume
 * uthread; return 0 when it runs again. Called by pc__notify_entry
 * (interrupted) and pc__ctx_pop (reenter), notify.c.
 */
int pc__notify_interrupted(void);
int pc__notify_reenter(const void *popped_sp);
/* Safe points (safepoint.c): collect the ranges once; check a pc. */
void pc__safepoint_init(void);
bool pc__safepoint_at(uintptr_t pc);
/*
 * Tells vcore @id that something was posted to it: sets notif_pending and,
 * with @interrupt, signals it if it runs a uthread; else wakes it if it
 * idles or is offline (so it forwards its mailbox). Any thread.
 */
void pc__notify(int id, bool interrupt);
/*
 * Marks @vc granted or not (vcore.c), telling the process with
 * CORE_GRANTED or CORE_REVOKED if @announce. grant_lock held.
 */
void pc__vcore_set_online(struct pc__vcore *vc, bool online, bool announce);
/* Wakes @vc if it is parked, idle or offline (vcore.c). Any thread. */
void pc__vcore_kick(struct pc__vcore *vc);
/* Offline @vc hands its mailbox to an online vcore (event.c). */
void pc__events_forward(struct pc__vcore *vc);
/* Handles every event posted to @vc. Vcore context. */
void pc__events_handle(struct pc__vcore *vc);
/* Sets up vcore @vc's thread for notifications (its own thread). */
void pc__notify_thread_init(struct pc__vcore *vc);

/* 2LS calls from uthread context are made in a nopreempt section. */
static inline void pc__sched_runnable(struct pc_thread *h)
{
	pc__nopreempt_enter();
	pc__rt.ops->thread_runnable(h);
	pc__nopreempt_exit();
}

/* The uthread running on the calling Linux thread, or NULL. */
static inline struct pc_thread *pc__thread_current(void)
{
	struct pc__vcore *vc = pc__vcore_self();

	return vc ? vc->current : NULL;
}

/* ---- switching (context.c), after struct pc__vcore ---- */

/* Sanitizer halves of the switches below (context.c); no-ops otherwise. */
void pc__sanitize_leave(struct pc__vcore *vc, struct pc_thread *t);
void pc__sanitize_switch(struct pc_thread *from, struct pc_thread *to);
void pc__resumed(void);
void pc__sanitize_settle(void);
void pc__leave_trampoline(void *from, void *vc);

/* A leave's bookkeeping once nopreempt is raised and errno saved. */
static inline void pc__leave_arm(struct pc__vcore *vc, struct pc_thread *t,
				 pc__vcore_cb cb, void *arg)
{
	vc->leave_cb = cb;
	vc->leave_arg = arg;
#if PC_ASAN || PC_TSAN
	pc__sanitize_leave(vc, t);
#else
	(void)t;
#endif
}

/* Everything a leave does before the registers are saved. */
static inline struct pc__vcore *pc__leave_prepare(struct pc_thread *t,
						  pc__vcore_cb cb, void *arg)
{
	struct pc__vcore *vc = pc__vcore_self();

	/* Until vcore context disables notifications (notifications.md). */
	vc->irq.nopreempt = 1;
	atomic_signal_fence(memory_order_seq_cst);
	t->err = *vc->errno_loc;
	pc__leave_arm(vc, t, cb, arg);
	return vc;
}

/*
 * A direct switch's bookkeeping once @from's errno is saved: @to takes
 * the vcore.
 */
static inline void pc__switch_enter(struct pc__vcore *vc,
				    struct pc_thread *from,
				    struct pc_thread *to)
{
	*vc->errno_loc = to->err;
	vc->current = to;
	atomic_store_explicit(&to->last_vcore, vc->id, memory_order_relaxed);
#if PC_ASAN || PC_TSAN
	pc__sanitize_switch(from, to);
#endif
	(void)from;
}

/*
 * The end of pc__thread_leave(), for a uthread whose nopreempt is raised
 * to 1, whose errno is saved and whose leave is armed (pc__leave_arm()):
 * a fast block that published itself, then found the hand-off slot
 * emptied (waiter.c), must not save its errno again, since a waker may
 * already read it. Tail position only.
 */
static inline int pc__thread_leave_raised(struct pc__vcore *vc,
					  struct pc_thread *t)
{
#if PC_ASAN
	pc__ctx_save_call(&t->ctx, vc->tstack_hi, pc__leave_trampoline, vc);
	pc__resumed();
	return 0;
#else
	return pc__ctx_save_call_tail(&t->ctx, vc->tstack_hi,
				      pc__leave_trampoline, vc);
#endif
}

/*
 * pc__thread_leave() - leave the calling uthread @t for vcore context and
 * run cb(t, arg) there. Returns 0 when @t is resumed, possibly on another
 * vcore. Uthread context of @t. A public call that switches uses it as
 * `return pc__thread_leave()`: that compiles to a tail call into the
 * switch, so no C frame sits between its caller and the switch (arch.h).
 */
static inline int pc__thread_leave(struct pc_thread *t, pc__vcore_cb cb,
				   void *arg)
{
	struct pc__vcore *vc = pc__leave_prepare(t, cb, arg);

	return pc__thread_leave_raised(vc, t);
}

/*
 * Like pc__thread_leave() for a uthread whose context is saved already
 * (in @t->ctx) and whose stack holds nothing above it that it needs:
 * never returns; @t resumes from that context.
 */
__attribute__((noreturn)) PC_NO_TSAN void
pc__thread_leave_unsaved(struct pc_thread *t, pc__vcore_cb cb, void *arg);

/* Like pc__thread_leave() for a uthread that never resumes (exit). */
__attribute__((noreturn)) void pc__thread_leave_forever(struct pc_thread *t,
							pc__vcore_cb cb);

/*
 * Yields that skip vcore context when the loop would only swap the
 * yielder for the queue's head (pc_thread_yield()). 0: never, to compare.
 */
#ifndef PC_FAST_YIELD
#define PC_FAST_YIELD 1
#endif
/* The same for a block's hand-off (waiter.c). 0: never, to compare. */
#ifndef PC_FAST_BLOCK
#define PC_FAST_BLOCK 1
#endif
/* Blocks published under the primitive's lock (waiter.c). 0: never. */
#ifndef PC_COMMIT_BLOCK
#define PC_COMMIT_BLOCK 1
#endif

/*
 * pc__thread_switch_raised() - switch from the calling uthread @from to
 * suspended uthread @to on this vcore; the caller raised nopreempt by one
 * (the switch lowers it as @to) and saved @from's errno. Returns 0 when
 * @from is resumed. Tail position only, as pc__thread_leave().
 */
static inline int pc__thread_switch_raised(struct pc__vcore *vc,
					   struct pc_thread *from,
					   struct pc_thread *to)
{
	pc__switch_enter(vc, from, to);
#if PC_ASAN
	pc__ctx_switch_irq(&from->ctx, &to->ctx, NULL, &vc->irq);
	pc__resumed();
	return 0;
#else
	return pc__ctx_switch_irq_tail(&from->ctx, &to->ctx, NULL, &vc->irq);
#endif
}

/* Vcore @id, or NULL if it was never granted. Any context. */
static inline struct pc__vcore *pc__vcore_get(int id)
{
	return atomic_load_explicit(&pc__rt.vcores[id], memory_order_acquire);
}

/* The vcore loop: never returns. Vcore context. */
__attribute__((noreturn)) void pc__vcore_loop(struct pc__vcore *vc);
/*
 * What vcore @vc counts as it starts a run of @t (ticks.md): a pick of
 * the loop's (pc__thread_run()) or of a fast yield or block.
 */
void pc__vcore_run_begin(struct pc__vcore *vc, struct pc_thread *t);
/*
 * A yield of @t, running on @vc, without the loop (a fast yield): if the
 * loop has nothing else to do and the 2LS would just swap @t for another,
 * queues @t (with its context marked unsaved) and returns the one to
 * switch to, counted as the loop's run would; else NULL, nothing done.
 * Uthread context, in a nopreempt section of depth 1, @t's errno saved.
 */
struct pc_thread *pc__vcore_yield_target(struct pc__vcore *vc,
					 struct pc_thread *t);
/*
 * A block without the loop (waiter.c's fast block): whether the loop's
 * pass on @vc would do nothing but take the 2LS's hand-off slot.
 */
bool pc__vcore_block_ready(struct pc__vcore *vc);
/*
 * How pc__vcore_block_leave() picks: the hand-off slot, as the fast
 * block does once pc__vcore_block_ready() said yes and the block is
 * published (PICK); the same with that check made first, for a block
 * published already, a committed wait's (TAKE); or nothing (LOOP).
 */
enum pc__block_how { PC_BLOCK_PICK, PC_BLOCK_TAKE, PC_BLOCK_LOOP };
/*
 * The leave of uthread @t, published blocked, with errno saved and in a
 * nopreempt section of depth 1: straight to the uthread of the 2LS's
 * hand-off slot, picked as @how says and counted as the loop's run would
 * be; or, with no pick (a stealer emptied the slot, or the loop has more
 * to do), through the loop. The pick may be @t itself, made runnable
 * since it was published (a timer, a plain thread's grant): it runs on.
 * Returns 0 when @t runs again. Tail position only, as
 * pc__thread_leave().
 */
int pc__vcore_block_leave(struct pc__vcore *vc, struct pc_thread *t,
			  enum pc__block_how how);

/* Makes the calling thread vcore 0 and enters _M (arbiter.c calls it). */
int pc__vcore_start_first(void);
/*
 * Grants vcore @id: starts or wakes its Linux thread; @announce as
 * pc__vcore_set_online(). grant_lock held.
 */
int pc__vcore_grant_locked(int id, bool announce);
/* Picks the CPU for vcore @id. */
int pc__vcore_cpu_for(int id);
/* Installs the overflow-reporting SIGSEGV handler (once; stack.c). */
void pc__stack_overflow_init(void);
/*
 * Gives the calling thread, vcore @vc's, parcore's alternate signal stack
 * unless it has one of the program's; sets vc->alt_lo (stack.c).
 */
int pc__altstack_init(struct pc__vcore *vc);

/* ---- arbiter (arbiter.c) ---- */

/*
 * grant_lock, from any context, in a nopreempt section: a notification
 * never enters vcore context, whose event handlers may take it too
 * (pc_alarm_set() from an alarm's handler), on a vcore whose uthread
 * holds it; and a uthread that notifies its own vcore while it holds it
 * (pc_vcore_preempt() of its own) takes the notification after.
 */
static inline void pc__grant_lock(void)
{
	pc__nopreempt_enter();
	pthread_mutex_lock(&pc__rt.grant_lock);
}

static inline void pc__grant_unlock(void)
{
	pthread_mutex_unlock(&pc__rt.grant_lock);
	pc__nopreempt_exit();
}

/* grant_lock held: grant up to the target; recompute the surplus hint;
 * take @vc offline and hand its work off (arbiter.c). */
int pc__arbiter_grant_locked(void);
void pc__arbiter_surplus_update_locked(void);
void pc__arbiter_release_locked(struct pc__vcore *vc);
/*
 * The arbiter's clock (clock.c): start its thread once; wake it to look
 * again (something comes due sooner). What it runs, each returning the
 * next time it is needed (UINT64_MAX: none): forcing past preemption
 * deadlines (revoke.c) and alarms (alarm.c). All under grant_lock.
 */
int pc__clock_start_locked(void);
void pc__clock_kick_locked(void);
uint64_t pc__preempt_force_due_locked(uint64_t now);
uint64_t pc__alarms_due_locked(uint64_t now);
/* A preemption of @vc is past its deadline (revoke.c). */
bool pc__preempt_due(struct pc__vcore *vc);
/*
 * Completes a pending preemption of @vc (revoke.c), leaving @t (NULL:
 * none; else movable) for another vcore to claim; returns, once @vc is
 * granted again, what is left in its slot (@t if nobody claimed it), or
 * @t at once if no preemption is pending. Vcore context of @vc.
 */
struct pc_thread *pc__preempt_strand(struct pc__vcore *vc,
				     struct pc_thread *t);
/* Claims the uthread preempted vcore @id (-1: any) left (vcore context). */
void pc__preempt_recover(int id);
/* Offline @vc waits until granted again (vcore.c). Vcore context. */
void pc__vcore_wait_offline(struct pc__vcore *vc);
/* Reads and checks the process's request from its page (hostile). */
int pc__arbiter_read_request_locked(void);
/* How many vcores the arbiter wants granted right now. */
int pc__arbiter_target(void);
/* True if the process holds more vcores than the target (a hint). */
static inline bool pc__arbiter_surplus(void)
{
	return atomic_load_explicit(&pc__rt.surplus, memory_order_relaxed);
}
/*
 * If the process holds more vcores than the target, take @vc offline and
 * hand its work to the others (pc__vcore_hand_off_locked()), and return
 * true: the caller then gives the core back. Vcore context of @vc; the
 * only place a vcore goes offline.
 */
bool pc__arbiter_should_leave(struct pc__vcore *vc);
/* Moves @vc's queued and sleeping uthreads to online vcores. grant_lock. */
void pc__vcore_hand_off_locked(struct pc__vcore *vc);
/*
 * Sets amt_wanted to @n >= 1 through the process page and grants up to
 * it; with @by_2ls (the default 2LS's estimate), ignored in single-core
 * mode. Returns the vcores granted or -errno, as pc_vcore_request().
 */
int pc__arbiter_want(int n, bool by_2ls);

/* ---- the process's state (state.c; docs/design/process-states.md) ---- */

void pc__state_set_locked(uint32_t state);
/* A request of 0: single-core mode on the caller's vcore. */
int pc__state_single(void);
/* A request of 1 or more in single-core mode ends it. grant_lock held. */
void pc__state_multi_locked(void);
/*
 * Parked, idle @vc: if it is the last vcore and none is wanted, it goes
 * offline and the process is WAITING; returns true then. The caller looks
 * for work once more, sleeps, and calls pc__state_wait_end() when woken.
 */
bool pc__state_wait_begin(struct pc__vcore *vc);
void pc__state_wait_end(struct pc__vcore *vc);
/* The waiting vcore comes back, if there is one. grant_lock held. */
int pc__state_wake_locked(void);

/*
 * Wakes one parked vcore that may give its core back (vcore.c): a chain
 * of them leaves after a lowered request, each waking the next.
 */
void pc__vcore_wake_surplus(void);
/* Vcores spinning or parked for want of work right now (vcore.c). */
int pc__vcores_idle(void);

/* ---- blocking synchronization (waiter.c; docs/design/sync.md) ---- */

/* One waiter in a primitive's FIFO, on the waiter's own stack. */
struct pc__waiter {
	struct pc__waiter *next, *prev; /* prev: to leave from the middle */
	struct pc_thread *t; /* the waiting uthread; NULL: a plain thread */
	void *tag;           /* who it is, as an owner (pc__sync_self()) */
	/*
	 * The wait word: t->granted, or own_word for a plain thread. It
	 * holds gen << PC_W_SHIFT and the PC_W_* bits; gen, the wait's
	 * number, keeps a late timer from touching a later wait.
	 */
	atomic_uintptr_t *granted;
	atomic_uintptr_t own_word;
	uintptr_t waiting; /* the word's value before the wait blocks */
	bool cancellable;  /* by pc_sync_cancel() (set by init) */
	bool committed;    /* pc__waiter_commit() published its block */
	bool expired;      /* it found the deadline passed instead */
	/*
	 * The queue it is in, or NULL: set and cleared under that queue's
	 * lock. Atomic because a condition variable's waiter is read under
	 * the condition's lock while a signal moves it under the mutex's.
	 */
	_Atomic(struct pc__waitq *) in;
};
/*
 * The wait word's bits. GRANTED and TIMEDOUT are the wait's outcome, the
 * first one set stands. BLOCKED: the uthread has stopped, and whoever
 * sets the outcome makes it run. CANCELLABLE, with BLOCKED: a
 * cancellation may set TIMEDOUT, and CANCELLED with it.
 */
#define PC_W_GRANTED 1u
#define PC_W_TIMEDOUT 2u
#define PC_W_BLOCKED 4u
#define PC_W_CANCELLABLE 8u
#define PC_W_CANCELLED 16u
#define PC_W_SHIFT 5
#define PC_W_BITS ((1u << PC_W_SHIFT) - 1)

struct pc__waitq {
	struct pc__waiter *head, *tail;
};

/* A plain thread's tag: main's uthread keeps the one it had before. */
void *pc__sync_thread_tag(void);
/*
 * The caller as an owner: its TCB in a uthread, else a tag of its
 * thread. NULL in vcore context, which must not block.
 */
static inline void *pc__sync_self(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t;

	if (!vc)
		return pc__sync_thread_tag();
	t = vc->current;
	if (!t)
		return NULL; /* vcore context */
	return t->sync_tag ? t->sync_tag : t;
}
/*
 * An outcome's CAS on @t's word, from *@v to @to, by anyone but a
 * granter (a timer, a cancellation): when *@v says BLOCKED, a granter
 * may be setting GRANTED with a plain store (waiter.c's grant_plain()),
 * so this waits until it is done and keeps the next one to an RMW.
 * Returns whether the CAS succeeded; if not, *@v is the word now.
 */
bool pc__word_mark(struct pc_thread *t, uintptr_t *v, uintptr_t to);
/* Gives uthread @w->t's wait a new number (a late canceller's CAS fails). */
static inline void pc__waiter_renumber(struct pc__waiter *w)
{
	w->waiting = (uintptr_t)++w->t->wait_gen << PC_W_SHIFT;
}

/*
 * Readies @w for the caller, owner @self (pc__sync_self(), not NULL).
 * A uthread waits on a word in its TCB, not on its stack: the vcore that
 * blocks it publishes the block in the word (waiter.c's
 * block_publish()), and a grant, a timer or a cancellation may act on it
 * after the uthread has run on elsewhere and its stack frame is gone.
 * The TCB outlives the wait; the wait's number in the word keeps a late
 * CAS from touching a later wait. Inline, as the next three: on a
 * contended mutex's path the calls cost 1.2 ns of 33 (sync.md, "On a
 * Xeon (session 17)").
 */
static inline void pc__waiter_init(struct pc__waiter *w, void *self)
{
	w->next = NULL;
	atomic_store_explicit(&w->in, NULL, memory_order_relaxed);
	w->tag = self;
	w->cancellable = true;
	w->committed = false;
	w->expired = false;
	w->t = pc__thread_current();
	if (w->t) {
		w->granted = &w->t->granted;
		pc__waiter_renumber(w);
	} else {
		w->granted = &w->own_word;
		w->waiting = 0;
	}
	/*
	 * Relaxed: a granter reaches @w only through the queue, which the
	 * primitive's lock publishes (one locked instruction fewer on the
	 * contended path).
	 */
	atomic_store_explicit(w->granted, w->waiting, memory_order_relaxed);
}

static inline void pc__waitq_push(struct pc__waitq *q, struct pc__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	atomic_store_explicit(&w->in, q, memory_order_relaxed);
	/*
	 * Release: a mutex's plain pop reads the link without the queue's
	 * lock, and then @w (mutex.c, hand_off_plain()).
	 */
	if (q->tail)
		__atomic_store_n(&q->tail->next, w, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&q->head, w, __ATOMIC_RELEASE);
	q->tail = w;
}

/* The word of a wait numbered @waiting, blocked, with no outcome yet. */
static inline uintptr_t pc__waiter_blocked_word(uintptr_t waiting,
						bool cancellable)
{
	return waiting | PC_W_BLOCKED | (cancellable ? PC_W_CANCELLABLE : 0);
}

/*
 * Under the lock of the primitive whose queue uthread waiter @w has just
 * joined: publishes its block before anyone can see it queued, so that
 * the block needs no RMW (docs/design/sync.md, "The committed block").
 * From here until it leaves, the uthread runs in a nopreempt section of
 * its own, raised here (the caller drops its lock as usual), or with
 * pc__waiter_commit_in(), the caller's own, which it then leaves raised
 * as it drops its lock (the lock's section becomes the wait's); whoever
 * sets its outcome makes it run, possibly before it has left: it then
 * must leave, in pc__waiter_block() or pc__waiter_block_until(), unless
 * it set the outcome itself there. False, with nothing done, for a plain
 * thread, without the asymmetric fence, or once @deadline (UINT64_MAX:
 * none) has passed: the block then publishes itself by a CAS as it
 * leaves, and a wait that times out at once sets its outcome with a CAS
 * instead of the markers' fence.
 *
 * Under the primitive's lock, so the word's plain store overlaps no
 * outcome: a granter has yet to find @w queued, its timer is not armed,
 * and a canceller marks only a word that says BLOCKED, after this store.
 * What a taker restores (errno, the cleared stack pointer that makes it
 * wait for the save) is written before it, and a granter's acquire load
 * of the word sees it. A wait past its deadline is not committed: a
 * committed one marks itself timed out by the markers' protocol, whose
 * membarrier() made a timed wait that expires at once (a poll) take 470
 * ns instead of 55.
 */
static inline bool pc__waiter_commit_in(struct pc__waiter *w,
					uint64_t deadline)
{
	struct pc_thread *t = w->t;

	if (!PC_COMMIT_BLOCK || !t || !pc__asym_fence_ok())
		return false;
	if (deadline != UINT64_MAX && pc__now_ns() >= deadline) {
		w->expired = true; /* pc__waiter_block_until() reads no clock */
		return false;
	}
	t->err = *pc__vcore_self()->errno_loc;
	t->ctx.sp = NULL;
	atomic_store_explicit(w->granted,
			      pc__waiter_blocked_word(w->waiting,
						      w->cancellable),
			      memory_order_release);
	w->committed = true;
	return true;
}

static inline bool pc__waiter_commit(struct pc__waiter *w, uint64_t deadline)
{
	if (!pc__waiter_commit_in(w, deadline))
		return false;
	pc__nopreempt_enter();
	return true;
}
struct pc__waiter *pc__waitq_pop(struct pc__waitq *q);
/* Unlinks @w if it is queued in @q (in constant time); false if not. */
bool pc__waitq_remove(struct pc__waitq *q, struct pc__waiter *w);
/*
 * Blocks the caller, the waiter of @w, until it is granted; with @spin
 * (it queued first, so the next grant is its) it spins briefly first.
 */
void pc__waiter_block(struct pc__waiter *w, bool spin);
/*
 * The same until CLOCK_MONOTONIC @deadline (UINT64_MAX: for ever), or a
 * cancellation (pc_sync_cancel(), if @w is cancellable). Returns 0 if
 * granted, or -ETIMEDOUT once the word says it timed out (or was
 * cancelled, which marks it the same). The caller then settles it under
 * the primitive's lock: if pc__waitq_remove() finds @w still queued, the
 * wait failed (pc__wait_failed() says how); if not, a grant already took
 * it from the queue and the wait succeeded, and pc__waiter_settle(),
 * after the lock is dropped, waits for the grant to land (and keeps a
 * cancellation that came too late for the next wait).
 */
int pc__waiter_block_until(struct pc__waiter *w, uint64_t deadline,
			   bool spin);
/*
 * A committed waiter's look for a cancellation, the fast side of the
 * asymmetric fence: its word's store, then this load; pc_sync_cancel()
 * stores its request, fences, then loads the word. True if it marked its
 * own wait cancelled (pc__waiter_cancel_mark(), out of line): no one
 * else will make it run.
 */
bool pc__waiter_cancel_mark(struct pc__waiter *w);
static inline bool pc__waiter_cancel_self(struct pc__waiter *w)
{
	atomic_signal_fence(memory_order_seq_cst);
	return w->cancellable &&
	       atomic_load_explicit(&w->t->cancel_req, memory_order_relaxed) &&
	       pc__waiter_cancel_mark(w);
}
/*
 * The leave of committed waiter @t, published already; returns 0 when
 * it runs again, with its outcome set: to the hand-off slot's uthread
 * when the loop would only run that, else through the loop
 * (pc__vcore_block_leave()). The commit's section (the one
 * pc__waiter_commit() raised, or the lock's that pc__waiter_commit_in()
 * kept) is the only one left, unless the caller blocks inside one of its
 * own: the leave then ends it too, as any leave does
 * (pc__leave_prepare()).
 */
static inline int pc__waiter_leave_committed(struct pc_thread *t)
{
	struct pc__vcore *vc = pc__vcore_self();

	if (!PC_FAST_BLOCK || vc->irq.nopreempt != 1) {
		vc->irq.nopreempt = 1;
		atomic_signal_fence(memory_order_seq_cst);
		return pc__vcore_block_leave(vc, t, PC_BLOCK_LOOP);
	}
	return pc__vcore_block_leave(vc, t, PC_BLOCK_TAKE);
}
/* A committed wait's outcome, once it runs again: 0 or -ETIMEDOUT. */
static inline int pc__waiter_committed_outcome(struct pc__waiter *w)
{
	uintptr_t v = atomic_load(w->granted);

	PC_ASSERT(v & (PC_W_GRANTED | PC_W_TIMEDOUT));
	return (v & PC_W_GRANTED) ? 0 : -ETIMEDOUT;
}
/*
 * pc__waiter_block_until() for a committed waiter @w, without a
 * deadline: 0 if granted, -ETIMEDOUT if cancelled. The uthread leaves
 * once, unless it sets the outcome itself (a cancellation it finds
 * pending); else whoever sets it makes the uthread run, and it returns
 * with it. Inline: one frame fewer between a primitive and the switch
 * was 1.3 ns of a contended mutex's 29 (sync.md).
 */
static inline int pc__waiter_wait_committed(struct pc__waiter *w)
{
	if (pc__waiter_cancel_self(w))
		pc__nopreempt_exit();
	else
		pc__waiter_leave_committed(w->t);
	return pc__waiter_committed_outcome(w);
}
void pc__waiter_settle(struct pc__waiter *w);
/*
 * What a wait that left its queue without a grant returns: -ECANCELED if
 * a cancellation ended it, else -ETIMEDOUT.
 */
int pc__wait_failed(struct pc__waiter *w);
/*
 * A wait that succeeded although a cancellation ended it (a grant took
 * it first): the cancellation is for the uthread's next wait. Uthread
 * context of @w's waiter, before the word is reused.
 */
void pc__waiter_keep_cancel(struct pc__waiter *w);
/* pc_mutex_lock() that no cancellation interrupts (cond.c's relock). */
void pc__mutex_lock_uncancellable(struct pc_mutex *m);
/* A user's CLOCK_MONOTONIC deadline in ns; false if malformed. */
bool pc__deadline_ns(const struct timespec *ts, uint64_t *ns);
/*
 * The hand-off: tells @w it owns what it waited for, and wakes it. Not
 * under the primitive's spinlock (the wake-up may make a system call);
 * @w may be gone once this returns.
 */
void pc__waiter_grant(struct pc__waiter *w);
/*
 * pc__waiter_grant() (@handoff) or pc__waiter_wake() from inside a
 * nopreempt section of the caller's (none for a plain thread).
 */
void pc__waiter_grant_in(struct pc__waiter *w, bool handoff);
/*
 * The same for a waiter that is one of several released at once (a
 * barrier's, a wait group's, readers of a rwlock): no hand-off hint to
 * the 2LS, which would gather them all on the caller's vcore.
 */
void pc__waiter_wake(struct pc__waiter *w);
/* Empties @q; returns its waiters, in order, linked through next. */
struct pc__waiter *pc__waitq_take_all(struct pc__waitq *q);
/* pc__waiter_wake() on each of a pc__waitq_take_all() chain. */
void pc__waiter_wake_all(struct pc__waiter *chain);
/*
 * Queues @w on @q, drops @lock (held by the caller, who found it must
 * wait), and blocks until granted or CLOCK_MONOTONIC @deadline
 * (UINT64_MAX: for ever). A waiter that times out still queued leaves
 * @q, and @left(@prim) runs under @lock to repair the primitive's state
 * (may be NULL); it returns a chain of waiters its leaving lets through,
 * woken once @lock is dropped. One that a grant took first keeps what it
 * was given. Returns 0 (granted) or -ETIMEDOUT.
 */
int pc__waiter_wait(struct pc__spinlock *lock, struct pc__waitq *q,
		    struct pc__waiter *w, uint64_t deadline,
		    struct pc__waiter *(*left)(void *prim), void *prim);
/*
 * The caller as an owner, vcore context included (which may hold what
 * it took without waiting: a trylock).
 */
void *pc__sync_owner(void);
/*
 * A waiter that a condition variable's signal moves to mutex @m; @caller
 * is who calls, as an owner. If @caller owns @m and nobody is queued, @w
 * becomes its heir, the next owner, without the spinlock; else @w takes
 * @m if it is free, or queues for it (mutex.c). Returns true if @w got
 * it: the caller then grants @w.
 */
bool pc__mutex_move(struct pc_mutex *m, struct pc__waiter *w, void *caller);
/* @m's waiter queue (cond.c settles a timed-out waiter). */
struct pc__waitq *pc__mutex_queue(struct pc_mutex *m);
/*
 * pc__mutex_queue_lock() / pc__mutex_queue_unlock() - @m's queue, for a
 * look at it, or a change to it, other than a push at the tail: an
 * unlock pops the head without the spinlock (mutex.c), so the lock
 * first waits for a pop under way and keeps new ones to the spinlock's
 * path until the unlock. The lock costs a membarrier(). It returns how
 * the queue was taken, for the unlock: NULL for the spinlock, else the
 * caller's vcore, which holds it by its bias.
 */
struct pc__vcore *pc__mutex_queue_lock(struct pc_mutex *m);
void pc__mutex_queue_unlock(struct pc_mutex *m, struct pc__vcore *held);

/* ---- ticks (tick.c; docs/design/ticks.md) ---- */

/*
 * Whether a notification may interrupt a uthread where it stands (not in
 * aarch64, TSan or Valgrind runs: notify.c). Valid once set up.
 */
bool pc__notify_interrupts(void);
/*
 * Where the restartable region holding @pc restarts, or 0 if @pc is in
 * none (rr.c). Async-signal-safe.
 */
uintptr_t pc__rr_restart_at(uintptr_t pc);
/* Starts the ticker thread (multi-core mode's entry). 0 or -errno. */
int pc__ticker_start(void);
/* pc_sched_set(): the 2LS's quantum, unless the process set one. */
void pc__quantum_of_2ls(uint64_t ns);
/* A vcore left idleness with work: the ticker must be awake. */
extern atomic_int pc__ticker_idle;
void pc__ticker_wake(void);
/* One load while it is awake: the run of every uthread makes it. */
static inline void pc__ticker_kick(void)
{
	if (atomic_load(&pc__ticker_idle))
		pc__ticker_wake();
}
/*
 * Sets @vc's pause flag: its uthread yields at its next PAUSE point.
 * Adds 1 to *@count first, if @count is not NULL. Returns false, with
 * nothing done, if its thread has not started. Any thread.
 */
bool pc__vcore_pause(struct pc__vcore *vc, atomic_uint_fast64_t *count);
/*
 * Vcore context: the ticker wants @t, just interrupted on @vc, out.
 * Returns @t to resume it (not at a safe point, or in a
 * pc_preempt_disable() section), or NULL once it is handed to the 2LS.
 */
struct pc_thread *pc__tick_preempt(struct pc__vcore *vc, struct pc_thread *t);

/* ---- the default 2LS (sched_default.c) and its estimate (autoscale.c) ---- */

/*
 * How soon parking vcore @vcoreid must look again, or 0 for no limit:
 * the default 2LS holds a uthread handed off on a busy vcore, which an
 * idle vcore steals only after a while. 0 under another 2LS. Called
 * after the park's RMW (vcore.c's Dekker pair).
 */
uint64_t pc__sched_default_recheck_ns(int vcoreid);

/*
 * Vcore @vcoreid leaves its idleness, with work or to leave or handle
 * what ended it: if it was the default 2LS's watcher, it resigns
 * (docs/design/vcore-idle.md, "The watcher"). Before it runs anything.
 */
void pc__sched_default_idle_ends(int vcoreid);

/*
 * Yield of @y, the uthread running on vcore @vcoreid, without the loop:
 * if the default 2LS would just swap @y for its queue's head, queues @y
 * and returns the head's TCB, else NULL with nothing queued. Uthread
 * context, in a nopreempt section; @y's context is not saved yet
 * (pc__vcore_yield_target()).
 */
struct pc_thread *pc__sched_default_yield(int vcoreid, struct pc_thread *y);
/*
 * A block on vcore @vcoreid without the loop (pc__vcore_block_ready()):
 * whether the default 2LS's pick would take its hand-off slot now, and
 * that pick, or NULL. Uthread context, in a nopreempt section.
 */
bool pc__sched_default_next_ready(int vcoreid);
struct pc_thread *pc__sched_default_take_next(int vcoreid);
/* The two at once, for a block published already: the pick, or NULL. */
struct pc_thread *pc__sched_default_take_ready(int vcoreid);

/*
 * Looks again whether the default 2LS may pick outside the loop (set up,
 * its pick_next installed, no estimate fed): after the table, the 2LS's
 * set-up or the estimate's switch changes.
 */
void pc__sched_default_refresh(void);

extern atomic_bool pc__autoscale_on;
/*
 * Tells the estimate what a pick found: a uthread, with @queued more in
 * the vcore's queue, or nothing. Vcore context.
 */
void pc__autoscale_pick(bool found, int queued);

/* ---- timers (timer.c) ---- */

void pc__timer_add(struct pc__vcore *vc, struct pc_thread *t);
/* Makes runnable every sleeper of @vc whose deadline passed. */
void pc__timer_run(struct pc__vcore *vc, uint64_t now);
/* Takes @t out of whichever sleep queue holds it, if one does. */
void pc__timer_cancel(struct pc_thread *t);
/* Moves every sleeper of @from to @to. */
void pc__timer_move(struct pc__vcore *from, struct pc__vcore *to);

/* ---- stacks (stack.c) ---- */

/*
 * A TCB with a stack of @size usable bytes (0: default), zeroed except
 * for the generation and stack fields. NULL on failure (-ENOMEM).
 */
struct pc_thread *pc__tcb_alloc(size_t size);
void pc__tcb_free(struct pc_thread *t);

#endif /* PARCORE_INTERNAL_H */
