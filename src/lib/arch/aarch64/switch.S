/*
 * aarch64 context switch (AAPCS64); the contract is in ../arch.h.
 *
 * A suspended stack looks like this, from the saved sp upwards (176 bytes,
 * a multiple of 16: Linux has the CPU fault any sp-relative access while
 * sp is not 16-byte aligned):
 *
 *     sp+0    x29 (fp)    sp+8    x30 (lr: where the resume returns to)
 *     sp+16   x19         sp+24   x20
 *     sp+32   x21         sp+40   x22
 *     sp+48   x23         sp+56   x24
 *     sp+64   x25         sp+72   x26
 *     sp+80   x27         sp+88   x28
 *     sp+96   d8          sp+104  d9
 *     sp+112  d10         sp+120  d11
 *     sp+128  d12         sp+136  d13
 *     sp+144  d14         sp+152  d15
 *     sp+160  FPCR        sp+168  padding
 *
 * x29 and x30 come first so that the saved sp is the address of a valid
 * frame record: a tool can walk a suspended stack's frame chain from it.
 * Only the low 64 bits of v8-v15 are callee-saved (AAPCS64 6.1.2), which
 * is what d8-d15 hold; FPSR (the sticky status flags) is not saved.
 *
 * The word passed through a switch travels in x0 (the suspended call's
 * return value) and, for a fresh context, stays in x0 as the entry's first
 * argument.
 */

/*
 * With BTI enforced, every function that may be reached by an indirect
 * call (a function pointer, a PLT or a linker veneer) must begin with a
 * "bti c" landing pad. "hint #34" is its encoding, a NOP without BTI.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint #34
#else
#define BTI_C
#endif

#define FUNC(name)			\
	.globl name;			\
	.hidden name;			\
	.type name, %function;		\
	.p2align 4;			\
name:					\
	BTI_C

#define END(name) .size name, . - name

#define FRAME 176

	.text

/*
 * Store the callee-saved state below sp, then the new sp into \ctx. With
 * cfi=1 (inside a .cfi_startproc), tell unwinders where x29 and x30 went.
 */
.macro SAVE_FRAME cfi=0
	stp	x29, x30, [sp, #-FRAME]!
	.if \cfi
	.cfi_def_cfa_offset FRAME
	.cfi_offset x29, -FRAME
	.cfi_offset x30, -FRAME + 8
	.endif
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
.endm

/* SAVE_FRAME, then sp -> \ctx. */
.macro SAVE ctx, cfi=0
	SAVE_FRAME \cfi
	mov	x9, sp
	str	x9, [\ctx]
.endm

/*
 * SAVE_FRAME into \from's ctx and move to \to's stack. The saved sp is
 * stored last, from \to's stack, with release: a fast yield has queued
 * \from already (context-switch.md), and once the store is seen another
 * vcore may resume it, so everything before must be seen with it and
 * nothing may touch its stack after, not even a signal frame.
 */
.macro SAVE_AND_SWITCH from, to
	SAVE_FRAME
	mov	x10, sp
	ldr	x9, [\to]
	mov	sp, x9
	stlr	x10, [\from]
.endm

/*
 * void *pc__ctx_switch(struct pc__ctx *from, const struct pc__ctx *to,
 *		       void *pass)
 */
	.globl	pc__ctx_switch_tail
	.hidden	pc__ctx_switch_tail
	.set	pc__ctx_switch_tail, pc__ctx_switch
FUNC(pc__ctx_switch)
	SAVE_AND_SWITCH x0, x1
	mov	x0, x2
	b	restore
END(pc__ctx_switch)

/*
 * void *pc__ctx_switch_irq(struct pc__ctx *from, const struct pc__ctx *to,
 *			    void *pass, struct pc__irq *irq)
 * See x86_64/switch.S: lower irq->nopreempt on @to's stack, and call
 * pc__notify_deferred() as @to if it reached 0 with irq->deferred set.
 */
	.globl	pc__ctx_switch_irq_tail
	.hidden	pc__ctx_switch_irq_tail
	.set	pc__ctx_switch_irq_tail, pc__ctx_switch_irq
FUNC(pc__ctx_switch_irq)
	SAVE_AND_SWITCH x0, x1
	mov	x0, x2
	ldr	w9, [x3]
	subs	w9, w9, #1
	str	w9, [x3]
#if !defined(__SANITIZE_ADDRESS__)
	b.ne	restore
	ldr	w9, [x3, #4]
	cbz	w9, restore
	bl	pc__notify_deferred
	mov	x0, #0
#endif
	b	restore
END(pc__ctx_switch_irq)

/*
 * void pc__ctx_pop(const struct pc__ctx *to, unsigned *notif_disabled,
 *		    const unsigned *notif_pending)
 * See x86_64/switch.S: on @to's stack, enable, full barrier, recheck.
 */
FUNC(pc__ctx_pop)
	ldr	x9, [x0]
	mov	sp, x9
	str	wzr, [x1]
	dmb	ish
	ldr	w9, [x2]
	cbz	w9, 1f
	mov	x0, sp
	bl	pc__notify_reenter
1:	mov	x0, #0
	b	restore
END(pc__ctx_pop)

/* void pc__ctx_jump(const struct pc__ctx *to, void *pass) */
FUNC(pc__ctx_jump)
	ldr	x9, [x0]
	mov	sp, x9
	mov	x0, x1
restore:
	/*
	 * A write to FPCR may stall the pipeline on some cores, and the
	 * value rarely differs from the one in the register, so write it
	 * only when it does.
	 */
	ldr	x9, [sp, #160]
	mrs	x10, fpcr
	cmp	x9, x10
	b.ne	1f
2:	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #FRAME
	ret
1:	msr	fpcr, x9
	b	2b
END(pc__ctx_jump)

/*
 * void *pc__ctx_save_call(struct pc__ctx *from, void *stack_hi, fn,
 *			  void *arg)
 *
 * fn runs with x29 pointing at the frame record that SAVE left on the old
 * stack, so a backtrace from fn goes on into the suspended caller. The CFI
 * says the same thing to DWARF unwinders.
 */
	.globl	pc__ctx_save_call_tail
	.hidden	pc__ctx_save_call_tail
	.set	pc__ctx_save_call_tail, pc__ctx_save_call
FUNC(pc__ctx_save_call)
	.cfi_startproc
	SAVE	x0, cfi=1
	mov	x29, sp
	.cfi_def_cfa_register x29
	mov	sp, x1
	mov	x1, x3
	blr	x2
	brk	#0
	.cfi_endproc
END(pc__ctx_save_call)

/*
 * void pc__ctx_call(void *stack_hi, fn, void *arg0, void *arg1)
 *
 * The old stack is gone, so fn's frame chain ends here: x29 = 0, and the
 * CFI marks the return address undefined.
 */
FUNC(pc__ctx_call)
	.cfi_startproc
	mov	sp, x0
	.cfi_undefined x30
	mov	x29, #0
	mov	x9, x1
	mov	x0, x2
	mov	x1, x3
	blr	x9
	brk	#0
	.cfi_endproc
END(pc__ctx_call)

/*
 * First code of a fresh context, reached by the ret of restore: x0 holds
 * the word passed, x19 the entry function, x20 its argument, x29 the
 * address of the all-zero frame record at the top of the stack (see
 * pc__ctx_make), which ends the frame chain for unwinders that follow x29;
 * the CFI ends it for those that read DWARF. sp is 16-byte aligned.
 * Reached by ret, which BTI does not check, but the landing pad costs
 * nothing and keeps FUNC uniform.
 */
FUNC(pc__ctx_start)
	.cfi_startproc
	.cfi_undefined x30
	mov	x1, x20
	blr	x19
	brk	#0
	.cfi_endproc
END(pc__ctx_start)

/* void pc__ctx_make(struct pc__ctx *ctx, void *stack_hi, entry, void *arg) */
FUNC(pc__ctx_make)
	and	x1, x1, #-16
	/* hi-16: the terminal frame record {fp = 0, lr = 0}. */
	stp	xzr, xzr, [x1, #-16]
	sub	x10, x1, #16
	/* The saved area sits below it; restore leaves sp = hi-16. */
	sub	x9, x1, #16 + FRAME
	adr	x11, pc__ctx_start
	stp	x10, x11, [x9, #0]	/* x29: terminal record, x30 */
	stp	x2, x3, [x9, #16]	/* x19: entry, x20: arg */
	stp	xzr, xzr, [x9, #32]	/* x21, x22 */
	stp	xzr, xzr, [x9, #48]	/* x23, x24 */
	stp	xzr, xzr, [x9, #64]	/* x25, x26 */
	stp	xzr, xzr, [x9, #80]	/* x27, x28 */
	stp	xzr, xzr, [x9, #96]	/* d8, d9 */
	stp	xzr, xzr, [x9, #112]	/* d10, d11 */
	stp	xzr, xzr, [x9, #128]	/* d12, d13 */
	stp	xzr, xzr, [x9, #144]	/* d14, d15 */
	/* FPCR 0: round to nearest, no traps, no flush-to-zero (ABI). */
	stp	xzr, xzr, [x9, #160]
	str	x9, [x0]
	ret
END(pc__ctx_make)

	.section .note.GNU-stack, "", %progbits

/*
 * Tell the linker this object is BTI-compatible; without the note, linking
 * it in turns BTI off for the whole binary. Only the BTI bit is set: the
 * switch stores return addresses unsigned, so it does not claim PAC.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
	.pushsection .note.gnu.property, "a"
	.balign	8
	.long	4			/* n_namesz */
	.long	16			/* n_descsz */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	1		/* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
	.long	0			/* pad to 8 bytes */
	.popsection
#endif
