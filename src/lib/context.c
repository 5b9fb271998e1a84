/*
 * context.c - moving a vcore between uthreads and vcore context.
 *
 * Three kinds of switch, all built on the assembly of arch/:
 *
 *  leave   uthread -> vcore context (pc__thread_leave). The uthread's
 *          registers are saved on its own stack, then a callback runs at
 *          the top of the vcore's transition stack. Because the save is
 *          complete before the callback runs, the callback may publish the
 *          uthread (queue it, park it) and another vcore may resume it at
 *          once: this is the "atomic block-and-release" of Akaros.
 *  run     vcore context -> uthread (pc__thread_run). Vcore context keeps
 *          no state between runs (continuation style, seed 003 4.2.4), so
 *          nothing is saved: the next entry starts at the top of the
 *          transition stack again.
 *  direct  uthread -> suspended uthread (pc__thread_switch_raised), no
 *          vcore context and no scheduler. The caller has already claimed
 *          the target and published its own suspension (uthread.c).
 *
 * What travels with a switch besides the registers:
 *  - errno, which glibc keeps per Linux thread: saved into the TCB when a
 *    uthread leaves, restored from it on the vcore that resumes it;
 *  - the sanitizers' notion of the current stack (ASan fiber hooks) and
 *    the current fiber (TSan). These compile away in other builds.
 */
#include "internal.h"
#include "shared.h"

#if PC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if PC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ---- sanitizer hooks ---- */

#if PC_ASAN
/*
 * Whether this thread started a fiber switch it has not finished. A
 * notification can take a uthread back into vcore context in the middle
 * of its own resumption (the pop's recheck, or a signal right after the
 * pop's enable), before the uthread's side of the switch ran; that
 * re-entry finishes the switch first (pc__sanitize_settle()), and the
 * uthread's own finish later finds nothing left to do.
 */
static __thread bool asan_switching;

static void asan_start(void **fake_save, const void *lo, size_t size)
{
	asan_switching = true;
	__sanitizer_start_switch_fiber(fake_save, lo, size);
}

static void asan_finish(void *fake)
{
	const void *lo;
	size_t size;

	if (!asan_switching)
		return;
	asan_switching = false;
	__sanitizer_finish_switch_fiber(fake, &lo, &size);
}

static void asan_to_vcore(struct pc__vcore *vc, void **fake_save)
{
	asan_start(fake_save, (char *)vc->tstack_hi - vc->tstack_size,
		   vc->tstack_size);
}

static void asan_to_thread(void **fake_save, struct pc_thread *t)
{
	asan_start(fake_save, t->asan_stack_lo, t->asan_stack_size);
}
#define ASAN_FAKE(t) (&(t)->asan_fake_stack)
#else
#define asan_finish(fake) ((void)(fake))
#define asan_to_vcore(vc, fake_save) ((void)(vc), (void)(fake_save))
#define asan_to_thread(fake_save, t) ((void)(fake_save), (void)(t))
#define ASAN_FAKE(t) ((void)(t), (void **)NULL)
#endif

#if PC_TSAN
/*
 * Vcore context never returns (continuation style): a TSan fiber reused
 * for it would keep a shadow call-stack entry for every frame left behind
 * at each entry (about four) and overflow TSan's stack depot (65,536
 * frames) after some 16,000 entries. So every PC_TSAN_FIBER_REUSE entries
 * vcore context moves to a fresh fiber and the previous one (not current:
 * we are on a uthread's or the thread's own fiber) is destroyed. Creating
 * one per entry made the stress test 100x slower.
 */
#define PC_TSAN_FIBER_REUSE 1024
PC_NO_TSAN static void tsan_to_vcore(struct pc__vcore *vc)
{
	void *old = vc->tsan_fiber;

	if (old && ++vc->tsan_entries % PC_TSAN_FIBER_REUSE) {
		__tsan_switch_to_fiber(old, 0);
		return;
	}
	vc->tsan_fiber = __tsan_create_fiber(0);
	__tsan_switch_to_fiber(vc->tsan_fiber, 0);
	if (old)
		__tsan_destroy_fiber(old);
}
#define tsan_to_thread(t) __tsan_switch_to_fiber((t)->tsan_fiber, 0)
#else
#define tsan_to_vcore(vc) ((void)(vc))
#define tsan_to_thread(t) ((void)(t))
#endif

/* ---- uthread -> vcore context ---- */

/*
 * pc__leave_trampoline() - first code in vcore context after a leave:
 * runs the callback the leaving uthread asked for. @from is the TCB (its
 * ctx is the first member).
 */
void pc__leave_trampoline(void *from, void *vc_arg)
{
	struct pc__vcore *vc = vc_arg;

	asan_finish(NULL);
	vc->current = NULL;
	/* Vcore context: masked, so the nopreempt section is over. */
	atomic_store_explicit(&vc->vcpd->notif_disabled, 1,
			      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	vc->irq.nopreempt = 0;
	vc->irq.deferred = 0;
	vc->leave_cb(from, vc->leave_arg);
	PC_ASSERT(!"vcore callback returned");
}

/*
 * pc__resumed() - the uthread side of a resumption (ASan builds only).
 * ASan's finish runs in a nopreempt section: a notification taken in the
 * middle of it would start another switch before this one finished. The
 * section's end also takes a notification deferred during a direct switch
 * (the switch's assembly leaves that to us in ASan builds).
 */
void pc__resumed(void)
{
#if PC_ASAN
	pc__nopreempt_enter();
	asan_finish(pc__thread_current()->asan_fake_stack);
	pc__nopreempt_exit();
#endif
}

/* pc__sanitize_settle() - see asan_switching. Uthread context. */
void pc__sanitize_settle(void)
{
#if PC_ASAN
	asan_finish(pc__thread_current()->asan_fake_stack);
#endif
}

/*
 * pc__sanitize_leave() - sanitizer side of a leave (see internal.h).
 * Not instrumented by TSan, nor is anything that switches TSan fibers and
 * returns: TSan records the entry on one fiber's shadow stack and the
 * exit on the other's, and the first one grows by a frame at every
 * switch until it overflows (65,536 yields of one uthread did that).
 */
PC_NO_TSAN void pc__sanitize_leave(struct pc__vcore *vc, struct pc_thread *t)
{
	asan_to_vcore(vc, ASAN_FAKE(t));
	tsan_to_vcore(vc);
}

/*
 * pc__thread_leave_unsaved() - see internal.h. PC_NO_TSAN: its entry
 * would stay on the uthread's TSan shadow stack, with no exit (see
 * pc__sanitize_leave()).
 */
PC_NO_TSAN void pc__thread_leave_unsaved(struct pc_thread *t, pc__vcore_cb cb,
					 void *arg)
{
	struct pc__vcore *vc = pc__leave_prepare(t, cb, arg);

	pc__ctx_call(vc->tstack_hi, pc__leave_trampoline, t, vc);
}

/*
 * pc__thread_leave_forever() - like pc__thread_leave() for a uthread that
 * will never run again: @cb may free its stack.
 */
void pc__thread_leave_forever(struct pc_thread *t, pc__vcore_cb cb)
{
	struct pc__vcore *vc = pc__vcore_self();

	vc->irq.nopreempt = 1;
	atomic_signal_fence(memory_order_seq_cst);
	vc->leave_cb = cb;
	vc->leave_arg = NULL;
	asan_to_vcore(vc, NULL);
	tsan_to_vcore(vc);
	pc__ctx_call(vc->tstack_hi, pc__leave_trampoline, t, vc);
}

/* ---- vcore context -> uthread ---- */

/* pc__thread_wait_saved_slow() - see internal.h. */
void pc__thread_wait_saved_slow(struct pc_thread *t)
{
	for (unsigned int i = 1; !__atomic_load_n(&t->ctx.sp, __ATOMIC_ACQUIRE);
	     i++)
		pc__spin_pause(i);
}

/*
 * pc__thread_run() - resume @t on the calling vcore. Vcore context; the
 * vcore context is abandoned.
 */
void pc__thread_run(struct pc_thread *t)
{
	struct pc__vcore *vc = pc__vcore_self();

	pc__thread_wait_saved(t);
	pc__vcore_run_begin(vc, t);
	vc->current = t;
	atomic_store_explicit(&t->last_vcore, vc->id, memory_order_relaxed);
	*vc->errno_loc = t->err;
	asan_to_thread(NULL, t);
	tsan_to_thread(t);
	pc__ctx_pop(&t->ctx, (unsigned int *)&vc->vcpd->notif_disabled,
		    (const unsigned int *)&vc->vcpd->notif_pending);
}

/* ---- uthread -> uthread ---- */

/* pc__sanitize_switch() - sanitizer side of a direct switch (PC_NO_TSAN:
 * see pc__sanitize_leave()). */
PC_NO_TSAN void pc__sanitize_switch(struct pc_thread *from, struct pc_thread *to)
{
	asan_to_thread(ASAN_FAKE(from), to);
	tsan_to_thread(to);
}

/* ---- fresh contexts ---- */

static void thread_start(void *prev, void *arg)
{
	struct pc_thread *t = arg;

	(void)prev;
	pc__resumed();
	pc_thread_exit(t->fn(t->arg));
	PC_ASSERT(!"pc_thread_exit returned");
}

/*
 * pc__thread_ctx_init() - make @t's first resumption call its function.
 * Any context.
 */
void pc__thread_ctx_init(struct pc_thread *t)
{
	pc__ctx_make(&t->ctx, (void *)((uintptr_t)t & ~(uintptr_t)15),
		     thread_start, t);
#if PC_ASAN
	t->asan_stack_lo = (char *)t - t->stack.size;
	t->asan_stack_size = t->stack.size;
	__asan_unpoison_memory_region(t->asan_stack_lo, t->asan_stack_size);
#endif
#if PC_TSAN
	/* Renewed now and then, as vcore context's fiber (tsan_to_vcore). */
	if (t->tsan_fiber && ++t->tsan_uses % PC_TSAN_FIBER_REUSE == 0) {
		__tsan_destroy_fiber(t->tsan_fiber);
		t->tsan_fiber = NULL;
	}
	if (!t->tsan_fiber)
		t->tsan_fiber = __tsan_create_fiber(0);
#endif
}

/*
 * pc__thread_ctx_adopt() - sanitizer view of a TCB that adopts the calling
 * context (main()'s stack and fiber) rather than starting a fresh one.
 */
void pc__thread_ctx_adopt(struct pc_thread *t)
{
#if PC_ASAN
	pthread_attr_t attr;
	void *lo;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &lo, &size);
		pthread_attr_destroy(&attr);
		t->asan_stack_lo = lo;
		t->asan_stack_size = size;
	}
#endif
#if PC_TSAN
	t->tsan_fiber = __tsan_get_current_fiber();
#endif
	(void)t;
}

static void vcore_first_entry(void *vc, void *unused)
{
	(void)unused;
	asan_finish(NULL);
	pc__vcore_loop(vc);
}

/*
 * pc__ctx_vcore_start() - leave the calling Linux thread's own stack for
 * vcore @vc's transition stack and run the vcore loop there. A vcore
 * thread's first act.
 */
void pc__ctx_vcore_start(struct pc__vcore *vc)
{
	asan_to_vcore(vc, NULL);
	tsan_to_vcore(vc);
	pc__ctx_call(vc->tstack_hi, vcore_first_entry, vc, NULL);
}
