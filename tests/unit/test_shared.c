/*
 * test_shared.c - the pages shared with the arbiter: the seal on the
 * arbiter's page, the vcore map it publishes, and the arbiter refusing
 * what a corrupted process page says while it keeps working.
 *
 * White-box: it reaches the pages through the library's internal header,
 * as a daemon would reach them through its own mappings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <parcore/parcore.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "../../src/lib/internal.h"
#include "../../src/lib/shared.h"
#include "rt.h"
#include "test.h"

TEST(the_arbiter_page_is_sealed_read_only)
{
	void *p;

	test_enter(1);
	/* No new writable mapping of it... */
	p = mmap(NULL, sizeof(struct pc__arb_page), PROT_READ | PROT_WRITE,
		 MAP_SHARED, pc__sh.arb_fd, 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(errno, EPERM);
	/* ...and the process's read-only one cannot be made writable. */
	ASSERT_EQ(mprotect((void *)pc__sh.arb, sizeof(struct pc__arb_page),
			   PROT_READ | PROT_WRITE),
		  -1);
	ASSERT_EQ(errno, EACCES);
	/* The process's own page stays writable. */
	p = mmap(NULL, sizeof(struct pc__proc_page), PROT_READ | PROT_WRITE,
		 MAP_SHARED, pc__sh.proc_fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
}

TEST(the_arbiter_page_shows_the_vcore_map)
{
	const struct pc__arb_page *a;
	int online;

	test_enter(3);
	a = pc__sh.arb;
	ASSERT_EQ(a->magic, PC_SHARED_MAGIC);
	ASSERT_EQ(atomic_load(&a->nr_granted), 3);
	ASSERT_EQ(atomic_load(&a->amt_wanted), 3);
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(atomic_load(&a->vc[i].flags) & PC_VCA_ONLINE);
		ASSERT_EQ(atomic_load(&a->vc[i].cpu), pc_vcore_cpu(i));
	}
	ASSERT_EQ(atomic_load(&a->vc[3].flags) & PC_VCA_ONLINE, 0);
	ASSERT_EQ(atomic_load(&a->vc[3].cpu), -1);
	/* Lowering the request shows up there too, once the vcores left. */
	ASSERT_EQ(pc_vcore_request(1) >= 1, 1);
	while (atomic_load(&a->nr_granted) != 1)
		pc_thread_yield();
	/* Whichever vcores passed through their loop first left. */
	online = 0;
	for (int i = 0; i < 3; i++)
		online += !!(atomic_load(&a->vc[i].flags) & PC_VCA_ONLINE);
	ASSERT_EQ(online, 1);
	ASSERT_EQ(atomic_load(&a->amt_wanted), 1);
}

/* Writes @want and @min as a corrupted process would, then asks. */
static int arbiter_reads(int32_t want, int32_t min)
{
	int err;

	atomic_store(&pc__sh.proc->amt_wanted, want);
	atomic_store(&pc__sh.proc->amt_min, min);
	pthread_mutex_lock(&pc__rt.grant_lock);
	err = pc__arbiter_read_request_locked();
	pthread_mutex_unlock(&pc__rt.grant_lock);
	return err;
}

TEST(the_arbiter_refuses_a_corrupted_request_and_keeps_working)
{
	const struct pc__arb_page *a;

	test_enter(2);
	a = pc__sh.arb;
	ASSERT_EQ(arbiter_reads(-7, 0), -EPROTO);
	ASSERT_EQ(arbiter_reads(PC_VCORE_MAX + 1, 0), -EPROTO);
	ASSERT_EQ(arbiter_reads(1, -1), -EPROTO);
	ASSERT_EQ(arbiter_reads(1, 1 << 30), -EPROTO);
	pc__sh.proc->magic = 0xdead;
	ASSERT_EQ(arbiter_reads(1, 0), -EPROTO);
	ASSERT_EQ(atomic_load(&a->nr_refused), 5);
	/* Nothing refused took effect. */
	ASSERT_EQ(atomic_load(&a->amt_wanted), 2);
	ASSERT_EQ(pc_vcore_wanted(), 2);
	ASSERT_EQ(pc_vcore_request(2), -EPROTO);
	/* Repaired, it works again. */
	pc__sh.proc->magic = PC_SHARED_MAGIC;
	ASSERT_EQ(arbiter_reads(2, 1), 0);
	ASSERT_EQ(atomic_load(&a->amt_min), 1);
	ASSERT_EQ(pc_vcore_request(2), 2);
}

static atomic_int handled;

static void count(const struct pc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	atomic_fetch_add(&handled, 1);
}

TEST(a_corrupted_mailbox_costs_a_bit_not_a_hang)
{
	struct pc__proc_page *arb_view;
	struct pc_event ev = { .type = PC_EV_APP_FIRST };
	struct pc__vcpd *v;
	int me;

	test_enter(1);
	me = pc_vcore_id();
	ASSERT_EQ(pc_event_handler_set(PC_EV_APP_FIRST, count, NULL), 0);
	/* The process scribbles over its ring's indices and turns. */
	v = pc__vcpd(me);
	atomic_store(&v->mbox_tail, 12345);
	for (unsigned int s = 0; s < PC_MBOX_SLOTS; s++)
		atomic_store(&v->mbox.slot[s].seq, 0xdeadbeef + s);
	/* The arbiter posts through its own view: bounded, then the bit. */
	arb_view = pc__sh.arb_proc;
	ASSERT_EQ(pc__mbox_post(&arb_view->vcpd[me], &ev, false), false);
	ASSERT_TRUE(atomic_load(&v->mbox.bits[0]) & (1ull << PC_EV_APP_FIRST));
	ASSERT_EQ(atomic_load(&v->pstat.overflowed), 1);
	/* The vcore still gets the event, as the bit. */
	atomic_store(&v->notif_pending, 1);
	pc_thread_yield();
	ASSERT_EQ(atomic_load(&handled), 1);
}
