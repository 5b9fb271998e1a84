/*
 * test_rr.c - restartable regions (parcore/preempt.h): a per-vcore
 * counter incremented by many uthreads under constant preemption, with a
 * plain load, add and store in a region, ends exactly at the total.
 * Without the roll-back, an interrupt between the load and the store
 * lets another uthread of the vcore update the slot, and an increment
 * is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <stdint.h>
#include <stdio.h>

#include "rt.h"
#include "test.h"

#if defined(__x86_64__)

/* One slot per vcore, a cache line each. */
static struct {
	long v;
	char pad[56];
} slots[PC_VCORE_MAX] __attribute__((aligned(64)));

/*
 * rr_add(slots, n): slots[pc_rr_vcore].v += n, as a region. The delay
 * loop inside makes an interrupt land between the load and the commit
 * often, which the test needs: a region that is never interrupted proves
 * nothing.
 */
__asm__(".text\n"
	".globl rr_add, rr_start, rr_end\n"
	".type rr_add, @function\n"
	"rr_add:\n"
	"rr_start:\n"
	"	movq pc_rr_vcore@gottpoff(%rip), %rax\n"
	"	movslq %fs:(%rax), %rax\n"
	"	shlq $6, %rax\n"
	"	movq (%rdi,%rax), %rcx\n"
	"	addq %rsi, %rcx\n"
	"	movl $2000, %edx\n"
	"1:	decl %edx\n"
	"	jnz 1b\n"
	"	movq %rcx, (%rdi,%rax)\n" /* the commit */
	"rr_end:\n"
	"	ret\n"
	".size rr_add, .-rr_add\n");
void rr_add(void *slots, long n);
extern const char rr_start[], rr_end[];

TEST(bad_regions_are_refused)
{
	ASSERT_EQ(pc_rr_register(NULL, rr_end, rr_start), -EINVAL);
	ASSERT_EQ(pc_rr_register(rr_end, rr_start, rr_start), -EINVAL);
	ASSERT_EQ(pc_rr_register(rr_start, rr_end, rr_end), -EINVAL);
	ASSERT_EQ(pc_rr_register(rr_start, rr_end, rr_start), 0);
	ASSERT_EQ(pc_rr_register(rr_start, rr_end, rr_start), 0); /* again */
	ASSERT_EQ(pc_rr_register(rr_start + 1, rr_end + 1, rr_start + 1),
		  -EEXIST);
}

#define THREADS 8
#define ADDS 20000

static void *add_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS; i++)
		rr_add(slots, 1);
	return NULL;
}

/* Eight uthreads on two vcores, 100 us ticks: constant preemption. */
TEST(a_per_vcore_counter_in_a_region_ends_exactly_at_the_total)
{
	struct pc_thread *t[THREADS];
	struct pc_preempt_stats st;
	uint64_t restarts = 0, preemptions = 0;
	long total = 0;

	ASSERT_EQ(pc_rr_register(rr_start, rr_end, rr_start), 0);
	ASSERT_EQ(pc_preempt_quantum_set(100 * 1000), 0);
	test_enter(2);
	if (!pc_preempt_supported())
		SKIP("this build does not preempt (docs/design/ticks.md)");
	for (int i = 0; i < THREADS; i++)
		ASSERT_EQ(pc_thread_create(&t[i], NULL, add_many, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		ASSERT_EQ(pc_thread_join(t[i], NULL), 0);
	for (int v = 0; v < PC_VCORE_MAX; v++)
		total += slots[v].v;
	for (int v = 0; v < 2; v++) {
		ASSERT_EQ(pc_preempt_stats(v, &st), 0);
		restarts += st.restarts;
		preemptions += st.preemptions;
	}
	printf("  %llu restarts, %llu preemptions\n",
	       (unsigned long long)restarts, (unsigned long long)preemptions);
	ASSERT_EQ(total, (long)THREADS * ADDS);
	ASSERT_GT(restarts, 0);
}

#else

TEST(a_per_vcore_counter_in_a_region_ends_exactly_at_the_total)
{
	SKIP("x86-64 only");
}

#endif
