/*
 * test_arch.c - the context-switch contract of src/lib/arch/arch.h.
 *
 * Portable: the same cases run against src/lib/arch/x86_64/switch.S and,
 * under qemu-aarch64 (scripts/check-aarch64.sh), against
 * src/lib/arch/aarch64/switch.S. Only the two register probes at the top
 * are per architecture; they are assembly because C cannot pin a value in
 * a callee-saved register across a call, and the point is to see exactly
 * those registers come back.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <stdint.h>
#include <string.h>

#include "../../src/lib/arch/arch.h"
#include "../harness/test.h"

/*
 * The runtime's callbacks that switch.S may call (pc__ctx_pop and
 * pc__ctx_switch_irq, tested in test_arch_irq.c); nothing here makes it.
 */
int pc__notify_reenter(const void *popped_sp);
int pc__notify_interrupted(void);
void pc__notify_deferred(void);
int pc__notify_reenter(const void *popped_sp)
{
	(void)popped_sp;
	test_fail(__FILE__, __LINE__, "pc__notify_reenter called");
}

int pc__notify_interrupted(void)
{
	test_fail(__FILE__, __LINE__, "pc__notify_interrupted called");
}

void pc__notify_deferred(void)
{
	test_fail(__FILE__, __LINE__, "pc__notify_deferred called");
}

#if defined(__x86_64__)
uint64_t pc__xsave_size = 512;
uint64_t pc__xsave_small = 512;
int pc__xsave_ok;
int pc__pop_fence = 1; /* read by pc__ctx_pop */
#endif

/* 64 KiB holds every frame these cases build, with a wide margin. */
#define STACK_SIZE (64 * 1024)
/* Bytes just above each stack's top that nothing may write. */
#define GUARD 256
#define CANARY 0xa5

/* Any function, for the probe to call: casts to it are well-defined. */
typedef void (*any_fn)(void);

/*
 * The register probe: test_regs_call() saves its caller's callee-saved
 * registers, loads seed + 1, seed + 2, ... into every one of them (on
 * aarch64 the low halves of v8-v15 too), calls fn(a0, a1, a2, a3), and
 * stores what the registers hold after fn returns into out[]. Called with
 * fn = pc__ctx_switch, the values in out[] are whatever the switch
 * restored; the other context loads different values before switching
 * back, so out[] matches the seed only if the switch saved and restored
 * each register.
 */
#if defined(__x86_64__)
#define NREGS 6
static const char *const reg_names[NREGS] = {
	"rbx", "rbp", "r12", "r13", "r14", "r15",
};
#elif defined(__aarch64__)
#define NREGS 19
static const char *const reg_names[NREGS] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15",
};
#else
#error "test_arch.c: no register probe for this architecture"
#endif

struct regs_probe {
	uintptr_t seed;		/* offset 0: read by the assembly */
	uintptr_t out[NREGS];	/* offset 8 */
};

__attribute__((visibility("hidden"))) void *
test_regs_call(any_fn fn, void *a0, void *a1, void *a2, void *a3,
	       struct regs_probe *p);
/* Returns the stack pointer at its call site. */
__attribute__((visibility("hidden"))) uintptr_t test_caller_sp(void);

#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".globl test_regs_call\n"
	".hidden test_regs_call\n"
	".type test_regs_call, @function\n"
	"test_regs_call:\n"
	"	pushq	%rbp\n"
	"	pushq	%rbx\n"
	"	pushq	%r12\n"
	"	pushq	%r13\n"
	"	pushq	%r14\n"
	"	pushq	%r15\n"
	/* 7 pushes + the return address: rsp is 16-aligned at the call. */
	"	pushq	%r9\n"
	"	movq	%rdi, %rax\n"
	"	movq	%rsi, %rdi\n"
	"	movq	%rdx, %rsi\n"
	"	movq	%rcx, %rdx\n"
	"	movq	%r8, %rcx\n"
	"	movq	(%r9), %r10\n"
	"	leaq	1(%r10), %rbx\n"
	"	leaq	2(%r10), %rbp\n"
	"	leaq	3(%r10), %r12\n"
	"	leaq	4(%r10), %r13\n"
	"	leaq	5(%r10), %r14\n"
	"	leaq	6(%r10), %r15\n"
	"	call	*%rax\n"
	"	popq	%r9\n"
	"	movq	%rbx, 8(%r9)\n"
	"	movq	%rbp, 16(%r9)\n"
	"	movq	%r12, 24(%r9)\n"
	"	movq	%r13, 32(%r9)\n"
	"	movq	%r14, 40(%r9)\n"
	"	movq	%r15, 48(%r9)\n"
	"	popq	%r15\n"
	"	popq	%r14\n"
	"	popq	%r13\n"
	"	popq	%r12\n"
	"	popq	%rbx\n"
	"	popq	%rbp\n"
	"	ret\n"
	".size test_regs_call, . - test_regs_call\n"
	"\n"
	".globl test_caller_sp\n"
	".hidden test_caller_sp\n"
	".type test_caller_sp, @function\n"
	"test_caller_sp:\n"
	"	leaq	8(%rsp), %rax\n"
	"	ret\n"
	".size test_caller_sp, . - test_caller_sp\n"
	".popsection\n");
#elif defined(__aarch64__)
__asm__(".pushsection .text\n"
	".globl test_regs_call\n"
	".hidden test_regs_call\n"
	".type test_regs_call, %function\n"
	"test_regs_call:\n"
	"	hint	#34\n" /* bti c; a NOP without BTI */
	"	stp	x29, x30, [sp, #-176]!\n"
	"	mov	x29, sp\n"
	"	stp	x19, x20, [sp, #16]\n"
	"	stp	x21, x22, [sp, #32]\n"
	"	stp	x23, x24, [sp, #48]\n"
	"	stp	x25, x26, [sp, #64]\n"
	"	stp	x27, x28, [sp, #80]\n"
	"	stp	d8, d9, [sp, #96]\n"
	"	stp	d10, d11, [sp, #112]\n"
	"	stp	d12, d13, [sp, #128]\n"
	"	stp	d14, d15, [sp, #144]\n"
	"	str	x5, [sp, #160]\n"
	"	mov	x16, x0\n"
	"	mov	x0, x1\n"
	"	mov	x1, x2\n"
	"	mov	x2, x3\n"
	"	mov	x3, x4\n"
	"	ldr	x9, [x5]\n"
	"	add	x19, x9, #1\n"
	"	add	x20, x9, #2\n"
	"	add	x21, x9, #3\n"
	"	add	x22, x9, #4\n"
	"	add	x23, x9, #5\n"
	"	add	x24, x9, #6\n"
	"	add	x25, x9, #7\n"
	"	add	x26, x9, #8\n"
	"	add	x27, x9, #9\n"
	"	add	x28, x9, #10\n"
	"	add	x29, x9, #11\n"
	"	add	x10, x9, #12\n"
	"	fmov	d8, x10\n"
	"	add	x10, x9, #13\n"
	"	fmov	d9, x10\n"
	"	add	x10, x9, #14\n"
	"	fmov	d10, x10\n"
	"	add	x10, x9, #15\n"
	"	fmov	d11, x10\n"
	"	add	x10, x9, #16\n"
	"	fmov	d12, x10\n"
	"	add	x10, x9, #17\n"
	"	fmov	d13, x10\n"
	"	add	x10, x9, #18\n"
	"	fmov	d14, x10\n"
	"	add	x10, x9, #19\n"
	"	fmov	d15, x10\n"
	"	blr	x16\n"
	"	ldr	x5, [sp, #160]\n"
	"	stp	x19, x20, [x5, #8]\n"
	"	stp	x21, x22, [x5, #24]\n"
	"	stp	x23, x24, [x5, #40]\n"
	"	stp	x25, x26, [x5, #56]\n"
	"	stp	x27, x28, [x5, #72]\n"
	"	str	x29, [x5, #88]\n"
	"	stp	d8, d9, [x5, #96]\n"
	"	stp	d10, d11, [x5, #112]\n"
	"	stp	d12, d13, [x5, #128]\n"
	"	stp	d14, d15, [x5, #144]\n"
	"	ldp	d8, d9, [sp, #96]\n"
	"	ldp	d10, d11, [sp, #112]\n"
	"	ldp	d12, d13, [sp, #128]\n"
	"	ldp	d14, d15, [sp, #144]\n"
	"	ldp	x19, x20, [sp, #16]\n"
	"	ldp	x21, x22, [sp, #32]\n"
	"	ldp	x23, x24, [sp, #48]\n"
	"	ldp	x25, x26, [sp, #64]\n"
	"	ldp	x27, x28, [sp, #80]\n"
	"	ldp	x29, x30, [sp], #176\n"
	"	ret\n"
	".size test_regs_call, . - test_regs_call\n"
	"\n"
	".globl test_caller_sp\n"
	".hidden test_caller_sp\n"
	".type test_caller_sp, %function\n"
	"test_caller_sp:\n"
	"	hint	#34\n"
	"	mov	x0, sp\n"
	"	ret\n"
	".size test_caller_sp, . - test_caller_sp\n"
	".popsection\n");
#endif

static void probe_check(const struct regs_probe *p, int line)
{
	for (int i = 0; i < NREGS; i++) {
		uintptr_t want = p->seed + (uintptr_t)i + 1;

		if (p->out[i] != want)
			test_fail(__FILE__, line, "%s is %#jx, want %#jx",
				  reg_names[i], (uintmax_t)p->out[i],
				  (uintmax_t)want);
	}
}

/* [lo, hi) is the stack; GUARD bytes of canary lie above hi. */
struct stack {
	unsigned char *lo;
	unsigned char *hi;	/* 16-byte aligned */
};

static void stack_init(struct stack *s)
{
	s->lo = aligned_alloc(64, STACK_SIZE + GUARD);
	ASSERT_TRUE(s->lo != NULL);
	s->hi = s->lo + STACK_SIZE;
	memset(s->lo, 0, STACK_SIZE);
	memset(s->hi, CANARY, GUARD);
}

static int stack_has(const struct stack *s, const void *p)
{
	uintptr_t a = (uintptr_t)p;

	return a >= (uintptr_t)s->lo && a < (uintptr_t)s->hi;
}

/* Checks nothing wrote above the stack's top, then frees it. */
static void stack_fini(struct stack *s)
{
	for (int i = 0; i < GUARD; i++)
		ASSERT_EQ(s->hi[i], CANARY);
	free(s->lo);
}

/*
 * Checks the ABI's stack alignment in the caller, whose own alignment
 * follows from that of whatever entered the stack: both the call-site sp
 * and an _Alignas(16) local are 16-byte aligned only if the function that
 * the assembly called was entered as the ABI says. The local's address
 * goes through an empty asm so the compiler cannot fold the test away.
 */
static __attribute__((noinline)) void check_alignment(void)
{
	_Alignas(16) volatile char probe[16];
	uintptr_t a = (uintptr_t)probe;

	probe[0] = 0;
	__asm__ volatile("" : "+r"(a));
	ASSERT_EQ(a & 15, 0);
	ASSERT_EQ(test_caller_sp() & 15, 0);
}

/* Each case runs in its own child, so these start zeroed in every case. */
static struct pc__ctx main_ctx, co_ctx, co2_ctx;
static struct stack stack1, stack2;

/* ---- words pass through a switch, both ways ---- */

#define PING_ROUNDS 100000

static void pong_entry(void *prev, void *arg)
{
	ASSERT_PTR_EQ(arg, &co_ctx);
	for (uintptr_t i = 0;; i++) {
		ASSERT_EQ((uintptr_t)prev, 2 * i);
		prev = pc__ctx_switch(&co_ctx, &main_ctx,
				      (void *)(2 * i + 1));
	}
}

TEST(ping_pong_passes_words)
{
	stack_init(&stack1);
	pc__ctx_make(&co_ctx, stack1.hi, pong_entry, &co_ctx);
	for (uintptr_t i = 0; i < PING_ROUNDS; i++) {
		void *r = pc__ctx_switch(&main_ctx, &co_ctx, (void *)(2 * i));

		ASSERT_EQ((uintptr_t)r, 2 * i + 1);
	}
	stack_fini(&stack1);
}

/* ---- a fresh context's entry gets (prev, arg) ---- */

static void *seen_prev, *seen_arg, *seen2_prev, *seen2_arg;

static void args2_entry(void *prev, void *arg)
{
	seen2_prev = prev;
	seen2_arg = arg;
	check_alignment();
	pc__ctx_jump(&main_ctx, (void *)0x600d);
}

static void args_entry(void *prev, void *arg)
{
	seen_prev = prev;
	seen_arg = arg;
	check_alignment();
	/* A fresh context can be started by a jump as well. */
	pc__ctx_make(&co2_ctx, stack2.hi, args2_entry, (void *)0xa2);
	pc__ctx_jump(&co2_ctx, (void *)0x92);
}

TEST(entry_gets_prev_and_arg)
{
	void *r;

	stack_init(&stack1);
	stack_init(&stack2);
	pc__ctx_make(&co_ctx, stack1.hi, args_entry, (void *)0xa1);
	r = pc__ctx_switch(&main_ctx, &co_ctx, (void *)0x91);
	ASSERT_PTR_EQ(r, (void *)0x600d);
	ASSERT_PTR_EQ(seen_prev, (void *)0x91);
	ASSERT_PTR_EQ(seen_arg, (void *)0xa1);
	ASSERT_PTR_EQ(seen2_prev, (void *)0x92);
	ASSERT_PTR_EQ(seen2_arg, (void *)0xa2);
	stack_fini(&stack1);
	stack_fini(&stack2);
}

/* ---- a ring of contexts, each passing itself as the runtime does ---- */

#define RING 5
#define RING_ARRIVALS 50001

static struct pc__ctx ring[RING];
static int arrivals;

static void ring_entry(void *prev, void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	const struct pc__ctx *before = me == 0 ? &main_ctx : &ring[me - 1];

	for (;;) {
		ASSERT_PTR_EQ(prev, before);
		if (++arrivals == RING_ARRIVALS)
			pc__ctx_jump(&main_ctx, &ring[me]);
		prev = pc__ctx_switch(&ring[me], &ring[(me + 1) % RING],
				      &ring[me]);
		before = &ring[(me + RING - 1) % RING];
	}
}

TEST(ring_passes_previous_context)
{
	struct stack s[RING];
	void *r;

	for (uintptr_t i = 0; i < RING; i++) {
		stack_init(&s[i]);
		pc__ctx_make(&ring[i], s[i].hi, ring_entry, (void *)i);
	}
	r = pc__ctx_switch(&main_ctx, &ring[0], &main_ctx);
	ASSERT_EQ(arrivals, RING_ARRIVALS);
	/* Arrival k (from 1) happens in ring[(k - 1) % RING]. */
	ASSERT_PTR_EQ(r, &ring[(RING_ARRIVALS - 1) % RING]);
	for (int i = 0; i < RING; i++)
		stack_fini(&s[i]);
}

/* ---- callee-saved registers survive, whoever clobbers them ---- */

#define REGS_ROUNDS 1000
#define SEED_MAIN ((uintptr_t)0x5ca1ab1e00000000ull)
#define SEED_CO ((uintptr_t)0xdeadbeef00000000ull)

static void regs_entry(void *prev, void *arg)
{
	struct regs_probe p;

	(void)arg;
	for (uintptr_t i = 0;; i++) {
		ASSERT_EQ((uintptr_t)prev, i);
		p.seed = SEED_CO ^ (i << 8);
		prev = test_regs_call((any_fn)pc__ctx_switch, &co_ctx,
				      &main_ctx, (void *)(i + 100), NULL, &p);
		probe_check(&p, __LINE__);
	}
}

TEST(callee_saved_survive_switch)
{
	struct regs_probe p;

	stack_init(&stack1);
	pc__ctx_make(&co_ctx, stack1.hi, regs_entry, NULL);
	for (uintptr_t i = 0; i < REGS_ROUNDS; i++) {
		void *r;

		p.seed = SEED_MAIN ^ (i << 8);
		r = test_regs_call((any_fn)pc__ctx_switch, &main_ctx, &co_ctx,
				   (void *)i, NULL, &p);
		ASSERT_EQ((uintptr_t)r, i + 100);
		probe_check(&p, __LINE__);
	}
	stack_fini(&stack1);
}

static void regs_call_fn(void *from, void *arg)
{
	struct regs_probe *p = arg;

	p->seed = SEED_CO;
	test_regs_call((any_fn)pc__ctx_jump, from, (void *)0x77, NULL, NULL, p);
	test_fail(__FILE__, __LINE__, "pc__ctx_jump returned");
}

TEST(callee_saved_survive_save_call)
{
	struct regs_probe p, other;

	stack_init(&stack1);
	for (uintptr_t i = 0; i < REGS_ROUNDS; i++) {
		void *r;

		p.seed = SEED_MAIN ^ (i << 8);
		r = test_regs_call((any_fn)pc__ctx_save_call, &main_ctx,
				   stack1.hi, (void *)regs_call_fn, &other, &p);
		ASSERT_EQ((uintptr_t)r, 0x77);
		probe_check(&p, __LINE__);
	}
	stack_fini(&stack1);
}

/* ---- the floating-point control state belongs to each context ---- */

/* 1/3 is inexact, so its rounding shows the rounding mode in force. */
static __attribute__((noinline)) double third(void)
{
	volatile double one = 1.0, three = 3.0;

	return one / three;
}

static double third_up, third_down, third_near;

static void fp_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	/* pc__ctx_make gives the ABI defaults, not the maker's mode. */
	ASSERT_EQ(fegetround(), FE_TONEAREST);
	ASSERT_TRUE(third() == third_near);
	ASSERT_EQ(fesetround(FE_DOWNWARD), 0);
	pc__ctx_switch(&co_ctx, &main_ctx, NULL);
	ASSERT_EQ(fegetround(), FE_DOWNWARD);
	ASSERT_TRUE(third() == third_down);
	pc__ctx_jump(&main_ctx, NULL);
}

TEST(fp_control_is_per_context)
{
	ASSERT_EQ(fesetround(FE_UPWARD), 0);
	third_up = third();
	ASSERT_EQ(fesetround(FE_DOWNWARD), 0);
	third_down = third();
	ASSERT_EQ(fesetround(FE_TONEAREST), 0);
	third_near = third();
	ASSERT_TRUE(third_up > third_down);

	stack_init(&stack1);
	ASSERT_EQ(fesetround(FE_UPWARD), 0);
	pc__ctx_make(&co_ctx, stack1.hi, fp_entry, NULL);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_EQ(fegetround(), FE_UPWARD);
	ASSERT_TRUE(third() == third_up);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_EQ(fegetround(), FE_UPWARD);
	ASSERT_TRUE(third() == third_up);
	ASSERT_EQ(fesetround(FE_TONEAREST), 0);
	stack_fini(&stack1);
}

/*
 * The status flags are the thread's, not each context's: a switch loads
 * the control bits only, so a flag raised on one side is seen on the
 * other, and one cleared stays cleared (arch.h). Checked across both
 * kinds of resume: after a save (pc__ctx_switch) and from nothing
 * (pc__ctx_jump).
 */
static void flags_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	ASSERT_EQ(fetestexcept(FE_ALL_EXCEPT), 0);
	third(); /* raises FE_INEXACT */
	pc__ctx_switch(&co_ctx, &main_ctx, NULL);
	ASSERT_EQ(fetestexcept(FE_ALL_EXCEPT), 0);
	third();
	pc__ctx_jump(&main_ctx, NULL);
}

TEST(fp_status_flags_carry_across_switches)
{
	stack_init(&stack1);
	feclearexcept(FE_ALL_EXCEPT);
	pc__ctx_make(&co_ctx, stack1.hi, flags_entry, NULL);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_EQ(fetestexcept(FE_ALL_EXCEPT), FE_INEXACT);
	feclearexcept(FE_ALL_EXCEPT);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_EQ(fetestexcept(FE_ALL_EXCEPT), FE_INEXACT);
	feclearexcept(FE_ALL_EXCEPT);
	stack_fini(&stack1);
}

static __attribute__((noinline)) double divide(double a, double b)
{
	volatile double x = a, y = b;

	return x / y;
}

static void traps_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	ASSERT_EQ(fegetexcept(), 0);
	/* Would raise SIGFPE if the SSE or FP trap were unmasked here. */
	ASSERT_TRUE(divide(1.0, 0.0) > 1e300);
	pc__ctx_jump(&main_ctx, NULL);
}

TEST(fresh_context_masks_fp_traps)
{
	if (feenableexcept(FE_DIVBYZERO) == -1 ||
	    !(fegetexcept() & FE_DIVBYZERO))
		SKIP("FP traps not supported here");
	stack_init(&stack1);
	pc__ctx_make(&co_ctx, stack1.hi, traps_entry, NULL);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_EQ(fegetexcept(), FE_DIVBYZERO);
	fedisableexcept(FE_ALL_EXCEPT);
	stack_fini(&stack1);
}

/* ---- pc__ctx_save_call ---- */

#define CALL_ROUNDS 10000

struct call_seen {
	void *from;
	void *arg;
	uintptr_t local;
	uintptr_t word;
};

static void save_call_fn(void *from, void *arg)
{
	struct call_seen *c = arg;
	int local = 0;

	c->from = from;
	c->arg = arg;
	c->local = (uintptr_t)&local;
	__asm__ volatile("" : : "r"(&local) : "memory");
	check_alignment();
	pc__ctx_jump(from, (void *)c->word);
}

TEST(save_call_runs_fn_on_new_stack)
{
	struct call_seen c;

	stack_init(&stack1);
	for (uintptr_t i = 0; i < CALL_ROUNDS; i++) {
		void *r;

		memset(&c, 0, sizeof(c));
		c.word = i ^ 0x5a5a;
		r = pc__ctx_save_call(&main_ctx, stack1.hi, save_call_fn, &c);
		ASSERT_EQ((uintptr_t)r, i ^ 0x5a5a);
		ASSERT_PTR_EQ(c.from, &main_ctx);
		ASSERT_PTR_EQ(c.arg, &c);
		ASSERT_TRUE(stack_has(&stack1, (void *)c.local));
	}
	stack_fini(&stack1);
}

/*
 * The saved caller is complete before fn runs, so fn can hand it to
 * another context, which resumes it with a switch; that is how a uthread
 * moves between vcores.
 */
static void handoff_entry(void *prev, void *arg)
{
	void *r;

	(void)arg;
	r = pc__ctx_switch(&co_ctx, prev, (void *)1);
	ASSERT_PTR_EQ(r, (void *)2);
	pc__ctx_jump(&main_ctx, (void *)3);
}

static void handoff_fn(void *from, void *arg)
{
	(void)arg;
	pc__ctx_make(&co_ctx, stack2.hi, handoff_entry, NULL);
	pc__ctx_jump(&co_ctx, from);
}

TEST(save_call_fn_hands_off_caller)
{
	void *r;

	stack_init(&stack1);
	stack_init(&stack2);
	r = pc__ctx_save_call(&main_ctx, stack1.hi, handoff_fn, NULL);
	ASSERT_PTR_EQ(r, (void *)1);
	r = pc__ctx_switch(&main_ctx, &co_ctx, (void *)2);
	ASSERT_PTR_EQ(r, (void *)3);
	stack_fini(&stack1);
	stack_fini(&stack2);
}

/* ---- pc__ctx_call and pc__ctx_jump abandon the caller's stack ---- */

/*
 * Each round calls the next on the same stack: were the old frames kept,
 * the rounds would overflow 64 KiB long before the end, and the locals
 * would not sit at the same address every time.
 */
#define ABANDON_ROUNDS 100000

static uintptr_t first_local;

static void call_fn(void *arg0, void *arg1)
{
	uintptr_t n = (uintptr_t)arg0;
	int local = 0;

	__asm__ volatile("" : : "r"(&local) : "memory");
	ASSERT_PTR_EQ(arg1, &stack2);
	ASSERT_TRUE(stack_has(&stack2, &local));
	if (n == ABANDON_ROUNDS)
		first_local = (uintptr_t)&local;
	ASSERT_EQ((uintptr_t)&local, first_local);
	check_alignment();
	if (n == 0)
		pc__ctx_jump(&main_ctx, (void *)0xd0e);
	pc__ctx_call(stack2.hi, call_fn, (void *)(n - 1), &stack2);
}

static void call_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	pc__ctx_call(stack2.hi, call_fn, (void *)ABANDON_ROUNDS, &stack2);
}

/*
 * 100,000 abandoned frames without fiber hooks overflow TSan's shadow call
 * stack. These cases test the bare assembly, which has no hooks by design;
 * the runtime's own switches (context.c) carry them and run under TSan.
 */
static void skip_under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
	SKIP("raw stack abandonment is not modelled by TSan");
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	SKIP("raw stack abandonment is not modelled by TSan");
#endif
#endif
}

TEST(call_abandons_stack)
{
	void *r;

	skip_under_tsan();

	stack_init(&stack1);
	stack_init(&stack2);
	pc__ctx_make(&co_ctx, stack1.hi, call_entry, NULL);
	r = pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_PTR_EQ(r, (void *)0xd0e);
	stack_fini(&stack1);
	stack_fini(&stack2);
}

/*
 * Two stacks take turns: each round makes a fresh context on the stack the
 * previous round left, and jumps to it.
 */
static uintptr_t first_local_on[2];

static void jump_entry(void *prev, void *arg)
{
	uintptr_t n = (uintptr_t)prev, which = (uintptr_t)arg;
	struct stack *mine = which ? &stack2 : &stack1;
	struct stack *other = which ? &stack1 : &stack2;
	struct pc__ctx *next = which ? &co_ctx : &co2_ctx;
	int local = 0;

	__asm__ volatile("" : : "r"(&local) : "memory");
	ASSERT_TRUE(stack_has(mine, &local));
	if (n >= ABANDON_ROUNDS - 1)
		first_local_on[which] = (uintptr_t)&local;
	ASSERT_EQ((uintptr_t)&local, first_local_on[which]);
	if (n == 0)
		pc__ctx_jump(&main_ctx, (void *)0xd0e);
	pc__ctx_make(next, other->hi, jump_entry, (void *)(1 - which));
	pc__ctx_jump(next, (void *)(n - 1));
}

TEST(jump_abandons_stack)
{
	void *r;

	skip_under_tsan();

	stack_init(&stack1);
	stack_init(&stack2);
	pc__ctx_make(&co_ctx, stack1.hi, jump_entry, (void *)0);
	r = pc__ctx_switch(&main_ctx, &co_ctx, (void *)ABANDON_ROUNDS);
	ASSERT_PTR_EQ(r, (void *)0xd0e);
	stack_fini(&stack1);
	stack_fini(&stack2);
}

/* ---- what a debugger sees on a fresh stack ---- */

/*
 * The frame-pointer chain of a fresh context's entry must end (a zero
 * frame pointer) within its own stack, so backtraces stop there instead
 * of wandering into whatever the maker's frames were.
 */
static void chain_entry(void *prev, void *arg)
{
	void **fp = __builtin_frame_address(0);
	uintptr_t steps = 0;

	(void)prev;
	(void)arg;
	while (fp) {
		ASSERT_TRUE(stack_has(&stack1, fp));
		ASSERT_LT(++steps, 8);
		fp = *fp;
	}
	pc__ctx_jump(&main_ctx, (void *)steps);
}

TEST(fresh_frame_chain_ends)
{
	void *r;

	stack_init(&stack1);
	/* Leave the stack full of pointers back into itself. */
	for (size_t i = 0; i < STACK_SIZE / sizeof(void *); i++)
		((void **)stack1.lo)[i] = stack1.hi - 64;
	pc__ctx_make(&co_ctx, stack1.hi, chain_entry, NULL);
	r = pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_GE((uintptr_t)r, 1);
	stack_fini(&stack1);
}

/* ---- nothing outside the stack is touched ---- */

static void noop_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	pc__ctx_jump(&main_ctx, NULL);
}

static void noop_call_fn(void *from, void *arg)
{
	(void)arg;
	pc__ctx_jump(from, NULL);
}

TEST(make_writes_only_below_stack_hi)
{
	struct pc__ctx before;

	stack_init(&stack1);
	memset(stack1.lo, CANARY, STACK_SIZE);
	pc__ctx_make(&co_ctx, stack1.hi, noop_entry, NULL);
	before = co_ctx;
	ASSERT_TRUE(stack_has(&stack1, co_ctx.sp));
	/* The saved area is small: the bottom of the stack is untouched. */
	for (size_t i = 0; i < STACK_SIZE - 1024; i++)
		ASSERT_EQ(stack1.lo[i], CANARY);
	pc__ctx_switch(&main_ctx, &co_ctx, NULL);
	ASSERT_PTR_EQ(co_ctx.sp, before.sp);
	pc__ctx_save_call(&main_ctx, stack1.hi, noop_call_fn, NULL);
	stack_fini(&stack1);
}
