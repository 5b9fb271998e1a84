/*
 * test_arch_irq.c - the interrupt half of the switch contract (arch.h):
 * pc__ctx_pop's enable and recheck, pc__ctx_switch_irq's hand-over of the
 * nopreempt count, and (x86-64) pc__notify_entry bringing back every
 * register of a uthread interrupted at an arbitrary instruction.
 *
 * Linked against the assembly alone (scripts/check-aarch64.sh does so
 * literally): the runtime's callbacks that the assembly calls are played
 * by this file, so that each case sees exactly what the assembly did.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../../src/lib/arch/arch.h"
#include "../harness/test.h"

#define STACK_SIZE (64 * 1024)

static struct pc__ctx main_ctx, co_ctx;
static unsigned int notif_disabled, notif_pending;
static struct pc__irq irq;

/* ---- the runtime's side, played by the test ---- */

static int reenter_calls, deferred_calls;
static unsigned int disabled_at_reenter;
#if defined(__x86_64__)
static volatile int tramp_hits __attribute__((used)); /* test_victim reads it */
#endif

/* The pop found notif_pending: the runtime would enter vcore context. */
int pc__notify_reenter(const void *popped_sp);
int pc__notify_reenter(const void *popped_sp)
{
	(void)popped_sp;
	reenter_calls++;
	disabled_at_reenter = notif_disabled;
	notif_pending = 0;
#if defined(__x86_64__)
	tramp_hits++;
	/* What vcore context may do to the registers a call may clobber. */
	__asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\t"
			 "movdqa %%xmm0, %%xmm1\n\t"
			 "movdqa %%xmm0, %%xmm7\n\t"
			 "movdqa %%xmm0, %%xmm15\n\t"
			 "movq $-1, %%rax\n\t"
			 "movq $-1, %%rcx\n\t"
			 "movq $-1, %%rdx\n\t"
			 "movq $-1, %%rsi\n\t"
			 "movq $-1, %%r8\n\t"
			 "movq $-1, %%r11\n\t"
			 :
			 :
			 : "xmm0", "xmm1", "xmm7", "xmm15", "rax", "rcx",
			   "rdx", "rsi", "r8", "r11", "cc");
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\t"
				 "vmovdqa %%ymm2, %%ymm9\n\t"
				 "vzeroupper" ::: "xmm2", "xmm9");
#endif
	return 0;
}

/* pc__notify_entry's call: the same, for an interrupted uthread. */
int pc__notify_interrupted(void);
int pc__notify_interrupted(void)
{
	return pc__notify_reenter(NULL);
}

/* A direct switch ended the nopreempt section with a deferred notice. */
void pc__notify_deferred(void);
void pc__notify_deferred(void)
{
	deferred_calls++;
	irq.deferred = 0;
}

#if defined(__x86_64__)
/*
 * Read by pc__notify_entry: save with FXSAVE here, or XSAVE (1) or
 * XSAVEC (2) when probed; the XSAVEC reservation is the full size here.
 */
uint64_t pc__xsave_size = 512;
uint64_t pc__xsave_small = 512;
int pc__xsave_ok;
int pc__pop_fence = 1; /* read by pc__ctx_pop */
#endif

static void *stack_new(void)
{
	char *lo = aligned_alloc(64, STACK_SIZE);

	ASSERT_TRUE(lo != NULL);
	memset(lo, 0, STACK_SIZE);
	return lo + STACK_SIZE;
}

/* ---- pc__ctx_pop ---- */

static int co_ran;
static unsigned int disabled_in_co;
static int reenters_in_co;

static void co_entry(void *prev, void *arg)
{
	(void)prev;
	(void)arg;
	co_ran++;
	disabled_in_co = notif_disabled;
	reenters_in_co = reenter_calls;
	pc__ctx_jump(&main_ctx, (void *)1);
}

/* "Vcore context": pops co off its transition stack. */
static void pop_to_co(void *from, void *arg)
{
	(void)from;
	(void)arg;
	pc__ctx_pop(&co_ctx, &notif_disabled, &notif_pending);
}

static void pop_once(unsigned int pending)
{
	void *tstack = stack_new(), *r;

	pc__ctx_make(&co_ctx, stack_new(), co_entry, NULL);
	notif_disabled = 1;
	notif_pending = pending;
	r = pc__ctx_save_call(&main_ctx, tstack, pop_to_co, NULL);
	ASSERT_PTR_EQ(r, (void *)1);
	ASSERT_EQ(co_ran, 1);
	ASSERT_EQ(disabled_in_co, 0);
}

TEST(pop_enables_notifications_and_resumes)
{
	pop_once(0);
	ASSERT_EQ(reenter_calls, 0);
	ASSERT_EQ(reenters_in_co, 0);
}

TEST(pop_with_an_event_pending_reenters_first)
{
	pop_once(1);
	/* Once, before the target ran, with notifications already enabled. */
	ASSERT_EQ(reenter_calls, 1);
	ASSERT_EQ(reenters_in_co, 1);
	ASSERT_EQ(disabled_at_reenter, 0);
}

/* ---- pc__ctx_switch_irq ---- */

static void irq_partner(void *prev, void *arg)
{
	(void)arg;
	for (;;)
		prev = pc__ctx_switch(&co_ctx, &main_ctx, prev);
}

/* One switch to the partner and back, entered with @np and @deferred. */
static void switch_irq_once(unsigned int np, unsigned int deferred)
{
	void *r;

	irq.nopreempt = np;
	irq.deferred = deferred;
	r = pc__ctx_switch_irq(&main_ctx, &co_ctx, (void *)7, &irq);
	/* The partner returned what it got; 0 after a deferred call. */
	ASSERT_PTR_EQ(r, deferred && np == 1 ? NULL : (void *)7);
	ASSERT_EQ(irq.nopreempt, np - 1);
}

TEST(switch_irq_hands_over_the_nopreempt_count)
{
	pc__ctx_make(&co_ctx, stack_new(), irq_partner, NULL);
	switch_irq_once(1, 0);
	ASSERT_EQ(deferred_calls, 0);
	switch_irq_once(2, 1); /* still inside a section: not yet */
	ASSERT_EQ(deferred_calls, 0);
#if !defined(__SANITIZE_ADDRESS__)
	switch_irq_once(1, 1); /* section over: take it, as the target */
	ASSERT_EQ(deferred_calls, 1);
	ASSERT_EQ(irq.deferred, 0);
#endif
}

/* ---- pc__notify_entry (x86-64) ---- */

#if defined(__x86_64__)
/*
 * test_victim() loads a pattern into every general register but rsp, into
 * ymm0-15 (xmm0-15 without AVX) and MXCSR (round toward zero), spins
 * until the interrupt ran, and returns 0 if all of it is still there, or
 * the number of the first thing that changed. Registers are compared
 * against the patterns without using any other register.
 */
int test_victim(int avx);
extern const char test_spin[], test_spin_end[];

__asm__(".text\n"
	".globl test_victim\n"
	".type test_victim, @function\n"
	"test_victim:\n"
	"	pushq %rbp\n pushq %rbx\n pushq %r12\n"
	"	pushq %r13\n pushq %r14\n pushq %r15\n"
	"	subq $24, %rsp\n"
	"	stmxcsr 16(%rsp)\n"
	"	movl $0x7f80, 8(%rsp)\n"
	"	ldmxcsr 8(%rsp)\n"
	"	movl %edi, 12(%rsp)\n" /* avx flag, kept on the stack */
	"	leaq test_pat(%rip), %rax\n"
	"	cmpl $0, 12(%rsp)\n"
	"	je 1f\n"
	"	vmovdqu 0(%rax), %ymm0\n vmovdqu 32(%rax), %ymm1\n"
	"	vmovdqu 64(%rax), %ymm2\n vmovdqu 96(%rax), %ymm3\n"
	"	vmovdqu 128(%rax), %ymm4\n vmovdqu 160(%rax), %ymm5\n"
	"	vmovdqu 192(%rax), %ymm6\n vmovdqu 224(%rax), %ymm7\n"
	"	vmovdqu 256(%rax), %ymm8\n vmovdqu 288(%rax), %ymm9\n"
	"	vmovdqu 320(%rax), %ymm10\n vmovdqu 352(%rax), %ymm11\n"
	"	vmovdqu 384(%rax), %ymm12\n vmovdqu 416(%rax), %ymm13\n"
	"	vmovdqu 448(%rax), %ymm14\n vmovdqu 480(%rax), %ymm15\n"
	"	jmp 2f\n"
	"1:	movdqu 0(%rax), %xmm0\n movdqu 32(%rax), %xmm1\n"
	"	movdqu 64(%rax), %xmm2\n movdqu 96(%rax), %xmm3\n"
	"	movdqu 128(%rax), %xmm4\n movdqu 160(%rax), %xmm5\n"
	"	movdqu 192(%rax), %xmm6\n movdqu 224(%rax), %xmm7\n"
	"	movdqu 256(%rax), %xmm8\n movdqu 288(%rax), %xmm9\n"
	"	movdqu 320(%rax), %xmm10\n movdqu 352(%rax), %xmm11\n"
	"	movdqu 384(%rax), %xmm12\n movdqu 416(%rax), %xmm13\n"
	"	movdqu 448(%rax), %xmm14\n movdqu 480(%rax), %xmm15\n"
	"2:	movabsq $0x1111111111111101, %rax\n"
	"	movabsq $0x2222222222222202, %rbx\n"
	"	movabsq $0x3333333333333303, %rcx\n"
	"	movabsq $0x4444444444444404, %rdx\n"
	"	movabsq $0x5555555555555505, %rsi\n"
	"	movabsq $0x6666666666666606, %rdi\n"
	"	movabsq $0x7777777777777707, %rbp\n"
	"	movabsq $0x8888888888888808, %r8\n"
	"	movabsq $0x9999999999999909, %r9\n"
	"	movabsq $0xaaaaaaaaaaaaaa0a, %r10\n"
	"	movabsq $0xbbbbbbbbbbbbbb0b, %r11\n"
	"	movabsq $0xcccccccccccccc0c, %r12\n"
	"	movabsq $0xdddddddddddddd0d, %r13\n"
	"	movabsq $0xeeeeeeeeeeeeee0e, %r14\n"
	"	movabsq $0xffffffffffffff0f, %r15\n"
	".globl test_spin\n"
	"test_spin:\n"
	"	cmpl $0, tramp_hits(%rip)\n"
	"	je test_spin\n"
	".globl test_spin_end\n"
	"test_spin_end:\n"
	"	movq %rax, 0(%rsp)\n" /* free rax for the checks */
	"	movabsq $0x1111111111111101, %rax\n cmpq %rax, 0(%rsp)\n jne 9f\n"
	"	movabsq $0x2222222222222202, %rax\n cmpq %rax, %rbx\n jne 9f\n"
	"	movabsq $0x3333333333333303, %rax\n cmpq %rax, %rcx\n jne 9f\n"
	"	movabsq $0x4444444444444404, %rax\n cmpq %rax, %rdx\n jne 9f\n"
	"	movabsq $0x5555555555555505, %rax\n cmpq %rax, %rsi\n jne 9f\n"
	"	movabsq $0x6666666666666606, %rax\n cmpq %rax, %rdi\n jne 9f\n"
	"	movabsq $0x7777777777777707, %rax\n cmpq %rax, %rbp\n jne 9f\n"
	"	movabsq $0x8888888888888808, %rax\n cmpq %rax, %r8\n jne 9f\n"
	"	movabsq $0x9999999999999909, %rax\n cmpq %rax, %r9\n jne 9f\n"
	"	movabsq $0xaaaaaaaaaaaaaa0a, %rax\n cmpq %rax, %r10\n jne 9f\n"
	"	movabsq $0xbbbbbbbbbbbbbb0b, %rax\n cmpq %rax, %r11\n jne 9f\n"
	"	movabsq $0xcccccccccccccc0c, %rax\n cmpq %rax, %r12\n jne 9f\n"
	"	movabsq $0xdddddddddddddd0d, %rax\n cmpq %rax, %r13\n jne 9f\n"
	"	movabsq $0xeeeeeeeeeeeeee0e, %rax\n cmpq %rax, %r14\n jne 9f\n"
	"	movabsq $0xffffffffffffff0f, %rax\n cmpq %rax, %r15\n jne 9f\n"
	/* Vector registers: store each and compare with its pattern. */
	"	cmpl $0, 12(%rsp)\n"
	"	je 5f\n"
	"	leaq test_out(%rip), %rax\n"
	"	vmovdqu %ymm0, 0(%rax)\n vmovdqu %ymm1, 32(%rax)\n"
	"	vmovdqu %ymm2, 64(%rax)\n vmovdqu %ymm3, 96(%rax)\n"
	"	vmovdqu %ymm4, 128(%rax)\n vmovdqu %ymm5, 160(%rax)\n"
	"	vmovdqu %ymm6, 192(%rax)\n vmovdqu %ymm7, 224(%rax)\n"
	"	vmovdqu %ymm8, 256(%rax)\n vmovdqu %ymm9, 288(%rax)\n"
	"	vmovdqu %ymm10, 320(%rax)\n vmovdqu %ymm11, 352(%rax)\n"
	"	vmovdqu %ymm12, 384(%rax)\n vmovdqu %ymm13, 416(%rax)\n"
	"	vmovdqu %ymm14, 448(%rax)\n vmovdqu %ymm15, 480(%rax)\n"
	"	vzeroupper\n"
	"	jmp 6f\n"
	"5:	leaq test_out(%rip), %rax\n"
	"	movdqu %xmm0, 0(%rax)\n movdqu %xmm1, 32(%rax)\n"
	"	movdqu %xmm2, 64(%rax)\n movdqu %xmm3, 96(%rax)\n"
	"	movdqu %xmm4, 128(%rax)\n movdqu %xmm5, 160(%rax)\n"
	"	movdqu %xmm6, 192(%rax)\n movdqu %xmm7, 224(%rax)\n"
	"	movdqu %xmm8, 256(%rax)\n movdqu %xmm9, 288(%rax)\n"
	"	movdqu %xmm10, 320(%rax)\n movdqu %xmm11, 352(%rax)\n"
	"	movdqu %xmm12, 384(%rax)\n movdqu %xmm13, 416(%rax)\n"
	"	movdqu %xmm14, 448(%rax)\n movdqu %xmm15, 480(%rax)\n"
	"6:	stmxcsr 8(%rsp)\n"
	"	movl 8(%rsp), %eax\n"
	"	andl $0xffc0, %eax\n"
	"	cmpl $0x7f80, %eax\n"
	"	movl $100, %eax\n"
	"	jne 8f\n"
	"	xorl %eax, %eax\n"
	"	jmp 8f\n"
	"9:	movl $1, %eax\n"
	"8:	ldmxcsr 16(%rsp)\n"
	"	addq $24, %rsp\n"
	"	popq %r15\n popq %r14\n popq %r13\n"
	"	popq %r12\n popq %rbx\n popq %rbp\n"
	"	ret\n"
	".size test_victim, . - test_victim\n");

unsigned char test_pat[512], test_out[512]; /* read by test_victim */
static struct pc__xarea *test_area; /* the handler's area; NULL: stack */
static bool test_landing; /* by pc__notify_landing, no alternate stack */

static void redirect_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t *w;

	(void)sig;
	if (si->si_code != SI_TKILL || (uintptr_t)g[REG_RIP] <
						  (uintptr_t)test_spin ||
	    (uintptr_t)g[REG_RIP] >= (uintptr_t)test_spin_end)
		return; /* not in the loop yet: the sender tries again */
	/*
	 * As notify.c's redirect() does: on the alternate stack, rip and
	 * area below the red zone; on the victim's own, those and rsp in
	 * the siginfo, for the landing.
	 */
	if (test_landing) {
		w = (uint64_t *)(void *)si;
		w[2] = (uint64_t)g[REG_RSP];
	} else {
		w = (uint64_t *)(g[REG_RSP] - 128 - 16);
	}
	w[0] = (uint64_t)g[REG_RIP];
	w[1] = (uint64_t)(uintptr_t)test_area;
	if (test_area)
		test_area->busy = 1;
	g[REG_RSP] = (greg_t)w;
	g[REG_RIP] = (greg_t)(test_landing ? pc__notify_landing :
					     pc__notify_entry);
}

/* Signals the victim until the trampoline ran (it may be early). */
static void *sender(void *arg)
{
	pid_t tid = *(pid_t *)arg;

	while (!tramp_hits) {
		syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
		usleep(1000);
	}
	return NULL;
}

/*
 * Interrupts test_victim() through pc__notify_entry, saving by @xsave,
 * into a save area if @area, else on the stack; with the handler on an
 * alternate stack, or if @landing on the victim's stack, by way of
 * pc__notify_landing.
 */
static void run_victim(int xsave, int avx, bool area, bool landing)
{
#if defined(__SANITIZE_THREAD__)
	/* TSan runs handlers later, not on the interrupted frame. */
	(void)xsave;
	(void)avx;
	(void)area;
	(void)landing;
	SKIP("TSan does not deliver signals on the interrupted frame");
#endif
	static char alt[64 * 1024];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
	struct sigaction sa;
	pthread_t th;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int r;

	for (unsigned int i = 0; i < sizeof(test_pat); i++)
		test_pat[i] = (unsigned char)(i * 7 + 3);
	if (xsave) {
		unsigned int a, b, c, d;

		__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			: "a"(0xd), "c"(0));
		pc__xsave_size = pc__xsave_small = b;
		pc__xsave_ok = xsave;
	}
	if (area) {
		size_t n = sizeof(*test_area) + ((pc__xsave_size + 63) & ~63ul);

		test_area = aligned_alloc(64, n);
		ASSERT_NE(test_area, NULL);
		memset(test_area, 0xcc, n);
		test_area->busy = 0;
	}
	test_landing = landing;
	if (landing)
		ss.ss_flags = SS_DISABLE;
	ASSERT_EQ(sigaltstack(&ss, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = redirect_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	ASSERT_EQ(pthread_create(&th, NULL, sender, &tid), 0);
	r = test_victim(avx);
	pthread_join(th, NULL);
	ASSERT_EQ(r, 0);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(memcmp(test_out + 32 * i, test_pat + 32 * i,
				 avx ? 32 : 16),
			  0);
	if (area) {
		/* The image went there (xmm0 at 160 of the legacy area), and
		 * the entry cleared the busy mark after restoring from it. */
		ASSERT_NE(memcmp(test_area->image + 160,
				 "\xcc\xcc\xcc\xcc\xcc\xcc\xcc\xcc", 8),
			  0);
		ASSERT_EQ(test_area->busy, 0);
		free(test_area);
		test_area = NULL;
	}
}

TEST(notify_entry_keeps_every_register_fxsave)
{
	run_victim(0, 0, false, false);
	ASSERT_GE(reenter_calls, 1);
}

/* Skips the case unless the OS enabled XSAVE (and, with @compact, the
 * CPU has XSAVEC and XGETBV(1)). */
static void need_xsave(bool compact)
{
	unsigned int a, b, c, d;

	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)))
		SKIP("no OSXSAVE");
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(1));
	if (compact && (a & 0x6) != 0x6)
		SKIP("no XSAVEC or XGETBV(1)");
}

TEST(notify_entry_keeps_every_register_xsave)
{
	need_xsave(false);
	run_victim(1, __builtin_cpu_supports("avx"), false, false);
	ASSERT_GE(reenter_calls, 1);
}

TEST(notify_entry_keeps_every_register_xsavec)
{
	need_xsave(true);
	run_victim(2, __builtin_cpu_supports("avx"), false, false);
	ASSERT_GE(reenter_calls, 1);
}

/* The same saves into a uthread's save area instead of its stack. */
TEST(notify_entry_keeps_every_register_fxsave_area)
{
	run_victim(0, 0, true, false);
}

TEST(notify_entry_keeps_every_register_xsave_area)
{
	need_xsave(false);
	run_victim(1, __builtin_cpu_supports("avx"), true, false);
}

TEST(notify_entry_keeps_every_register_xsavec_area)
{
	need_xsave(true);
	run_victim(2, __builtin_cpu_supports("avx"), true, false);
}

/* With no alternate stack: the handler's frame below the red zone. */
TEST(notify_landing_keeps_every_register_xsavec)
{
	need_xsave(true);
	run_victim(2, __builtin_cpu_supports("avx"), false, true);
	ASSERT_GE(reenter_calls, 1);
}

TEST(notify_landing_keeps_every_register_xsavec_area)
{
	need_xsave(true);
	run_victim(2, __builtin_cpu_supports("avx"), true, true);
}
#endif
