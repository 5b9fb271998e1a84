/*
 * arch.h - the contract every architecture's context switch implements.
 *
 * A saved context is one word: the stack pointer of a suspended stack whose
 * top holds everything needed to resume it. A cooperative switch happens at
 * a function call, so it saves only what the calling convention says a
 * callee must preserve, plus the floating-point control state:
 *
 *   x86-64 (SysV)  rbx rbp r12-r15, rsp, MXCSR's control bits, x87
 *                  control word
 *   aarch64        x19-x29, x30 (lr), sp, d8-d15, FPCR
 *
 * The FP status flags (MXCSR bits 0-5, the x87 status word, FPSR) are
 * the thread's: a switch carries them over as they are.
 *
 * Vector and other floating-point registers are caller-saved, so nobody
 * needs them across a call: they are never saved here (seed 004).
 *
 * Every entry point passes a word through the switch: the resumed side sees
 * it as the return value of the call that suspended it (or as @prev of a
 * fresh context's entry function). The runtime passes the context it came
 * from, so the resumed side can finish the switch for it.
 *
 * All functions here are in assembly (src/lib/arch/<arch>/switch.S); none
 * touch memory other than the stacks and the contexts named.
 */
#ifndef PARCORE_ARCH_H
#define PARCORE_ARCH_H

#include <stddef.h>

struct pc__ctx {
	void *sp;
};

/*
 * Entry of a fresh context: @prev is the word passed by whoever started
 * it, @arg the one given to pc__ctx_make(). Must never return.
 */
typedef void (*pc__ctx_entry_fn)(void *prev, void *arg);

/* Called on a new stack by pc__ctx_call(); must never return. */
typedef void (*pc__ctx_call_fn)(void *arg0, void *arg1);

/*
 * pc__ctx_make() - prepare @ctx to start entry(prev, arg) on the stack
 * [@stack_lo, @stack_hi) when first switched to. @stack_hi must be
 * 16-byte aligned. The FP control state starts at the ABI defaults.
 */
void pc__ctx_make(struct pc__ctx *ctx, void *stack_hi,
		  pc__ctx_entry_fn entry, void *arg);

/*
 * pc__ctx_switch() - save the caller into @from and resume @to, passing
 * @pass to it. Returns, when something resumes @from, the word that
 * resumer passed.
 */
void *pc__ctx_switch(struct pc__ctx *from, const struct pc__ctx *to,
		     void *pass);

/*
 * Per-vcore interrupt state that the switch code reads and writes; only
 * the vcore's own thread and its signal handler touch it
 * (docs/design/notifications.md).
 */
struct pc__irq {
	volatile unsigned int nopreempt; /* > 0: inside the runtime */
	volatile unsigned int deferred;  /* a notification waits for 0 */
};

/*
 * pc__ctx_switch_irq() - pc__ctx_switch() that, once on @to's stack,
 * lowers irq->nopreempt and, when that reaches 0 with irq->deferred set,
 * calls pc__notify_deferred() as @to before resuming it.
 */
void *pc__ctx_switch_irq(struct pc__ctx *from, const struct pc__ctx *to,
			 void *pass, struct pc__irq *irq);

/*
 * pc__ctx_pop() - resume @to (passing 0) with notifications enabled:
 * on @to's stack, *@notif_disabled = 0, a full barrier, then if
 * *@notif_pending is set, pc__notify_reenter(@to's stack pointer) as @to
 * first.
 */
__attribute__((noreturn)) void pc__ctx_pop(const struct pc__ctx *to,
					   unsigned int *notif_disabled,
					   const unsigned int *notif_pending);

/*
 * pc__notify_entry and pc__notify_landing - not functions: where a
 * redirected notification signal frame returns to, with the rip and the
 * save area below the red zone, or with those and the rsp in its siginfo
 * (x86-64 only; see switch.S).
 */
void pc__notify_entry(void);
void pc__notify_landing(void);

/*
 * A uthread's vector save area (xarea.c), which pc__notify_entry saves
 * into and restores from: `busy` at offset 0, the image at 64.
 */
struct pc__xarea {
	uint32_t busy; /* its image awaits the restore */
	_Alignas(64) unsigned char image[];
};

/*
 * How pc__notify_entry saves the vector state (probed in notify.c):
 * pc__xsave_ok 0 FXSAVE, 1 XSAVE of everything XCR0 enables (in
 * pc__xsave_size bytes), 2 XSAVEC of the components in use, which take
 * at most pc__xsave_small bytes without AMX's.
 */
extern uint64_t pc__xsave_size, pc__xsave_small;
extern int pc__xsave_ok;

/*
 * pc__ctx_jump() - resume @to, passing @pass, without saving anything:
 * the caller's stack is abandoned.
 */
__attribute__((noreturn)) void pc__ctx_jump(const struct pc__ctx *to,
					    void *pass);

/*
 * pc__ctx_save_call() - save the caller into @from, switch to the stack
 * whose top is @stack_hi (16-byte aligned) and call fn(@from, @arg) there.
 * Returns, when something resumes @from, the word that resumer passed.
 * This is how a uthread enters vcore context: its state is completely
 * saved before fn runs, so fn may hand it to another vcore.
 */
void *pc__ctx_save_call(struct pc__ctx *from, void *stack_hi,
			pc__ctx_call_fn fn, void *arg);

/*
 * pc__ctx_call() - abandon the caller's stack and call fn(@arg0, @arg1) on
 * the stack whose top is @stack_hi.
 */
__attribute__((noreturn)) void pc__ctx_call(void *stack_hi,
					    pc__ctx_call_fn fn, void *arg0,
					    void *arg1);

/*
 * The same two entry points, typed for a tail call from a function that
 * returns int (the word passed must then be 0 or a small int). A public
 * call that switches tail-calls these so that no C frame sits between its
 * caller and the switch: the context saved is the caller's own, and the
 * resumed side jumps straight back into its caller's code. A C frame in
 * between would end in a ret whose target the return-stack predictor gets
 * wrong on every switch (the predictor remembers the other uthread's
 * caller), which costs several times the switch itself.
 */
int pc__ctx_switch_irq_tail(struct pc__ctx *from, const struct pc__ctx *to,
			    void *pass, struct pc__irq *irq);
int pc__ctx_save_call_tail(struct pc__ctx *from, void *stack_hi,
			   pc__ctx_call_fn fn, void *arg);

#endif /* PARCORE_ARCH_H */
