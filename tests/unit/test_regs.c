/*
 * test_regs.c - registers survive preemption (the model is Akaros's xmm
 * test): uthreads fill the general registers, the carry flag and the
 * vector registers (SSE; AVX, AVX-512 and its mask registers where the
 * CPU has them) with patterns of their own, spin in a call-free loop
 * long enough to be preempted by a tick and moved between vcores, and
 * check every register afterwards, and the signal mask and alternate
 * stack. x86-64 only.
 */
#define _GNU_SOURCE
#include <parcore/parcore.h>
#include <alloca.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt.h"
#include "test.h"

#if defined(__x86_64__)

#include <cpuid.h>

/*
 * gp_spin(pattern, spins): r8-r15, rbx, rbp and r12-style callee-saved
 * registers get pattern + i, the carry flag pattern's bit 0; the loop
 * spins; returns how many of them changed. Saves what the ABI wants.
 */
__asm__(".text\n"
	".globl gp_spin\n"
	".type gp_spin, @function\n"
	"gp_spin:\n"
	"	push %rbx\n push %rbp\n push %r12\n push %r13\n"
	"	push %r14\n push %r15\n"
	"	lea 1(%rdi), %rbx\n lea 2(%rdi), %rbp\n lea 3(%rdi), %r8\n"
	"	lea 4(%rdi), %r9\n lea 5(%rdi), %r10\n lea 6(%rdi), %r11\n"
	"	lea 7(%rdi), %r12\n lea 8(%rdi), %r13\n lea 9(%rdi), %r14\n"
	"	lea 10(%rdi), %r15\n"
	"	bt $0, %rdi\n" /* CF := bit 0 of the pattern */
	"1:	dec %rsi\n jnz 1b\n" /* dec leaves CF alone */
	"	setc %al\n movzbl %al, %eax\n xor %rdi, %rax\n and $1, %eax\n"
	"	lea 1(%rdi), %rcx\n cmp %rcx, %rbx\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 2(%rdi), %rcx\n cmp %rcx, %rbp\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 3(%rdi), %rcx\n cmp %rcx, %r8\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 4(%rdi), %rcx\n cmp %rcx, %r9\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 5(%rdi), %rcx\n cmp %rcx, %r10\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 6(%rdi), %rcx\n cmp %rcx, %r11\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 7(%rdi), %rcx\n cmp %rcx, %r12\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 8(%rdi), %rcx\n cmp %rcx, %r13\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 9(%rdi), %rcx\n cmp %rcx, %r14\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	lea 10(%rdi), %rcx\n cmp %rcx, %r15\n setne %cl\n movzbl %cl, %ecx\n add %ecx, %eax\n"
	"	pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
	"	ret\n"
	".size gp_spin, .-gp_spin\n");
int gp_spin(uint64_t pattern, uint64_t spins);

/*
 * xmm_spin(pattern, spins): both halves of xmm0-15 get pattern + i;
 * returns how many halves changed.
 */
__asm__(".text\n"
	".globl xmm_spin\n"
	".type xmm_spin, @function\n"
	"xmm_spin:\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"	lea \\i(%rdi), %rax\n movq %rax, %xmm\\i\n"
	"	punpcklqdq %xmm\\i, %xmm\\i\n"
	".endr\n"
	"1:	dec %rsi\n jnz 1b\n"
	"	xor %edx, %edx\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"	lea \\i(%rdi), %rcx\n"
	"	movq %xmm\\i, %rax\n cmp %rcx, %rax\n setne %al\n"
	"	movzbl %al, %eax\n add %eax, %edx\n"
	"	pextrq $1, %xmm\\i, %rax\n cmp %rcx, %rax\n setne %al\n"
	"	movzbl %al, %eax\n add %eax, %edx\n"
	".endr\n"
	"	mov %edx, %eax\n ret\n"
	".size xmm_spin, .-xmm_spin\n");
int xmm_spin(uint64_t pattern, uint64_t spins);

/*
 * ymm_spin: the upper halves of ymm0-15 (AVX2 broadcast); zmm_spin: the
 * upper 256 bits of zmm0-15, all of zmm16-31 and k1-k7 (AVX-512F).
 * Each returns how many registers changed.
 */
__asm__(".text\n"
	".globl ymm_spin\n"
	".type ymm_spin, @function\n"
	"ymm_spin:\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"	lea \\i(%rdi), %rax\n vmovq %rax, %xmm\\i\n"
	"	vpbroadcastq %xmm\\i, %ymm\\i\n"
	".endr\n"
	"1:	dec %rsi\n jnz 1b\n"
	"	xor %edx, %edx\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"	lea \\i(%rdi), %rcx\n"
	"	vextracti128 $1, %ymm\\i, %xmm\\i\n"
	"	vpextrq $1, %xmm\\i, %rax\n cmp %rcx, %rax\n setne %al\n"
	"	movzbl %al, %eax\n add %eax, %edx\n"
	".endr\n"
	"	vzeroupper\n mov %edx, %eax\n ret\n"
	".size ymm_spin, .-ymm_spin\n"
	".globl zmm_spin\n"
	".type zmm_spin, @function\n"
	"zmm_spin:\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"	lea \\i(%rdi), %rax\n vpbroadcastq %rax, %zmm\\i\n"
	".endr\n"
	".irp i,1,2,3,4,5,6,7\n"
	"	lea \\i(%rdi), %rax\n kmovw %eax, %k\\i\n"
	".endr\n"
	"1:	dec %rsi\n jnz 1b\n"
	"	xor %edx, %edx\n"
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"	lea \\i(%rdi), %rcx\n"
	"	vextracti64x4 $1, %zmm\\i, %ymm0\n vextracti128 $1, %ymm0, %xmm0\n"
	"	vpextrq $1, %xmm0, %rax\n cmp %rcx, %rax\n setne %al\n"
	"	movzbl %al, %eax\n add %eax, %edx\n"
	".endr\n"
	".irp i,1,2,3,4,5,6,7\n"
	"	lea \\i(%rdi), %rcx\n kmovw %k\\i, %eax\n cmp %cx, %ax\n setne %al\n"
	"	movzbl %al, %eax\n add %eax, %edx\n"
	".endr\n"
	"	vzeroupper\n mov %edx, %eax\n ret\n"
	".size zmm_spin, .-zmm_spin\n");
int ymm_spin(uint64_t pattern, uint64_t spins);
int zmm_spin(uint64_t pattern, uint64_t spins);

static bool has_avx2, has_avx512;

static void probe(void)
{
	unsigned int a, b, c, d, lo, hi;

	/* The OS must save the state too (XCR0), which XGETBV tells. */
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return;
	has_avx2 = (lo & 0x6) == 0x6 && (b & bit_AVX2);
	has_avx512 = (lo & 0xe6) == 0xe6 && (b & bit_AVX512F);
}

/*
 * Each phase spins about 0.2-0.5 ms here: several 100 us quanta, so a
 * uthread is interrupted in the middle of most of its phases.
 */
#define SPINS 600000ull
#define THREADS 2000
#define VCORES 4 /* on 2 CPUs: Linux time-slices them too */

static atomic_long bad, runs, moved;

/*
 * After its preemptions, wherever it runs: the notification signal is
 * not blocked (sigreturn restored the mask), the thread's alternate
 * stack is set up and not in use (the handler's frame is gone).
 */
static bool signal_state_right(void)
{
	sigset_t mask;
	stack_t ss;

	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) ||
	    sigismember(&mask, PC_NOTIFY_SIGNAL) || sigaltstack(NULL, &ss))
		return false;
	return !(ss.ss_flags & (SS_ONSTACK | SS_DISABLE)) && ss.ss_sp;
}

static void *fill_spin_check(void *arg)
{
	uint64_t pat = (uint64_t)(uintptr_t)arg << 32 | 0x5a5a0000u;
	int before = pc_vcore_id();

	atomic_fetch_add(&bad, gp_spin(pat, SPINS));
	atomic_fetch_add(&bad, xmm_spin(pat + 64, SPINS));
	if (has_avx2)
		atomic_fetch_add(&bad, ymm_spin(pat ^ 0x77, SPINS));
	if (has_avx512)
		atomic_fetch_add(&bad, zmm_spin(pat + 7, SPINS));
	if (pc_vcore_id() != before)
		atomic_fetch_add(&moved, 1);
	atomic_fetch_add(&bad, !signal_state_right());
	atomic_fetch_add(&runs, 1);
	return NULL;
}

/*
 * Two thousand uthreads on four vcores (two CPUs) under a 100 us
 * quantum, each with patterns of its own: their spins outlast the
 * quantum, so they are preempted in the middle of them, their vector
 * state saved in save areas of their own, and resumed, often on another
 * vcore; no register may change meanwhile.
 */
TEST(registers_survive_preemption_and_moves)
{
	static struct pc_thread *t[THREADS];
	struct pc_preempt_stats st;
	uint64_t preempted = 0, areas = 0;

	probe();
	ASSERT_EQ(pc_preempt_quantum_set(100 * 1000), 0);
	test_enter(VCORES);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	for (uintptr_t i = 0; i < THREADS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, fill_spin_check,
					   (void *)(i + 1)),
			  0);
	for (int i = 0; i < THREADS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int v = 0; v < VCORES; v++) {
		ASSERT_EQ(pc_preempt_stats(v, &st), 0);
		preempted += st.preemptions;
		areas += st.areas;
	}
	printf("  %llu preemptions, %llu save areas, %ld uthreads moved, "
	       "avx2 %d, avx-512 %d\n",
	       (unsigned long long)preempted, (unsigned long long)areas,
	       atomic_load(&moved), has_avx2, has_avx512);
	ASSERT_EQ(atomic_load(&bad), 0);
	ASSERT_EQ(atomic_load(&runs), THREADS);
	ASSERT_GT(preempted, 0);
	/* More than each vcore's first spare: vcore context refills them. */
	ASSERT_GT(areas, VCORES);
	ASSERT_GT(atomic_load(&moved), 0);
}

/* ---- the save's room on the stack ---- */

static uint64_t preemptions_of_0(void)
{
	struct pc_preempt_stats st;

	return pc_preempt_stats(0, &st) ? 0 : st.preemptions;
}

static atomic_int small_done;

#define DEEP_PREEMPTIONS 3

/*
 * About 11 KiB of frames, then a spin until vcore 0 has preempted
 * DEEP_PREEMPTIONS times (a fixed spin of about 10 ms saw only one in
 * 38 runs of 300 on a loaded machine), or about 5 s have passed.
 */
static long descend(int depth)
{
	volatile char frame[1024];

	frame[0] = (char)depth;
	if (depth > 0)
		return descend(depth - 1) + frame[0];
	for (int round = 0;
	     round < 10000 && preemptions_of_0() < DEEP_PREEMPTIONS; round++)
		for (volatile uint64_t i = 0; i < 1000000; i++)
			;
	return frame[0];
}

static void *deep_spinner(void *arg)
{
	(void)arg;
	descend(10);
	atomic_store(&small_done, 1);
	return NULL;
}

static void *keep_queued(void *arg)
{
	(void)arg;
	while (!atomic_load(&small_done))
		pc_thread_yield();
	return NULL;
}

/*
 * A uthread on the smallest stack (16 KiB), 11 KiB deep, is preempted
 * there again and again: the save must fit in what is left (a full XSAVE
 * area is 11008 bytes here; the save reserves only what XSAVEC writes
 * for the components that can be in use).
 */
TEST(a_uthread_on_the_smallest_stack_is_preempted_deep_in_it)
{
	struct pc_thread_attr attr = PC_THREAD_ATTR_INIT;
	struct pc_thread *t, *q;
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_preempt_quantum_set(1000 * 1000), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	attr.stack_size = PC_THREAD_STACK_MIN;
	attr.name = "deep";
	ASSERT_EQ(pc_thread_create(&t, &attr, deep_spinner, NULL), 0);
	ASSERT_EQ(pc_thread_create(&q, NULL, keep_queued, NULL), 0);
	ASSERT_EQ(pc_thread_join(t, NULL), 0);
	ASSERT_EQ(pc_thread_join(q, NULL), 0);
	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	ASSERT_GE(st.preemptions, DEEP_PREEMPTIONS);
}

/* ---- without an alternate stack ---- */

/*
 * Each spinner runs NOALT_ROUNDS phases, and more, up to
 * NOALT_ROUNDS_MAX (a few seconds), until vcore 0 has preempted
 * NOALT_PREEMPTIONS times (and the program's handler has run as often,
 * where it counts): with a fixed number, a loaded machine once saw 3.
 */
#define NOALT_ROUNDS 64
#define NOALT_ROUNDS_MAX 20000
#define NOALT_PREEMPTIONS 9

static atomic_int noalt_phases;
static atomic_long own_signals;
static bool counting_own;

static bool noalt_enough(void)
{
	return preemptions_of_0() >= NOALT_PREEMPTIONS &&
	       (!counting_own ||
		atomic_load(&own_signals) >= NOALT_PREEMPTIONS);
}

/*
 * One phase with the stack pointer at offset 16 * @k (k < 4) of a
 * cache line: the kernel's frame, and whatever the handler writes
 * below the red zone, then sit at a different place against the end
 * of the vector state in that frame.
 */
static __attribute__((noinline)) int spin_at(uint64_t pat, int k)
{
	volatile char *pad = alloca(16 * (size_t)k + 1);

	pad[0] = 0;
	return has_avx512 ? zmm_spin(pat, SPINS) : ymm_spin(pat, SPINS);
}

static void *noalt_spinner(void *arg)
{
	uint64_t pat = (uint64_t)(uintptr_t)arg << 32 | 0x3c3c0000u;

	for (int i = 0; i < NOALT_ROUNDS ||
			(i < NOALT_ROUNDS_MAX && !noalt_enough());
	     i++) {
		atomic_fetch_add(&bad, spin_at(pat + (uint64_t)i, i % 4));
		atomic_fetch_add(&noalt_phases, 1);
	}
	return NULL;
}

/* One vcore, a 100 us quantum, and AVX2 to watch; else the case skips. */
static void enter_one_preempted_vcore(void)
{
	probe();
	if (!has_avx2)
		SKIP("no AVX2: the test watches the upper halves of ymm");
	ASSERT_EQ(pc_preempt_quantum_set(100 * 1000), 0);
	test_enter(1);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
}

/* Uthreads running @fn(1) and @fn(2), joined: on this Linux thread. */
static void run_two(void *(*fn)(void *))
{
	struct pc_thread *t[2];

	for (uintptr_t i = 0; i < 2; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, fn, (void *)(i + 1)),
			  0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
}

/* After run_two(noalt_spinner): every phase ran, preempted, intact. */
static void check_noalt_spinners(void)
{
	struct pc_preempt_stats st;

	ASSERT_EQ(pc_preempt_stats(0, &st), 0);
	printf("  %llu preemptions\n", (unsigned long long)st.preemptions);
	ASSERT_EQ(atomic_load(&bad), 0);
	ASSERT_GE(atomic_load(&noalt_phases), 2 * NOALT_ROUNDS);
	ASSERT_GE(st.preemptions, NOALT_PREEMPTIONS);
}

/*
 * With the vcore thread's alternate stack disabled, the notification's
 * handler runs on the interrupted uthread's stack, its frame just below
 * the red zone: what the handler leaves for pc__notify_entry must not
 * land in that frame's vector state, which sigreturn restores. Written
 * just below the red zone, it overwrote the state's end marker in one
 * of the four alignments here; the kernel then restored x87 and SSE
 * only, and the upper halves of the vector registers came back zero.
 */
TEST(registers_survive_preemption_without_an_alternate_stack)
{
	stack_t off = { .ss_flags = SS_DISABLE }, old;

	enter_one_preempted_vcore();
	ASSERT_EQ(sigaltstack(&off, &old), 0);
	run_two(noalt_spinner);
	ASSERT_EQ(sigaltstack(&old, NULL), 0);
	check_noalt_spinners();
}

/* ---- the program's own alternate stack, disarmed in its handlers ---- */

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h */
#endif

static struct sigaction runtime_notify;

static void count_own(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_fetch_add(&own_signals, 1);
}

/* Sends the program's signal, blocked until sigreturn, then goes on. */
static void notify_then_own(int sig, siginfo_t *si, void *uc)
{
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	runtime_notify.sa_sigaction(sig, si, uc);
}

/* What own_signal_on_disarming_stack() replaced, to put back. */
struct own_signal {
	stack_t old_stack;
	struct sigaction old_action;
};

/*
 * The program's own alternate stack, @alt of @size bytes with
 * SS_AUTODISARM, on this thread, and @fn its SIGUSR1 handler, on that
 * stack (SA_SIGINFO: the kernel then writes the frame's siginfo).
 */
static void own_signal_on_disarming_stack(struct own_signal *o, char *alt,
					  size_t size,
					  void (*fn)(int, siginfo_t *, void *))
{
	stack_t ss = { .ss_sp = alt,
		       .ss_size = size,
		       .ss_flags = (int)SS_AUTODISARM };
	struct sigaction own = { .sa_sigaction = fn,
				 .sa_flags = SA_SIGINFO | SA_ONSTACK |
					     SA_RESTART };

	ASSERT_EQ(sigaltstack(&ss, &o->old_stack), 0);
	sigemptyset(&own.sa_mask);
	ASSERT_EQ(sigaction(SIGUSR1, &own, &o->old_action), 0);
}

static void own_signal_restore(const struct own_signal *o)
{
	ASSERT_EQ(sigaction(SIGUSR1, &o->old_action, NULL), 0);
	ASSERT_EQ(sigaltstack(&o->old_stack, NULL), 0);
}

/*
 * The program keeps an alternate stack of its own with SS_AUTODISARM on
 * the vcore's thread (vcore 0's may be the program's). A notification's
 * frame is then on that stack, and the kernel starts the next signal's
 * frame at its top again, whatever the stack pointer: nothing the
 * uthread needs after sigreturn may stay in the frame. The test makes
 * one of the program's signals come at every sigreturn of a notification
 * (sent from a wrapper of the runtime's handler, with it blocked until
 * then). Returned into the frame, pc__notify_landing read that signal's
 * siginfo as its words: a crash in every run (a second reader's).
 */
TEST(registers_survive_preemption_with_a_self_disarming_alternate_stack)
{
	static char alt[64 * 1024];
	struct own_signal own;
	struct sigaction wrapper;

	enter_one_preempted_vcore();
	own_signal_on_disarming_stack(&own, alt, sizeof(alt), count_own);
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, NULL, &runtime_notify), 0);
	wrapper = runtime_notify;
	wrapper.sa_sigaction = notify_then_own;
	sigaddset(&wrapper.sa_mask, SIGUSR1);
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, &wrapper, NULL), 0);
	counting_own = true;
	run_two(noalt_spinner);
	ASSERT_EQ(sigaction(PC_NOTIFY_SIGNAL, &runtime_notify, NULL), 0);
	own_signal_restore(&own);
	printf("  %ld signals of the program's\n", atomic_load(&own_signals));
	check_noalt_spinners();
	ASSERT_GE(atomic_load(&own_signals), NOALT_PREEMPTIONS);
}

/*
 * A handler of the program's on an SS_AUTODISARM alternate stack, long
 * enough to be preempted in: the kernel disarmed the stack for it, so
 * the notification's frame goes on that stack below the handler's frame,
 * returns by way of pc__notify_landing, and the uthread is saved there,
 * inside the handler, while the other uthread runs and takes the same
 * signal on its own stack. One vcore, so the handler ends on the thread
 * whose stack it disarmed.
 */
#define DISARMED_ROUNDS 16
/* Rounds past DISARMED_ROUNDS while no handler was preempted yet. */
#define DISARMED_ROUNDS_MAX 5000

static atomic_int handlers_preempted;

static void spin_in_handler(int sig, siginfo_t *si, void *uc)
{
	uint64_t before = preemptions_of_0();

	(void)sig;
	(void)uc;
	for (int k = 0; k < 4; k++)
		atomic_fetch_add(&bad, spin_at((uint64_t)(uintptr_t)si + 77, k));
	if (preemptions_of_0() != before)
		atomic_fetch_add(&handlers_preempted, 1);
	atomic_fetch_add(&own_signals, 1);
}

static void *signal_and_spin(void *arg)
{
	uint64_t pat = (uint64_t)(uintptr_t)arg << 32 | 0x1e1e0000u;

	for (int i = 0; i < DISARMED_ROUNDS ||
			(i < DISARMED_ROUNDS_MAX &&
			 !atomic_load(&handlers_preempted));
	     i++) {
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
		atomic_fetch_add(&bad, spin_at(pat + (uint64_t)i, i % 4));
	}
	return NULL;
}

TEST(registers_survive_preemption_in_a_handler_on_a_disarmed_stack)
{
	static char alt[256 * 1024];
	struct own_signal own;

	enter_one_preempted_vcore();
	own_signal_on_disarming_stack(&own, alt, sizeof(alt), spin_in_handler);
	run_two(signal_and_spin);
	own_signal_restore(&own);
	printf("  %d of %ld handlers preempted\n",
	       atomic_load(&handlers_preempted), atomic_load(&own_signals));
	ASSERT_EQ(atomic_load(&bad), 0);
	/*
	 * Fewer handlers than signals: the thread's mask is the preempted
	 * handler's while the other uthread runs, and a signal it sends
	 * meanwhile waits, merged with the next.
	 */
	ASSERT_GT(atomic_load(&own_signals), 0);
	ASSERT_GT(atomic_load(&handlers_preempted), 0);
}

#else

TEST(registers_survive_preemption_and_moves)
{
	SKIP("x86-64 only");
}

TEST(registers_survive_preemption_with_a_self_disarming_alternate_stack)
{
	SKIP("x86-64 only");
}

TEST(registers_survive_preemption_in_a_handler_on_a_disarmed_stack)
{
	SKIP("x86-64 only");
}

TEST(registers_survive_preemption_without_an_alternate_stack)
{
	SKIP("x86-64 only");
}

#endif
