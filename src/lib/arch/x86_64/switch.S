/*
 * x86-64 context switch; the contract is in ../arch.h.
 *
 * A suspended stack looks like this, from the saved sp upwards:
 *
 *     sp+0   MXCSR (4 bytes), x87 control word (2 bytes), padding
 *     sp+8   r15
 *     sp+16  r14
 *     sp+24  r13
 *     sp+32  r12
 *     sp+40  rbx
 *     sp+48  rbp
 *     sp+56  return address
 *
 * Restore resumes with pop and an indirect jmp, not ret, unless the
 * return-stack predictor holds the right address: a ret then keeps the
 * predictor in step with the resumed stack, and a jmp would leave it one
 * entry off, so that each ret on up the resumed calls mispredicts. It
 * holds the right one on a direct switch between two uthreads that
 * suspended at the same call site (RESTORE_PREDICTED). Anywhere else a
 * ret mispredicts, and costs more than the whole switch on this kind of
 * CPU (context-switch.md, "Why the fast paths look the way they do").
 * The word passed through a switch travels in rax (the suspended call's
 * return value) and, for a fresh context, is moved to rdi by the start
 * trampoline.
 */

#if defined(__CET__)
#define ENDBR endbr64
#else
#define ENDBR
#endif

#define FUNC(name)			\
	.globl name;			\
	.hidden name;			\
	.type name, @function;		\
	.p2align 4;			\
name:					\
	ENDBR

#define END(name) .size name, . - name

/* The resume target is a return address, not an endbr64 landing pad. */
#if defined(__CET__) && (__CET__ & 1)
#define JMP_RESUME(reg) notrack jmp *reg
#else
#define JMP_RESUME(reg) jmp *reg
#endif

	.text

/* Push the callee-saved state below the return address. */
.macro SAVE_FRAME
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
.endm

/* SAVE_FRAME, then sp -> \ctx. */
.macro SAVE ctx
	SAVE_FRAME
	movq	%rsp, (\ctx)
.endm

/*
 * SAVE_FRAME into \from's ctx and move to \to's stack, with \from's
 * return address in r8 for RESTORE_PREDICTED, and the live MXCSR in r10d
 * and x87 control word in r11d for RESTORE_FRAME (two loads: one load of
 * both words, stored apart, missed the store forwarding, 3.5 ns a mutex
 * acquisition). The saved sp is stored last, from \to's stack: a fast
 * yield or block has published \from already (context-switch.md), and
 * once the store is seen another vcore may resume it, so nothing may
 * touch its stack after, neither a read here nor a signal frame.
 */
.macro SAVE_AND_SWITCH from, to
	SAVE_FRAME
	movl	(%rsp), %r10d		/* the live MXCSR, for RESTORE_FRAME */
	movzwl	4(%rsp), %r11d		/* the live FCW, likewise */
	movq	56(%rsp), %r8
	movq	%rsp, %r9
	movq	(\to), %rsp
	movq	%r9, (\from)
.endm

/*
 * Pop the frame at rsp up to its return address; r10d holds the live
 * MXCSR and r11d the live x87 control word. The saved control word is
 * loaded only if it differs from the live one: an fldcw on every switch
 * was 1 ns of a contended mutex's 30 (sync.md). Of the saved MXCSR only
 * the control bits are loaded, and only if they differ from the live
 * ones: the status flags (bits 0-5) are the vcore's and carry across
 * switches, as the x87 status word does and as aarch64's FPSR does. On some Xeons a stmxcsr after an ldmxcsr
 * that changed the flags costs about 50 ns, so loading each uthread's
 * own flags made a switch round trip between a uthread that had done
 * inexact arithmetic and one that had not 110 ns instead of 9
 * (context-switch.md, "The FP control words").
 */
.macro RESTORE_FRAME
	cmpw	4(%rsp), %r11w
	je	.Lsame_fcw\@
	fldcw	4(%rsp)
.Lsame_fcw\@:
	movl	(%rsp), %r11d
	xorl	%r10d, %r11d
	andl	$~0x3f, %r11d		/* the control bits that differ */
	jz	.Lsame_mxcsr\@
	xorl	%r11d, %r10d		/* the live flags, the saved controls */
	movl	%r10d, (%rsp)
	ldmxcsr	(%rsp)
.Lsame_mxcsr\@:
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
.endm

/*
 * Resume the frame at rsp; rax = the word passed. The live MXCSR and
 * control word go through the red zone below the frame, which a signal
 * frame skips.
 */
.macro RESTORE
	stmxcsr	-8(%rsp)
	fnstcw	-4(%rsp)
	movl	-8(%rsp), %r10d
	movzwl	-4(%rsp), %r11d
	RESTORE_FRAME
	popq	%rcx
	JMP_RESUME(%rcx)
.endm

/*
 * RESTORE after SAVE_AND_SWITCH. The suspending uthread's call into the
 * switch pushed its return address, \ra, on the return-stack predictor.
 * If the resumed uthread returns to the same address, a ret consumes
 * that entry as predicted, and the entries below it, the suspender's
 * callers, are the resumed uthread's too as far as the two came down the
 * same calls: a block's hand-off between two uthreads waiting in the
 * same call resumes with no misprediction up to where they part.
 */
.macro RESTORE_PREDICTED ra
	RESTORE_FRAME
	cmpq	\ra, (%rsp)
	jne	.Lunpredicted\@
	ret
.Lunpredicted\@:
	popq	%rcx
	JMP_RESUME(%rcx)
.endm

/* void *pc__ctx_switch(struct pc__ctx *from, const struct pc__ctx *to, void *pass) */
FUNC(pc__ctx_switch)
	SAVE_AND_SWITCH %rdi, %rsi
	movq	%rdx, %rax
	RESTORE_PREDICTED %r8
END(pc__ctx_switch)

/*
 * void *pc__ctx_switch_irq(struct pc__ctx *from, const struct pc__ctx *to,
 *			    void *pass, struct pc__irq *irq)
 *
 * pc__ctx_switch() for a uthread switching to another on the same vcore.
 * Once on the target's stack, lowers irq->nopreempt (the caller raised
 * it) and, if it reaches 0 with a notification deferred meanwhile, calls
 * pc__notify_deferred() there, as the target, before resuming it. From
 * the decrement on, a notification may interrupt: the state is then the
 * target's, with its saved registers above the stack pointer.
 */
	.globl	pc__ctx_switch_irq_tail
	.hidden	pc__ctx_switch_irq_tail
	.set	pc__ctx_switch_irq_tail, pc__ctx_switch_irq
FUNC(pc__ctx_switch_irq)
	SAVE_AND_SWITCH %rdi, %rsi
	movq	%rdx, %rax
	subl	$1, (%rcx)
#if !defined(__SANITIZE_ADDRESS__)
	/* (ASan builds: pc__resumed() checks, after ASan's fiber switch.) */
	jnz	1f
	cmpl	$0, 4(%rcx)
	jne	2f
#endif
1:	RESTORE_PREDICTED %r8
2:	call	pc__notify_deferred
	xorl	%eax, %eax
	jmp	resume_here
END(pc__ctx_switch_irq)

/*
 * void pc__ctx_pop(const struct pc__ctx *to, atomic_uint *notif_disabled,
 *		    const atomic_uint *notif_pending)
 *
 * Leave vcore context for @to, enabling notifications on the way
 * (docs/design/notifications.md, "the pop"): on @to's stack first, then
 * the enable, a full barrier (here or, through membarrier(), in the
 * poster), and the recheck of notif_pending. If it is set,
 * pc__notify_reenter(sp) takes @to back into vcore context, given the
 * stack pointer popped: usually for good, @to's context still the one
 * saved; or, as a cooperative leave, returning here when @to is resumed.
 */
FUNC(pc__ctx_pop)
	movq	(%rdi), %rsp
	movl	$0, (%rsi)
	/*
	 * The store-load barrier, unless posters take it on themselves
	 * with membarrier() (notify.c: masked()).
	 */
	cmpl	$0, pc__pop_fence(%rip)
	je	2f
	lock orl $0, (%rsp)	/* the word is unchanged */
2:	cmpl	$0, (%rdx)
	jne	1f
	xorl	%eax, %eax
	jmp	resume_here
1:	movq	%rsp, %rdi
	call	pc__notify_reenter
	xorl	%eax, %eax
	jmp	resume_here
END(pc__ctx_pop)

/* void pc__ctx_jump(const struct pc__ctx *to, void *pass) */
FUNC(pc__ctx_jump)
	movq	(%rdi), %rsp
	movq	%rsi, %rax
resume_here:
	RESTORE
END(pc__ctx_jump)

/* void *pc__ctx_save_call(struct pc__ctx *from, void *stack_hi, fn, void *arg) */
	.globl	pc__ctx_save_call_tail
	.hidden	pc__ctx_save_call_tail
	.set	pc__ctx_save_call_tail, pc__ctx_save_call
FUNC(pc__ctx_save_call)
	SAVE	%rdi
	movq	%rsi, %rsp
	movq	%rcx, %rsi
	call	*%rdx
	ud2
END(pc__ctx_save_call)

/* void pc__ctx_call(void *stack_hi, fn, void *arg0, void *arg1) */
FUNC(pc__ctx_call)
	movq	%rdi, %rsp
	xorl	%ebp, %ebp		/* backtraces end here */
	movq	%rsi, %rax
	movq	%rdx, %rdi
	movq	%rcx, %rsi
	call	*%rax
	ud2
END(pc__ctx_call)

/*
 * First code of a fresh context, reached by the jmp of RESTORE: rax holds
 * the word passed, r12 the entry function, r13 its argument. rsp is 16-byte
 * aligned here (see pc__ctx_make), so the call leaves the ABI's alignment.
 * The zero return address above terminates debugger backtraces.
 */
FUNC(pc__ctx_start)
	.cfi_startproc
	.cfi_undefined rip
	movq	%rax, %rdi
	movq	%r13, %rsi
	call	*%r12
	ud2
	.cfi_endproc
END(pc__ctx_start)

/*
 * pc__notify_entry - where a notification's signal frame returns to,
 * directly or by way of pc__notify_landing (below). The CPU holds the
 * interrupted uthread's registers, except that rip is here and rsp
 * points just below its red zone, at the interrupted rip:
 *
 *     rsp+0     interrupted rip
 *     rsp+8     the uthread's save area (struct pc__xarea), or 0
 *     rsp+16    the 128-byte red zone, untouched
 *     rsp+144   the interrupted rsp
 *
 * Saves flags and every general register on this stack, and the vector
 * state in the save area's image if there is one, else on this stack:
 * with XSAVEC (pc__xsave_ok 2) only the components in use, which
 * XGETBV(1) reports, plus x87 and SSE (for the control words),
 * compacted; else the whole XSAVE state (1), or FXSAVE (0). Here XCR0
 * enables AMX, and the whole state is 11008 bytes against about 1-3 KiB
 * in use; the area holds all but AMX's, so a uthread with AMX tiles in
 * use saves on its stack. Then it enters vcore context through
 * pc__notify_interrupted() (a cooperative leave) and, when the uthread is
 * resumed, on whatever vcore, restores all of it, clears the area's busy
 * mark (xarea.c) and returns with ret $136, which leaves rsp exactly as
 * it was interrupted.
 *
 * Registers past the pushes: rbx the pushed frame, r12 the image.
 */
/*
 * Zeroes the XSAVE header at 512(\base), clobbering eax: XRSTOR faults
 * on a header that is not zero where XSAVE and XSAVEC leave it.
 */
.macro ZERO_XSAVE_HEADER base
	xorl	%eax, %eax
	.irp off, 512, 520, 528, 536, 544, 552, 560, 568
	movq	%rax, \off(\base)
	.endr
.endm

/* r12 := room on the stack for %rcx bytes of image, 64-byte aligned. */
.macro STACK_IMAGE
	subq	%rcx, %rsp
	andq	$-64, %rsp
	movq	%rsp, %r12
.endm

#define XAREA_BUSY 0
#define XAREA_IMAGE 64
#define FRAME_AREA 136 /* 16 pushes, then the rip */

/*
 * pc__notify_landing - where a redirected signal frame that was not on
 * an alternate stack returns to. rsp points at three words the handler
 * left in the frame's siginfo, which sigreturn does not read
 * (arch/x86/kernel/signal_64.c reads the ucontext and the vector state
 * only):
 *
 *     rsp+0     interrupted rip
 *     rsp+8     the save area, or 0
 *     rsp+16    the interrupted rsp
 *
 * Such a frame (the program disabled the alternate stack, or it is
 * disarmed under a handler of the program's running there) was on the
 * stack in use, just below the red zone, where the handler could not
 * have written pc__notify_entry's two words without landing in the
 * frame's vector state and its end marker (sigreturn then restores x87
 * and SSE only). The frame is dead now: this copies the words below the
 * red zone, moves there, and goes on into pc__notify_entry. The frame
 * lies below those two words, so nothing is overwritten before it is
 * read. Only mov, lea, push and pop: the flags stay the uthread's.
 * (A frame on the alternate stack returns to pc__notify_entry directly:
 * with SS_AUTODISARM, a signal arriving while the stack pointer was
 * still in the frame would start a new frame at the top of that stack,
 * over these words.)
 */
FUNC(pc__notify_landing)
	pushq	%rax
	pushq	%rcx
	movq	32(%rsp), %rax		/* the interrupted rsp */
	movq	16(%rsp), %rcx
	movq	%rcx, -144(%rax)	/* the rip, for ret $136 */
	movq	24(%rsp), %rcx
	movq	%rcx, -136(%rax)	/* the save area */
	movq	8(%rsp), %rcx
	movq	%rcx, -152(%rax)	/* rax, popped there */
	popq	%rcx
	leaq	-152(%rax), %rsp
	popq	%rax
	jmp	pc__notify_entry
END(pc__notify_landing)

FUNC(pc__notify_entry)
	pushfq
	cld
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rbx
	movq	FRAME_AREA(%rbx), %r12
	cmpl	$2, pc__xsave_ok(%rip)
	je	6f
	/* FXSAVE or XSAVE of everything: the area is sized for it. */
	testq	%r12, %r12
	jz	1f
	addq	$XAREA_IMAGE, %r12
	jmp	2f
1:	movq	pc__xsave_size(%rip), %rcx
	STACK_IMAGE
2:	cmpl	$0, pc__xsave_ok(%rip)
	je	3f
	ZERO_XSAVE_HEADER %r12
	movl	$-1, %eax
	movl	$-1, %edx
	xsave64	(%r12)
	jmp	9f
3:	fxsave64 (%r12)
	jmp	9f
	/*
	 * XSAVEC: the components in use. On the stack, in as much room as
	 * they take: without AMX tiles in use that is pc__xsave_small, a
	 * few KiB; a full reservation (11008 bytes here) would overflow the
	 * smallest stacks (16 KiB) of a uthread interrupted deep in its calls.
	 */
6:	movl	$1, %ecx
	xgetbv				/* edx:eax := XINUSE */
	orl	$3, %eax		/* x87 and SSE: FCW and MXCSR always */
	movl	%eax, %r13d		/* saved above: free until the pops */
	movl	%edx, %r14d
	testl	$0x60000, %eax		/* AMX tile config or data */
	jnz	7f
	testq	%r12, %r12
	jz	8f
	addq	$XAREA_IMAGE, %r12
	jmp	5f
7:	movq	pc__xsave_size(%rip), %rcx
	STACK_IMAGE
	jmp	5f
8:	movq	pc__xsave_small(%rip), %rcx
	STACK_IMAGE
5:	ZERO_XSAVE_HEADER %r12
	movl	%r13d, %eax
	movl	%r14d, %edx
	xsavec64 (%r12)
9:	/* Vcore context starts from the ABI's FP state. */
	andq	$-16, %rsp		/* the image may be elsewhere */
	fninit
	movl	$0x1f80, -8(%rsp)	/* below everything saved: free */
	ldmxcsr	-8(%rsp)
	call	pc__notify_interrupted
	cmpl	$0, pc__xsave_ok(%rip)
	je	3f
	movl	$-1, %eax
	movl	$-1, %edx
	xrstor64 (%r12)
	jmp	4f
3:	fxrstor64 (%r12)
4:	movq	FRAME_AREA(%rbx), %rax
	testq	%rax, %rax
	jz	5f
	movl	$0, XAREA_BUSY(%rax)	/* the image is spent */
5:	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	popfq
	ret	$136
END(pc__notify_entry)

/* void pc__ctx_make(struct pc__ctx *ctx, void *stack_hi, entry, void *arg) */
FUNC(pc__ctx_make)
	andq	$-16, %rsi
	/* 0(hi-16): end of frames; the ret below consumes the slot at hi-24. */
	movq	$0, -8(%rsi)
	movq	$0, -16(%rsi)
	leaq	pc__ctx_start(%rip), %rax
	movq	%rax, -24(%rsi)		/* return address */
	movq	$0, -32(%rsi)		/* rbp */
	movq	$0, -40(%rsi)		/* rbx */
	movq	%rdx, -48(%rsi)		/* r12: entry */
	movq	%rcx, -56(%rsi)		/* r13: arg */
	movq	$0, -64(%rsi)		/* r14 */
	movq	$0, -72(%rsi)		/* r15 */
	movl	$0x1f80, -80(%rsi)	/* MXCSR: all exceptions masked */
	movw	$0x037f, -76(%rsi)	/* x87 CW: ABI default */
	movw	$0, -74(%rsi)
	leaq	-80(%rsi), %rax
	movq	%rax, (%rdi)
	ret
END(pc__ctx_make)

	.section .note.GNU-stack, "", @progbits

#if defined(__CET__) && (__CET__ & 1)
/*
 * Mark the object IBT-compatible (every entry has endbr64). Not SHSTK:
 * switching stacks by ret is what a shadow stack forbids.
 */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4		/* name size */
	.long	16		/* descriptor size */
	.long	5		/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002	/* GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4
	.long	1		/* IBT */
	.p2align 3
#endif
