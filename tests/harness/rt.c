/*
 * rt.c - see rt.h.
 */
#include "rt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <parcore/parcore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "fifo_sched.h"
#include "test.h"

/* printf to stderr without stdio's buffers (we are in a signal handler). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
}

/*
 * The runtime as a hung case leaves it (test_on_hang()): the arbiter's
 * counts, then one line per vcore. Read racily, from a signal handler:
 * enough to tell a lost wake-up from a lost uthread or event.
 */
static void dump_runtime(void)
{
	int max = atomic_load(&pc__rt.max_vcoreid);

	say("hang dump: vcores %d wanted %d limit %d revoked %d "
		"preempting %d surplus %d spinning %d\n",
		atomic_load(&pc__rt.nr_vcores), atomic_load(&pc__rt.amt_wanted),
		atomic_load(&pc__rt.limit), atomic_load(&pc__rt.revoked),
		atomic_load(&pc__rt.nr_preempting),
		(int)atomic_load(&pc__rt.surplus),
		atomic_load(&pc__rt.nr_spinning));
	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);
		const struct pc__vcore_arb *a = &pc__sh.arb->vc[i];
		struct pc__vcpd *v = pc__vcpd(i);

		if (!vc)
			continue;
		say(" vc%d online %d idle %d wake %u cur %p resume %p "
			"stranded %p nopreempt %u deferred %u disabled %u "
			"pending %u mbox %u/%u preempt %" PRIu64
			" sent %" PRIu64 " done %" PRIu64 " forces %" PRIu64
			" next_deadline %" PRIu64 "\n",
			i, (int)atomic_load(&vc->online), atomic_load(&vc->idle),
			atomic_load(&vc->wake), (void *)vc->current,
			(void *)vc->resume, (void *)atomic_load(&vc->stranded),
			vc->irq.nopreempt, vc->irq.deferred,
			atomic_load(&v->notif_disabled),
			atomic_load(&v->notif_pending),
			atomic_load(&v->mbox.head), atomic_load(&v->mbox_tail),
			atomic_load(&a->preempt_pending),
			atomic_load(&a->nr_preempts_sent),
			atomic_load(&a->nr_preempts_done),
			atomic_load(&a->nr_forces),
			(uint64_t)atomic_load(&vc->next_deadline));
	}
}

void test_dump_on_hang(void)
{
	test_on_hang(dump_runtime);
}

void test_enter(int nvcores)
{
	const char *sched = getenv("PC_TEST_SCHED");

	test_dump_on_hang();
	if (sched && strcmp(sched, "fifo") == 0)
		ASSERT_EQ(pc_sched_set(fifo_sched_ops()), 0);
	ASSERT_EQ(pc_vcore_limit_set(nvcores), 0);
	ASSERT_GE(pc_vcore_request(nvcores), 1);
	ASSERT_TRUE(pc_thread_self() != NULL);
}

void test_errno_set(int v)
{
	errno = v;
}

int test_errno_get(void)
{
	return errno;
}

struct timespec test_deadline_in(unsigned long long ns)
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	return ts;
}

/* The waiters from @w on, with the queue they are in taken. */
static int chain_length(const struct pc__waiter *w)
{
	int n = 0;

	for (; w; w = w->next)
		n++;
	return n;
}

int test_mutex_waiters(struct pc_mutex *m)
{
	struct pc__vcore *held = pc__mutex_queue_lock(m);
	int n = chain_length(m->_head);

	pc__mutex_queue_unlock(m, held);
	return n;
}

bool test_asym_fence(void)
{
	return pc__asym_fence_ok();
}

int test_waiters(int *lock, void **head)
{
	struct pc__spinlock *l = (struct pc__spinlock *)lock;
	int n;

	pc__spin_lock(l);
	n = chain_length(*head);
	pc__spin_unlock(l);
	return n;
}
