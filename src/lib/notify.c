/*
 * notify.c - notifications, parcore's interrupts: the signal, its handler,
 * and the way back into vcore context (docs/design/notifications.md).
 *
 * A poster sets the target's notif_pending and, on its 0 -> 1 transition,
 * sends PC_NOTIFY_SIGNAL to the target's thread if notifications are
 * enabled there, or wakes it if it idles. The handler runs on the vcore
 * thread's alternate stack, unless the program disabled it. It decides,
 * masks, runs the event handlers (early_look()), and redirects the
 * signal frame so that the kernel's sigreturn lands in pc__notify_entry
 * (switch.S; by way of pc__notify_landing for a frame not on the
 * alternate stack) on the uthread's own stack, with every register but
 * rip and rsp as they were. Saving the uthread and entering vcore
 * context then run outside the signal handler, as an ordinary
 * cooperative leave.
 */
#include "internal.h"
#include "shared.h"

#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(PARCORE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

/*
 * Whether the handler can interrupt a uthread where it stands. Elsewhere
 * (aarch64, for now) the handler defers: the notification is taken at the
 * uthread's next nopreempt exit or entry into vcore context.
 *
 * TSan builds send no signal at all: TSan queues a signal on the fiber
 * that was current and runs the handler later from inside its own
 * runtime, possibly after the fiber moved to another thread, and its
 * fiber switches do not survive that. Events still arrive there, at the
 * next entry into vcore context.
 */
#if defined(__x86_64__) && !PC_TSAN
#define PC_NOTIFY_INTERRUPTS 1
#else
#define PC_NOTIFY_INTERRUPTS 0
#endif
#if PC_TSAN
#define PC_NOTIFY_SIGNALS 0
#else
#define PC_NOTIFY_SIGNALS 1
#endif

/*
 * Under Valgrind the handler defers too: the redirected frame writes
 * below the interrupted stack pointer, which Valgrind reports as invalid
 * (its tests met it once ticks interrupted uthreads). Set once, at
 * set-up.
 */
static bool interrupts_off;

/* pc__notify_interrupts() - see internal.h. */
bool pc__notify_interrupts(void)
{
	return PC_NOTIFY_INTERRUPTS && !interrupts_off;
}

/* arch.h: read by pc__notify_entry (switch.S) and xarea.c. */
uint64_t pc__xsave_size = 512; /* FXSAVE's */
uint64_t pc__xsave_small = 512;
int pc__xsave_ok;
/*
 * Read by pc__ctx_pop (x86-64): 1 if the pop must fence between its
 * enable and its recheck itself, 0 once membarrier() does it for the
 * posters instead (see pc__notify()).
 */
int pc__pop_fence = 1;

static pid_t self_pid;
static pthread_once_t notify_once = PTHREAD_ONCE_INIT;
static int notify_err;

#define STAT_INC(v, field)                                              \
	atomic_fetch_add_explicit(&(v)->stat.field, 1, memory_order_relaxed)

/* ---- the handler ---- */

#if PC_NOTIFY_INTERRUPTS
/*
 * Whether @addr is on the alternate stack that the signal frame @uc
 * records. With SS_AUTODISARM the record is the stack as it was armed,
 * before the kernel disarmed it for this handler.
 */
static bool on_altstack(const ucontext_t *uc, const void *addr)
{
	uintptr_t lo = (uintptr_t)uc->uc_stack.ss_sp;

	return !(uc->uc_stack.ss_flags & SS_DISABLE) &&
	       (uintptr_t)addr - lo < uc->uc_stack.ss_size;
}

/*
 * Make the frame return to pc__notify_entry with the interrupted rip and
 * the save area @a (NULL: save on the stack) just below the uthread's
 * red zone (LESSONS 3.14: the red zone may hold live data of a leaf
 * function).
 *
 * Written there from here only if this frame is on the alternate stack.
 * If the program disabled that (or its handler running there disarmed
 * it, with SS_AUTODISARM), the frame is just below the red zone, and
 * the two words overwrote the end of its vector state (the kernel then
 * restored x87 and SSE only, and the upper halves of the vector
 * registers came back zero: test_regs). Then the words, and the
 * interrupted rsp, go into the frame's siginfo, and pc__notify_landing
 * puts them in place after sigreturn. Not always so: until the landing
 * leaves the frame, the stack pointer is in it, and on an alternate
 * stack with SS_AUTODISARM the next signal's frame would start at the
 * top again, over those words (a second reader's crash, 8 runs in 8).
 */
static void redirect(ucontext_t *uc, siginfo_t *si, struct pc__xarea *a)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP], rsp = (uint64_t)g[REG_RSP];
	uint64_t *w;

	if (on_altstack(uc, si)) { /* the frame, which holds @si */
		w = (uint64_t *)(rsp - 128 - 16);
		g[REG_RIP] = (greg_t)pc__notify_entry;
	} else {
		w = (uint64_t *)(void *)si;
		w[2] = rsp;
		g[REG_RIP] = (greg_t)pc__notify_landing;
	}
	w[0] = rip;
	w[1] = (uint64_t)(uintptr_t)a;
	g[REG_RSP] = (greg_t)w;
}
#endif

#if PC_NOTIFY_INTERRUPTS
/*
 * A uthread interrupted inside a restartable region resumes at the
 * region's start (rr.c): whatever it did there is redone, on whatever
 * vcore it then runs.
 */
static void rollback(ucontext_t *uc, struct pc__vcore *vc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t restart = pc__rr_restart_at((uintptr_t)g[REG_RIP]);

	if (restart) {
		g[REG_RIP] = (greg_t)restart;
		atomic_fetch_add_explicit(&vc->tstat.restarts, 1,
					  memory_order_relaxed);
	}
}
#endif

#if PC_NOTIFY_INTERRUPTS
/*
 * Runs the handlers of what was posted to @vc from the signal handler,
 * before the interrupted uthread is saved: rt_sigreturn, the save and the
 * vcore loop would otherwise come first (about 1 us here). They run as in
 * vcore context, with notif_disabled set and no current uthread; the
 * loop, entered as usual once the frame returns to pc__notify_entry,
 * finds the mailbox drained. They run on the alternate stack: only on
 * parcore's own (stack.c: guarded, with the transition stack's room left
 * below this frame), as the kernel recorded it in the frame @uc; vcore
 * 0's thread may keep one of the program's, and a program may change it.
 * Else the loop runs them, as before.
 *
 * Races: the interrupted uthread holds no runtime lock (spinlocks,
 * grant_lock) and is in no 2LS call, stack cache change or coroutine
 * claim: those run in nopreempt sections, which defer. A restartable
 * region it is in is rolled back after, as when the loop runs first.
 * nopreempt is 1 meanwhile, so that a section a handler opens never ends
 * at 0 and takes a deferral (one may be left set by a switch interrupted
 * between its decrement and its check) from inside the signal handler.
 * A signal that nests (SA_ONSTACK) goes below this frame: the kernel sees
 * that the stack pointer is on the alternate stack.
 */
static void early_look(struct pc__vcore *vc, const ucontext_t *uc)
{
	uintptr_t lo = (uintptr_t)vc->alt_lo;
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	struct pc_thread *t = vc->current;
	int err;

	if (!lo || (uintptr_t)uc->uc_stack.ss_sp != lo || here < lo ||
	    here - lo < PC_TSTACK_SIZE)
		return;
	err = errno;
	vc->current = NULL;
	vc->irq.nopreempt = 1;
	atomic_signal_fence(memory_order_seq_cst);
	pc__events_handle(vc);
	atomic_signal_fence(memory_order_seq_cst);
	vc->irq.nopreempt = 0;
	vc->current = t;
	errno = err;
}

/*
 * Whether the interrupted code ran on the alternate stack itself: a
 * signal handler of the program's, installed with SA_ONSTACK. Saved
 * there, the uthread would sit where the kernel writes the next signal's
 * frame (any signal that finds vcore context on the transition stack
 * starts again at the top of the alternate stack).
 */
static bool interrupted_on_altstack(const ucontext_t *uc)
{
	return on_altstack(uc, (void *)uc->uc_mcontext.gregs[REG_RSP]);
}
#else
static bool interrupted_on_altstack(const ucontext_t *uc)
{
	(void)uc;
	return false;
}
#endif

static void send_signal(struct pc__vcore *vc, struct pc__vcpd *v);

static void notify_handler(int sig, siginfo_t *si, void *ucv)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc__vcpd *v;

	(void)sig;
	(void)ucv;
	/* Only our own tgkill: not kill(1), not another process. */
	if (!vc || si->si_code != SI_TKILL || si->si_pid != self_pid)
		return;
	v = vc->vcpd;
	if (atomic_load_explicit(&v->notif_disabled, memory_order_relaxed)) {
		/* Vcore context will see notif_pending before it pops. */
		STAT_INC(v, notifs_masked);
		return;
	}
	if (interrupted_on_altstack(ucv)) {
		/*
		 * Sent again, and blocked until the program's handler
		 * returns: its sigreturn restores the uthread's mask, and the
		 * signal lands at once, outside. A deferral would be taken
		 * at the end of the next nopreempt section, maybe inside the
		 * handler (a wake-up it makes), or never if the uthread then
		 * spins; a second reader found both.
		 */
		sigaddset(&((ucontext_t *)ucv)->uc_sigmask, PC_NOTIFY_SIGNAL);
		send_signal(vc, v);
		STAT_INC(v, notifs_deferred);
		return;
	}
	if (vc->irq.nopreempt || !PC_NOTIFY_INTERRUPTS || interrupts_off) {
		vc->irq.deferred = 1;
		STAT_INC(v, notifs_deferred);
		return;
	}
#if PC_NOTIFY_INTERRUPTS
	/* The interrupt gate: no nesting from here until the next pop. */
	atomic_store_explicit(&v->notif_disabled, 1, memory_order_relaxed);
	STAT_INC(v, notifs_taken);
	early_look(vc, ucv);
	rollback((ucontext_t *)ucv, vc);
	vc->intr_movable = pc__safepoint_at(
		(uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP]);
	redirect(ucv, si, pc__xarea_take(vc, vc->current));
#endif
}

/* ---- into vcore context ---- */

static void reenter_cb(struct pc_thread *t, void *movable)
{
	struct pc__vcore *vc = pc__vcore_self();

	t->pinned = movable == NULL;
	vc->resume = t;
	vc->resume_movable = movable != NULL;
	pc__xarea_refill(vc); /* the interrupt may have taken the spare */
	pc__vcore_loop(vc);
}

/*
 * Takes the calling uthread into vcore context as the vcore's resume
 * uthread, @movable if it may be moved to another vcore there (it stopped
 * at a safe point). Returns 0 when it runs again. Uthread context;
 * notifications masked (by the handler) or about to be (the leave raises
 * nopreempt first, and vcore context masks them).
 */
static int reenter(bool movable)
{
	struct pc__vcore *vc = pc__vcore_self();

	/*
	 * From the pop's recheck, notifications are enabled here: a signal
	 * inside ASan's fiber bookkeeping below would start a switch in the
	 * middle of finishing one. The leave raises nopreempt anyway.
	 */
	vc->irq.nopreempt = 1;
	atomic_signal_fence(memory_order_seq_cst);
	pc__sanitize_settle();
	return pc__thread_leave(vc->current, reenter_cb,
				movable ? (void *)1 : NULL);
}

/*
 * pc__notify_interrupted() - pc__notify_entry's way in: the uthread was
 * interrupted at an arbitrary instruction, movable if the handler found
 * it at a safe point.
 */
int pc__notify_interrupted(void)
{
	/* pc__notify_entry aligned the stack to the ABI's 16 for the call. */
	PC_ASSERT(((uintptr_t)__builtin_frame_address(0) & 15) == 0);
	return reenter(pc__vcore_self()->intr_movable);
}

/*
 * pc__notify_reenter() - pc__ctx_pop's way in, its recheck having found
 * a notification. The uthread's context is still the one the pop
 * restores from @popped_sp, so vcore context takes it again as it is,
 * from the top of the transition stack. Saved again here instead, it
 * nested a frame under that context at every pop that found a
 * notification, and a storm of them (a poster sending each as the last
 * was handled) grew a 256 KiB stack until it overflowed (test_event
 * under ASan, 4 runs in 10). Unless a notification interrupted it
 * between the pop's enable and the nopreempt section here, and its vcore
 * context saved it deeper and resumed it since: then that context is
 * gone, and this saves a new one.
 *
 * It may move to another vcore only if its last re-entry was where it
 * may (t->pinned; a second reader found that this took every uthread
 * for movable). PC_NO_TSAN, as pc__thread_leave_unsaved().
 */
PC_NO_TSAN int pc__notify_reenter(const void *popped_sp)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = vc->current;
	bool movable;

	vc->irq.nopreempt = 1;
	atomic_signal_fence(memory_order_seq_cst);
	movable = !t->pinned;
	if (t->ctx.sp != popped_sp)
		return reenter(movable);
	pc__sanitize_settle();
	pc__thread_leave_unsaved(t, reenter_cb, movable ? (void *)1 : NULL);
}

/*
 * pc__notify_deferred() - a notification the handler deferred, taken at
 * the end of a nopreempt section: inside the runtime, the caller may keep
 * its vcore's address in a register, so it stays on this vcore.
 */
void pc__notify_deferred(void)
{
	pc__vcore_self()->irq.deferred = 0;
	reenter(false);
}

/* ---- posting ---- */

static void send_signal(struct pc__vcore *vc, struct pc__vcpd *v)
{
	int tid = atomic_load_explicit(&vc->tid, memory_order_relaxed);
	int saved = errno;

	if (tid <= 0)
		return; /* not started: it is still in vcore context */
	atomic_fetch_add_explicit(&v->pstat.notifs_sent, 1,
				  memory_order_relaxed);
	syscall(SYS_tgkill, self_pid, tid, PC_NOTIFY_SIGNAL);
	errno = saved;
}

/*
 * Whether notifications are masked on the vcore of @v, for a poster that
 * has just set notif_pending. The pop stores notif_disabled = 0 and then
 * reads notif_pending; where it does so without a fence (x86-64 with
 * membarrier: a full barrier there cost about 9 ns on every resumption,
 * a third of a yield), its store may still sit in its CPU's store buffer
 * while it reads. So a poster that sees 1 makes every thread of the
 * process pass a full barrier (membarrier, about 1 us) and reads again:
 * either the vcore's store was before its barrier, and the second read
 * sees 0, or its recheck comes after, and sees our notif_pending
 * (LESSONS: the asymmetric fence of liburcu). Posters that see 0 pay
 * nothing; only a notifying post to a vcore in vcore context pays.
 */
static bool masked(struct pc__vcpd *v)
{
	if (!atomic_load(&v->notif_disabled))
		return false;
	if (!pc__asym_fence_ok())
		return true;
	pc__asym_fence();
	return atomic_load(&v->notif_disabled);
}

/* pc__asym_fence() - see internal.h. */
void pc__asym_fence(void)
{
	syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/*
 * pc__notify() - see internal.h: @interrupt says whether to signal a
 * vcore running a uthread, or let it find the event at its next look.
 *
 * notif_pending holds two bits, both cleared by the vcore's look:
 * PC_NP_POSTED, something was posted; PC_NP_SIGNALED, an interrupting
 * post has been made since. One signal per look at most, however many
 * are posted; and a quiet post (which does not signal) never keeps a
 * later interrupting one from signalling: with one bit, a quiet post to
 * a vcore whose uthread never yields left it set, and every later
 * interrupting post took it for a signal already on its way.
 */
void pc__notify(int id, bool interrupt)
{
	struct pc__vcpd *v = pc__vcpd(id);
	struct pc__vcore *vc = pc__vcore_get(id);
	uint32_t set = PC_NP_POSTED, old;

	if (interrupt && PC_NOTIFY_SIGNALS)
		set |= PC_NP_SIGNALED;
	/* Pairs with the pop's enable and recheck (Dekker; see below). */
	old = atomic_fetch_or(&v->notif_pending, set);
	if (!vc)
		return;
	if ((set & ~old & PC_NP_SIGNALED) && !masked(v)) {
		send_signal(vc, v);
		return;
	}
	/* The first post since the last look wakes an idle vcore. */
	if (!old)
		pc__vcore_kick(vc);
}

/* ---- set-up ---- */

#if defined(__x86_64__)
/* XCR0 without AMX (tile configuration and data, bits 17 and 18). */
static uint64_t enabled_features(void)
{
	unsigned int lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32 | lo) & ~(uint64_t)0x60000;
}

/* Bytes XSAVEC writes for the components in @mask (CPUID leaf 0xD). */
static uint64_t compacted_size(uint64_t mask)
{
	uint64_t size = 576; /* legacy area and header */
	unsigned int a, b, c, d;

	for (unsigned int i = 2; i < 63; i++) {
		if (!(mask >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		if (c & 2) /* 64-byte aligned when compacted */
			size = (size + 63) & ~(uint64_t)63;
		size += a;
	}
	return size;
}
#endif

static void probe_xsave(void)
{
#if defined(__x86_64__)
	unsigned int a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
		/* EBX of leaf 0xD.0: bytes for the features XCR0 enables. */
		__cpuid_count(0xd, 0, a, b, c, d);
		pc__xsave_size = b;
		pc__xsave_ok = 1;
		/* EAX of leaf 0xD.1: XSAVEC (bit 1) and XGETBV(1) (bit 2). */
		__cpuid_count(0xd, 1, a, b, c, d);
		if ((a & 0x6) == 0x6) {
			pc__xsave_small = compacted_size(enabled_features());
			pc__xsave_ok = 2;
		}
	}
#endif
}

static void notify_setup(void)
{
#if defined(PARCORE_VALGRIND)
	interrupts_off = RUNNING_ON_VALGRIND;
#endif
	struct sigaction sa;

	self_pid = getpid();
	probe_xsave();
#if defined(__x86_64__)
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		    0, 0) == 0)
		__atomic_store_n(&pc__pop_fence, 0, __ATOMIC_RELAXED);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = notify_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(PC_NOTIFY_SIGNAL, &sa, NULL) < 0) {
		notify_err = -errno;
		fprintf(stderr, "parcore: cannot install the handler of signal "
				"%d: %s\n",
			PC_NOTIFY_SIGNAL, strerror(errno));
	}
}

int pc__notify_init(void)
{
	pthread_once(&notify_once, notify_setup);
	return notify_err;
}

/* pc__notify_thread_init() - see internal.h. */
void pc__notify_thread_init(struct pc__vcore *vc)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, PC_NOTIFY_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	atomic_store(&vc->tid, (int)syscall(SYS_gettid));
}
